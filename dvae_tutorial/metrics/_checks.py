"""Input checks shared by every metric: clear errors instead of silent NaN scores.

Codes are ``np.ndarray`` ``(n_points, latent_dim)`` floats; factors are ``np.int64``
``(n_points, n_factors)`` class indices (docs/design.md). Torch tensors are accepted and moved to
the CPU. Every check names the argument, says what is wrong and how to fix it.
"""
from __future__ import annotations

import numpy as np


def to_numpy(array) -> np.ndarray:
    """A numpy view of ``array``; torch tensors are detached and copied to the CPU."""
    if hasattr(array, "detach") and hasattr(array, "cpu"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def as_codes(codes, name: str = "codes", min_points: int = 2) -> np.ndarray:
    """``codes`` as a finite float64 array ``(n_points, latent_dim)``, or a ValueError.

    ``min_points``: the fewest rows accepted (2 for a score; 1 for one block of encoded images).
    """
    arr = to_numpy(codes)
    if arr.ndim != 2:
        hint = " For a single latent dimension pass codes.reshape(-1, 1)." if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array (n_points, latent_dim); got shape {arr.shape}.{hint}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold numbers (float codes); got dtype {arr.dtype}.")
    if arr.shape[0] < min_points or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least {min_points} points and 1 latent dimension; got shape {arr.shape}.")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite values (in {rows.size} rows, the first is row "
            f"{rows[0]}); the metrics are undefined for such codes. A diverged model (NaN loss) usually "
            f"causes this: fix or retrain the model, or drop those rows together with the same rows of "
            f"the factors."
        )
    return arr


def as_factors(factors, name: str = "factors", allow_float: bool = False) -> np.ndarray:
    """``factors`` as an int64 array ``(n_points, n_factors)`` of class indices, or a ValueError.

    With ``allow_float=True`` (continuous factors) finite float values are kept as float64.
    """
    arr = to_numpy(factors)
    if arr.ndim != 2:
        hint = " For a single factor pass factors.reshape(-1, 1)." if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be a 2-D array (n_points, n_factors); got shape {arr.shape}.{hint}")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold integer class indices; got dtype {arr.dtype}.")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 points and 1 factor; got shape {arr.shape}.")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values; factors must be class indices.")
    if allow_float:
        return arr.astype(np.float64, copy=False)
    if not np.array_equal(arr, np.round(arr)):
        raise ValueError(
            f"{name} must be integer class indices (n_points, n_factors), not physical values; use "
            f"ds.factors_of(indices), or np.unique(values, return_inverse=True)[1] per column."
        )
    return arr.astype(np.int64)


def check_same_length(codes: np.ndarray, factors: np.ndarray, codes_name: str, factors_name: str) -> None:
    """Raise unless row i of ``codes`` can be the code of the point whose factors are row i."""
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(
            f"{codes_name} has {codes.shape[0]} rows but {factors_name} has {factors.shape[0]}; row i of "
            f"{codes_name} must be the code of the observation whose factors are row i of {factors_name}."
        )


def check_train_test(codes_train, factors_train, codes_test, factors_test, allow_float: bool = False):
    """Validate a train/test pair of (codes, factors); return the four arrays, converted."""
    codes_train = as_codes(codes_train, "codes_train")
    factors_train = as_factors(factors_train, "factors_train", allow_float)
    codes_test = as_codes(codes_test, "codes_test")
    factors_test = as_factors(factors_test, "factors_test", allow_float)
    check_same_length(codes_train, factors_train, "codes_train", "factors_train")
    check_same_length(codes_test, factors_test, "codes_test", "factors_test")
    if codes_test.shape[1] != codes_train.shape[1]:
        raise ValueError(
            f"codes_train has latent_dim {codes_train.shape[1]} but codes_test has {codes_test.shape[1]}; "
            f"both must come from the same encoder."
        )
    if factors_test.shape[1] != factors_train.shape[1]:
        raise ValueError(
            f"factors_train has {factors_train.shape[1]} factors but factors_test has "
            f"{factors_test.shape[1]}; both must come from the same data set."
        )
    return codes_train, factors_train, codes_test, factors_test


def relabel(factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column mapped to 0..K_k-1 (sorted order); returns (labels (n, F) int64, sizes (F,))."""
    labels = np.empty(factors.shape, dtype=np.int64)
    sizes = np.empty(factors.shape[1], dtype=np.int64)
    for k in range(factors.shape[1]):  # one np.unique per factor (a handful), vectorised over points
        values, labels[:, k] = np.unique(factors[:, k], return_inverse=True)
        sizes[k] = values.size
    return labels, sizes


def varying_factors(factors: np.ndarray) -> np.ndarray:
    """Boolean mask (n_factors,): True for factors that take more than one value in the sample.

    A factor with a single value has zero entropy: there is nothing about it to disentangle or
    predict, so every metric leaves it out of its average (documented in each metric).
    """
    return (factors != factors[:1]).any(axis=0)


def encode_array(encode, observations, expected_rows: int) -> np.ndarray:
    """``encode(observations)`` as a checked float64 array ``(expected_rows, latent_dim)``."""
    import torch

    with torch.no_grad():
        out = encode(observations)
    if isinstance(out, (tuple, list)):
        raise ValueError(
            "encode returned a tuple; it must return the code array (n, latent_dim) only. For a VAE pass "
            "encode=lambda x: model.encode(x)[0] (the posterior mean mu)."
        )
    # a block may hold a single observation (the last of n % max_encode_batch == 1)
    codes = as_codes(out, "encode(observations)", min_points=1) if to_numpy(out).ndim == 2 else None
    if codes is None or codes.shape[0] != expected_rows:
        raise ValueError(
            f"encode must return an array of shape (n_observations, latent_dim) = ({expected_rows}, d); got "
            f"shape {to_numpy(out).shape}."
        )
    return codes
