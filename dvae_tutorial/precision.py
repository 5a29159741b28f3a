"""The arithmetic a training step's convolutions run in: float32, or bfloat16 where the CPU has it in hardware.

    precision.resolve("auto", device, model)   # "bf16" on a CPU with AMX tiles, else "fp32"
    with precision.autocast("bf16", device):
        output = model(x, sample=True)        # convolutions in bfloat16, everything else in float32

``"bf16"`` is PyTorch's mixed precision (``torch.autocast`` with ``dtype=torch.bfloat16``) confined to
the convolution stacks of ``models.VAE``: its encoder's and decoder's fully connected layers, the
posterior's mean and log variance, the sample z and every loss term stay in float32
(``models.Encoder`` / ``models.Decoder`` switch autocast off around them), and the weights, their
gradients and Adam's moments are float32 throughout.  bfloat16 has float32's exponent range and an
8-bit mantissa (a relative rounding of 2**-9, about 0.2 %): the conv layers' outputs are rounded to
it, their products accumulated in float32 by oneDNN.  On a CPU with Intel AMX tiles (Sapphire Rapids
and later) these convolutions run on the tile unit, about twice as fast as in float32 (see
``benchmarks/bench_user_loop.py``); without hardware bfloat16 they would be emulated and slower,
which is why ``"auto"`` picks bfloat16 only where AMX is present, and float32 everywhere else
(CUDA included: not measured there).

Only models that declare ``low_precision_convs = True`` (``models.VAE``) can train in ``"bf16"``:
the VQ-VAE's nearest-codebook search and InfoGAN's networks would run whole in bfloat16 under autocast.
Evaluation (metrics, figures, hooks) always runs in float32.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

__all__ = ["PRECISIONS", "resolve", "autocast", "cpu_has_amx", "supports_low_precision"]

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_amx() -> bool:
    """Whether this CPU has Intel AMX tiles with bfloat16 (what makes bfloat16 convolutions fast).

    Asks PyTorch's CPU feature detection; where this build lacks it, reads the ``amx_bf16`` flag of
    ``/proc/cpuinfo`` (Linux); else False.
    """
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if probe is not None:
        try:
            return bool(probe())
        except RuntimeError:
            pass
    try:
        with open("/proc/cpuinfo") as info:
            return any(line.startswith("flags") and " amx_bf16" in line for line in info)
    except OSError:
        return False


def supports_low_precision(model: torch.nn.Module) -> bool:
    """Whether ``model`` keeps its non-convolution layers in float32 under autocast (``low_precision_convs``)."""
    return bool(getattr(model, "low_precision_convs", False))


def resolve(precision: str, device: torch.device, model: torch.nn.Module) -> str:
    """``"fp32"`` or ``"bf16"``: what ``precision`` (one of ``PRECISIONS``) means for this device and model."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        return "bf16" if device.type == "cpu" and supports_low_precision(model) and cpu_has_amx() else "fp32"
    if precision == "bf16" and not supports_low_precision(model):
        raise ValueError(f"precision='bf16' needs a model whose convolutions alone may run in bfloat16 "
                         f"(models.VAE); {type(model).__name__} would run whole in bfloat16. "
                         f"Use precision='fp32' (or 'auto', which picks fp32 for it)")
    return precision


def autocast(precision: str, device: torch.device):
    """A context in which the model's forward pass runs in ``precision`` (``"fp32"``: nothing changes)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def full_precision(tensor: torch.Tensor):
    """A context that switches autocast off on ``tensor``'s device (where it is on): the layers inside run in
    their weights' dtype.  Elsewhere (no autocast, or a device without it, such as "meta") nothing changes."""
    device_type = tensor.device.type
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()
