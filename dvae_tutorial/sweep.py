"""Sweeps as Ray Tune trials: recipes x hyper-parameters x seeds, on one machine or a Ray cluster.

    python -m dvae_tutorial sweep                                   # the seed study's grid, this machine
    python -m dvae_tutorial sweep --recipes btcvae-beta6-small32 --grid beta=2,4,8 --seeds 3
    python -m dvae_tutorial sweep --address HEAD_IP:6379 --cpus-per-trial 2      # on a running Ray cluster

Every trial is one ``study.run_one`` (train, then score): it trains in chunks of ``checkpoint_every``
steps and hands each chunk's training checkpoint (``train.CHECKPOINT_NAME``, the package's own) to Tune
with ``tune.report(..., checkpoint=...)``.  A trial that is retried (``max_failures``) or an experiment
that is restarted (same grid, same ``storage``: ``Tuner.restore``) continues from that checkpoint.  The
finished trials' rows go into the seed study's data file (``study.record``), so ``study.load``,
``study.summary`` and ``study.plot`` read a sweep and the study alike.  A trial that fails is reported
with its error; the others are kept.

Needs the ``sweep`` extra (``pip install -e ".[sweep]"``: Ray Tune).  Ray is imported only here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import shutil
from pathlib import Path

from . import study
from .recipes import Recipe

RUN_FOLDER = "run"          # inside each trial's folder: the training run (checkpoint.pt, config.json)


def require_ray():
    """``ray.tune``, or an error that says how to install it."""
    try:
        from ray import tune
    except ImportError as err:
        raise ImportError("sweeps run on Ray Tune, which is not installed; install the extra with "
                          "`pip install -e \".[sweep]\"` (ray[tune])") from err
    return tune


def expand(recipes, grid: dict | None = None, seeds=(0,)) -> list[dict]:
    """The trials of ``recipes`` x every combination of ``grid`` (``{hparam: [values]}``) x ``seeds``.

    Each trial is ``{"recipe": Recipe.as_dict(), "seed": s}``; a grid value replaces the recipe's
    hyper-parameter and the recipe's name gains ``[name=value,...]``.  A grid hyper-parameter that a
    recipe's method does not take is an error here, before anything runs.
    """
    import inspect

    from .losses import OBJECTIVES

    grid = {k: list(v) for k, v in (grid or {}).items()}
    empty = [k for k, v in grid.items() if not v]
    if empty:
        raise ValueError(f"the grid gives no values for {', '.join(empty)}")
    trials = []
    for recipe in recipes:
        takes = set(inspect.signature(OBJECTIVES[recipe.method].__init__).parameters) - {"self"}
        foreign = [k for k in grid if k not in takes]
        if foreign:
            raise ValueError(f"recipe {recipe.name} ({recipe.method}) takes no {', '.join(foreign)}; "
                             f"its hyper-parameters: {', '.join(sorted(takes))}")
        for values in itertools.product(*grid.values()):
            override = dict(zip(grid, values))
            suffix = "[" + ",".join(f"{k}={v:g}" for k, v in override.items()) + "]" if override else ""
            variant = dataclasses.replace(recipe, name=recipe.name + suffix, hparams={**recipe.hparams, **override})
            trials.extend({"recipe": variant.as_dict(), "seed": int(s)} for s in seeds)
    return trials


def _restore_checkpoint(tune, run_dir: Path) -> None:
    """Copy the training checkpoint of Tune's last reported checkpoint (if any) into ``run_dir``."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as folder:
        for item in Path(folder).iterdir():
            if item.is_file():
                shutil.copy2(item, run_dir / item.name)


