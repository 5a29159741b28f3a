"""The seed study: every method at 2-3 settings of its main weight, each trained with several seeds.

Locatello et al. 2019 (ICML, Sec. 5) trained 12,000 models and found the spread over random seeds as
large as the differences between methods.  This module is that study at course size: the small net
on 32x32 dSprites at the lessons' step count (the lesson-slider recipes of ``recipes.LESSON_SWEEPS``, a plain
VAE, and lesson 05's beta-TCVAE that penalises the MWS estimate, ``ALSO``), five seeds each, every run scored
with the shipped models' protocol (``evaluation.SCORE_PROTOCOL``).  One command trains it (resumable, in parallel)::

    python -m dvae_tutorial pretrained study          # one run per CPU core; hours on a 2-core CPU

and its per-run results land in one small data file in the package (``STUDY_FILE``), read with
``load()`` -- no weights are shipped.  ``dvae_tutorial.sweep`` runs the same runs as Ray Tune trials
and writes the same file.

A row of the file (``load()`` returns a list of them)::

    {"recipe": "btcvae-beta6-small32", "method": "btcvae", "weight": "beta", "value": 6.0, "seed": 3,
     "steps": 3000, "hparams": {...}, "loss": ..., "recon": ..., "kl": ..., "mi": ..., "tc": ..., "dw_kl": ...,
     "mig": ..., "sap": ..., "factor_vae": ..., "dci_disentanglement": ..., "dci_completeness": ...,
     "dci_informativeness_train": ..., "dci_informativeness_test": ..., "kl_per_dim": [...], "wall_time_s": ...}

Final losses are each term's mean over the last 10% of training steps (``pretrained.export.history_summary``),
in nats; ``kl_per_dim`` likewise, one value per latent.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from . import config
from .recipes import LESSON_RUNS, LESSON_SWEEPS, Recipe

STUDY_FILE = Path(__file__).resolve().parent / "pretrained" / "study.json"
STUDY_FORMAT = "dvae_tutorial.study/1"
SEEDS = (0, 1, 2, 3, 4)
METRICS = ("mig", "sap", "dci", "factor_vae")          # what every run is scored with
LOSS_TERMS = ("loss", "recon", "kl", "mi", "tc", "dw_kl")
MAIN_WEIGHT = {"vae": None, "betavae": "beta", "capacity": "c_max", "factorvae": "gamma", "btcvae": "beta"}

# the sliders of lessons 02-05 whose runs the study repeats over seeds (beta-VAE without its extremes 1 and 16)
STUDY_SWEEPS = ("betavae-beta", "capacity-c_max", "factorvae-gamma", "btcvae-beta")
LEFT_OUT = ("vae-small32", "betavae-beta16-small32")    # beta = 1 is the VAE, listed once as the baseline
VAE_SMALL = LESSON_RUNS["vae-small32"]     # the baseline, at the lesson sweeps' settings
ALSO = ("btcvae-beta10-mws-small32",)      # lesson 05, section 5: beta-TCVAE with the MWS estimator of log q(z)


def study_recipes() -> list[Recipe]:
    """The study's grid: the plain VAE, and beta-VAE (beta 2, 4, 8), capacity (C_max 5, 10, 20), FactorVAE
    (gamma 10, 40, 100) and beta-TCVAE (beta 1, 6, 10) as the lessons' sliders train them (3,000 steps), and
    the beta-TCVAE of lesson 05's MIG comparison that penalises the MWS estimate (``ALSO``)."""
    names = [name for sweep in STUDY_SWEEPS for name in LESSON_SWEEPS[sweep][1].values() if name not in LEFT_OUT]
    return [VAE_SMALL] + [LESSON_RUNS[name] for name in names + list(ALSO)]


def run_name(recipe: Recipe, seed: int) -> str:
    """The run folder's name and the row's key: ``RECIPE-seedN``."""
    return f"{recipe.name}-seed{seed}"


