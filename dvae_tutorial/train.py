"""One training loop for every method: history of every loss term, checkpoints, seeding, devices.

    from dvae_tutorial import data, losses, models, train
    ds = data.DSprites.small()
    model = models.VAE()
    result = train.fit(model, losses.make_objective("btcvae", beta=6), ds, steps=2000)
    result.history["tc"]          # np.ndarray (steps,) -- every term, every step, ready to plot
    result.history["kl_per_dim"]  # np.ndarray (steps, latent_dim)

Each step: take the next batch of image indices (the training pool is visited in epochs, each in a
new random order from a seeded ``torch.Generator``, so a batch never holds an image twice, as
minibatch stratified sampling assumes), ``x = dataset.images(idx, device)``, ``output = model(x,
sample=True)``, ``terms = objective(output, x, step)``, one Adam step on ``terms["loss"]``, then
``objective.auxiliary_update(...)`` (FactorVAE trains its discriminator there, with its own
optimiser; every other method does nothing).  The MI / TC / dimension-wise KL decomposition
(``losses.tc_decomposition``) is logged for every method, so lessons can put them side by side.

Reproducible: the same seed gives the same numbers on the same device and thread count; the loop
draws its randomness from its own generators and never reseeds torch's global state.  A
``KeyboardInterrupt`` (the stop button in Jupyter) ends training cleanly: the model, the history
so far and ``interrupted=True`` come back.  A NaN or infinite term stops training with an error
naming the term and the step, before the bad step changes the weights.
"""
from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from . import config
from .losses import Objective, make_objective, tc_decomposition
from .models import VAE

__all__ = ["fit", "run", "TrainResult", "TrainState", "NonFiniteLossError", "TensorImages", "EpochSampler",
           "split_indices", "machine",
           "save_checkpoint", "load_checkpoint", "atomic_write", "build_from_checkpoint", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"
CHECKPOINT_FORMAT = "dvae_tutorial.checkpoint/1"
DECOMPOSITION_TERMS = ("mi", "tc", "dw_kl")
POSTFIX_EVERY = 10   # steps between progress-bar postfix updates


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; ``.term``, ``.step`` and the ``.history`` up to that step."""

    def __init__(self, term: str, value: float, step: int, history: dict, before_update: bool = True):
        self.term, self.value, self.step, self.history = term, value, step, history
        when = ("before this step changed the model's weights" if before_update
                else "after the model's update of this step")
        super().__init__(
            f"the loss term {term!r} became {value} at step {step}; training stopped {when}. "
            f"Try a lower learning rate, a smaller weight on that term, or check the data for NaNs")


class TensorImages:
    """The data-set protocol ``train.fit`` needs, over images already in memory.

    ``images``: float tensor ``(n, C, H, W)`` in [0, 1].  ``images(idx, device)`` returns the rows
    ``idx`` on ``device``.  Handy for tests, benchmarks and small experiments.
    """

    def __init__(self, images: torch.Tensor):
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
            raise ValueError("TensorImages needs a float tensor of shape (n, channels, height, width)")
        self._images = images
        self.observation_shape = tuple(images.shape[1:])

    def __len__(self):
        return self._images.shape[0]

    def images(self, indices, device=None) -> torch.Tensor:
        idx = torch.as_tensor(indices, dtype=torch.long, device=self._images.device)
        out = self._images.index_select(0, idx)
        return out if device is None else out.to(device, non_blocking=True)


@dataclass
class TrainState:
    """What an evaluation hook receives: ``hook(state) -> dict of floats or None``."""

    step: int                 # number of completed steps
    model: torch.nn.Module
    objective: Objective
    history: dict             # name -> list of per-step values so far
    device: torch.device


@dataclass
class TrainResult:
    model: torch.nn.Module
    objective: Objective
    history: dict             # name -> np.ndarray (steps,) or (steps, latent_dim) for kl_per_dim
    evaluations: list         # one dict per hook call: {"step": s, **values}
    interrupted: bool
    wall_time: float          # seconds spent in training steps (all sessions of a resumed run)
    steps_done: int
    config: dict = field(default_factory=dict)

    @property
    def last(self) -> dict:
        """The last step's value of every scalar term."""
        return {k: float(v[-1]) for k, v in self.history.items() if len(v) and np.ndim(v[-1]) == 0}


class EpochSampler:
    """Batches of indices from ``pool``: each epoch a seeded random permutation, cut into batches.

    The incomplete batch at the end of an epoch is dropped.  ``state()`` / ``load_state()`` give
    exact resumption: the generator's state at the start of the epoch and the position in it.
    """

    def __init__(self, pool: torch.Tensor, batch_size: int, generator: torch.Generator):
        self.pool, self.batch_size, self.generator = pool, batch_size, generator
        self._new_epoch()

    def _new_epoch(self) -> None:
        self._epoch_state = self.generator.get_state()
        self._order = self.pool[torch.randperm(len(self.pool), generator=self.generator)]
        self._position = 0

    def next(self) -> torch.Tensor:
        if self._position + self.batch_size > len(self._order):
            self._new_epoch()
        batch = self._order[self._position:self._position + self.batch_size]
        self._position += self.batch_size
        return batch

    def state(self) -> dict:
        return {"epoch_start": self._epoch_state, "position": self._position}

    def load_state(self, state: dict) -> None:
        self.generator.set_state(state["epoch_start"])
        self._new_epoch()
        self._position = int(state["position"])


def split_indices(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, held-out) image indices: a fraction ``holdout`` of ``n`` held out, seeded."""
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be a fraction in [0, 1), got {holdout}")
    order = np.random.default_rng(seed).permutation(n)
    n_out = int(round(holdout * n))
    return np.sort(order[n_out:]), np.sort(order[:n_out])


# --------------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------------
def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file in the same folder, then rename over ``path`` (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(directory, checkpoint: dict) -> Path:
    """Write ``checkpoint.pt`` (torch) and ``config.json`` (for people) atomically into ``directory``."""
    directory = Path(directory)
    path = directory / CHECKPOINT_NAME
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
    summary = dict(checkpoint["config"], steps_done=checkpoint["step"], wall_time=checkpoint["wall_time"])
    atomic_write(directory / CONFIG_NAME, lambda tmp: tmp.write_text(json.dumps(summary, indent=2, default=str)))
    return path


def load_checkpoint(path, device="cpu") -> dict:
    """Read a checkpoint (a run folder or its ``checkpoint.pt``); tensors are put on ``device``."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train one with `python -m dvae_tutorial train ... --out DIR`")
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a dvae_tutorial checkpoint (format {checkpoint.get('format')!r})")
    return checkpoint


