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

``net`` is (architecture, image size, batch size, learning rate); ``wall_time`` counts training only (the scoring
at the marks is not counted, nor does it count against the budget).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from .files import atomic_write_json

FILE = Path(__file__).resolve().parent / "pretrained" / "time_to_disentanglement.json"
FORMAT = "dvae_tutorial.time_to_disentanglement/1"


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
