"""Checks for lesson 05 (beta-TCVAE: the decomposition of the KL and its minibatch estimators)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._base import ExerciseError
from ._base import passed as _passed


def _as_matrix(value, name: str) -> np.ndarray:
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return array.astype(np.float64)


def check_mss_weights(weights_fn) -> bool:
    """``weights_fn(batch_size, dataset_size) -> (B, B)`` log importance weights of minibatch stratified
    sampling (Chen et al. 2018, appendix C.2), compared with ``losses.log_importance_weights(..., "mss")``.

    Row i estimates q(z_i) = sum_j w_ij q(z_i | x_j): w_ii = 1/N for the anchor itself, the anchor's
    remaining stratum (N - B + 1) / (N (B - 1)) on the next image (i + 1 mod B), 1 / (B - 1) elsewhere.
    """
    from ..losses import log_importance_weights

    for batch, n in ((4, 10), (8, 1000), (3, 3)):
        expected = log_importance_weights(batch, n, "mss", dtype=torch.float64).numpy()
        got = _as_matrix(weights_fn(batch, n), "weights")
        if got.shape != expected.shape:
            raise ExerciseError(f"for B={batch} the matrix must be ({batch}, {batch}), got {got.shape}")
        if np.allclose(got, expected, atol=1e-6):
            continue
        if (got > 0).any() and np.allclose(np.log(np.clip(got, 1e-300, None)), expected, atol=1e-6):
            raise ExerciseError("these are the weights themselves: return their logarithms (log w_ij)")
        rows = np.exp(got).sum(axis=1)
        if np.allclose(got, -math.log(n * batch)):
            raise ExerciseError("that is minibatch *weighted* sampling (every w = 1/(N B)); stratified sampling "
                                "gives the anchor 1/N and the other images 1/(B-1)")
        if np.allclose(np.exp(got[:, 0]), 1 / n) and not np.allclose(np.diag(np.exp(got)), 1 / n):
            raise ExerciseError("1/N sits in column 0, not on the diagonal: this is the published code's stride "
                                "slip (rtqichen/beta-tcvae); the anchor x_i is the diagonal entry w_ii")
        if not np.allclose(rows, 1.0, atol=1e-6):
            raise ExerciseError(f"each row must sum to 1 (an unbiased estimate of q(z_i)); with B={batch}, N={n} "
                                f"your rows sum to {np.round(rows, 4).tolist()}")
        raise ExerciseError(f"rows sum to 1 but the weights are placed differently; for B={batch}, N={n} expected "
                            f"w = {np.round(np.exp(expected[0]), 4).tolist()} in row 0, got "
                            f"{np.round(np.exp(got[0]), 4).tolist()}")
    return _passed("w_ii = 1/N, w_i,i+1 = (N-B+1)/(N(B-1)), others 1/(B-1); every row sums to 1")


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
