"""The FactorVAE score, Kim & Mnih 2018, "Disentangling by Factorising", ICML 2018 (the section
that introduces "a new metric for disentanglement").

One point of the metric:
  1. choose a factor k uniformly, fix it at a random value, draw L images with all other
     factors random;
  2. encode them and divide each code dimension by its standard deviation over the data set
     (estimated once, from ``n_variance_estimate`` random images);
  3. the vote is (d, k) with d = argmin_j Var_l[ z_lj / s_j ], the dimension that varies least.
A majority-vote classifier maps each dimension d to the factor it most often voted for; the score
is the fraction of votes it gets right. Dimensions that collapsed to the prior (global standard
deviation below ``prune_threshold``) are left out of the argmin.

Reference implementation: disentanglement_lib ``factor_vae.py``: L = 64, 10,000 training and
5,000 evaluation points, 10,000 images for the variances, ``prune_dims.threshold = 0.05`` in its
study configuration. Two reference slips are not copied: its ``num_active_dims`` returns the
length of the mask (all dimensions) rather than the number of active ones, and its votes index
the argmin among *active* dimensions into a table of *all* dimensions (harmless for the
accuracy, wrong for reading the table); here votes are indexed by the real dimension.
"""
from __future__ import annotations

import numpy as np

from ._sampling import MAX_ENCODE_BATCH, check_counts, check_ground_truth, encode_factor_batches, sample_fixed_factor


def global_code_variance(
    ds, encode, n_points: int, rng: np.random.Generator, max_encode_batch: int = MAX_ENCODE_BATCH
) -> np.ndarray:
    """Variance (ddof = 1) of every code dimension over ``n_points`` random images, ``(latent_dim,)``."""
    factors = np.asarray(ds.sample_factors(n_points, rng))
    codes = encode_factor_batches(ds, encode, factors[:, None, :], rng, max_encode_batch, reduce=lambda z: z[:, 0])
    return codes.var(axis=0, ddof=1)


def factor_vae_votes(
    ds, encode, batch_size: int, n_points: int, rng: np.random.Generator, global_variance: np.ndarray,
    active: np.ndarray, max_encode_batch: int = MAX_ENCODE_BATCH,
) -> np.ndarray:
    """Vote table ``(n_factors, latent_dim)``: entry (k, d) counts points that fixed k and whose
    least-varying (normalised, active) dimension was d.

    Draw order: the fixed factor of every point (``rng.integers``), then
    ``ds.sample_factors(n_points * batch_size, rng)``; the fixed factor takes the value of the
    first image of its group.
    """
    factor_sizes = check_ground_truth(ds)
    n_factors = len(factor_sizes)
    fixed = sample_fixed_factor(factor_sizes, n_points, rng)
    factors = np.asarray(ds.sample_factors(n_points * batch_size, rng)).reshape(n_points, batch_size, n_factors)
    points = np.arange(n_points)
    factors[points[:, None], np.arange(batch_size)[None, :], fixed[:, None]] = factors[points, 0, fixed][:, None]
    local_variance = encode_factor_batches(  # (n_points, latent_dim)
        ds, encode, factors, rng, max_encode_batch, reduce=lambda z: z.var(axis=1, ddof=1)
    )
    active_dims = np.flatnonzero(active)
    least = active_dims[np.argmin(local_variance[:, active_dims] / global_variance[active_dims], axis=1)]
    latent_dim = global_variance.shape[0]
    return np.bincount(fixed * latent_dim + least, minlength=n_factors * latent_dim).reshape(n_factors, latent_dim)


PRUNE_THRESHOLD = 0.05   # disentanglement_lib's prune_dims.threshold: a global standard deviation, not a variance


def active_dimensions(global_variance: np.ndarray, prune_threshold: float = PRUNE_THRESHOLD) -> np.ndarray:
    """The dimensions the FactorVAE score keeps: ``(latent_dim,)`` bool, True where ``sqrt(Var_x[z_j]) >=
    prune_threshold``; the others collapsed to (near) constants and are left out of the argmin."""
    global_variance = np.asarray(global_variance, dtype=np.float64)
    if global_variance.ndim != 1 or (global_variance < 0).any():
        raise ValueError(f"global_variance must be a (latent_dim,) array of variances >= 0; got shape "
                         f"{global_variance.shape} with minimum {global_variance.min() if global_variance.size else None}")
    return np.sqrt(global_variance) >= prune_threshold


def factor_vae_score(
    ds, encode, batch_size: int = 64, n_train: int = 10000, n_eval: int = 5000, n_variance_estimate: int = 10000,
    seed: int = 0, *, prune_threshold: float = PRUNE_THRESHOLD, max_encode_batch: int = MAX_ENCODE_BATCH,
) -> dict:
    """FactorVAE score (Kim & Mnih 2018, ICML): accuracy of a majority-vote classifier that
    maps the least-varying normalised code dimension to the fixed factor, in [0, 1]; chance =
    1 / n_factors.

        s_j^2 = Var_x[z_j]   (global, over ``n_variance_estimate`` images, ddof = 1)
        d     = argmin_{j active} Var_l[z_lj] / s_j^2     (over the L = batch_size images of a point)
        classifier(d) = argmax_k votes[k, d];  accuracy = sum_d votes[classifier(d), d] / sum votes

    Dimension j is active when s_j >= ``prune_threshold`` (``active_dimensions``; disentanglement_lib
    compares the standard deviation, not the variance, with 0.05). If no dimension is active both
    accuracies are 0.

    Defaults follow disentanglement_lib ``factor_vae.py``: L = 64, 10,000 training points,
    5,000 evaluation points, 10,000 images for the variances. Factors with a single value are
    never chosen as the fixed factor.

    Args:
        ds: ground-truth data set (see :func:`beta_vae_score`).
        encode: ``encode(observations) -> (n, latent_dim)`` codes.
        batch_size: L, images per point (at least 2 for a variance).
        n_train, n_eval: points for the vote table and for its evaluation.
        n_variance_estimate: images for the global standard deviations.
        seed: seeds a ``np.random.Generator`` for every draw; same seed, same score.
        prune_threshold: a dimension whose global standard deviation is below this is ignored.
        max_encode_batch: observations passed to ``encode`` per call (whole groups of
            ``batch_size`` images, at least one group). Only speed and memory depend on it, never
            the score: raise it on a GPU; on a CPU small batches that fit the caches are as fast.

    Returns:
        ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``.
    """
    check_counts(
        n_train=n_train, n_eval=n_eval, n_variance_estimate=n_variance_estimate, max_encode_batch=max_encode_batch
    )
    if int(batch_size) != batch_size or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (a variance needs two images); got {batch_size!r}.")
    if n_variance_estimate < 2:
        raise ValueError(f"n_variance_estimate must be >= 2; got {n_variance_estimate}.")
    rng = np.random.default_rng(seed)
    global_variance = global_code_variance(ds, encode, n_variance_estimate, rng, max_encode_batch)
    active = active_dimensions(global_variance, prune_threshold)
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train_votes = factor_vae_votes(ds, encode, batch_size, n_train, rng, global_variance, active, max_encode_batch)
    classifier = np.argmax(train_votes, axis=0)  # majority factor of every dimension
    dims = np.arange(train_votes.shape[1])
    eval_votes = factor_vae_votes(ds, encode, batch_size, n_eval, rng, global_variance, active, max_encode_batch)
    return {
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "num_active_dims": int(active.sum()),
    }