def load_dataset(name: str, image_size: int):
    """``data.DSprites`` for a recipe's ``dataset``: "dsprites" (the full grid) or "dsprites-small" (a sub-grid)."""
    from .data import DSprites

    makers = {"dsprites": DSprites, "dsprites-small": DSprites.small}
    if name not in makers:
        raise ValueError(f"unknown data set {name!r}; the study trains on one of {', '.join(makers)}")
    return makers[name](image_size=image_size, progress=False)


def run_one(recipe: Recipe, seed: int, run_dir, *, protocol: dict | None = None, metrics=METRICS, dataset=None,
            device=None, chunk_steps: int | None = None, on_chunk=None, progress: bool = False,
            dci_jobs: int | None = None) -> dict:
    """Train ``recipe`` with ``seed`` into ``run_dir`` (resuming its checkpoint if there is one) and score it.

    ``chunk_steps``: train in chunks of this many steps, calling ``on_chunk(steps_done)`` after each
    chunk's checkpoint is written (the Ray sweep reports it to Tune); the numbers are the same as in one go.
    ``protocol``: the scores' sample sizes (default ``evaluation.SCORE_PROTOCOL``); ``metrics``: which;
    ``dci_jobs``: processes for DCI's trees (None: every core; the scores do not depend on it).
    Returns the study's row for this run (see the module docstring); raises what training raises.
    """
    from .evaluation import SCORE_PROTOCOL, protocol_scores
    from .pretrained.export import history_summary
    from .train import CHECKPOINT_NAME, load_checkpoint
    from .train import run as train_run

    if recipe.method not in MAIN_WEIGHT:
        raise ValueError(f"the study knows the methods {', '.join(MAIN_WEIGHT)}, not {recipe.method!r}")
    dataset = dataset if dataset is not None else load_dataset(recipe.dataset, recipe.image_size)
    chunk = chunk_steps or recipe.steps
    done = load_checkpoint(run_dir)["step"] if (Path(run_dir) / CHECKPOINT_NAME).exists() else 0
    while True:
        target = min(recipe.steps, done + chunk)
        result = train_run(recipe.method, dataset, steps=target, hparams=dict(recipe.hparams),
                           latent_dim=recipe.latent_dim, architecture=recipe.architecture, seed=seed,
                           batch_size=recipe.batch_size, lr=recipe.lr, device=device, checkpoint_dir=Path(run_dir),
                           checkpoint_every=chunk, resume=True, progress=progress,
                           precision="fp32",   # the study's protocol on every CPU: its 70 runs trained in float32
                           extra_config={"recipe": recipe.name})
        if result.interrupted:
            raise KeyboardInterrupt(f"{run_name(recipe, seed)} interrupted after {result.steps_done} steps; "
                                    f"run again to resume it from {run_dir}")
        done = result.steps_done
        if on_chunk is not None:
            on_chunk(done)
        if done >= recipe.steps:
            break
    summary = history_summary(result.history)
    scores = protocol_scores(result.model.cpu(), dataset, which=tuple(metrics), protocol=protocol or SCORE_PROTOCOL,
                             dci_jobs=dci_jobs)
    weight = MAIN_WEIGHT[recipe.method]
    return {"recipe": recipe.name, "method": recipe.method, "weight": weight,
            "value": None if weight is None else float(recipe.hparams[weight]), "seed": int(seed),
            "steps": int(done), "hparams": dict(recipe.hparams),
            **{k: round(summary["final"][k], 6) for k in LOSS_TERMS if k in summary["final"]},
            **scores, "kl_per_dim": [round(v, 6) for v in summary["kl_per_dim_final"]],
            "wall_time_s": round(float(result.wall_time), 1)}


# --------------------------------------------------------------------------------------------------
# the data file
# --------------------------------------------------------------------------------------------------
def _key(row: dict) -> tuple:
    return row["recipe"], int(row["seed"])


def read(path=None) -> dict:
    """The whole data file ``{"format", "protocol", "runs"}`` (an empty study where there is no file yet)."""
    path = Path(path) if path is not None else STUDY_FILE
    if not path.exists():
        return {"format": STUDY_FORMAT, "protocol": {}, "runs": []}
    data = json.loads(path.read_text())
    if data.get("format") != STUDY_FORMAT:
        raise ValueError(f"{path} is not a seed-study file (format {data.get('format')!r}, expected "
                         f"{STUDY_FORMAT!r}); rebuild it with `python -m dvae_tutorial pretrained study`")
    return data


