"""Run-time settings read from the environment, each in exactly one place.

``DVAE_TUTORIAL_FAST``    "1" makes notebooks and examples do less work (CI's fast mode).
``DVAE_TUTORIAL_DEVICE``  "cpu", "cuda", "cuda:1", ... overrides the automatic device choice.
``DVAE_TUTORIAL_CACHE``   folder for rendered data sets (default ``~/.cache/dvae_tutorial``).
``DVAE_TUTORIAL_STATIC_PAGE``  "1" (set by the HTML site builder in its kernels) makes the slider panels hand
                          over their pictures for every slider value, so the static page can switch them.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


FAST: bool = _flag("DVAE_TUTORIAL_FAST")
STATIC_PAGE: bool = _flag("DVAE_TUTORIAL_STATIC_PAGE")


def fast_mode() -> bool:
    """True when ``DVAE_TUTORIAL_FAST`` asks for short runs (CI, quick checks)."""
    return FAST


def kernel_environment(fast: bool, static_page: bool = False) -> dict:
    """This process's environment for a notebook kernel, with ``DVAE_TUTORIAL_FAST`` set to 1 (fast) or removed,
    and ``DVAE_TUTORIAL_STATIC_PAGE`` set to 1 (``static_page``: the kernel's output becomes an HTML page) or removed."""
    env = dict(os.environ)
    for name, on in (("DVAE_TUTORIAL_FAST", fast), ("DVAE_TUTORIAL_STATIC_PAGE", static_page)):
        if on:
            env[name] = "1"
        else:
            env.pop(name, None)
    return env


def pick(fast, full):
    """``fast`` in fast mode, else ``full``: the one switch notebooks use for sizes and steps."""
    return fast if FAST else full


def cache_dir() -> Path:
    """Folder that holds rendered data sets; created on first use."""
    path = Path(os.environ.get("DVAE_TUTORIAL_CACHE", Path.home() / ".cache" / "dvae_tutorial"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def choose_device(device=None):
    """The torch device to use: the argument, else ``DVAE_TUTORIAL_DEVICE``, else CUDA if present, else CPU."""
    import torch

    name = device or os.environ.get("DVAE_TUTORIAL_DEVICE", "").strip()
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {name!r} was requested but CUDA is not available in this PyTorch "
                f"({torch.__version__}); unset DVAE_TUTORIAL_DEVICE or install a CUDA build of torch"
            )
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy's legacy global state and torch (CPU and CUDA); return a fresh Generator."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def progress(iterable=None, *, total=None, desc=None, leave=True, **kwargs):
    """A tqdm.auto progress bar (a widget in Jupyter, text in a terminal).

    Silenced in fast mode, where the bars would only clutter CI logs.
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", FAST)
    return tqdm(iterable, total=total, desc=desc, leave=leave, dynamic_ncols=True, **kwargs)
