"""Checks for lesson 07 (identifiability: MCC with a matching, DIP-VAE's covariance penalty, a rotated code)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._base import ExerciseError, exercise
from ._base import passed as _passed


def _float(value, name: str) -> float:
    try:
        return float(torch.as_tensor(value).double().reshape(()))
    except (TypeError, ValueError, RuntimeError):
        raise ExerciseError(f"{name} must be one number (a float or a 0-d tensor), got {type(value).__name__}") from None


@exercise(points=4, refuses=("dvae_tutorial.metrics:mcc", "dvae_tutorial.metrics:correlation_matrix"))
def check_mcc(mcc_fn) -> bool:
    """``mcc_fn(codes, sources) -> float``: mean |Pearson correlation| after a Hungarian matching of latents to sources."""
    from ..metrics import mcc

    rng = np.random.default_rng(7)
    sources = rng.standard_normal((2000, 4))
    permuted = sources[:, [3, 1, 0, 2]] * [2.0, -1.0, 0.5, -3.0]
    if not math.isclose(_float(mcc_fn(permuted, sources), "the MCC"), 1.0, abs_tol=1e-6):
        got = _float(mcc_fn(permuted, sources), "the MCC")
        diagonal = float(np.abs(np.diag(np.corrcoef(sources.T, permuted.T)[:4, 4:])).mean())
        if math.isclose(got, diagonal, abs_tol=1e-6):
            raise ExerciseError("you paired source i with latent i: a code may list the sources in any order, so "
                                "match them first (scipy.optimize.linear_sum_assignment on the |correlation| matrix, "
                                "maximize=True)")
        raise ExerciseError(f"a permuted, rescaled (and sign-flipped) copy of the sources must score 1, got {got:.4f}; "
                            f"take the absolute value of each correlation before matching")
    mixed = np.c_[sources[:, :2] @ np.array([[0.8, 0.6], [-0.6, 0.8]]), sources[:, 2:], rng.standard_normal(2000)]
    expected, got = mcc(mixed, sources), _float(mcc_fn(mixed, sources), "the MCC")
    if not math.isclose(got, expected, abs_tol=1e-6):
        raise ExerciseError(f"for a partly rotated code with a spare latent the MCC is {expected:.4f}, you got {got:.4f}; "
                            f"the matching must be one-to-one and maximise the total |correlation| (a spare latent "
                            f"stays unmatched), and MCC is the mean over the sources")
    return _passed("MCC = mean |corr| over the sources after a one-to-one (Hungarian) matching")


@exercise(points=2, refuses=("dvae_tutorial.losses_aggregate:dip_penalty", "dvae_tutorial.losses_aggregate:dip_covariance",
                             "dvae_tutorial.losses_aggregate:covariance"))
def check_dip_penalty(penalty_fn) -> bool:
    """``penalty_fn(mu, logvar, lambda_od, lambda_d, kind)`` -> DIP-VAE's regulariser (Kumar et al. 2018), kind "i"/"ii"."""
    from ..losses_aggregate import covariance, dip_covariance, dip_penalty

    g = torch.Generator().manual_seed(3)
    mu = torch.randn(50, 3, generator=g, dtype=torch.float64) @ torch.tensor(
        [[1.0, 0.4, 0.0], [0.0, 1.5, 0.3], [0.0, 0.0, 0.5]], dtype=torch.float64)
    logvar = torch.randn(50, 3, generator=g, dtype=torch.float64) - 1
    for kind in ("i", "ii"):
        expected = float(dip_penalty(dip_covariance(mu, logvar, kind), 2.0, 5.0)["dip"])
        got = _float(penalty_fn(mu, logvar, 2.0, 5.0, kind), "the penalty")
        if math.isclose(got, expected, rel_tol=1e-6):
            continue
        cov = dip_covariance(mu, logvar, kind)
        parts = dip_penalty(cov, 1.0, 1.0)
        hints = {
            float(2.0 * parts["off_diagonal"] / 2 + 5.0 * parts["diagonal"]):
                "each off-diagonal pair appears twice in the sum over i != j (C_ij and C_ji): count both",
            float(dip_penalty(dip_covariance(mu, logvar, "i"), 2.0, 5.0)["dip"]):
                "DIP-VAE-II matches the covariance of the *sampled* codes: Cov[mu] + E[diag sigma^2] "
                "(add the mean of exp(logvar) to the diagonal)",
            float(dip_penalty(covariance(mu) * 50 / 49 + (cov - covariance(mu)), 2.0, 5.0)["dip"]):
                "the covariance here is normalised by B (the moment E[mu mu^T] - E[mu] E[mu]^T), not B - 1",
            float(2.0 * parts["off_diagonal"] + 5.0 * torch.diagonal(cov).pow(2).sum()):
                "the diagonal is pulled towards 1, not 0: sum_i (C_ii - 1)^2",
        }
        for value, hint in hints.items():
            if math.isclose(got, value, rel_tol=1e-6) and not math.isclose(value, expected, rel_tol=1e-6):
                raise ExerciseError(f"DIP-VAE-{kind.upper()}: {hint}")
        raise ExerciseError(f"DIP-VAE-{kind.upper()} with lambda_od = 2, lambda_d = 5 should give {expected:.4f}, "
                            f"got {got:.4f}; the penalty is lambda_od * sum_(i != j) C_ij^2 + lambda_d * sum_i (C_ii - 1)^2")
    return _passed("lambda_od * sum_(i!=j) C_ij^2 + lambda_d * sum_i (C_ii - 1)^2 on Cov[mu] (I) or Cov[mu] + E[sigma^2] (II)")


@exercise(points=1)
def check_rotated_mcc(value) -> bool:
    """The MCC of a code that rotates two independent unit-variance sources by 45 degrees (answer: cos 45 = 0.7071)."""
    got = _float(value, "your answer")
    expected = math.cos(math.pi / 4)
    if math.isclose(got, expected, abs_tol=0.01):
        return _passed("each latent is (s1 +- s2) / sqrt(2): |corr| = 1/sqrt(2) = 0.707 with either source, "
                       "whatever the matching")
    if math.isclose(got, 1.0, abs_tol=0.01):
        raise ExerciseError("a rotation is not a permutation: each latent mixes both sources, so no latent "
                            "correlates perfectly with a source")
    if math.isclose(got, 0.5, abs_tol=0.01):
        raise ExerciseError("that is the squared correlation; MCC averages |corr|, not corr^2")
    raise ExerciseError("write z1 = (s1 - s2)/sqrt(2), z2 = (s1 + s2)/sqrt(2) and compute corr(z1, s1) "
                        "= Cov(z1, s1) / (std z1 * std s1)")
