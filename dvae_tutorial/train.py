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
sample=True)``, ``terms = objective(output, x, step)``, one Adam step on ``terms["loss"]``, the
objective's updates without gradients (``objective.after_step``: VQ-VAE's codebook averages and
restarts), then the objective's auxiliary step: a second network (FactorVAE's discriminator,
InfoGAN's D and Q), stepped here with its own Adam optimiser on
``objective.auxiliary_terms(...)[objective.auxiliary_loss]``.  The model's Adam leaves those
auxiliary weights alone, also where they live inside the model (InfoGAN).  The MI /
TC / dimension-wise KL decomposition (``losses.tc_decomposition``) is logged for every method with a
Gaussian posterior (``objective.decomposable``), so
lessons can put them side by side.  ``Trainer`` holds these parts, one method per concern.

Reproducible: the same seed gives the same numbers on the same device and thread count; the loop
draws its randomness from its own generators and never reseeds torch's global state.  A
``KeyboardInterrupt`` (the stop button in Jupyter) ends training cleanly: the model, the history
so far and ``interrupted=True`` come back.  The terms stay on the device and reach the history
every ``check_every`` steps, in one synchronisation that also checks them and the weights: a NaN
or infinite value stops training with ``NonFiniteLossError`` naming the step and the term (or
weight), after rolling the model, its optimisers and the checkpoint back to a checked state kept
in memory.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from . import config
from . import precision as precisions
from .denormals import flush_denormals
from .files import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    atomic_write,
    load_checkpoint,
    machine,
    model_from_checkpoint,
    save_checkpoint,
)
from .losses import Objective, make_objective, tc_decomposition
from .models import VAE

__all__ = ["fit", "run", "TrainResult", "TrainState", "NonFiniteLossError", "TensorImages", "EpochSampler",
           "Batches", "TermLog", "Trainer", "adam", "auxiliary_optimizer", "split_indices", "machine",
           "save_checkpoint", "load_checkpoint", "atomic_write", "build_from_checkpoint", "CHECKPOINT_NAME"]

DECOMPOSITION_TERMS = ("mi", "tc", "dw_kl")
CHECK_EVERY = 10     # steps between copies of the terms to the host (and NaN checks, progress-bar updates)


