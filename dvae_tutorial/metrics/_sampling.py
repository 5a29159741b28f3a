"""Sampling helpers for the intervention-based scores (BetaVAE, FactorVAE).

The reference implementations draw factors and call the encoder once per point of the metric
(10,000 calls with 64 images each, per set). Here all factors are drawn at once with the numpy
Generator, the images are rendered and encoded in blocks of whole groups (``max_encode_batch``
observations), and each block is reduced to one feature row per group at once; the definition
of each score is unchanged. Where the encoder dominates the cost (a conv net on a CPU) the
running time is the encoder's either way; the gain is in Python overhead and GPU launches.
"""
from __future__ import annotations

import numpy as np

from ._checks import encode_array

# observations per ``encode`` call in the intervention scores (whole groups of L images): only speed and memory
# depend on it, never a score; small blocks that fit a CPU's caches are as fast as large ones there
MAX_ENCODE_BATCH = 256


def check_ground_truth(ds) -> tuple[int, ...]:
    """The data set's factor sizes, after checking it follows the ground-truth data protocol
    (``data.ground_truth``; docs/design.md)."""
    needed = ("factor_sizes", "sample_factors", "sample_observations_from_factors")
    missing = [name for name in needed if not hasattr(ds, name)]
    if missing:
        raise ValueError(
            f"ds must be a ground-truth data set (dvae_tutorial.data.DSprites or an object with "
            f"factor_sizes, sample_factors(n, rng), sample_observations_from_factors(factors, rng)); "
            f"{type(ds).__name__} lacks {', '.join(missing)}."
        )
    return tuple(int(s) for s in ds.factor_sizes)


def check_counts(**counts: int) -> None:
    """Raise unless every named count is a positive integer."""
    for name, value in counts.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def sample_fixed_factor(factor_sizes: tuple[int, ...], n_points: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_points,)`` index of the factor held fixed, uniform over factors with more than one value.

    Fixing a factor that has a single value changes nothing, so such factors are never chosen
    (the reference would choose them and no classifier could recognise them).
    """
    eligible = np.flatnonzero(np.asarray(factor_sizes) > 1)
    if eligible.size == 0:
        raise ValueError(f"every factor has a single value (factor_sizes={factor_sizes}); there is nothing to score.")
    return eligible[rng.integers(eligible.size, size=n_points)]


def encode_factor_batches(ds, encode, factors: np.ndarray, rng: np.random.Generator, max_encode_batch: int,
                          reduce) -> np.ndarray:
    """Encode the observations of ``factors`` ``(n_groups, group_size, n_factors)`` and reduce each group.

    Whole groups are rendered and encoded together, up to ``max_encode_batch`` observations per
    call; ``reduce`` maps the codes of a block of groups ``(m, group_size, latent_dim)`` to one
    row per group ``(m, d)``, so the codes of all groups are never held at once.
    Returns ``(n_groups, d)`` float64.
    """
    n_groups, group_size, n_factors = factors.shape
    groups_per_call = max(1, int(max_encode_batch) // group_size)
    reduced = None
    for start in range(0, n_groups, groups_per_call):
        block = factors[start : start + groups_per_call].reshape(-1, n_factors)
        observations = ds.sample_observations_from_factors(block, rng)
        z = encode_array(encode, observations, block.shape[0])
        rows = reduce(z.reshape(-1, group_size, z.shape[1]))
        if reduced is None:
            reduced = np.empty((n_groups,) + rows.shape[1:])
        reduced[start : start + rows.shape[0]] = rows
    return reduced
