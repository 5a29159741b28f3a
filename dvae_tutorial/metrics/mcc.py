"""Mean correlation coefficient (MCC): how well a code recovers known sources, up to permutation and scaling.

Nonlinear ICA can at best recover each source up to a permutation of the latents and an elementwise
(monotone) transformation, so the score matches latents to sources first:

1. C_ij = |corr(s_i, z_j)| for every source i and latent j (Pearson, or Spearman: Pearson on ranks,
   which is blind to any monotone transformation);
2. a one-to-one matching of sources to latents that maximises the total correlation, by the Hungarian
   algorithm (``scipy.optimize.linear_sum_assignment``);
3. MCC = the mean of C over the matched pairs.

Hyvarinen & Morioka 2016 and Khemakhem et al. 2020 (section 6) report it.  MCC = 1 when every source
is a rescaled (Pearson) or monotone (Spearman) function of its own latent; for codes independent of the
sources it is of order sqrt(log(n_sources * latent_dim) / n) (only sampling noise), not 0.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import rankdata

__all__ = ["correlation_matrix", "mcc"]

METHODS = ("pearson", "spearman")


def _check(codes, sources) -> tuple[np.ndarray, np.ndarray]:
    codes, sources = np.asarray(codes, dtype=np.float64), np.asarray(sources, dtype=np.float64)
    if codes.ndim != 2 or sources.ndim != 2:
        raise ValueError(f"codes and sources must be 2-D (n_points, dims), got shapes {codes.shape} and {sources.shape}")
    if codes.shape[0] != sources.shape[0]:
        raise ValueError(f"codes and sources must have one row per point, got {codes.shape[0]} and {sources.shape[0]} "
                         f"rows; encode the same points whose sources you pass")
    if codes.shape[0] < 3:
        raise ValueError(f"need at least 3 points to estimate a correlation, got {codes.shape[0]}")
    if codes.shape[1] < sources.shape[1]:
        raise ValueError(f"the code has {codes.shape[1]} dimensions, fewer than the {sources.shape[1]} sources: "
                         f"each source needs a latent of its own")
    if not (np.isfinite(codes).all() and np.isfinite(sources).all()):
        raise ValueError("codes and sources must be finite (no NaN or inf)")
    return codes, sources


def correlation_matrix(codes, sources, method: str = "pearson") -> np.ndarray:
    """|corr(source i, latent j)| ``(n_sources, latent_dim)``; a constant column correlates 0 with everything."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    codes, sources = _check(codes, sources)
    if method == "spearman":
        codes, sources = rankdata(codes, axis=0), rankdata(sources, axis=0)
    zc, sc = codes - codes.mean(0), sources - sources.mean(0)
    norm_c, norm_s = np.linalg.norm(zc, axis=0), np.linalg.norm(sc, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = (sc.T @ zc) / np.outer(norm_s, norm_c)
    return np.abs(np.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0))


def mcc(codes, sources, method: str = "pearson", return_matching: bool = False):
    """Mean absolute correlation of the sources with their matched latents (Hungarian matching).

    ``codes`` ``(n, latent_dim)`` (e.g. posterior means), ``sources`` ``(n, n_sources)`` with
    latent_dim >= n_sources; ``method``: "pearson" or "spearman".  With ``return_matching`` also returns
    ``latent_of_source`` ``(n_sources,)`` int: the latent matched to each source.
    """
    corr = correlation_matrix(codes, sources, method)
    rows, cols = linear_sum_assignment(corr, maximize=True)
    score = float(corr[rows, cols].mean())
    return (score, cols[np.argsort(rows)]) if return_matching else score