def trial(config: dict) -> None:
    """The Tune trainable: one ``study.run_one``, reporting each chunk's checkpoint and, at the end, the row."""
    import torch

    tune = require_ray()
    recipe = Recipe(**config["trial"]["recipe"])
    seed = config["trial"]["seed"]
    torch.set_num_threads(max(1, int(config["threads"])))
    run_dir = Path(tune.get_context().get_trial_dir()) / RUN_FOLDER
    _restore_checkpoint(tune, run_dir)

    def report_chunk(done: int) -> None:
        if done < recipe.steps:
            tune.report({"step": done}, checkpoint=tune.Checkpoint.from_directory(str(run_dir)))

    # DCI's trees use the trial's CPUs, as training does (by default they would start a process per core of the
    # machine, whatever Tune gave the trial; study._worker_run keeps them in-process for the same reason)
    row = study.run_one(recipe, seed, run_dir, protocol=config["protocol"], metrics=config["metrics"],
                        chunk_steps=config["checkpoint_every"], on_chunk=report_chunk,
                        dci_jobs=max(1, int(config["threads"])))
    scalars = {k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tune.report({"step": row["steps"], **scalars, "row": json.dumps(row)},
                checkpoint=tune.Checkpoint.from_directory(str(run_dir)))


def experiment_name(trials, protocol: dict, metrics) -> str:
    """``sweep-<hash>``: the same grid, protocol and metrics find the same experiment again (and resume it)."""
    spec = json.dumps({"trials": trials, "protocol": protocol, "metrics": list(metrics)}, sort_keys=True)
    return "sweep-" + hashlib.sha256(spec.encode()).hexdigest()[:12]


def run_sweep(recipes=None, grid: dict | None = None, seeds=study.SEEDS, *, path=None, storage="build/sweeps",
              address: str | None = None, num_cpus: int | None = None, cpus_per_trial: int = 1,
              gpus_per_trial: float = 0, checkpoint_every: int = 1000, max_failures: int = 1,
              protocol: dict | None = None, metrics=study.METRICS, verbose: int = 1) -> dict:
    """Run the grid as Ray Tune trials and record the finished ones in the study's data file ``path``.

    Args:
        recipes: ``Recipe`` objects (default: the seed study's ``study.study_recipes()``).
        grid: ``{hyper-parameter: [values]}`` crossed with every recipe (see ``expand``).
        seeds: the seeds of every (recipe, grid point).
        path: the data file (default ``study.STUDY_FILE``); trials whose row it holds are not run again.
        storage: where Tune keeps the experiment (trial folders, checkpoints); a folder every node can
            reach on a cluster (e.g. shared storage), else each node keeps its own trials' files.
        address: a running Ray cluster (``HEAD_IP:6379`` or ``"auto"``); ``None`` starts Ray on this machine
            with ``num_cpus`` CPUs (default: all).
        cpus_per_trial, gpus_per_trial: the resources of one trial (torch uses ``cpus_per_trial`` threads;
            with a GPU share the trial trains on CUDA).
        checkpoint_every: steps between checkpoints reported to Tune.
        max_failures: how often a failed trial is retried from its last checkpoint.
        protocol, metrics: the scores' sample sizes and names (as ``study.run_one``).

    Returns ``{"recorded": [row, ...], "failed": {trial name: error}, "experiment": path}``.
    """
    from .evaluation import SCORE_PROTOCOL

    tune = require_ray()
    import ray

    recipes = study.study_recipes() if recipes is None else list(recipes)
    path = Path(path) if path is not None else study.STUDY_FILE
    protocol = dict(protocol or SCORE_PROTOCOL)
    done = {(r["recipe"], r["seed"]) for r in study.load(path)}
    trials = [t for t in expand(recipes, grid, seeds) if (t["recipe"]["name"], t["seed"]) not in done]
    if not trials:
        print(f"sweep: every trial is already recorded in {path}")
        return {"recorded": [], "failed": {}, "experiment": None}
    storage = Path(storage).resolve()
    name = experiment_name(trials, protocol, metrics)
    param_space = {"trial": tune.grid_search(trials), "protocol": protocol, "metrics": list(metrics),
                   "checkpoint_every": int(checkpoint_every), "threads": int(max(1, cpus_per_trial))}
    trainable = tune.with_resources(trial, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})

    started_here = not ray.is_initialized()
    if started_here:
        if address is None:      # Ray on this machine only: every address on the loopback, none on the network
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=verbose > 1)
    try:
        experiment = storage / name
        if tune.Tuner.can_restore(str(experiment)):
            print(f"sweep: resuming {experiment}")
            tuner = tune.Tuner.restore(str(experiment), trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(trainable, param_space=param_space, run_config=tune.RunConfig(
                name=name, storage_path=str(storage), verbose=verbose,
                failure_config=tune.FailureConfig(max_failures=max_failures)))
        results = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    rows, failed = [], {}
    for result in results:
        spec = result.config["trial"]
        label = study.run_name(Recipe(**spec["recipe"]), spec["seed"])
        if result.error is not None or "row" not in (result.metrics or {}):
            # Ray wraps the trial's exception with its traceback: its last line is the trial's own error
            failed[label] = str(result.error).strip().splitlines()[-1] if result.error else "no result reported"
        else:
            rows.append(json.loads(result.metrics["row"]))
    if rows:
        study.record(path, rows, protocol)
    return {"recorded": rows, "failed": failed, "experiment": str(experiment)}


def parse_grid(items) -> dict:
    """``["beta=2,4,8", "gamma=10,40"]`` -> ``{"beta": [2.0, 4.0, 8.0], "gamma": [10.0, 40.0]}``."""
    grid = {}
    for item in items or ():
        name, sep, values = item.partition("=")
        try:
            parsed = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            parsed = []
        if not sep or not name.strip() or not parsed:
            raise ValueError(f"--grid takes NAME=V1,V2,... (numbers), e.g. beta=2,4,8; got {item!r}")
        grid[name.strip()] = parsed
    return grid


DESCRIPTION = ("Run recipes x hyper-parameters x seeds as Ray Tune trials (this machine, or a Ray cluster with "
               "--address) and record each finished trial's scores in the seed study's data file. Needs the "
               "'sweep' extra: pip install -e \".[sweep]\".")


def add_arguments(parser) -> None:
    """The ``sweep`` command's options."""
    parser.add_argument("--recipes", nargs="+", default=None, metavar="NAME",
                        help="recipes of the seed study or any named recipe [the seed study's grid]")
    parser.add_argument("--grid", nargs="+", default=None, metavar="NAME=V1,V2",
                        help="hyper-parameter values crossed with every recipe, e.g. beta=2,4,8")
    parser.add_argument("--seeds", type=int, default=len(study.SEEDS), help="seeds 0..N-1 per grid point [5]")
    parser.add_argument("--steps", type=int, default=None, help="override every recipe's steps (quick tries only)")
    parser.add_argument("--data", type=Path, default=None, help="the data file [the package's pretrained/study.json]")
    parser.add_argument("--storage", type=Path, default=Path("build/sweeps"), help="Tune's experiment folder")
    parser.add_argument("--address", default=None, help="a running Ray cluster, e.g. HEAD_IP:6379 or auto "
                                                        "[start Ray on this machine]")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the Ray started here [all]")
    parser.add_argument("--cpus-per-trial", type=int, default=1, help="[1]")
    parser.add_argument("--gpus-per-trial", type=float, default=0, help="e.g. 0.25: four trials share a GPU [0]")
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints [1000]")
    parser.add_argument("--max-failures", type=int, default=1, help="retries of a failed trial [1]")
    parser.add_argument("--figure", type=Path, default=None, help="also write the strip plot of the scores here")


def cli(args) -> int:
    """``python -m dvae_tutorial sweep ...``."""
    from .recipes import get

    known = {r.name: r for r in study.study_recipes()}
    try:
        recipes = list(known.values()) if args.recipes is None else \
            [known[n] if n in known else get(n) for n in args.recipes]
    except KeyError as err:
        raise ValueError(f"{err.args[0]}, {study.VAE_SMALL.name}") from None
    out = run_sweep(study.with_steps(recipes, args.steps), parse_grid(args.grid), range(args.seeds), path=args.data,
                    storage=args.storage, address=args.address, num_cpus=args.num_cpus,
                    cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                    checkpoint_every=args.checkpoint_every, max_failures=args.max_failures)
    path = args.data or study.STUDY_FILE
    print(f"recorded {len(out['recorded'])} trials in {path}")
    return study.finish_cli(path, args.figure, out["failed"])
