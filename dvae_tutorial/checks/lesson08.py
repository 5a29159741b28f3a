"""Checks for lesson 08 (beyond the beta-family: VQ-VAE's quantisation, InfoGAN's categorical MI bound)."""
from __future__ import annotations

import math

import torch

from ._base import ExerciseError
from ._base import passed as _passed


def _cases(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    codebook = torch.randn(12, 3, generator=g, dtype=torch.float64)
    z_e = torch.randn(5, 4, 3, generator=g, dtype=torch.float64)
    return z_e, codebook


def check_quantize(quantize_fn) -> bool:
    """``quantize_fn(z_e (B, n, D), codebook (K, D)) -> (indices (B, n), z (B, n, D))`` with z the
    straight-through code: the value of the nearest entries, the gradient of z_e (van den Oord et al. 2017,
    section 3.1-3.2)."""
    from ..vqvae import quantize

    z_e, codebook = _cases()
    z_e = z_e.clone().requires_grad_(True)
    result = quantize_fn(z_e, codebook)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ExerciseError("return a pair (indices, z): the indices of the nearest entries and the straight-through code")
    indices, z = result
    expected_idx, expected_z = quantize(z_e.detach(), codebook)
    if not isinstance(indices, torch.Tensor) or tuple(indices.shape) != (5, 4):
        raise ExerciseError(f"indices must be a tensor of shape (B, n) = (5, 4), one entry per code vector, got "
                            f"{tuple(indices.shape) if isinstance(indices, torch.Tensor) else type(indices).__name__}")
    if not torch.equal(indices.long(), expected_idx):
        farthest = torch.cdist(z_e.detach().reshape(-1, 3), codebook).argmax(1).reshape(5, 4)
        if torch.equal(indices.long(), farthest):
            raise ExerciseError("these are the FARTHEST entries: take the argmin of the distances, not the argmax")
        raise ExerciseError("some indices are not the nearest codebook entries: compute ||z_e - e_k||^2 between each "
                            "code vector (last axis) and every row of the codebook, and take the argmin over k")
    if tuple(z.shape) != (5, 4, 3) or not torch.allclose(z.detach(), expected_z, atol=1e-10):
        raise ExerciseError("z must have the VALUE of the chosen entries, codebook[indices], shape (B, n, D)")
    if not z.requires_grad:
        raise ExerciseError("no gradient reaches z_e: the argmin (and codebook[indices]) cut the graph. Use the "
                            "straight-through copy z = z_e + (z_q - z_e).detach()")
    (grad,) = torch.autograd.grad((z * torch.arange(1.0, 4.0, dtype=z.dtype)).sum(), z_e, allow_unused=True)
    if grad is None or float(grad.abs().sum()) == 0:
        raise ExerciseError("no gradient reaches z_e: use the straight-through copy z = z_e + (z_q - z_e).detach()")
    if not torch.allclose(grad, torch.arange(1.0, 4.0, dtype=z.dtype).expand_as(grad)):
        raise ExerciseError("the gradient reaching z_e must be the decoder's gradient unchanged (identity): detach "
                            "the whole difference, z_e + (z_q - z_e).detach(), not only one of its parts")
    return _passed("nearest entries by argmin, and z = z_e + sg[z_q - z_e] passes the decoder's gradient to the encoder")


def check_categorical_mi(mi_fn) -> bool:
    """``mi_fn(logits (B, K), category (B,)) -> scalar`` = E[log Q(c|x)] + log K (Chen et al. 2016, eq. (5))."""
    from ..infogan import mi_lower_bound_categorical

    g = torch.Generator().manual_seed(1)
    for k in (3, 10):
        category = torch.randint(k, (400,), generator=g)
        for logits in (torch.randn(400, k, generator=g, dtype=torch.float64),
                       8.0 * torch.nn.functional.one_hot(category, k).double()):
            got = mi_fn(logits, category)
            if not isinstance(got, torch.Tensor) or got.numel() != 1:
                raise ExerciseError("return one number (a scalar tensor): the batch mean of log Q(c|x) plus H(c)")
            got, expected = float(got), float(mi_lower_bound_categorical(logits, category))
            if math.isclose(got, expected, abs_tol=1e-6):
                continue
            log_q = torch.log_softmax(logits, 1)[torch.arange(400), category].mean()
            if math.isclose(got, float(log_q), abs_tol=1e-6):
                raise ExerciseError("that is E[log Q(c|x)] alone: add the code's entropy H(c) = log K (the bound is "
                                    "E[log Q(c|x)] + H(c), between 0 for a blind Q and log K)")
            if math.isclose(got, -expected, abs_tol=1e-6):
                raise ExerciseError("the sign is flipped: the bound is E[log Q(c|x)] + log K, which InfoGAN maximises")
            probs = torch.softmax(logits, 1)[torch.arange(400), category].mean()
            if math.isclose(got, float(probs) + math.log(k), abs_tol=1e-6):
                raise ExerciseError("use log-probabilities (log_softmax, or minus the cross entropy), not probabilities")
            raise ExerciseError(f"for K = {k} expected {expected:.4f}, got {got:.4f}; the bound is the batch mean of "
                                f"log softmax(logits)[c] plus log K")
    return _passed("L_I = E[log Q(c|x)] + log K: at most log K, and log K when Q reads the code off the image")


def check_relabelling_invariance(answer) -> bool:
    """Which score ignores how a discrete code's entries are numbered: ``"mig"`` or ``"sap"``."""
    if not isinstance(answer, str) or answer.lower() not in ("mig", "sap"):
        raise ExerciseError(f'answer "mig" or "sap", got {answer!r}')
    if answer.lower() == "sap":
        raise ExerciseError("SAP thresholds each code value with a linear classifier: that needs an order, and "
                            "renumbering the entries changes it. Mutual information only counts co-occurrences, "
                            "so MIG is unchanged (section 2 computes both)")
    return _passed("MI counts which entry co-occurs with which factor value; the numbering does not enter")
