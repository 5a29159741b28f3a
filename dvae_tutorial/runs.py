"""Live training runs for the lessons, cached on disk so a notebook re-runs in seconds.

A lesson trains small models for real (the "small" net on 32x32 dSprites by default), once; the
trained weights and the full history land in ``config.cache_dir() / "runs"`` under a key made of
every setting (method, hyper-parameters, net, steps, seed, data, versions).  Running the cell
again, or moving a slider back to a value already trained, loads the run instead of training.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import __version__, config, files, recipes
from .models import VAE

RUN_FORMAT = 3   # bump when a history gains or renames terms or the file changes (3: files.LIVE_RUN_FORMAT)


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


def _cache_path(settings: dict):
    return config.cache_dir() / "runs" / f"{settings['method']}-{run_key(settings)}.pt"


class _KeepPrefixes:
    """A training hook that saves the run's state after each step count of ``paths`` (step -> cache file) as
    the cached run of that many steps.

    Training is the same step for step whatever the total number of steps (``recipes.prefix_steps``), so the
    state after S steps *is* the S-step run: its weights, its history truncated to S steps, and the seconds of
    training up to then.
    """

    def __init__(self, settings: dict, paths: dict):
        self.settings, self.paths = settings, paths

    def __call__(self, state) -> None:
        from .train import _as_arrays

        path = self.paths.get(state.step)
        if path is None:
            return
        model = copy.deepcopy(state.model).cpu().to(memory_format=torch.contiguous_format)
        history = _as_arrays({k: v[:state.step] for k, v in state.history.items()})   # as fit returns it
        files.save_live_run(path, model.eval(), history, {**self.settings, "steps": state.step}, state.wall_time)


def _data_key(dataset, image_size: int):
    """What a run's cache key says about its data: the data set's own key, or the full grid at ``image_size``."""
    return getattr(dataset, "cache_key", None) if dataset is not None else f"dsprites{image_size}"


def _load_cached(path, method: str, hparams: dict | None) -> LiveRun | None:
    """The run cached at ``path``, or None when there is none or it is damaged (then a warning says so)."""
    from .losses import make_objective

    if not path.exists():
        return None
    try:
        build = make_objective(method, **(hparams or {})).build_model     # a VAE, a VQ-VAE or an InfoGAN
        model, history, saved_settings, wall_time = files.load_live_run(path, build=build)
        return LiveRun(model, history, saved_settings, wall_time, True)
    except files.WeightFileError as err:  # a damaged cache entry is retrained, never trusted
        import warnings

        warnings.warn(f"ignoring the cached run ({err}); training it again", stacklevel=3)
        return None


def _trained(result) -> tuple:
    """``(model on the CPU in eval mode and the usual layout, history as arrays)`` of a ``train.TrainResult``."""
    model = result.model.cpu().to(memory_format=torch.contiguous_format).eval()
    return model, {k: np.asarray(v) for k, v in result.history.items()}


def live_run(method: str, *, steps: int, hparams: dict | None = None, seed: int = 0, image_size: int = 32,
             architecture: str = "small", latent_dim: int = 10, batch_size: int = 128, lr: float = 1e-3,
             dataset=None, cache: bool = True, progress: bool = True, device=None,
             keep_prefixes=(), precision: str = "fp32") -> LiveRun:
    """Train (or load the cached result of) one run of ``method`` on dSprites.

    Args:
        method: "vae", "betavae", "capacity", "factorvae" or "btcvae" (see ``losses.OBJECTIVES``).
        steps, seed, batch_size, lr: the optimisation (Adam).
        hparams: the objective's hyper-parameters, e.g. ``{"beta": 4}``.
        image_size, architecture, latent_dim: the data and net (default: the small net on 32x32).
        dataset: a ``data.DSprites`` to train on (default: the full grid at ``image_size``).
        device: where to train (default ``config.choose_device()``).
        precision: the convolutions' arithmetic (``train.fit``'s ``precision``).  float32 by default, unlike
            ``train.fit``: the lessons check their runs against the seed study's, trained in float32, and
            bfloat16 moves a run that balances on an edge (lesson 04's FactorVAE at gamma = 100 kept a KL of
            29 nats where the study's seeds kept 0.03-13.5) out of the study's spread.  ``"auto"`` or
            ``"bf16"`` train faster on a CPU with Intel AMX and are cached apart from float32 runs.
        keep_prefixes: step counts below ``steps`` whose runs (every other setting the same) are also wanted:
            when this run trains, its state after that many steps goes to the cache as those runs, which
            then load instead of training again (``recipes.prefix_steps`` finds them for a lesson run).
    """
    from .losses import make_objective
    from .train import run

    settings = dict(method=method, hparams=hparams or {}, steps=steps, seed=seed, image_size=image_size,
                    architecture=architecture, latent_dim=latent_dim, batch_size=batch_size, lr=lr,
                    data=_data_key(dataset, image_size))
    if precision != "fp32":
        from .precision import resolve

        channels = dataset.observation_shape[0] if dataset is not None else 1
        probe = make_objective(method, **(hparams or {})).build_model(
            latent_dim=latent_dim, in_channels=channels, image_size=image_size, architecture=architecture)
        if resolve(precision, config.choose_device(device), probe) == "bf16":
            settings["precision"] = "bf16"   # float32 runs keep the cache keys they had before precision existed
    keep_prefixes = sorted({int(s) for s in keep_prefixes})
    if any(not 0 < s < steps for s in keep_prefixes):
        raise ValueError(f"keep_prefixes must be step counts between 0 and steps = {steps} (the shorter runs "
                         f"to keep while this one trains), got {keep_prefixes}")
    path = _cache_path(settings)
    cached = _load_cached(path, method, hparams) if cache else None
    if cached is not None:
        return cached
    dataset = dataset if dataset is not None else _dataset(image_size)
    prefix_paths = {s: _cache_path({**settings, "steps": s}) for s in keep_prefixes} if cache else {}
    missing = {s: p for s, p in prefix_paths.items() if not p.exists()}   # runs already cached stay as they are
    hooks = dict(hooks=[_KeepPrefixes(settings, missing)], eval_every=math.gcd(*missing)) if missing else {}
    result = run(method, dataset, steps=steps, hparams=hparams, latent_dim=latent_dim, architecture=architecture,
                 seed=seed, batch_size=batch_size, lr=lr, progress=progress, device=device,
                 precision=settings.get("precision", "fp32"), **hooks)
    model, history = _trained(result)
    if cache and not result.interrupted:
        files.save_live_run(path, model, history, settings, result.wall_time)
    return LiveRun(model, history, settings, result.wall_time, False)


def timed_run(method: str, *, minutes: float, hparams: dict | None = None, seed: int = 0, image_size: int = 64,
              architecture: str = "small", latent_dim: int = 10, batch_size: int = 64, lr: float = 1e-3,
              score_at=(), codes: int = 10_000, dataset=None, cache: bool = True, progress: bool = True,
              device=None, precision: str = "fp32") -> LiveRun:
    """Train (or load the cached result of) a run of ``method`` for ``minutes`` of training on this machine.

    The run of ``disentanglement_time.timed_fit``: it stops when the budget is spent, however many steps that
    took, and MIG is scored after each of ``score_at`` minutes (not counted) and at the end.  What the run
    reached is in ``run.settings["result"]`` (the record's form: steps, wall_time, mig, curve, ...); its steps
    depend on the machine, which is the point.  A run stopped before its budget (the stop button) is returned
    but not cached.  The other arguments are ``live_run``'s (default here: the small net on 64x64 images).
    """
    from . import disentanglement_time

    settings = dict(method=method, hparams=hparams or {}, minutes=minutes, seed=seed, image_size=image_size,
                    architecture=architecture, latent_dim=latent_dim, batch_size=batch_size, lr=lr,
                    score_at=sorted(score_at), codes=codes, precision=precision,
                    data=_data_key(dataset, image_size))
    path = config.cache_dir() / "runs" / f"{method}-timed-{run_key(settings)}.pt"
    cached = _load_cached(path, method, hparams) if cache else None
    if cached is not None:
        return cached
    dataset = dataset if dataset is not None else _dataset(image_size)
    result, record = disentanglement_time.timed_fit(
        method, dataset, minutes=minutes, seed=seed, hparams=hparams, architecture=architecture,
        latent_dim=latent_dim, batch_size=batch_size, lr=lr, precision=precision, score_at=score_at, codes=codes,
        progress=progress, device=device)
    model, history = _trained(result)
    saved = {**settings, "steps": result.steps_done, "result": record}
    if cache and not record.get("stopped"):
        files.save_live_run(path, model, history, saved, record["wall_time"])
    return LiveRun(model, history, saved, record["wall_time"], False)


def sweep(method: str, name: str, values, *, steps: int, seed: int = 0, fixed: dict | None = None,
          **live_run_kwargs) -> dict:
    """One ``live_run`` per value of the hyper-parameter ``name``: ``{value: LiveRun}``, in the given order.

    Each run uses ``hparams = {name: value, **fixed}`` and the same ``steps``, ``seed`` and other
    settings (``live_run_kwargs``: image_size, architecture, latent_dim, ...), so the runs differ
    in that one hyper-parameter only.  Runs already trained are loaded from the cache; one line per
    value says which was trained and how long it took.

    Example: ``runs.sweep("betavae", "beta", (1, 2, 4, 8, 16), steps=3000)``.
    """
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
        out[value] = run = live_run(method, steps=steps, hparams={name: value, **fixed}, seed=seed, **live_run_kwargs)
        _report(k, len(values), run, name, value, time.perf_counter() - start)
    return out


def _report(k: int, n: int, run: LiveRun, name: str, value, seconds: float) -> None:
    """One line per run of a sweep: ``[k/n] method name = value: trained ... / loaded from the cache``."""
    how = "loaded from the cache" if run.from_cache else f"trained {run.settings['steps']} steps in {seconds:.0f} s"
    print(f"[{k + 1}/{n}] {run.settings['method']} {name} = {value}: {how}", flush=True)


def recipe_run(name: str, fast: bool, progress: bool | None = None) -> LiveRun:
    """Train (or load from the cache) the lesson run ``name`` of ``recipes.LESSON_RUNS``.

    Training it also keeps the shorter lesson runs it begins with (``recipes.prefix_steps``: lesson 05's
    1,500-step VAE and beta-TCVAE are the first half of the course's 3,000-step runs).

    ``fast``: its fast-mode variant (``recipes.lesson``); a lesson passes ``config.FAST``.
    ``progress``: show the progress bar (default: in full mode only).
    """
    recipe = recipes.lesson(name, fast)
    return live_run(**recipe.live_run_kwargs(), progress=not fast if progress is None else progress,
                    keep_prefixes=recipes.prefix_steps(name, fast))


def recipe_sweep(sweep_name: str, fast: bool) -> dict:
    """The runs behind one slider, ``{value: LiveRun}`` (``recipes.LESSON_SWEEPS[sweep_name]``), in order.

    One line per value says whether it was trained (and how long it took) or loaded from the cache.
    """
    try:
        name, values = recipes.LESSON_SWEEPS[sweep_name]
    except KeyError:
        raise KeyError(f"unknown sweep {sweep_name!r}; known: {', '.join(recipes.LESSON_SWEEPS)}") from None
    out = {}
    for k, (value, recipe_name) in enumerate(values.items()):
        start = time.perf_counter()
        out[value] = run = recipe_run(recipe_name, fast)
        _report(k, len(values), run, name, value, time.perf_counter() - start)
    return out


def course_runs(fast: bool) -> dict:
    """The course's five canonical live runs ``{label: LiveRun}`` (``recipes.COURSE_RUNS``; cached, trained once
    for all lessons).  ``fast``: their fast-mode variants (a lesson passes ``config.FAST``)."""
    return {label: recipe_run(name, fast) for label, name in recipes.COURSE_RUNS.items()}


# The sweeps lessons 02-05 train for their slider panels (recipes.LESSON_SWEEPS), by the label lesson 06 shows.
COURSE_SWEEPS = {
    "beta-VAE (lesson 02)": "betavae-beta",
    "capacity, C_max (lesson 03)": "capacity-c_max",
    "capacity, gamma_C (lesson 03)": "capacity-gamma",
    "FactorVAE (lesson 04)": "factorvae-gamma",
    "beta-TCVAE (lesson 05)": "btcvae-beta",
}


def course_sweeps(fast: bool) -> dict:
    """Every sweep of ``COURSE_SWEEPS`` as ``{label: (hyper-parameter, {value: LiveRun})}`` (cached: lessons 02-05
    trained them).  ``fast``: their fast-mode variants (a lesson passes ``config.FAST``)."""
    return {label: (recipes.LESSON_SWEEPS[name][0], recipe_sweep(name, fast)) for label, name in COURSE_SWEEPS.items()}
