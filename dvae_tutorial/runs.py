"""Live training runs for the lessons, cached on disk so a notebook re-runs in seconds.

A lesson trains small models for real (the "small" net on 32x32 dSprites by default), once; the
trained weights and the full history land in ``config.cache_dir() / "runs"`` under a key made of
every setting (method, hyper-parameters, net, steps, seed, data, versions).  Running the cell
again, or moving a slider back to a value already trained, loads the run instead of training.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import __version__, config
from .models import VAE
from .recipes import FACTORVAE_DISC_LR

RUN_FORMAT = 2   # bump when a history gains or renames terms (2: FactorVAE logs tc_disc)


@dataclass
class LiveRun:
    """A trained model with its history and settings (what ``train.TrainResult`` keeps, minus optimisers)."""

    model: VAE
    history: dict        # term -> np.ndarray (steps,), "kl_per_dim" -> (steps, latent_dim)
    settings: dict
    wall_time: float     # seconds of training (when it was trained, not when loaded)
    from_cache: bool

    @property
    def last(self) -> dict:
        """Each scalar term averaged over the last 10% of steps (minibatch noise smoothed)."""
        out = {}
        for name, values in self.history.items():
            values = np.asarray(values)
            if values.ndim == 1 and name != "step" and len(values):
                out[name] = float(values[-max(1, len(values) // 10):].mean())
        return out

    @property
    def kl_per_dim(self) -> np.ndarray:
        """(latent_dim,) KL of each latent averaged over the last 10% of steps."""
        values = np.asarray(self.history["kl_per_dim"])
        return values[-max(1, len(values) // 10):].mean(axis=0)


def _dataset(image_size: int):
    from .data import DSprites

    return DSprites(image_size=image_size)


def run_key(settings: dict) -> str:
    spec = json.dumps({**settings, "format": RUN_FORMAT, "package": __version__, "torch": torch.__version__},
                      sort_keys=True, default=str)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def live_run(method: str, *, steps: int, hparams: dict | None = None, seed: int = 0, image_size: int = 32,
             architecture: str = "small", latent_dim: int = 10, batch_size: int = 128, lr: float = 1e-3,
             dataset=None, cache: bool = True, progress: bool = True, device=None) -> LiveRun:
    """Train (or load the cached result of) one run of ``method`` on dSprites.

    Args:
        method: "vae", "betavae", "capacity", "factorvae" or "btcvae" (see ``losses.OBJECTIVES``).
        steps, seed, batch_size, lr: the optimisation (Adam).
        hparams: the objective's hyper-parameters, e.g. ``{"beta": 4}``.
        image_size, architecture, latent_dim: the data and net (default: the small net on 32x32).
        dataset: a ``data.DSprites`` to train on (default: the full grid at ``image_size``).
    """
    from .train import atomic_write, run

    settings = dict(method=method, hparams=hparams or {}, steps=steps, seed=seed, image_size=image_size,
                    architecture=architecture, latent_dim=latent_dim, batch_size=batch_size, lr=lr,
                    data=getattr(dataset, "cache_key", None) if dataset is not None else f"dsprites{image_size}")
    path = config.cache_dir() / "runs" / f"{method}-{run_key(settings)}.pt"
    if cache and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=False)
            from .losses import make_objective

            model = make_objective(method, **(hparams or {})).build_model(**saved["model_config"])
            model.load_state_dict(saved["model"])
            model.eval()
            return LiveRun(model, saved["history"], saved["settings"], saved["wall_time"], True)
        except Exception as err:  # a damaged cache entry is retrained, never trusted
            import warnings

            warnings.warn(f"ignoring the cached run {path} ({err}); training it again", stacklevel=2)
    dataset = dataset if dataset is not None else _dataset(image_size)
    result = run(method, dataset, steps=steps, hparams=hparams, latent_dim=latent_dim, architecture=architecture,
                 seed=seed, batch_size=batch_size, lr=lr, progress=progress, device=device)
    model = result.model.cpu().to(memory_format=torch.contiguous_format)
    model.eval()
    history = {k: np.asarray(v) for k, v in result.history.items()}
    if cache and not result.interrupted:
        saved = {"model": model.state_dict(), "model_config": model.config, "history": history,
                 "settings": settings, "wall_time": result.wall_time}
        atomic_write(path, lambda tmp: torch.save(saved, tmp))
    return LiveRun(model, history, settings, result.wall_time, False)


def clear_cache() -> int:
    """Delete every cached live run; returns how many files were removed."""
    folder = config.cache_dir() / "runs"
    files = list(Path(folder).glob("*.pt")) if folder.exists() else []
    for f in files:
        f.unlink()
    return len(files)


def sweep(method: str, name: str, values, *, steps: int, seed: int = 0, fixed: dict | None = None,
          **live_run_kwargs) -> dict:
    """One ``live_run`` per value of the hyper-parameter ``name``: ``{value: LiveRun}``, in the given order.

    Each run uses ``hparams = {name: value, **fixed}`` and the same ``steps``, ``seed`` and other
    settings (``live_run_kwargs``: image_size, architecture, latent_dim, ...), so the runs differ
    in that one hyper-parameter only.  Runs already trained are loaded from the cache; one line per
    value says which was trained and how long it took.

    Example: ``runs.sweep("betavae", "beta", (1, 2, 4, 8, 16), steps=6000)``.
    """
    import time

    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be the hyper-parameter's name as a string, e.g. 'beta', got {name!r}")
    values = list(values) if not isinstance(values, (str, bytes)) else None
    if not values:
        raise ValueError("values must be a non-empty sequence of hyper-parameter values, e.g. (1, 4, 16)")
    if len(set(values)) != len(values):
        raise ValueError(f"values must be distinct (each one becomes a slider position), got {values}")
    fixed = dict(fixed or {})
    if name in fixed:
        raise ValueError(f"{name!r} is the swept hyper-parameter; remove it from fixed={fixed}")
    if "hparams" in live_run_kwargs:
        raise ValueError("pass the other hyper-parameters as fixed={...}, not hparams=")
    out = {}
    for k, value in enumerate(values):
        start = time.perf_counter()
        run = live_run(method, steps=steps, hparams={name: value, **fixed}, seed=seed, **live_run_kwargs)
        how = "loaded from the cache" if run.from_cache else \
            f"trained {steps} steps in {time.perf_counter() - start:.0f} s"
        print(f"[{k + 1}/{len(values)}] {method} {name} = {value}: {how}", flush=True)
        out[value] = run
    return out


# The settings every lesson uses for its live runs of each method (lessons 01-05 train them, 05 and 06 compare
# them): the small net on 32x32 dSprites, batch 128, Adam 1e-3, seed 0.
COURSE_HPARAMS = {
    "VAE": ("vae", {}),
    "beta-VAE (4)": ("betavae", {"beta": 4}),
    "capacity": ("capacity", {"gamma": 3, "c_max": 20}),         # + c_steps, see course_runs
    "FactorVAE (40)": ("factorvae", {"gamma": 40, "disc_lr": FACTORVAE_DISC_LR}),
    "beta-TCVAE (6)": ("btcvae", {"beta": 6}),
}


def course_runs(steps: int, c_steps: int, **live_run_kwargs) -> dict:
    """The course's five canonical live runs ``{label: LiveRun}`` (cached; trained once for all lessons).

    ``c_steps``: the capacity run's C rises from 0 to 20 nats over these steps (lesson 03).
    FactorVAE's discriminator learns at the model's rate (``recipes.FACTORVAE_DISC_LR`` = 1e-3; lesson 04).
    """
    out = {}
    for label, (method, hparams) in COURSE_HPARAMS.items():
        hparams = dict(hparams, c_steps=c_steps) if method == "capacity" else dict(hparams)
        out[label] = live_run(method, steps=steps, hparams=hparams, seed=0, **live_run_kwargs)
    return out
