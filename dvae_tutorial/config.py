"""Run-time settings read from the environment, each in exactly one place.

``DVAE_TUTORIAL_FAST``    "1" makes the lessons do less work (CI's fast mode).  Read only at the
                          edges: by the lessons (``config.pick`` / ``config.FAST``, read anew on
                          every use, so a kernel follows its environment) -- never by a library
                          function; the command line has its own ``--fast`` flag.
``DVAE_TUTORIAL_DEVICE``  "cpu", "cuda", "cuda:1", ... overrides the automatic device choice.
``DVAE_TUTORIAL_CACHE``   folder for rendered data sets (default ``~/.cache/dvae_tutorial``).
"""
from __future__ import annotations

import os
from pathlib import Path


def fast_mode() -> bool:
    """True when ``DVAE_TUTORIAL_FAST`` asks for short runs (CI, quick checks); read on every call."""
    return os.environ.get("DVAE_TUTORIAL_FAST", "").strip().lower() not in ("", "0", "false", "no")


def __getattr__(name: str):
    """``config.FAST``: ``fast_mode()`` at the moment it is read (a module attribute frozen at import would
    miss a kernel's later change of the environment)."""
    if name == "FAST":
        return fast_mode()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def kernel_environment(fast: bool) -> dict:
    """This process's environment for a notebook kernel, with ``DVAE_TUTORIAL_FAST`` set to 1 (fast) or removed."""
    env = dict(os.environ)
    if fast:
        env["DVAE_TUTORIAL_FAST"] = "1"
    else:
        env.pop("DVAE_TUTORIAL_FAST", None)
    return env


def pick(fast, full):
    """``fast`` in fast mode, else ``full``: the one switch notebooks use for sizes and steps."""
    return fast if fast_mode() else full


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


def progress(iterable=None, *, total=None, desc=None, leave=True, **kwargs):
    """A tqdm.auto progress bar (a widget in Jupyter, text in a terminal); ``disable=True`` hides it."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=leave, dynamic_ncols=True, **kwargs)
