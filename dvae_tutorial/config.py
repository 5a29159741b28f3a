"""Run-time settings read from the environment, each in exactly one place.

``DVAE_TUTORIAL_FAST``    "1" makes the lessons do less work (CI's fast mode).  Read only at the
                          edges: by the lessons (``config.pick`` / ``config.FAST``, read anew on
                          every use, so a kernel follows its environment) -- never by a library
                          function; the command line has its own ``--fast`` flag.
``DVAE_TUTORIAL_DEVICE``  "cpu", "cuda", "cuda:1", ... overrides the automatic device choice.
``DVAE_TUTORIAL_CACHE``   folder for rendered data sets (default ``~/.cache/dvae_tutorial``).
``DVAE_TUTORIAL_STATIC_PAGE``  "1" (set by the HTML site builder in its kernels) makes the slider panels hand
                          over their pictures for every slider value, so the static page can switch them.
"""
from __future__ import annotations

import os
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def fast_mode() -> bool:
    """True when ``DVAE_TUTORIAL_FAST`` asks for short runs (CI, quick checks); read on every call."""
    return _flag("DVAE_TUTORIAL_FAST")


def static_page() -> bool:
    """True in a kernel the HTML site builder started (``DVAE_TUTORIAL_STATIC_PAGE``); read on every call."""
    return _flag("DVAE_TUTORIAL_STATIC_PAGE")


def __getattr__(name: str):
    """``config.FAST`` / ``config.STATIC_PAGE``: the flag at the moment it is read (a module attribute frozen at
    import would miss a kernel's later change of the environment)."""
    if name == "FAST":
        return fast_mode()
    if name == "STATIC_PAGE":
        return static_page()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