def build_from_checkpoint(checkpoint: dict, device="cpu") -> tuple[VAE, Objective]:
    """The trained model (eval mode) and its objective (with e.g. FactorVAE's discriminator) from a checkpoint."""
    cfg = checkpoint["config"]
    objective = make_objective(cfg["method"], **_hparams_from_config(cfg["objective"]))
    model = objective.build_model(**cfg["model"]).to(device)
    model.load_state_dict(checkpoint["model"])
    model.eval()
    objective.prepare(model, cfg["dataset_size"], device, cfg["seed"])
    objective.load_state_dict(checkpoint["objective"])
    return model, objective


def _hparams_from_config(hparams: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in hparams.items()}


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def machine() -> dict:
    """Where a run trains (recorded in every run's config): CPU model, cores, torch threads, versions, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
           "platform": platform.platform(), "python": platform.python_version(), "torch": str(torch.__version__)}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------
def _check_fit_arguments(model, dataset, steps, batch_size, lr, indices, eval_every, checkpoint_every, checkpoint_dir):
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    if checkpoint_every is not None and checkpoint_dir is None:
        raise ValueError("checkpoint_every needs checkpoint_dir (the folder to write checkpoints to)")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    for attr in ("images", "__len__"):
        if not hasattr(dataset, attr):
            raise TypeError(f"the data set must have .images(indices, device) and len(); got {type(dataset).__name__}"
                            f" (wrap a tensor of images in train.TensorImages)")
    shape = tuple(getattr(dataset, "observation_shape", ()))
    expected = (model.in_channels, model.image_size, model.image_size) if isinstance(model, VAE) else shape
    if shape and shape != expected:
        raise ValueError(f"the data set's images are {shape} but the model expects {expected}; build the model "
                         f"with models.VAE(in_channels={shape[0]}, image_size={shape[-1]})")
    pool = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
    if pool.size and (pool.min() < 0 or pool.max() >= len(dataset)):
        raise ValueError(f"indices must lie in [0, {len(dataset)}), got values in [{pool.min()}, {pool.max()}]")
    if pool.size < batch_size:
        raise ValueError(f"the training pool has {pool.size} images, fewer than the batch size {batch_size}")
    return torch.as_tensor(pool)


def _record(history: dict, name: str, value) -> None:
    history.setdefault(name, []).append(value)


def _as_arrays(history: dict) -> dict:
    return {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64) for k, v in history.items()}


def fit(model: torch.nn.Module, objective: Objective, dataset, *, steps: int, batch_size: int = 64,
        lr: float = 1e-3, seed: int = 0, device=None, indices=None, eval_every: int | None = None,
        hooks: Iterable[Callable] = (), checkpoint_dir=None, checkpoint_every: int | None = None,
        resume: bool = False, progress: bool = True, track_decomposition: bool = True,
        channels_last: bool | None = None, extra_config: dict | None = None) -> TrainResult:
    """Train ``model`` with ``objective`` on ``dataset`` for ``steps`` optimiser steps (in total).

    Arguments:
        dataset: anything with ``len()`` and ``images(indices, device) -> (n, C, H, W)`` floats
            (``data.DSprites``, ``train.TensorImages``, ...).
        indices: the pool of image indices to train on (default: all); also N for beta-TCVAE.
        lr: Adam's learning rate for the model (betas 0.9, 0.999).
        seed: seeds the batch indices, the reparameterisation noise and FactorVAE's discriminator.
        device: "cpu", "cuda", ... (default ``config.choose_device()``).
        eval_every, hooks: every ``eval_every`` steps and after the last one, each ``hook(TrainState)``
            is called (model in eval mode, no gradients); the dicts it returns land in
            ``result.evaluations``.
        checkpoint_dir, checkpoint_every: write ``checkpoint.pt`` + ``config.json`` there every
            ``checkpoint_every`` steps, at the end, and when interrupted; ``resume=True`` continues
            from the checkpoint in ``checkpoint_dir`` if there is one (same method and settings).
        track_decomposition: log MI / TC / dim-wise KL (minibatch stratified sampling) for every
            method, not only beta-TCVAE.
        channels_last: train with conv weights stored channels-last (default: on CPU, where it is
            about 10% faster); the model comes back in the usual (contiguous) layout.
    """
    pool = _check_fit_arguments(model, dataset, steps, batch_size, lr, indices, eval_every, checkpoint_every,
                                checkpoint_dir)
    device = config.choose_device(device)
    if channels_last is None:
        channels_last = device.type == "cpu"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    dataset_size = int(pool.numel())
    objective.prepare(model, dataset_size, device, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    sampler = EpochSampler(pool, batch_size, torch.Generator().manual_seed(seed))
    noise_generator = torch.Generator(device=device).manual_seed(seed + 1)
    run_config = _json_ready(dict(
        method=objective.name, objective=objective.hparams, model=getattr(model, "config", {}), seed=seed,
        batch_size=batch_size, lr=lr, steps=steps, dataset_size=dataset_size, machine=machine(),
        **(extra_config or {})))

    history: dict = {}
    evaluations: list = []
    start, previous_wall = 0, 0.0
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume:
        if checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (the run folder to continue)")
        if (checkpoint_dir / CHECKPOINT_NAME).exists():
            ckpt = load_checkpoint(checkpoint_dir, device="cpu")
            _check_resumable(ckpt["config"], run_config)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            objective.load_state_dict(ckpt["objective"])
            sampler.load_state(ckpt["rng"]["batches"])
            noise_generator.set_state(ckpt["rng"]["noise"])
            history, evaluations = ckpt["history"], ckpt["evaluations"]
            start, previous_wall = ckpt["step"], ckpt["wall_time"]

    def draw_batch() -> torch.Tensor:
        x = dataset.images(sampler.next(), device)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def checkpoint(step_count: int, wall: float) -> None:
        save_checkpoint(checkpoint_dir, {
            "format": CHECKPOINT_FORMAT, "config": run_config, "step": step_count, "wall_time": wall,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "objective": objective.state_dict(),
            "rng": {"batches": sampler.state(), "noise": noise_generator.get_state()},
            "history": history, "evaluations": evaluations})

    def evaluate(step_count: int) -> None:
        model.eval()
        try:
            with torch.no_grad():
                state = TrainState(step_count, model, objective, history, device)
                for hook in hooks:
                    values = hook(state)
                    if values:
                        evaluations.append({"step": step_count, **{k: float(v) for k, v in values.items()}})
        finally:
            model.train()

    hooks = tuple(hooks)
    interrupted = False
    # Subnormal floats (|x| < 1.2e-38) appear in the weights' gradients as training goes on and are ~100x slower
    # on x86 CPUs: flushing them to zero made late training steps ~40% faster here.  Set back to torch's default
    # (off) when the loop ends.
    flush_denormal = device.type == "cpu" and torch.set_flush_denormal(True)
    wall_start = time.perf_counter()
    bar = config.progress(total=steps, initial=start, desc=objective.name, **({} if progress else {"disable": True}))
    model.train()
    try:
        for step in range(start, steps):
            x = draw_batch()
            output = model(x, sample=True, generator=noise_generator)
            terms = objective(output, x, step)
            if track_decomposition and objective.decomposable and not all(k in terms for k in DECOMPOSITION_TERMS):
                with torch.no_grad():
                    terms.update(tc_decomposition(output.z.detach(), output.mu.detach(), output.logvar.detach(),
                                                  dataset_size))
            values = _scalar_values(terms)
            _stop_if_not_finite(values, step, history)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            extra = _scalar_values(objective.auxiliary_update(model, output, step=step, next_batch=draw_batch,
                                                              generator=noise_generator))
            _stop_if_not_finite(extra, step, history, before_update=False)
            _record(history, "step", step)
            for name, value in {**values, **extra}.items():
                _record(history, name, value)
            if "kl_per_dim" in terms:
                _record(history, "kl_per_dim", terms["kl_per_dim"].detach().cpu().tolist())
            bar.update(1)
            if step % POSTFIX_EVERY == 0 or step == steps - 1:
                bar.set_postfix({k: f"{v:.4g}" for k, v in {**values, **extra}.items()}, refresh=False)
            done = step + 1
            if eval_every and done % eval_every == 0 and done != steps:
                evaluate(done)
            if checkpoint_every and done % checkpoint_every == 0 and done != steps:
                checkpoint(done, previous_wall + time.perf_counter() - wall_start)
        if hooks:
            evaluate(steps)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        if flush_denormal:
            torch.set_flush_denormal(False)
    steps_done = len(history.get("step", []))
    wall = previous_wall + time.perf_counter() - wall_start
    if checkpoint_dir is not None and steps_done > start:
        checkpoint(steps_done, wall)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)   # hand the model back in the usual layout
    model.eval()
    return TrainResult(model, objective, _as_arrays(history), evaluations, interrupted, wall, steps_done, run_config)


def _scalar_values(terms: dict) -> dict:
    """Every scalar term as a Python float, with one device synchronisation."""
    names = [k for k, v in terms.items() if isinstance(v, torch.Tensor) and v.ndim == 0]
    if not names:
        return {}
    values = torch.stack([terms[k].detach().float() for k in names]).cpu().tolist()
    return dict(zip(names, values))


def _stop_if_not_finite(values: dict, step: int, history: dict, before_update: bool = True) -> None:
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        term = next((k for k in bad if k != "loss"), bad[0])   # name the culprit, not the sum
        raise NonFiniteLossError(term, values[term], step, _as_arrays(history), before_update)


def _check_resumable(saved: dict, current: dict) -> None:
    keys = ("method", "objective", "model", "seed", "batch_size", "lr", "dataset_size")
    diff = [f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]
    if diff:
        raise ValueError("cannot resume: the checkpoint was made with other settings (" + "; ".join(diff) +
                         "). Use the same settings, or another checkpoint_dir to start afresh")


# --------------------------------------------------------------------------------------------------
# one call from a method name to a trained model
# --------------------------------------------------------------------------------------------------
def run(method: str, dataset, *, steps: int, hparams: dict | None = None, latent_dim: int = 10,
        architecture: str = "burgess", seed: int = 0, **fit_kwargs) -> TrainResult:
    """Build ``losses.make_objective(method, **hparams)`` and its model (seeded), then ``fit``.

    The model is ``objective.build_model(...)``: a ``models.VAE`` for the beta-family, a
    ``vqvae.VQVAE`` or an ``infogan.InfoGAN`` for the others.

    The model's image size and channels come from ``dataset.observation_shape``.  ``fit_kwargs``
    go to ``fit`` (batch_size, lr, device, indices, checkpoint_dir, ...).
    """
    channels, height, width = tuple(dataset.observation_shape)
    objective = make_objective(method, **(hparams or {}))
    with torch.random.fork_rng(devices=[]):   # seeded weights, torch's global random state left alone
        torch.manual_seed(seed)
        model = objective.build_model(latent_dim=latent_dim, in_channels=channels, image_size=height,
                                      architecture=architecture)
    return fit(model, objective, dataset, steps=steps, seed=seed, **fit_kwargs)
