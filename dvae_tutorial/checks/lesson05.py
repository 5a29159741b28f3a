"""Checks for lesson 05 (beta-TCVAE: the decomposition of the KL and its minibatch estimators)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._base import ExerciseError, exercise
from ._base import passed as _passed


def _as_matrix(value, name: str) -> np.ndarray:
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return array.astype(np.float64)


@exercise(points=1, refuses=("dvae_tutorial.losses:log_importance_weights",))
def check_mss_weights(weights_fn) -> bool:
    """``weights_fn(batch_size, dataset_size) -> (B, B)`` log importance weights of minibatch stratified
    sampling (Chen et al. 2018, appendix C.2).

    Row i estimates q(z_i) = sum_j w_ij q(z_i | x_j).  What makes an answer right: the anchor's own
    weight w_ii = 1/N (it is one image of N), the B - 1 other weights sum to (N - 1)/N (each row sums
    to 1: with the others a uniform draw from the remaining N - 1 images, the estimate of q(z_i) is
    unbiased), and each other image stands for a stratum of about N/(B - 1) images, i.e. every
    off-diagonal weight lies between the paper's remainder weight (N - B + 1)/(N (B - 1)) and
    1/(B - 1).  Where the remainder goes (the package: the next image; the paper: the last one) does
    not matter, and equal weights (N - 1)/(N (B - 1)) are right too.
    """
    for batch, n in ((4, 10), (8, 1000), (3, 3)):
        got = _as_matrix(weights_fn(batch, n), "weights")
        if got.shape != (batch, batch):
            raise ExerciseError(f"for B={batch} the matrix must be ({batch}, {batch}), got {got.shape}")
        if np.isnan(got).any():
            raise ExerciseError(f"the log weights contain NaN for B={batch}, N={n}: {got.tolist()}")
        w = np.exp(got)
        if (got > 0).any() and np.allclose(got.sum(axis=1), 1.0, atol=1e-6):
            raise ExerciseError("these are the weights themselves: return their logarithms (log w_ij)")
        if np.allclose(got, -math.log(n * batch)):
            raise ExerciseError("that is minibatch *weighted* sampling (every w = 1/(N B)); stratified sampling "
                                "gives the anchor 1/N and the other images about 1/(B-1)")
        if not np.allclose(np.diag(w), 1 / n, rtol=1e-6):
            if np.allclose(w[:, 0], 1 / n):
                raise ExerciseError("1/N sits in column 0, not on the diagonal: this is the published code's "
                                    "stride slip (rtqichen/beta-tcvae); the anchor x_i is the diagonal entry w_ii")
            raise ExerciseError(f"the anchor x_i (whose posterior produced z_i) is one image of N: w_ii = 1/N = "
                                f"{1 / n:.4g}; for B={batch}, N={n} your diagonal is {np.round(np.diag(w), 4).tolist()}")
        rows = w.sum(axis=1)
        if not np.allclose(rows, 1.0, atol=1e-6):
            raise ExerciseError(f"each row must sum to 1 (an unbiased estimate of q(z_i)); with B={batch}, N={n} "
                                f"your rows sum to {np.round(rows, 4).tolist()}")
        off = w[~np.eye(batch, dtype=bool)]
        low, high = (n - batch + 1) / (n * (batch - 1)), 1 / (batch - 1)
        if (off < low - 1e-9).any() or (off > high + 1e-9).any():
            raise ExerciseError(f"rows sum to 1, but each other image must stand for a stratum of about "
                                f"N/(B-1) images: every off-diagonal weight between {low:.4g} and {high:.4g} for "
                                f"B={batch}, N={n}; yours range from {off.min():.4g} to {off.max():.4g}")
    return _passed("w_ii = 1/N for the anchor, the other B - 1 images share (N-1)/N, each about 1/(B-1): "
                   "every row sums to 1 (where the remainder (N-B+1)/(N(B-1)) sits does not matter)")


@exercise(points=1, refuses=("dvae_tutorial.losses:decomposition_terms",
                              "dvae_tutorial.losses:tc_decomposition"))
def check_decomposition(decompose_fn) -> bool:
    """``decompose_fn(log_qz_given_x, log_qz, log_prod_qz, log_pz)`` (each ``(B,)``) -> dict with
    ``mi``, ``tc``, ``dw_kl`` (batch means), Chen et al. 2018 eq. (2)."""
    g = torch.Generator().manual_seed(5)
    logs = [torch.randn(32, generator=g, dtype=torch.float64) * 3 for _ in range(4)]
    log_qz_given_x, log_qz, log_prod_qz, log_pz = logs
    expected = {"mi": (log_qz_given_x - log_qz).mean(), "tc": (log_qz - log_prod_qz).mean(),
                "dw_kl": (log_prod_qz - log_pz).mean()}
    got = decompose_fn(*logs)
    if not isinstance(got, dict) or set(expected) - set(got):
        raise ExerciseError("return a dict with the keys 'mi', 'tc' and 'dw_kl'")
    total = (log_qz_given_x - log_pz).mean()
    for name, value in expected.items():
        value_got = float(torch.as_tensor(got[name]).double().mean())
        if math.isclose(value_got, float(value), abs_tol=1e-8):
            continue
        if math.isclose(value_got, -float(value), abs_tol=1e-8):
            raise ExerciseError(f"{name} has the wrong sign: each term is E[log(numerator) - log(denominator)], "
                                "e.g. tc = E[log q(z) - sum_d log q(z_d)]")
        raise ExerciseError(f"{name} should be {float(value):.4f}, got {value_got:.4f}; the three terms must add up "
                            f"to E[log q(z|x) - log p(z)] = {float(total):.4f}")
    return _passed("MI + TC + dim-wise KL telescope to E[log q(z|x) - log p(z)]")


@exercise(points=1)
def check_beta_tcvae_penalty(term: str) -> bool:
    """Which term of eq. (2) does beta-TCVAE's beta multiply (answer 'mi', 'tc' or 'dw_kl')?"""
    answers = {"mi": "index-code MI", "tc": "total correlation", "dw_kl": "dimension-wise KL"}
    if term not in answers:
        raise ExerciseError(f"answer one of {list(answers)}")
    if term == "tc":
        return _passed("beta-TCVAE multiplies only the total correlation by beta (Chen et al. 2018, eq. (4)); "
                       "beta-VAE multiplies all three")
    if term == "mi":
        raise ExerciseError("penalising the index-code MI makes z forget x (worse reconstructions), which "
                            "beta-VAE does and beta-TCVAE avoids; look at BetaTCVAELoss.__call__")
    raise ExerciseError("the dimension-wise KL keeps each q(z_d) near N(0, 1) and is weighted by gamma = 1; "
                        "look at BetaTCVAELoss.__call__")


