"""Mutual Information Gap (MIG), Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs".

    MIG = (1/K) sum_k  [ I(v_k; z_{j(k)}) - max_{j != j(k)} I(v_k; z_j) ] / H(v_k),
    j(k) = argmax_j I(v_k; z_j)

the gap between the two latent dimensions that know most about factor v_k, normalised by the
factor's entropy so that each term lies in [0, 1], averaged over the K factors.

Two protocols estimate the mutual informations and entropies differently, and the numbers are
*not* comparable across them:

=====================  ==========================================  ======================================
                       ``protocol="histogram"`` (default)           ``protocol="chen"``
=====================  ==========================================  ======================================
used by                disentanglement_lib (Locatello et al.        Chen et al.'s own code
                       2019) and most later papers                  (rtqichen/beta-tcvae,
                                                                    ``disentanglement_metrics.py``)
code                   a point code per image (posterior mean)      the Gaussian posterior q(z|x):
                                                                    ``mu`` and ``logvar``
points                 a random sample (reference: 10,000)          every image of the data set
I(v_k; z_j)            plug-in MI of z_j cut into 20 equal-width    H(z_j) - H(z_j | v_k), each a Monte
                       bins over its range                          Carlo estimate under the aggregate
                                                                    posterior (see ``posterior_mi``)
H(v_k)                 plug-in entropy of the sampled factors       entropy over all images: log(number
                                                                    of values) on the full grid
factors                all                                          dSprites: shape excluded (their
                                                                    ``compute_metric_shapes`` averages
                                                                    scale, orientation, pos x, pos y)
perfect code           < 1 when a factor has more values than       close to 1 when the posterior is sharp
                       bins: about 0.9 on dSprites sizes            (std small against the spacing of
                       (3, 6, 40, 32, 32)                           the factor's values); a blurred
                                                                    posterior carries less information
=====================  ==========================================  ======================================
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._checks import as_codes, as_factors, check_same_length, varying_factors
from .information import factor_entropies, mutual_info_matrix


def mig_from_mutual_info(mi_matrix, factor_entropy, exclude: Sequence[int] = ()) -> float:
    """MIG from a mutual-information matrix ``(n_factors, latent_dim)`` and entropies ``(n_factors,)``.

        gap_k = [ m_(1)k - m_(2)k ] / H(v_k),  MIG = mean_k gap_k

    with m_(1)k >= m_(2)k the two largest entries of row k (negative entries, possible with
    Monte Carlo estimates, are first clamped to 0 as Chen et al.'s code does).

    Degenerate cases, each a documented rule rather than NaN:
    - a factor with H(v_k) = 0 (a single value in the sample) is left out of the mean;
    - with a single latent dimension the second-largest MI is taken as 0;
    - if no factor is left, MIG is 0.0.
    """
    mi = np.clip(np.asarray(mi_matrix, dtype=np.float64), 0.0, None)
    entropy = np.asarray(factor_entropy, dtype=np.float64)
    if mi.ndim != 2 or entropy.shape != (mi.shape[0],):
        raise ValueError(
            f"mi_matrix must be (n_factors, latent_dim) and factor_entropy (n_factors,); got "
            f"{mi.shape} and {entropy.shape}."
        )
    keep = entropy > 0
    for k in exclude:
        if not -mi.shape[0] <= k < mi.shape[0]:
            raise ValueError(f"exclude holds factor index {k}, but there are only {mi.shape[0]} factors.")
        keep[k] = False
    if not keep.any():
        return 0.0
    top_two = -np.sort(-mi[keep], axis=1)[:, :2]
    second = top_two[:, 1] if mi.shape[1] > 1 else 0.0
    return float(np.mean((top_two[:, 0] - second) / entropy[keep]))


def mig(
    codes,
    factors,
    n_bins: int = 20,
    *,
    protocol: str = "histogram",
    logvar=None,
    exclude: Sequence[int] = (),
    n_samples: int = 10_000,
    seed: int = 0,
    device=None,
) -> float:
    """Mutual Information Gap (Chen et al. 2018, NeurIPS), in [0, 1], higher = more disentangled.

        MIG = (1/K) sum_k [ I(v_k; z_{j(k)}) - max_{j != j(k)} I(v_k; z_j) ] / H(v_k)

    Default protocol (``"histogram"``, disentanglement_lib ``mig.py``, the one most papers report):
    20 equal-width bins per code dimension over its observed range, plug-in discrete mutual
    information with the factor classes, normalised by the factor's plug-in entropy; reference
    sample size 10,000 points.

    Facts that surprise people:
    - 20 bins cannot hold 32 or 40 classes apart, so even a perfect code scores less than 1:
      about 0.9 on dSprites-sized factors (3, 6, 40, 32, 32), because I(v; bin(z)) <= log 20 <
      H(v) = log 40 for orientation.
    - Entropies are estimated from the sample, so with few points the plug-in MI of an
      independent code is slightly positive (bias about (K-1)(n_bins-1) / (2n) nats).
    - A code duplicated in two latent dimensions scores 0 for that factor: the gap, not the
      information, is measured.
    - Codes are cast to float64 before binning; the reference bins float32 codes in float32, which
      can move a value lying exactly on a bin edge.

    ``protocol="chen"`` reproduces Chen et al.'s own code (rtqichen/beta-tcvae,
    ``disentanglement_metrics.py``): ``codes`` are the posterior means ``mu`` and ``logvar`` the
    log-variances of the Gaussian q(z|x) of *every* image of the data set (737,280 for dSprites);
    H(z_j) and H(z_j | v_k) are Monte Carlo estimates under the aggregate posterior
    (:func:`dvae_tutorial.metrics.posterior_mutual_info_matrix`), H(v_k) is the entropy of the
    factor over the grid (log of its number of values), and on dSprites their metric leaves out
    shape: pass ``exclude=(0,)`` to match it. Their numbers are not comparable to the histogram
    protocol's.

    Degenerate input: a constant code dimension has zero MI; a factor with a single value
    (H = 0) is left out of the mean; one latent dimension counts the runner-up as 0; NaN codes or
    rows that do not match raise ValueError.

    Args:
        codes: ``(n_points, latent_dim)`` floats (``mu`` for ``protocol="chen"``).
        factors: ``(n_points, n_factors)`` int64 class indices.
        n_bins: bins per code dimension (histogram protocol only; reference 20).
        protocol: ``"histogram"`` (default) or ``"chen"``.
        logvar: ``(n_points, latent_dim)`` posterior log-variances (``"chen"`` only, required).
        exclude: indices of factors left out of the mean (``(0,)`` = shape on dSprites).
        n_samples: Monte Carlo samples per entropy (``"chen"`` only; Chen et al.: 10,000).
        seed: seeds the Monte Carlo draws (``"chen"`` only; the histogram protocol is deterministic).
        device: torch device for ``"chen"`` (default: the CPU).

    Returns:
        MIG as a Python float.
    """
    if protocol == "histogram":
        if logvar is not None:
            raise ValueError("logvar is only used by protocol='chen'; drop it or pass protocol='chen'.")
        codes = as_codes(codes)
        factors = as_factors(factors)
        check_same_length(codes, factors, "codes", "factors")
        mi = mutual_info_matrix(codes, factors, n_bins)
        return mig_from_mutual_info(mi, factor_entropies(factors), exclude)
    if protocol == "chen":
        if logvar is None:
            raise ValueError(
                "protocol='chen' needs the posterior log-variances: mig(mu, factors, protocol='chen', "
                "logvar=logvar), with mu and logvar of every image of the data set."
            )
        from .posterior_mi import posterior_mutual_info_matrix

        factors = as_factors(factors)
        keep = np.ones(factors.shape[1], dtype=bool)
        for k in exclude:
            if not -factors.shape[1] <= k < factors.shape[1]:
                raise ValueError(f"exclude holds factor index {k}, but there are only {factors.shape[1]} factors.")
            keep[k] = False
        keep &= varying_factors(factors)
        if not keep.any():
            return 0.0
        kept = factors[:, keep]
        mi = posterior_mutual_info_matrix(codes, logvar, kept, n_samples=n_samples, seed=seed, device=device)
        return mig_from_mutual_info(mi, factor_entropies(kept))
    raise ValueError(f"protocol must be 'histogram' or 'chen'; got {protocol!r}.")
