"""Time to disentanglement: the MIG that runs reach after minutes of training on a 2-core CPU.

``benchmarks/bench_time_to_disentanglement.py`` trains a setting (net, image size, batch, method) once per seed
for a wall-time budget, scores MIG at marks along the way (``--score-at``) and at the end, and with ``--record``
merges its runs into one small data file in the package (``FILE``).  Lesson 05 reads it with ``load()`` and
``curves()``: no weights are kept, only what each run reached and when.

A run (one element of ``load()``)::

    {"setting": "beta-TCVAE 6 small/64", "method": "btcvae", "net": ["small", 64, 64, 0.001], "seed": 3,
     "minutes": 3.0, "steps": 9450, "wall_time": 180.2, "mig": 0.139, "precision": "fp32",
     "curve": [{"seconds": 60.0, "step": 3150, "mig": 0.029}, ...],
     "machine": {"cpu": "...", "cores": 2, "torch_threads": 2, "torch": "2.13.0+cpu"}, "date": "2026-12-02"}

``net`` is (architecture, image size, batch size, learning rate[, latent size when not 10]); ``wall_time`` counts
training only (the scoring at the marks is not counted, nor does it count against the budget).

``timed_fit`` trains one such run (the benchmark's, and lesson 05's live run through ``runs.timed_run``);
``TimeBudget`` is the training hook that stops it when the budget is spent.
"""
from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

import numpy as np

from . import config
from .files import atomic_write_json

FILE = Path(__file__).resolve().parent / "pretrained" / "time_to_disentanglement.json"
FORMAT = "dvae_tutorial.time_to_disentanglement/1"