def load(path=None) -> list[dict]:
    """The study's runs, one dict per (recipe, seed), sorted by recipe order then seed (see the module docstring)."""
    return read(path)["runs"]


def record(path, rows, protocol: dict) -> Path:
    """Add ``rows`` to the data file at ``path`` (a row with the same recipe and seed is replaced); atomic.

    A file made under another scoring ``protocol`` is refused: its numbers would not be comparable.
    """
    from .train import atomic_write

    path = Path(path)
    data = read(path)
    if data["runs"] and data["protocol"] != protocol:
        raise ValueError(f"{path} holds runs scored with protocol {data['protocol']} but these use {protocol}; "
                         f"write them to another file (--data)")
    runs = {_key(r): r for r in data["runs"]}
    runs.update({_key(r): r for r in rows})
    order = {name: i for i, name in enumerate(r.name for r in study_recipes())}
    data = {"format": STUDY_FORMAT, "protocol": protocol,
            "runs": sorted(runs.values(), key=lambda r: (order.get(r["recipe"], len(order)), r["recipe"], r["seed"]))}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1) + "\n"))
    return path


def pending(recipes, seeds, path=None) -> list[tuple[Recipe, int]]:
    """The (recipe, seed) pairs of the grid that the data file does not hold yet, in grid order."""
    done = {_key(r) for r in load(path)}
    return [(r, int(s)) for r in recipes for s in seeds if (r.name, int(s)) not in done]


# --------------------------------------------------------------------------------------------------
# the whole study, in parallel processes
# --------------------------------------------------------------------------------------------------
def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _worker_run(recipe: Recipe, seed: int, run_dir: str, protocol: dict, metrics, device) -> dict:
    # DCI's trees in this process: the study already runs one process per job, and a worker that had started
    # joblib's processes for them waited on them at its exit, which left the study hanging after its last run
    return run_one(recipe, seed, run_dir, protocol=protocol, metrics=metrics, device=device, dci_jobs=1)


def run_study(recipes=None, seeds=SEEDS, *, path=None, runs_dir="build/study", jobs: int = 1,
              threads_per_job: int = 1, protocol: dict | None = None, metrics=METRICS, device=None,
              progress: bool = True) -> dict:
    """Train and score every (recipe, seed) the data file at ``path`` lacks; record each run as it finishes.

    Resumable twice over: runs already in the file are skipped, and a run that was stopped continues
    from its checkpoint in ``runs_dir / RECIPE-seedN``.  ``jobs`` runs train side by side in separate
    processes (``threads_per_job`` torch threads each).  A run that fails is reported and the others go on.
    ``protocol`` / ``metrics``: as in ``run_one`` (a file holds runs of one protocol only).
    Returns ``{"recorded": [row, ...], "failed": {run name: error message}}``.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from .evaluation import SCORE_PROTOCOL

    recipes = study_recipes() if recipes is None else list(recipes)
    path = Path(path) if path is not None else STUDY_FILE
    protocol = dict(protocol or SCORE_PROTOCOL)
    todo = pending(recipes, seeds, path)
    recorded, failed = [], {}
    bar = config.progress(total=len(todo), desc="seed study", **({} if progress else {"disable": True}))

    def finish(name: str, compute) -> None:
        try:
            row = compute()
        except Exception as err:          # one failed run must not stop the study
            failed[name] = f"{type(err).__name__}: {err}"
            print(f"{name}: FAILED ({failed[name]})", flush=True)
        else:
            record(path, [row], protocol)
            recorded.append(row)
            bar.set_postfix_str(f"{name}: MIG {row['mig']:.3f}", refresh=False)
        bar.update(1)

    try:
        if jobs <= 1:
            _worker_init(threads_per_job)
            for recipe, seed in todo:
                name = run_name(recipe, seed)
                finish(name, lambda recipe=recipe, seed=seed, name=name: run_one(
                    recipe, seed, Path(runs_dir) / name, protocol=protocol, metrics=metrics, device=device))
        else:
            for name, size in dict.fromkeys((r.dataset, r.image_size) for r, _ in todo):
                load_dataset(name, size)          # rendered once here; the workers read the cache file
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init,
                                     initargs=(threads_per_job,)) as pool:
                futures = {pool.submit(_worker_run, recipe, seed, str(Path(runs_dir) / run_name(recipe, seed)),
                                       protocol, metrics, device): run_name(recipe, seed) for recipe, seed in todo}
                for future in as_completed(futures):
                    finish(futures[future], future.result)
    finally:
        bar.close()
    return {"recorded": recorded, "failed": failed}


def with_steps(recipes, steps: int | None) -> list[Recipe]:
    """The recipes with another step count (``None``: unchanged) -- for quick tries of the machinery."""
    return [r if steps is None else dataclasses.replace(r, steps=int(steps)) for r in recipes]


def select(names=None) -> list[Recipe]:
    """The study's recipes called ``names`` (all of them for none), with a clear error for an unknown name."""
    grid = {r.name: r for r in study_recipes()}
    unknown = [n for n in names or () if n not in grid]
    if unknown:
        raise ValueError(f"not in the seed study: {', '.join(unknown)}; its recipes: {', '.join(grid)}")
    return [grid[n] for n in names] if names else list(grid.values())