class NonFiniteLossError(FloatingPointError):
    """A loss term or a weight became NaN or infinite.

    ``.term`` (a term of the objective, or a weight's name), ``.value``, ``.step``, ``.history``
    (every step before ``.step``), ``.kept_steps`` (the steps of the state the model, its
    optimisers and the checkpoint were rolled back to), ``.weights`` (the names of the non-finite
    weights) and ``.checkpoint_dir``.
    """

    def __init__(self, term: str, value: float, step: int, history: dict, kept_steps: int | None = None,
                 weights: list | tuple = (), checkpoint_dir=None):
        self.term, self.value, self.step, self.history = term, value, step, history
        self.kept_steps, self.weights, self.checkpoint_dir = kept_steps, list(weights), checkpoint_dir
        what = f"the {'weight' if term in self.weights else 'loss term'} {term!r} became {value}"
        broken = f" (non-finite weights: {', '.join(self.weights[:3])}{', ...' if len(self.weights) > 3 else ''})" \
            if self.weights and term not in self.weights else ""
        kept = "" if kept_steps is None else f"; the model was rolled back to step {kept_steps}, a checked finite state"
        saved = "" if checkpoint_dir is None else f", saved in {checkpoint_dir}"
        super().__init__(
            f"{what} at step {step}{broken}; training stopped{kept}{saved}. "
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
    wall_time: float = 0.0    # seconds of training so far (as TrainResult.wall_time counts them)


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
def build_from_checkpoint(checkpoint: dict, device="cpu") -> tuple[VAE, Objective]:
    """The trained model (eval mode) and its objective (with e.g. FactorVAE's discriminator) from a checkpoint."""
    cfg = checkpoint["config"]
    objective = make_objective(cfg["method"], **_hparams_from_config(cfg["objective"]))
    model = model_from_checkpoint(checkpoint, device, build=objective.build_model)
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


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------
def _check_fit_arguments(model, dataset, steps, batch_size, lr, indices, eval_every, checkpoint_every, checkpoint_dir,
                         check_every):
    for name, value in (("steps", steps), ("batch_size", batch_size), ("check_every", check_every)):
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


def adam(params, **kwargs) -> torch.optim.Adam:
    """Adam over ``params``, fused into one kernel per step where this torch supports it (CPU since torch 2.4).

    The per-tensor loop of plain Adam is ~10% of a step of the Burgess net on a 2-core CPU; the fused
    kernel does the same update (Kingma & Ba 2015, Algorithm 1) in one pass.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):   # an older torch, or a device without the fused kernel
        return torch.optim.Adam(params, **kwargs)


def auxiliary_optimizer(objective: Objective) -> torch.optim.Adam | None:
    """Adam over the objective's own weights (FactorVAE's discriminator) with its settings; None if it has none.

    Call after ``objective.prepare(...)``, which builds those weights.
    """
    params = objective.auxiliary_parameters()
    return adam(params, **objective.auxiliary_optimizer()) if params else None


class Batches:
    """The training batches: ``next()`` gives the images of the next ``EpochSampler`` batch on ``device``."""

    def __init__(self, dataset, pool: torch.Tensor, batch_size: int, seed: int, device, channels_last: bool):
        self.dataset, self.device, self.channels_last = dataset, device, channels_last
        self.sampler = EpochSampler(pool, batch_size, torch.Generator().manual_seed(seed))

    def next(self) -> torch.Tensor:
        x = self.dataset.images(self.sampler.next(), self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class TermLog:
    """Every step's terms, kept on the device and copied to the host every few steps (one synchronisation).

    ``add(step, terms)`` stacks a step's scalar terms into one tensor (and keeps ``kl_per_dim``);
    ``flush()`` copies what is pending to the host in one transfer, with a flag per weight tensor
    saying whether it is finite, and returns the rows without adding them to ``history`` (the
    caller checks them first, then ``commit``s them).
    """

    def __init__(self, history: dict):
        self.history = history                   # name -> list of per-step values (a checkpoint's format)
        self.names: list[str] | None = None
        self.pending: list[tuple[int, torch.Tensor, torch.Tensor | None]] = []

    def add(self, step: int, terms: dict) -> None:
        scalars = {k: v for k, v in terms.items() if isinstance(v, torch.Tensor) and v.ndim == 0}
        if self.names is None:
            self.names = list(scalars)
        elif list(scalars) != self.names:
            raise RuntimeError(f"the objective returned the terms {list(scalars)} at step {step}, "
                               f"but {self.names} before; an objective must return the same terms every step")
        values = torch.stack([scalars[k].detach().float() for k in self.names])
        per_dim = terms.get("kl_per_dim")
        self.pending.append((step, values, None if per_dim is None else per_dim.detach().float()))

    def flush(self, weights: Iterable[torch.Tensor]) -> tuple[list[dict], list[bool]]:
        """Pending rows ``[{"step", name: float, "kl_per_dim": list}]`` and, per weight tensor, whether it is finite."""
        weights = list(weights)
        pieces = [v for _, v, _ in self.pending] + [d for _, _, d in self.pending if d is not None]
        flags = [torch.isfinite(w.detach()).all().float().reshape(1) for w in weights]
        if not pieces and not flags:
            return [], []
        host = torch.cat([p.reshape(-1) for p in pieces + flags]).cpu().tolist()   # the one synchronisation
        n, rows, at = len(self.names or ()), [], 0
        for step, _, _ in self.pending:
            rows.append({"step": step, **dict(zip(self.names, host[at:at + n]))})
            at += n
        for row, (_, _, per_dim) in zip(rows, self.pending):
            if per_dim is not None:
                row["kl_per_dim"] = host[at:at + per_dim.numel()]
                at += per_dim.numel()
        self.pending = []
        return rows, [f == 1.0 for f in host[at:]]

    def commit(self, rows: list[dict]) -> None:
        for row in rows:
            for name, value in row.items():
                self.history.setdefault(name, []).append(value)


def _as_arrays(history: dict) -> dict:
    return {k: np.asarray(v, dtype=np.int64 if k == "step" else np.float64) for k, v in history.items()}


def _truncated(history: dict, steps: int) -> dict:
    return {k: list(v[:steps]) for k, v in history.items()}


def _first_non_finite(rows: list[dict]) -> tuple[dict, str] | None:
    """The first row with a NaN or infinite term, and that term (the culprit, not the sum ``loss``)."""
    for row in rows:
        bad = [k for k, v in row.items() if k not in ("step", "kl_per_dim") and not math.isfinite(v)]
        if bad:
            return row, next((k for k in bad if k != "loss"), bad[0])
    return None


class Trainer:
    """The parts of one training run, one method per concern; ``fit`` drives them.

    - ``optimisation_step``: one batch, the model's Adam step, then the objective's auxiliary step;
    - ``record`` / ``check``: the terms go to a ``TermLog``; every ``check_every`` steps they are
      copied to the host and checked, with the weights, for NaNs and infinities;
    - ``snapshot`` / ``roll_back``: a checked state is kept in memory (renewed when ``check_every``
      steps have passed since the last one), and restored when a check fails;
    - ``checkpoint``: that state, the history and the settings, written to ``checkpoint_dir``;
    - ``evaluate``: the hooks, model in eval mode.
    """

    def __init__(self, model, objective: Objective, batches: Batches, *, lr: float, seed: int, device,
                 dataset_size: int, run_config: dict, hooks: tuple, checkpoint_dir: Path | None,
                 track_decomposition: bool, check_every: int = CHECK_EVERY, precision: str = "fp32"):
        self.model, self.objective, self.batches, self.device = model, objective, batches, device
        self.precision = precision      # "fp32" or "bf16" (resolved): the arithmetic of the model's convolutions
        self.dataset_size, self.run_config, self.hooks = dataset_size, run_config, hooks
        self.checkpoint_dir, self.track_decomposition = checkpoint_dir, track_decomposition
        self.check_every = check_every
        objective.prepare(model, dataset_size, device, seed)
        auxiliary = {id(p) for p in objective.auxiliary_parameters()}    # InfoGAN's D and Q live in the model
        self.optimizer = adam([p for p in model.parameters() if id(p) not in auxiliary], lr=lr)
        self.aux_optimizer = auxiliary_optimizer(objective)   # FactorVAE's / InfoGAN's discriminator: its own Adam
        self.noise = torch.Generator(device=device).manual_seed(seed + 1)
        self.log = TermLog({})
        self.evaluations: list = []
        self.wall_before = 0.0          # seconds of earlier sessions of a resumed run
        self.started = time.perf_counter()
        self.saved_state: dict | None = None

    # -- state ---------------------------------------------------------------------------------------
    @property
    def steps_done(self) -> int:
        return len(self.log.history.get("step", []))

    def state(self) -> dict:
        """Everything that resumes training exactly, besides the history: weights, optimisers, random states."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "objective": self.objective.state_dict(),
                "auxiliary_optimizer": None if self.aux_optimizer is None else self.aux_optimizer.state_dict(),
                "rng": {"batches": self.batches.sampler.state(), "noise": self.noise.get_state()}}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.objective.load_state_dict(state["objective"])
        aux = state.get("auxiliary_optimizer") or state["objective"].get("disc_optimizer")   # older checkpoints
        if self.aux_optimizer is not None and aux is not None:
            self.aux_optimizer.load_state_dict(aux)
        self.batches.sampler.load_state(state["rng"]["batches"])
        self.noise.set_state(state["rng"]["noise"])

    def resume_from(self, checkpoint: dict) -> None:
        _check_resumable(checkpoint["config"], self.run_config)
        self.load_state(checkpoint)
        self.log.history, self.evaluations = checkpoint["history"], checkpoint["evaluations"]
        self.wall_before = checkpoint["wall_time"]

    def snapshot(self) -> None:
        """Keep the current (checked, finite) state in memory, to roll back to."""
        self.saved_state = {"state": copy.deepcopy(self.state()), "steps": self.steps_done,
                            "evaluations": len(self.evaluations)}

    def roll_back(self) -> int:
        """Restore the last snapshot; returns its number of steps."""
        self.load_state(self.saved_state["state"])
        steps = self.saved_state["steps"]
        self.log.history = _truncated(self.log.history, steps)
        self.evaluations = self.evaluations[:self.saved_state["evaluations"]]
        return steps

    # -- one step ------------------------------------------------------------------------------------
    def optimisation_step(self, step: int) -> dict:
        """One batch through the model and the objective, Adam steps; returns the step's terms (tensors)."""
        x = self.batches.next()
        with precisions.autocast(self.precision, self.device):
            output = self.model(x, sample=True, generator=self.noise)
        terms = self.objective(output, x, step)      # always float32
        if self.track_decomposition and self.objective.decomposable and not all(k in terms for k in DECOMPOSITION_TERMS):
            with torch.no_grad():
                terms.update(tc_decomposition(output.z.detach(), output.mu.detach(), output.logvar.detach(),
                                              self.dataset_size, check_values=False))
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.optimizer.step()
        terms.update(self.objective.after_step(self.model, output, step=step, generator=self.noise))
        terms.update(self.auxiliary_step(output, step))
        return terms

    def auxiliary_step(self, output, step: int) -> dict:
        """The objective's own optimiser step (FactorVAE: the discriminator's); nothing for other methods."""
        if self.aux_optimizer is None:
            return {}
        terms = self.objective.auxiliary_terms(self.model, output, step=step, next_batch=self.batches.next,
                                               generator=self.noise)
        self.aux_optimizer.zero_grad(set_to_none=True)
        terms[self.objective.auxiliary_loss].backward()
        self.aux_optimizer.step()
        return {k: v.detach() for k, v in terms.items()}

    # -- history and checks --------------------------------------------------------------------------
    def weights(self) -> list[tuple[str, torch.Tensor]]:
        named = [(f"model.{k}", p) for k, p in self.model.named_parameters()]
        inside = {id(p) for _, p in named}
        return named + [(f"objective.{i}", p) for i, p in enumerate(self.objective.auxiliary_parameters())
                        if id(p) not in inside]

    def check(self) -> dict:
        """Copy the pending terms to the history if they and the weights are finite; else roll back and raise.

        Returns the last step's scalar terms (for the progress bar).
        """
        weights = self.weights()
        rows, finite = self.log.flush(p for _, p in weights)
        bad_row = _first_non_finite(rows)
        bad_weights = [name for (name, _), ok in zip(weights, finite) if not ok]
        if bad_row is None and not bad_weights:
            self.log.commit(rows)
            if self.steps_done - self.saved_state["steps"] >= self.check_every:   # a copy at most every check_every
                self.snapshot()                                                     # steps, however often hooks run
            return {k: v for k, v in rows[-1].items() if k not in ("step", "kl_per_dim")} if rows else {}
        if bad_row is not None:
            row, term = bad_row
            good = rows[:rows.index(row)]
            value, step = row[term], row["step"]
        else:                                   # finite terms, but the last update broke a weight
            good, term, value, step = rows, bad_weights[0], math.nan, rows[-1]["step"] if rows else self.steps_done
        self.log.commit(good)
        history = _as_arrays(self.log.history)          # every finite step, for the error
        kept = self.roll_back()
        if self.checkpoint_dir is not None:
            self.checkpoint()
        raise NonFiniteLossError(term, value, step, history, kept_steps=kept, weights=bad_weights,
                                 checkpoint_dir=self.checkpoint_dir)

    # -- checkpoints and evaluation ------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds of training, earlier sessions of a resumed run included."""
        return self.wall_before + time.perf_counter() - self.started

    def checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_dir, {
            "format": CHECKPOINT_FORMAT, "config": self.run_config, "step": self.steps_done,
            "wall_time": self.elapsed(),
            **self.state(), "history": self.log.history, "evaluations": self.evaluations})

    def evaluate(self, step_count: int) -> None:
        self.model.eval()
        try:
            with torch.no_grad():
                state = TrainState(step_count, self.model, self.objective, self.log.history, self.device,
                                   self.elapsed())
                for hook in self.hooks:
                    values = hook(state)
                    if values:
                        self.evaluations.append({"step": step_count, **{k: float(v) for k, v in values.items()}})
        finally:
            self.model.train()