class TimeBudget:
    """A training hook (``train.fit``'s ``hooks``) that stops the run once ``seconds`` of training have passed.

    It stops the run as the stop button does (``KeyboardInterrupt``, which ``train.fit`` ends cleanly on) and sets
    ``expired``, which tells a spent budget from a press of the stop button.  At each of ``marks`` (seconds of
    training) it also scores the model with ``score(model) -> float`` and keeps ``(seconds, step, score)`` in
    ``curve``; the time spent scoring is not counted as training.  ``progress`` shows a bar in seconds.
    """

    def __init__(self, seconds: float, marks=(), score=None, progress: bool = False, desc: str = "training"):
        if not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ValueError(f"seconds must be a positive number of seconds of training, got {seconds!r}")
        marks = sorted(float(m) for m in marks)
        if marks and score is None:
            raise ValueError("marks need score(model) -> float, the score to take at each of them")
        self.seconds, self.start, self.scoring, self.expired = float(seconds), time.perf_counter(), 0.0, False
        self.marks, self.score, self.curve = [m for m in marks if m < seconds], score, []
        self.bar = config.progress(total=round(self.seconds), desc=desc, unit="s", disable=not progress,
                                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of training")

    def training_seconds(self) -> float:
        return time.perf_counter() - self.start - self.scoring

    def __call__(self, state):
        while self.marks and self.training_seconds() >= self.marks[0]:
            began = time.perf_counter()
            self.curve.append((self.marks.pop(0), state.step, self.score(state.model)))
            self.scoring += time.perf_counter() - began
        spent = self.training_seconds()
        self.bar.n = min(spent, self.seconds)
        self.bar.refresh()
        if spent > self.seconds:
            self.expired = True
            self.bar.close()
            raise KeyboardInterrupt


def timed_fit(method: str, dataset, *, minutes: float, seed: int = 0, hparams: dict | None = None,
              architecture: str = "small", latent_dim: int = 10, batch_size: int = 64, lr: float = 1e-3,
              precision: str = "fp32", score_at=(), codes: int = 10_000, max_steps: int = 10**6,
              check_every: int = 50, progress: bool = False, device=None):
    """Train ``method`` on ``dataset`` for ``minutes`` of training wall time and score MIG on the way.

    MIG (``evaluation.score``, ``codes`` codes, seeded by ``seed``) is taken after each of ``score_at`` minutes of
    training (the scoring is not counted) and at the end.  The clock is read every ``check_every`` steps;
    ``max_steps`` caps a run on a machine fast enough to reach it first.

    Returns ``(result, run)``: ``train.TrainResult`` and the run in the record's form (the module's docstring,
    without ``setting``, ``machine`` and ``date``), with ``"stopped": True`` when training ended before the
    budget was spent (the stop button, or ``max_steps``).
    """
    from .evaluation import score
    from .train import run as train_run

    if not (isinstance(minutes, (int, float)) and minutes > 0):
        raise ValueError(f"minutes must be a positive number (the training budget), got {minutes!r}")
    if any(not 0 < m < minutes for m in score_at):
        raise ValueError(f"score_at must be minutes of training between 0 and minutes = {minutes}, got {list(score_at)}")

    def mig_of(model) -> float:
        return score(model, dataset, which=("mig",), n=codes, n_test=codes, seed=seed)["mig"]

    budget = TimeBudget(60 * minutes, [60 * m for m in score_at], mig_of, progress=progress, desc=method)
    result = train_run(method, dataset, steps=max_steps, hparams=hparams, architecture=architecture, seed=seed,
                       latent_dim=latent_dim, batch_size=batch_size, lr=lr, eval_every=check_every,
                       hooks=[budget], progress=False, precision=precision, device=device)
    budget.bar.close()
    net = [architecture, int(dataset.observation_shape[-1]), batch_size, result.config["lr"]]
    run = {"method": method, "net": net + ([latent_dim] if latent_dim != 10 else []), "seed": seed,
           "minutes": minutes, "steps": result.steps_done, "wall_time": result.wall_time - budget.scoring,
           "mig": mig_of(result.model), "precision": result.config["precision"],
           "curve": [{"seconds": t, "step": step, "mig": m} for t, step, m in budget.curve]}
    if not budget.expired:
        run["stopped"] = True
    return result, run


def load(path=None) -> list[dict]:
    """The recorded runs (see the module's docstring), sorted by setting and seed."""
    path = Path(path or FILE)
    if not path.exists():
        raise FileNotFoundError(f"no time-to-disentanglement data at {path}; record some with "
                                f"python benchmarks/bench_time_to_disentanglement.py --record")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file (format {data.get('format')!r})")
    return data["runs"]


def record(results: list[dict], machine: dict, path=None) -> list[dict]:
    """Merge ``results`` (the benchmark's runs) into the file at ``path`` (default ``FILE``): a run replaces the
    recorded run of the same setting and seed.  Each run keeps ``machine`` and today's date.  Returns all runs."""
    path = Path(path or FILE)
    runs = {(r["setting"], r["seed"]): r for r in (load(path) if path.exists() else [])}
    today = datetime.date.today().isoformat()
    for r in results:
        runs[r["setting"], r["seed"]] = {**r, "machine": dict(machine), "date": today}
    ordered = [runs[k] for k in sorted(runs)]
    atomic_write_json(path, {"format": FORMAT, "runs": ordered}, indent=1)
    return ordered


def curves(runs: list[dict], setting: str, seeds=None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """MIG along training for every seed of ``setting``: ``(minutes (M,), mig (S, M), seeds)``.

    The columns are the marks every run of the setting was scored at, then the end of the budget.  ``seeds``
    picks and orders the runs (default: every recorded seed, ascending); a missing seed is an error.
    """
    found = {r["seed"]: r for r in runs if r["setting"] == setting}
    if not found:
        names = sorted({r["setting"] for r in runs})
        raise KeyError(f"no recorded runs of {setting!r}; recorded settings: {', '.join(names)}")
    seeds = sorted(found) if seeds is None else list(seeds)
    missing = [s for s in seeds if s not in found]
    if missing:
        raise KeyError(f"{setting!r} has no recorded seed(s) {missing}; recorded: {sorted(found)}")
    marks = [tuple(p["seconds"] for p in found[s]["curve"]) for s in seeds]
    budgets = {found[s]["minutes"] for s in seeds}
    if len(set(marks)) != 1 or len(budgets) != 1:
        raise ValueError(f"the runs of {setting!r} were scored at different times ({sorted(set(marks))}, "
                         f"budgets {sorted(budgets)} min): record them again with one --score-at and --minutes")
    minutes = np.array([m / 60 for m in marks[0]] + [budgets.pop()])
    mig = np.array([[p["mig"] for p in found[s]["curve"]] + [found[s]["mig"]] for s in seeds])
    return minutes, mig, seeds