# --- the real exercise: log q(z) and sum_j log q(z_j) by minibatch stratified sampling ------------------

@exercise(points=4, refuses=("dvae_tutorial.losses:estimate_log_qz", "dvae_tutorial.losses:estimate_log_qz_reference",
                              "dvae_tutorial.losses:tc_decomposition", "dvae_tutorial.losses:decomposition_terms",
                              "dvae_tutorial.losses:pairwise_log_density_gaussian",
                              "dvae_tutorial.losses:log_density_gaussian",
                              "dvae_tutorial.losses:log_importance_weights"))
def check_log_qz(log_qz_fn, z=None, mu=None, logvar=None, dataset_size: int = 737_280) -> bool:
    """``log_qz_fn(z, mu, logvar, dataset_size) -> (log_qz (B,), log_prod_qz (B,))``: the minibatch stratified
    estimates (Chen et al. 2018, appendix C.2) of log q(z_i) = log sum_j w_ij q(z_i | x_j) and of
    sum_d log q(z_id) = sum_d log sum_j w_ij q(z_id | x_j), computed with logsumexp; compared with
    ``losses.estimate_log_qz(..., "mss")`` on a batch (the notebook passes a trained model's batch) and on
    a random one."""
    from ..losses import estimate_log_qz

    g = torch.Generator().manual_seed(8)
    batches = [(torch.randn(16, 4, generator=g, dtype=torch.float64) * 1.5, torch.randn(16, 4, generator=g, dtype=torch.float64),
                torch.randn(16, 4, generator=g, dtype=torch.float64) * 0.8 - 1, 1000)]
    if z is not None:
        batches.insert(0, (z.detach().double(), mu.detach().double(), logvar.detach().double(), dataset_size))
    for zb, mub, lvb, n in batches:
        log_qz, marginals = estimate_log_qz(zb, mub, lvb, n, "mss")
        expected = (log_qz, marginals.sum(dim=1))
        got = log_qz_fn(zb.clone(), mub.clone(), lvb.clone(), n)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseError("return two tensors: (log_qz, log_prod_qz), each of shape (B,)")
        got = [torch.as_tensor(v).detach().double() for v in got]
        for name, value in zip(("log_qz", "log_prod_qz"), got):
            if tuple(value.shape) != (len(zb),):
                raise ExerciseError(f"{name} must have one value per code, shape ({len(zb)},); got {tuple(value.shape)}")
        if torch.allclose(got[0], expected[0], atol=1e-5) and torch.allclose(got[1], expected[1], atol=1e-5):
            continue
        mws_qz, mws_marginals = estimate_log_qz(zb, mub, lvb, n, "mws")
        if torch.allclose(got[0], mws_qz, atol=1e-5):
            hint = ("these are minibatch WEIGHTED sampling estimates (every weight 1/(N B)); stratified sampling gives "
                    "w_ii = 1/N, w_i,i+1 = (N - B + 1)/(N (B - 1)) and 1/(B - 1) elsewhere (your weights of exercise 1)")
        elif torch.allclose(got[1], expected[0], atol=1e-5):
            hint = ("log_prod_qz equals log q(z): sum over the dimensions d AFTER the logsumexp over j "
                    "(one marginal per dimension), not before")
        elif not torch.allclose(got[0], expected[0], atol=1e-5):
            hint = ("log q(z_i) = logsumexp over j (dim 1 of the (B, B) matrix) of log w_ij + sum_d log N(z_id; mu_jd, "
                    "exp(logvar_jd)); check the Gaussian log density (-(z - mu)^2 / (2 exp(logvar)) - logvar / 2 - "
                    "log(2 pi) / 2) and that row i holds code z_i against every x_j")
        else:
            hint = ("log_qz is right; for the product take, for every dimension d, logsumexp_j (log w_ij + log "
                    "N(z_id; mu_jd, exp(logvar_jd))), then sum over d")
        raise ExerciseError(f"on a batch of {len(zb)} codes (N = {n:,}): {hint}")
    return _passed("log q(z_i) = logsumexp_j [log w_ij + sum_d log q(z_id|x_j)], sum_d log q(z_id) = sum_d "
                   "logsumexp_j [log w_ij + log q(z_id|x_j)], with stratified weights")