def _due(every: int | None, done: int, steps: int) -> bool:
    """True every ``every`` steps, except at the last step (handled once the loop ends)."""
    return bool(every) and done % every == 0 and done != steps


def fit(model: torch.nn.Module, objective: Objective, dataset, *, steps: int, batch_size: int = 64,
        lr: float = 1e-3, seed: int = 0, device=None, indices=None, eval_every: int | None = None,
        hooks: Iterable[Callable] = (), checkpoint_dir=None, checkpoint_every: int | None = None,
        resume: bool = False, progress: bool = True, track_decomposition: bool = True,
        channels_last: bool | None = None, check_every: int = CHECK_EVERY, precision: str = "auto",
        extra_config: dict | None = None) -> TrainResult:
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
        precision: the arithmetic of the model's convolutions during training: ``"fp32"``,
            ``"bf16"`` (bfloat16 mixed precision, conv layers only; ``models.VAE`` only), or
            ``"auto"``: bf16 on a CPU with AMX tiles, where it trains about twice as fast, else
            fp32 (``precision.resolve``; the module says what stays float32).  The choice is
            recorded in the run's config as ``precision``; a run may resume in another precision.
        check_every: the terms stay on the device and are copied to the history every
            ``check_every`` steps (and before hooks, checkpoints and the end), in one
            synchronisation that also checks them and the weights for NaNs and infinities.  A
            non-finite value stops training with ``NonFiniteLossError`` naming the step and the
            term (or weight): the model, its optimisers and the checkpoint go back to a checked
            state kept in memory, fewer than ``2 * check_every`` steps earlier.
    """
    pool = _check_fit_arguments(model, dataset, steps, batch_size, lr, indices, eval_every, checkpoint_every,
                                checkpoint_dir, check_every)
    device = config.choose_device(device)
    if channels_last is None:
        channels_last = device.type == "cpu"
    precision = precisions.resolve(precision, device, model)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (the run folder to continue)")
    run_config = _json_ready(dict(
        method=objective.name, objective=objective.hparams, model=getattr(model, "config", {}), seed=seed,
        batch_size=batch_size, lr=lr, steps=steps, dataset_size=int(pool.numel()), machine=machine(),
        precision=precision, **(extra_config or {})))
    trainer = Trainer(model, objective, Batches(dataset, pool, batch_size, seed, device, channels_last), lr=lr,
                      seed=seed, device=device, dataset_size=int(pool.numel()), run_config=run_config,
                      hooks=tuple(hooks), checkpoint_dir=checkpoint_dir, track_decomposition=track_decomposition,
                      check_every=check_every, precision=precision)
    if resume and (checkpoint_dir / CHECKPOINT_NAME).exists():
        trainer.resume_from(load_checkpoint(checkpoint_dir, device="cpu"))
    start = trainer.steps_done
    trainer.snapshot()

    interrupted = False
    trainer.started = time.perf_counter()
    bar = config.progress(total=steps, initial=start, desc=objective.name, **({} if progress else {"disable": True}))
    model.train()
    # Subnormal floats slow a trained net's steps on x86 CPUs: flushed to zero on every CPU thread (see denormals)
    with flush_denormals(device.type == "cpu"):
        try:
            for step in range(start, steps):
                trainer.log.add(step, trainer.optimisation_step(step))
                bar.update(1)
                done = step + 1
                evaluate, save = _due(eval_every, done, steps), _due(checkpoint_every, done, steps)
                if len(trainer.log.pending) >= check_every or evaluate or save or done == steps:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in trainer.check().items()}, refresh=False)
                if evaluate:
                    trainer.evaluate(done)
                if save:
                    trainer.checkpoint()
            if trainer.hooks:
                trainer.evaluate(steps)
        except KeyboardInterrupt:
            interrupted = True
            trainer.check()                     # the steps completed before the interrupt
        finally:
            bar.close()
    wall = trainer.elapsed()
    if checkpoint_dir is not None and trainer.steps_done > start:
        trainer.checkpoint()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)   # hand the model back in the usual layout
    model.eval()
    return TrainResult(model, objective, _as_arrays(trainer.log.history), trainer.evaluations, interrupted, wall,
                       trainer.steps_done, run_config)


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
