"""Checks for lesson 08 (beyond the beta-family: VQ-VAE's quantisation layer and losses, InfoGAN's categorical MI bound)."""
from __future__ import annotations

import math

import torch

from ._base import ExerciseError, exercise
from ._base import passed as _passed


def _cases(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    codebook = torch.randn(12, 3, generator=g, dtype=torch.float64)
    z_e = torch.randn(5, 4, 3, generator=g, dtype=torch.float64)
    return z_e, codebook


def _check_quantisation(indices, z, z_e: torch.Tensor, codebook: torch.Tensor) -> None:
    """The nearest entries and the straight-through code z (value of the entries, gradient of z_e)."""
    from ..vqvae import quantize

    expected_idx, expected_z = quantize(z_e.detach(), codebook.detach())
    if not isinstance(indices, torch.Tensor) or tuple(indices.shape) != (5, 4):
        raise ExerciseError(f"indices must be a tensor of shape (B, n) = (5, 4), one entry per code vector, got "
                            f"{tuple(indices.shape) if isinstance(indices, torch.Tensor) else type(indices).__name__}")
    if not torch.equal(indices.long(), expected_idx):
        farthest = torch.cdist(z_e.detach().reshape(-1, 3), codebook.detach()).argmax(1).reshape(5, 4)
        if torch.equal(indices.long(), farthest):
            raise ExerciseError("these are the FARTHEST entries: take the argmin of the distances, not the argmax")
        raise ExerciseError("some indices are not the nearest codebook entries: compute ||z_e - e_k||^2 between each "
                            "code vector (last axis) and every row of the codebook, and take the argmin over k")
    if not isinstance(z, torch.Tensor) or tuple(z.shape) != (5, 4, 3) or \
            not torch.allclose(z.detach(), expected_z, atol=1e-10):
        raise ExerciseError("z must have the VALUE of the chosen entries, codebook[indices], shape (B, n, D)")
    if not z.requires_grad:
        raise ExerciseError("no gradient reaches z_e: the argmin (and codebook[indices]) cut the graph. Use the "
                            "straight-through copy z = z_e + (z_q - z_e).detach()")
    weights = torch.arange(1.0, 4.0, dtype=z.dtype)
    (grad,) = torch.autograd.grad((z * weights).sum(), z_e, allow_unused=True, retain_graph=True)
    if grad is None or float(grad.abs().sum()) == 0:
        raise ExerciseError("no gradient reaches z_e: use the straight-through copy z = z_e + (z_q - z_e).detach()")
    if not torch.allclose(grad, weights.expand_as(grad)):
        raise ExerciseError("the gradient reaching z_e must be the decoder's gradient unchanged (identity): detach "
                            "the whole difference, z_e + (z_q - z_e).detach(), not only one of its parts")


def _moves(loss: torch.Tensor, tensor: torch.Tensor) -> bool:
    (grad,) = torch.autograd.grad(loss, tensor, allow_unused=True, retain_graph=True)
    return grad is not None and float(grad.abs().sum()) > 0


VQ_KEYS = ("indices", "z", "codebook", "commitment", "perplexity")


@exercise(points=5, refuses=("dvae_tutorial.vqvae:quantize", "dvae_tutorial.vqvae:straight_through",
                             "dvae_tutorial.vqvae:codebook_usage", "dvae_tutorial.losses:VQVAELoss.__call__"))
def check_vq_layer(layer_fn) -> bool:
    """``layer_fn(z_e (B, n, D), codebook (K, D)) -> dict`` with ``indices`` (B, n) of the nearest entries,
    ``z`` (B, n, D) the straight-through code, the ``codebook`` loss ||sg[z_e] - e||^2 and the ``commitment``
    loss ||z_e - sg[e]||^2 (each summed over code vectors and dimensions, averaged over the batch; van den
    Oord et al. 2017, eq. (3)) and the batch's codebook ``perplexity`` exp(H(usage frequencies))."""
    from ..vqvae import codebook_usage, quantize

    z_e, codebook = _cases()
    z_e, codebook = z_e.clone().requires_grad_(True), codebook.clone().requires_grad_(True)
    out = layer_fn(z_e, codebook)
    if not isinstance(out, dict) or not set(VQ_KEYS) <= set(out):
        got = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise ExerciseError(f"return a dict with the keys {', '.join(VQ_KEYS)}; got {got}")
    _check_quantisation(out["indices"], out["z"], z_e, codebook)
    expected_idx, z_q = quantize(z_e.detach(), codebook.detach())
    squared = (z_e.detach() - z_q).pow(2)
    expected = float(squared.sum() / len(z_e))
    for name in ("codebook", "commitment"):
        value = out[name]
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise ExerciseError(f"the {name} loss must be one number (a scalar tensor)")
        if not math.isclose(float(value), expected, rel_tol=1e-9):
            if math.isclose(float(value), float(squared.mean()), rel_tol=1e-9):
                raise ExerciseError(f"the {name} loss is averaged over everything: sum the squared distances over "
                                    f"the code vectors and their dimensions, then divide by the batch size only")
            raise ExerciseError(f"the {name} loss should be {expected:.4f} (||z_e - e||^2 summed over code vectors "
                                f"and dimensions, batch mean), got {float(value):.4f}")
    codebook_moves_entries, codebook_moves_encoder = _moves(out["codebook"], codebook), _moves(out["codebook"], z_e)
    commitment_moves_entries = _moves(out["commitment"], codebook)
    commitment_moves_encoder = _moves(out["commitment"], z_e)
    if codebook_moves_encoder and commitment_moves_entries and not (codebook_moves_entries or commitment_moves_encoder):
        raise ExerciseError("the stop-gradients are swapped: the codebook loss ||sg[z_e] - e||^2 moves the entries "
                            "(detach z_e), the commitment loss ||z_e - sg[e]||^2 moves the encoder (detach z_q)")
    if codebook_moves_encoder:
        raise ExerciseError("the codebook loss must not move the encoder: detach z_e in ||sg[z_e] - e||^2")
    if not codebook_moves_entries:
        raise ExerciseError("the codebook loss must move the entries: compute it from z_q = codebook[indices] "
                            "(not detached, and not from the straight-through z, whose gradient goes to z_e)")
    if commitment_moves_entries:
        raise ExerciseError("the commitment loss must not move the codebook: detach z_q in ||z_e - sg[e]||^2")
    if not commitment_moves_encoder:
        raise ExerciseError("the commitment loss must move the encoder: keep z_e's gradient in ||z_e - sg[e]||^2")
    perplexity = out["perplexity"]
    usage = codebook_usage(expected_idx, codebook.shape[0])
    target = float(usage["perplexity"])
    if not isinstance(perplexity, torch.Tensor) or perplexity.numel() != 1:
        raise ExerciseError("the perplexity must be one number (a scalar tensor)")
    if not math.isclose(float(perplexity), target, rel_tol=1e-5):
        if math.isclose(float(perplexity), math.log(target), rel_tol=1e-5):
            raise ExerciseError("that is the entropy of the usage frequencies: the perplexity is its exponential")
        if math.isclose(float(perplexity), float((usage["counts"] > 0).sum()), rel_tol=1e-9):
            raise ExerciseError("that counts the entries used; the perplexity weighs them by how often: exp(-sum_k "
                                "p_k log p_k) with p_k the fraction of the code vectors that chose entry k")
        raise ExerciseError(f"the perplexity should be {target:.4f} (exp of the entropy of the entries' frequencies "
                            f"over all B * n code vectors), got {float(perplexity):.4f}")
    return _passed("nearest entries, z = z_e + sg[z_q - z_e], codebook loss moving the entries, commitment moving "
                   "the encoder, perplexity = exp(H(usage))")


@exercise(points=2, refuses=("dvae_tutorial.infogan:mi_lower_bound_categorical",))
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


@exercise(points=1)
def check_relabelling_invariance(answer) -> bool:
    """Which score ignores how a discrete code's entries are numbered: ``"mig"`` or ``"sap"``."""
    if not isinstance(answer, str) or answer.lower() not in ("mig", "sap"):
        raise ExerciseError(f'answer "mig" or "sap", got {answer!r}')
    if answer.lower() == "sap":
        raise ExerciseError("SAP thresholds each code value with a linear classifier: that needs an order, and "
                            "renumbering the entries changes it. Mutual information only counts co-occurrences, "
                            "so MIG is unchanged (section 2 computes both)")
    return _passed("MI counts which entry co-occurs with which factor value; the numbering does not enter")