def expected(recipe: str, metric: str = "mig", path=None):
    """``study_stats.ExpectedRange`` of ``metric`` for ``recipe`` over the seeds in the data file: what a full-mode
    lesson run of that recipe should score (printed next to the lesson's number, and checked in full mode)."""
    from .study_stats import expected as expected_range

    return expected_range(load(path), recipe, metric)


# --------------------------------------------------------------------------------------------------
# summary and figure
# --------------------------------------------------------------------------------------------------
def summary(rows, metrics=("mig", "factor_vae", "sap", "dci_disentanglement")) -> list[dict]:
    """Per recipe: the number of seeds and each metric's mean and standard deviation over them (ddof = 1)."""
    out = []
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        runs = [r for r in rows if r["recipe"] == recipe]
        entry = {"recipe": recipe, "seeds": len(runs)}
        for m in metrics:
            values = np.array([r[m] for r in runs if r.get(m) is not None], dtype=float)
            entry[m] = (float(values.mean()) if len(values) else float("nan"),
                        float(values.std(ddof=1)) if len(values) > 1 else float("nan"))
        out.append(entry)
    return out


def plot(rows, metrics=("mig", "factor_vae", "sap", "dci_disentanglement"), seed: int = 0):
    """One panel per metric: every run as a point (jittered sideways), one column per recipe. Returns the figure."""
    import matplotlib.pyplot as plt

    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6, 0.6 * len(recipes)), 2.2 * len(metrics)),
                             sharex=True, squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, metric in zip(axes[:, 0], metrics):
        for i, recipe in enumerate(recipes):
            values = [r[metric] for r in rows if r["recipe"] == recipe and r.get(metric) is not None]
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(values)), values, s=14, alpha=0.8)
            if values:
                ax.hlines(np.mean(values), i - 0.3, i + 0.3, color="k", lw=1)
        ax.set_ylabel(metric)
    axes[-1, 0].set_xlim(-0.5, len(recipes) - 0.5)
    axes[-1, 0].set_xticks(range(len(recipes)))
    axes[-1, 0].set_xticklabels(recipes, rotation=60, ha="right", fontsize=8)
    fig.suptitle(f"{len(rows)} runs: every point is one seed, the bar the mean")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# command line: python -m dvae_tutorial pretrained study
