"""Gaussian total correlation of a representation (Locatello et al. 2019, section 5.1).

Locatello et al. ask whether penalising the total correlation of the *sampled* code z ~ q(z|x)
(what FactorVAE and beta-TCVAE penalise) also lowers it for the *mean* code mu(x) (what the metrics
score).  They measure both with a Gaussian fit: the TC of N(m, Sigma), with Sigma the empirical
covariance of the codes, which depends on the correlations only:

    TC(N(m, Sigma)) = 1/2 (sum_j log Sigma_jj - log det Sigma) = -1/2 log det R     (nats)

R the correlation matrix.  It is zero exactly when the codes are uncorrelated, and it sees only
linear (second-order) dependence.
"""
from __future__ import annotations

import numpy as np

from ._checks import as_codes


def gaussian_total_correlation(codes, min_std: float = 0.0) -> float:
    """TC (nats) of the Gaussian with the empirical covariance of ``codes`` ``(n_points, latent_dim)``.

    ``min_std``: latents whose standard deviation over the points is at most this are left out
    (by default the exactly constant ones: a constant latent has no correlation to measure).  Needs more
    points than the latents kept, so that the covariance is full rank.
    """
    codes = as_codes(codes)
    keep = codes.std(axis=0) > min_std
    codes = codes[:, keep]
    if codes.shape[1] < 2:
        return 0.0
    if codes.shape[0] <= codes.shape[1]:
        raise ValueError(f"need more points than latents for a covariance of full rank; got {codes.shape[0]} "
                         f"points for {codes.shape[1]} latents (pass more codes)")
    cov = np.cov(codes, rowvar=False)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0 or (np.diag(cov) <= 0).any():
        raise ValueError("the codes' covariance is singular (two latents are exact copies or a latent is "
                         "nearly constant); pass min_std > 0 to drop nearly constant latents")
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))