# --------------------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """The ``pretrained study`` options (the ``pretrained`` parser's names select recipes of the study)."""
    g = parser.add_argument_group("seed study (action 'study')")
    g.add_argument("--seeds", type=int, default=len(SEEDS), help=f"seeds 0..N-1 per recipe [{len(SEEDS)}]")
    g.add_argument("--jobs", type=int, default=max(1, os.cpu_count() or 1),
                   help="runs trained side by side, one process each [one per CPU core]")
    g.add_argument("--threads", type=int, default=1, help="torch threads per run [1]")
    g.add_argument("--data", type=Path, default=None, help="the data file [the package's pretrained/study.json]")
    g.add_argument("--steps", type=int, default=None, help="override every recipe's steps (quick tries only)")
    g.add_argument("--device", default=None, help="cpu, cuda, ... [CUDA if available]")
    g.add_argument("--figure", type=Path, default=None, help="also write the strip plot of the scores here")
    g.add_argument("--update-readme", action="store_true",
                   help="also rewrite the study's table in --readme (between its study-table markers)")


README_START, README_END = "<!-- study-table:start -->", "<!-- study-table:end -->"
TABLE_COLUMNS = (("mig", "MIG", ".3f"), ("factor_vae", "FactorVAE score", ".2f"), ("sap", "SAP", ".3f"),
                 ("dci_disentanglement", "DCI dis.", ".2f"), ("recon", "recon (nats)", ".1f"), ("kl", "KL (nats)", ".1f"))


def markdown_table(rows) -> str:
    """The study as a markdown table: one line per recipe, each column ``mean ± sd`` over its seeds (ddof = 1)."""
    head = "| setting | seeds | " + " | ".join(title for _, title, _ in TABLE_COLUMNS) + " |"
    lines = [head, "|---|---|" + "---|" * len(TABLE_COLUMNS)]
    for entry in summary(rows, metrics=tuple(key for key, _, _ in TABLE_COLUMNS)):
        cells = [f"{entry[key][0]:{fmt}} ± {entry[key][1]:{fmt}}" for key, _, fmt in TABLE_COLUMNS]
        lines.append(f"| `{entry['recipe']}` | {entry['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(readme="README.md", path=None) -> str:
    """Replace the text between README's study-table markers with ``markdown_table`` of the data file."""
    from .pretrained.report import replace_between_markers

    rows = load(path)
    steps = sorted({r["steps"] for r in rows})
    note = (f"{len(rows)} runs, {', '.join(f'{s:,}' for s in steps)} steps each; mean ± sd over the seeds (ddof = 1); "
            f"scores with `evaluation.SCORE_PROTOCOL`, recon and KL the training history's last 10% of steps. "
            f"Generated from `dvae_tutorial/pretrained/study.json` by `python -m dvae_tutorial pretrained study`.")
    return replace_between_markers(readme, README_START, README_END, [markdown_table(rows), note],
                                   what="the study's table")


def print_summary(rows) -> None:
    """One line per recipe: seeds and each metric's mean ± sd over them."""
    for entry in summary(rows):
        scores = {k: v for k, v in entry.items() if k not in ("recipe", "seeds")}
        print(f"{entry['recipe']:<28} {entry['seeds']} seeds  "
              + "  ".join(f"{m} {mean:.3f}±{sd:.3f}" for m, (mean, sd) in scores.items()))


def finish_cli(path, figure, failed: dict) -> int:
    """Print the table of the data file, write the figure, report failures; the exit status."""
    rows = load(path)
    print_summary(rows)
    if figure is not None and rows:
        figure = Path(figure)
        figure.parent.mkdir(parents=True, exist_ok=True)
        plot(rows).savefig(figure, dpi=120)
        print(f"written: {figure}")
    for name, error in failed.items():
        print(f"failed: {name}: {error}")
    return 1 if failed else 0


def cli(args) -> int:
    """``python -m dvae_tutorial pretrained study [RECIPE ...]``."""
    recipes = with_steps(select(args.names), args.steps)
    path = args.data or STUDY_FILE
    out = run_study(recipes, range(args.seeds), path=path, runs_dir=Path(args.runs) / "study", jobs=args.jobs,
                    threads_per_job=args.threads, device=args.device, progress=not args.no_progress)
    print(f"recorded {len(out['recorded'])} runs in {path}")
    if args.update_readme:
        update_readme(args.readme, path)
        print(f"written: {args.readme} (between {README_START} and {README_END})")
    return finish_cli(path, args.figure, out["failed"])
