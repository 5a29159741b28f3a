"""Command line: train a model with any of the five objectives, and evaluate a trained run.

    python -m dvae_tutorial train --method btcvae --beta 6 --steps 20000 --out runs/btcvae
    python -m dvae_tutorial evaluate runs/btcvae
    python -m dvae_tutorial train --help
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

import numpy as np

from . import config, files, losses, train
from .precision import PRECISIONS, supports_low_precision

PROG = "dvae-tutorial"


class UsageError(Exception):
    """A user's mistake on the command line: reported as one line and exit status 2, no traceback."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``dvae-tutorial <cmd>: error: ...`` and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")

DATASETS = ("dsprites", "dsprites-small")
METRIC_CHOICES = ("mig", "sap", "dci", "beta_vae", "factor_vae")
# every hyper-parameter flag -> the objective argument it sets (each method takes some of them)
HPARAM_FLAGS = {"beta": "beta", "alpha": "alpha", "gamma": "gamma", "c_min": "c_min", "c_max": "c_max",
                "c_steps": "c_steps", "estimator": "estimator", "distribution": "distribution", "scale": "scale",
                "disc_lr": "disc_lr", "lambda_od": "lambda_od", "lambda_d": "lambda_d", "lambda_mmd": "lambda_mmd",
                "codebook_size": "codebook_size", "ema_decay": "ema_decay", "lambda_cat": "lambda_cat",
                "lambda_cont": "lambda_cont"}


def image_methods() -> list:
    """The methods ``train`` trains on dSprites (VAEs, VQ-VAE, InfoGAN); the iVAE trains with ``ivae.fit`` on tabular data."""
    return [name for name, cls in losses.OBJECTIVES.items() if cls.model_type != "IVAE"]


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """``--recipe NAME``: every option from a named recipe (``dvae_tutorial.recipes``); explicit flags still win."""
    from . import recipes

    parser.add_argument("--recipe", choices=list(recipes.RECIPES), default=None, metavar="NAME",
                        help="train with a named recipe's settings (explicit flags override them): "
                             + ", ".join(recipes.RECIPES))


def recipe_defaults(args: argparse.Namespace) -> dict:
    """Option values supplied by the chosen recipe (``{}`` without ``--recipe``)."""
    from . import recipes

    return {} if getattr(args, "recipe", None) is None else recipes.get(args.recipe).train_options()


def _method_defaults(method: str) -> dict:
    params = inspect.signature(losses.OBJECTIVES[method].__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self" and p.default is not inspect.Parameter.empty}


def _methods_epilog() -> str:
    lines = ["methods and their hyper-parameters (defaults in brackets):"]
    for name in image_methods():
        flags = [f"--{k.replace('_', '-')} [{v}]" for k, v in _method_defaults(name).items()
                 if k in HPARAM_FLAGS and k not in ("distribution", "scale", "disc_lr")]
        lines.append(f"  {name:<10} {', '.join(flags) or '(no weights)'}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Train and evaluate disentangling VAEs (VAE, beta-VAE, capacity-annealed beta-VAE, "
                    "FactorVAE, beta-TCVAE) on dSprites.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,pretrained,html,student,grade,sweep}")

    methods = ", ".join(f"{name} = {losses.OBJECTIVES[name].title}" for name in image_methods())
    tr = sub.add_parser(
        "train", help="train a model and write checkpoints to --out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train one model. Losses use the papers' conventions: reconstruction summed over pixels, "
                    "KL summed over latent dimensions, both averaged over the batch (nats).",
        epilog=_methods_epilog() +
        "\n\nexamples:\n  python -m dvae_tutorial train --method btcvae --beta 6 --steps 20000 --out runs/btcvae\n"
        "  python -m dvae_tutorial train --method capacity --c-max 25 --c-steps 10000 --steps 20000 --out runs/cap\n"
        "  python -m dvae_tutorial train --method btcvae --steps 40000 --out runs/btcvae --resume   # continue\n"
        "Stop with Ctrl-C: the checkpoint is kept, and --resume continues it.")
    g = tr.add_argument_group("what to train")
    g.add_argument("--method", choices=image_methods(), default=None, help=f"the objective: {methods}")
    g.add_argument("--out", required=True, type=Path, help="run folder: checkpoint.pt and config.json go here")
    g.add_argument("--steps", type=int, default=None, help="total optimiser steps [20000; 100 with --fast]")
    h = tr.add_argument_group("hyper-parameters (each method takes some; see below)")
    h.add_argument("--beta", type=float, default=None, help="beta-VAE: weight of the KL; beta-TCVAE: weight of the TC")
    h.add_argument("--alpha", type=float, default=None, help="beta-TCVAE: weight of the index-code mutual information; "
                                                              "InfoVAE: the KL weighs 1 - alpha")
    h.add_argument("--lambda-od", type=float, default=None, help="DIP-VAE: weight of the off-diagonal covariances")
    h.add_argument("--lambda-d", type=float, default=None, help="DIP-VAE: weight of the diagonal's distance to 1")
    h.add_argument("--lambda-mmd", type=float, default=None,
                   help="InfoVAE: lambda; the MMD between q(z) and p(z) weighs alpha + lambda - 1")
    h.add_argument("--gamma", type=float, default=None,
                   help="capacity: weight of |KL - C|; FactorVAE: weight of the TC; beta-TCVAE: weight of the dim-wise KL")
    h.add_argument("--disc-lr", type=float, default=None,
                   help="FactorVAE: the discriminator's Adam learning rate (Kim & Mnih: the VAE's rate)")
    h.add_argument("--codebook-size", type=int, default=None, help="vqvae: entries K of the codebook")
    h.add_argument("--ema-decay", type=float, default=None, help="vqvae: EMA codebook decay (0: codebook loss)")
    h.add_argument("--lambda-cat", type=float, default=None, help="infogan: weight of the categorical code's MI bound")
    h.add_argument("--lambda-cont", type=float, default=None, help="infogan: weight of the continuous codes' MI bound")
    h.add_argument("--c-min", type=float, default=None, help="capacity: C at the start (nats)")
    h.add_argument("--c-max", type=float, default=None, help="capacity: C at the end of the schedule (nats)")
    h.add_argument("--c-steps", type=int, default=None, help="capacity: steps over which C rises linearly")
    h.add_argument("--estimator", choices=("mss", "mws"), default=None,
                   help="beta-TCVAE: minibatch stratified (mss) or weighted (mws) sampling")
    h.add_argument("--distribution", choices=losses.LIKELIHOODS, default=None,
                   help="reconstruction likelihood [bernoulli]")
    h.add_argument("--scale", type=float, default=None,
                   help=f"gaussian sigma / laplace b, in [0, 1] pixel units [{losses.DEFAULT_SCALE['gaussian']}]")
    m = tr.add_argument_group("model and data")
    m.add_argument("--dataset", choices=DATASETS, default=None,
                   help="dsprites: the full official grid (737,280 images); dsprites-small: a 46,080-image "
                        "sub-grid [dsprites; dsprites-small with --fast]")
    m.add_argument("--data-file", type=Path, default=None, help="read the official dSprites .npz / .hdf5 instead")
    m.add_argument("--image-size", type=int, choices=(32, 64), default=None, help="[64]")
    m.add_argument("--latent-dim", type=int, default=None, help="[10]")
    m.add_argument("--architecture", choices=("burgess", "small"), default=None,
                   help="burgess: Burgess et al. 2018's conv net; small: half as wide, for quick runs [burgess]")
    m.add_argument("--holdout", type=float, default=None,
                   help="fraction of images kept out of training, for `evaluate` [0.1]")
    o = tr.add_argument_group("optimisation and bookkeeping")
    o.add_argument("--batch-size", type=int, default=None, help="[64]")
    o.add_argument("--lr", type=float, default=None, help="Adam learning rate [0.001]")
    o.add_argument("--seed", type=int, default=None, help="[0]")
    o.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... [CUDA if available]")
    o.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the arithmetic of the net's convolutions: fp32; bf16 (bfloat16 mixed precision, the "
                        "rest of the net and the loss stay float32); auto: bf16 on a CPU with Intel AMX "
                        "(about 2x faster there), else fp32 [auto]")
    o.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints [1000]")
    o.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--fast", action="store_true",
                   help="a quick check: 100 steps on the dsprites-small sub-grid unless --steps / --dataset say otherwise")
    add_recipe_arguments(tr)

    ev = sub.add_parser("evaluate", help="evaluate a trained run",
                        description="Load DIR/checkpoint.pt and report: on images held out from training (or a "
                                    "sample of all images when none were held out) the objective's own terms and "
                                    "the KL's MI / TC / dim-wise KL decomposition; on images drawn uniformly the "
                                    "reconstruction NLL and KL, and the disentanglement scores -- computed by "
                                    "dvae_tutorial.evaluation exactly as for the shipped models (`--metric-images "
                                    "10000`, the default, is their protocol). Writes DIR/evaluation.json.")
    ev.add_argument("run_dir", type=Path, metavar="DIR", help="a run folder written by `train --out DIR`")
    ev.add_argument("--images", type=int, default=None, help="held-out images for the terms [4096; 512 with --fast]")
    ev.add_argument("--batch-size", type=int, default=256, help="[256]; the TC estimate improves with it")
    ev.add_argument("--metrics", default="mig,sap",
                    help="comma-separated from " + ", ".join(METRIC_CHOICES) + ", or 'none' [mig,sap]")
    ev.add_argument("--metric-images", type=int, default=None,
                    help="N: the shipped models' protocol scaled to N codes (MIG/SAP N train + N/2 test codes, "
                         "DCI N/5 + N/10, BetaVAE/FactorVAE N/5 + N/10 points, ELBO N images) [10000; 1000 with "
                         "--fast]")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--device", default=None, help="cpu, cuda, ... [CUDA if available]")
    ev.add_argument("--fast", action="store_true", help="a quick check: fewer images (see the defaults)")

    pt = sub.add_parser("pretrained", help="build, export and report the shipped models",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="The models shipped in dvae_tutorial/pretrained/ (see dvae_tutorial.recipes).",
                        epilog="examples:\n"
                               "  python -m dvae_tutorial pretrained list\n"
                               "  python -m dvae_tutorial pretrained build            # train + export every model\n"
                               "  python -m dvae_tutorial pretrained build btcvae     # one (every seed, resumable; then ship)\n"
                               "  python -m dvae_tutorial pretrained build btcvae --seed 2   # one seed of it, no ship\n"
                               "  python -m dvae_tutorial pretrained ship btcvae      # ship the seed the rule picks\n"
                               "  python -m dvae_tutorial pretrained table            # README table + traversal figures\n"
                               "  python -m dvae_tutorial pretrained lessons          # pre-train every run the lessons train\n"
                               "  python -m dvae_tutorial pretrained study --jobs 2   # the seed study (resumable)")
    pt.add_argument("action", choices=("list", "build", "export", "ship", "table", "lessons", "study"))
    pt.add_argument("names", nargs="*", help="recipe names [all shipped recipes]")
    pt.add_argument("--runs", type=Path, default=Path("build/pretrained"),
                    help="folder of the training runs, one sub-folder per recipe [build/pretrained]")
    pt.add_argument("--folder", type=Path, default=None, help="where the exported models go [the package's]")
    pt.add_argument("--seed", type=int, default=None,
                    help="build / export only this training seed of a model trained with several "
                         "(recipes.SEEDS: runs in RUNS/NAME-seedS, exported to seeds/); ship then picks the shipped "
                         "seed among those exported [every seed, then ship]")
    pt.add_argument("--readme", type=Path, default=Path("README.md"), help="README to put the table in [README.md]")
    pt.add_argument("--figures", type=Path, default=Path("docs/pretrained"), help="traversal figures [docs/pretrained]")
    pt.add_argument("--no-progress", action="store_true", help="no progress bars")
    pt.add_argument("--fast", action="store_true", help="lessons: the runs of the lessons' fast mode (CI)")
    from . import study, sweep

    study.add_arguments(pt)
    sweep.add_arguments(sub.add_parser("sweep", help="run recipes x hyper-parameters x seeds as Ray Tune trials",
                                       description=sweep.DESCRIPTION))

    from . import site

    site.add_arguments(sub.add_parser("html", help="run the lessons and write an offline HTML site",
                                      description=site.DESCRIPTION))

    st = sub.add_parser("student", help="make the student version of the lessons",
                        description="nbgrader's release version of every notebook of SRC, written to OUT: "
                                    "solutions (between '### BEGIN SOLUTION' and '### END SOLUTION') replaced by "
                                    "nbgrader's stub, outputs cleared; the checks stay, so a student's notebook stops "
                                    "at the first unsolved exercise with the check's message.")
    st.add_argument("src", type=Path, nargs="?", default=Path("notebooks"), help="lessons folder [notebooks]")
    st.add_argument("out", type=Path, nargs="?", default=Path("student"), help="output folder [student]")

    gr = sub.add_parser("grade", help="autograde submitted notebooks with nbgrader and print their points",
                        description="Autograde (nbgrader) every notebook under FOLDER (one sub-folder per student, "
                                    "or notebooks directly in it) against the lessons in --source and print, per "
                                    "student and lesson, the points and the first problem. Writes FOLDER/grades.json.")
    gr.add_argument("folder", type=Path, help="the collected submissions")
    gr.add_argument("--source", type=Path, default=Path("notebooks"), help="the lessons with solutions [notebooks]")
    gr.add_argument("--full", action="store_true", help="run the lessons in full mode (default: fast mode)")
    gr.add_argument("--timeout", type=int, default=600, help="seconds per cell; a cell running longer fails [600]")
    return parser


# option -> (default, default with --fast); fast mode is the explicit --fast flag, never the environment
DEFAULTS = dict(steps=(20000, 100), dataset=("dsprites", "dsprites-small"), image_size=(64, 64), latent_dim=(10, 10),
                architecture=("burgess", "burgess"), holdout=(0.1, 0.1), batch_size=(64, 64), lr=(1e-3, 1e-3),
                seed=(0, 0), checkpoint_every=(1000, 1000))
EVALUATE_DEFAULTS = dict(images=(4096, 512), metric_images=(10_000, 1000))


def fill_defaults(args: argparse.Namespace, defaults: dict) -> None:
    """Set every option left unset to its default, the ``--fast`` one when ``args.fast``."""
    for dest, (full, fast) in defaults.items():
        if getattr(args, dest) is None:
            setattr(args, dest, fast if args.fast else full)


def resolve_train_args(args: argparse.Namespace) -> tuple[argparse.Namespace, dict]:
    """Fill unset options (explicit flag > recipe > default) and collect the objective's hyper-parameters."""
    for dest, value in recipe_defaults(args).items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
    if args.method is None:
        raise UsageError("choose a method with --method (" + ", ".join(image_methods()) + ")")
    fill_defaults(args, DEFAULTS)
    accepted = _method_defaults(args.method)
    hparams = {}
    for flag, name in HPARAM_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if name not in accepted:
            takes = [f"--{k.replace('_', '-')}" for k in accepted if k in HPARAM_FLAGS.values()]
            raise UsageError(f"--{flag.replace('_', '-')} does not apply to --method {args.method}; "
                             f"it takes {', '.join(takes)}")
        hparams[name] = value
    objective = losses.make_objective(args.method, **hparams)   # a bad value (e.g. --beta -1) fails here
    if args.precision == "bf16" and not supports_low_precision(objective.build_model(
            latent_dim=args.latent_dim, image_size=args.image_size, architecture=args.architecture)):
        raise UsageError(f"--precision bf16 runs only the convolutions of the beta-family's VAE in bfloat16; the "
                         f"{objective.model_type} of --method {args.method} would run whole in bfloat16. Use "
                         f"--precision fp32 (or auto, which picks fp32 for it)")
    return args, hparams


def load_dataset(name: str, image_size: int, data_file=None, progress: bool = True):
    from . import data  # imported here: the data module renders or reads images on first use
    if data_file is not None:
        return data.DSprites.from_file(data_file, progress=progress)
    if name == "dsprites-small":
        return data.DSprites.small(image_size=image_size, progress=progress)
    return data.DSprites(image_size=image_size, progress=progress)


def cmd_train(args: argparse.Namespace) -> int:
    args, hparams = resolve_train_args(args)
    if (args.out / files.CHECKPOINT_NAME).exists() and not args.resume:
        raise UsageError(f"{args.out} already holds a checkpoint; add --resume to continue it, or choose another --out")
    dataset = load_dataset(args.dataset, args.image_size, args.data_file, progress=not args.no_progress)
    train_idx, heldout_idx = train.split_indices(len(dataset), args.holdout, args.seed)
    data_spec = {"name": args.dataset, "image_size": dataset.observation_shape[-1],
                 "file": None if args.data_file is None else str(args.data_file),
                 "holdout": args.holdout, "split_seed": args.seed, "size": len(dataset)}
    print(f"training {args.method} on {len(train_idx):,} of {len(dataset):,} {args.dataset} images "
          f"({len(heldout_idx):,} held out) -> {args.out}")
    try:
        result = train.run(args.method, dataset, steps=args.steps, hparams=hparams, latent_dim=args.latent_dim,
                           architecture=args.architecture, seed=args.seed, batch_size=args.batch_size, lr=args.lr,
                           device=args.device, indices=train_idx, checkpoint_dir=args.out,
                           checkpoint_every=args.checkpoint_every, resume=args.resume,
                           progress=not args.no_progress, precision=args.precision,
                           extra_config={"data": data_spec, "recipe": args.recipe})
    except train.NonFiniteLossError as err:   # the run folder keeps the last finite checkpoint and its history
        print(f"train: {err}", file=sys.stderr)
        return 1
    print(result.objective.describe(result.model.latent_dim, int(np.prod(dataset.observation_shape))))
    last = ", ".join(f"{k} {v:.4g}" for k, v in result.last.items() if k != "step")
    state = "interrupted" if result.interrupted else "finished"
    print(f"{state} after {result.steps_done} steps ({result.wall_time:.0f} s, convolutions in "
          f"{result.config['precision']}): {last}")
    print(f"checkpoint: {args.out / files.CHECKPOINT_NAME}"
          + ("  (continue with the same command and --resume)" if result.interrupted else ""))
    return 130 if result.interrupted else 0


def _sample_eval_indices(cfg: dict, n_images: int, seed: int) -> tuple[np.ndarray, str]:
    spec = cfg["data"]
    train_idx, heldout_idx = train.split_indices(spec["size"], spec["holdout"], spec["split_seed"])
    pool, what = (heldout_idx, "held-out") if len(heldout_idx) else (train_idx, "training (none were held out)")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(pool, size=min(n_images, len(pool)), replace=False))
    return chosen, what


def _metric_names(text: str) -> list[str]:
    names = [] if text == "none" else [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRIC_CHOICES]
    if unknown:
        raise UsageError(f"unknown metric {', '.join(unknown)} in --metrics; choose from "
                         f"{', '.join(METRIC_CHOICES)}, or 'none'")
    return names


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import evaluation

    fill_defaults(args, EVALUATE_DEFAULTS)
    names = _metric_names(args.metrics)
    device = config.choose_device(args.device)
    checkpoint = files.load_checkpoint(args.run_dir, device="cpu")
    cfg = checkpoint["config"]
    model, objective = train.build_from_checkpoint(checkpoint, device)
    if not objective.decomposable:
        raise UsageError(f"{cfg['method']} has no Gaussian posterior to decompose, so evaluate does not apply; "
                         f"score it with dvae_tutorial.evaluation.score(model, dataset) (lesson 08 shows how)")
    spec = cfg["data"]
    dataset = load_dataset(spec["name"], spec["image_size"], spec["file"])
    indices, what = _sample_eval_indices(cfg, args.images, args.seed)
    batch = min(args.batch_size, len(indices))
    print(f"{cfg['method']} after {checkpoint['step']} steps; {len(indices)} {what} images, batches of {batch}")
    terms = evaluation.objective_terms(model, objective, dataset, indices, batch, cfg["dataset_size"], args.seed,
                                       checkpoint["step"])
    kl_per_dim = terms.pop("kl_per_dim")
    for k, v in terms.items():
        print(f"  {k:<14} {float(v):10.4f}")
    print("  kl per dim     " + " ".join(f"{v:.2f}" for v in kl_per_dim))
    protocol = evaluation.scaled_protocol(args.metric_images, seed=args.seed)
    elbo = evaluation.elbo_terms(model, dataset, protocol["elbo_images"], protocol["seed"])
    print(f"  on {protocol['elbo_images']} images drawn uniformly: recon {elbo['recon']:.4f}  kl {elbo['kl']:.4f}")
    report = {"method": cfg["method"], "steps": checkpoint["step"], "images": len(indices), "which": what,
              "terms": {k: float(v) for k, v in terms.items()}, "kl_per_dim": [float(v) for v in kl_per_dim],
              "score_protocol": protocol, "elbo": {k: round(v, 4) for k, v in elbo.items()}}
    if names:
        scores = evaluation.protocol_scores(model, dataset, which=names, protocol=protocol)
        for k, v in scores.items():
            print(f"  {k:<30} {v:10.4f}")
        report["metrics"] = scores
    out = args.run_dir / "evaluation.json"
    files.atomic_write_json(out, report)
    print(f"written: {out}")
    return 0


def cmd_pretrained(args) -> int:
    from . import pretrained, recipes

    if args.action == "study":
        from . import study

        return study.cli(args)
    if args.action == "lessons":
        from . import runs

        for name in args.names or list(recipes.LESSON_RUNS):
            run = runs.recipe_run(name, args.fast, progress=not args.no_progress)
            print(f"{name}: {'already in the cache' if run.from_cache else f'trained in {run.wall_time:.0f} s'}")
        return 0
    names = args.names or (pretrained.available(args.folder) if args.action in ("list", "table")
                           else list(recipes.SEEDS) if args.action == "ship" else list(recipes.MAIN))
    for name in names:
        recipes.get(name)   # unknown names fail here, before any work
    if args.action == "list":
        for name in names:
            meta = pretrained.info(name, args.folder)
            s, t = meta.get("scores", {}), meta["training"]
            seeds = meta.get("seeds")
            which = f"seed {seeds['shipped']} of {len(seeds['runs'])}" if seeds else "one seed"
            print(f"{name:<10} {t['steps']:>6} steps {t['wall_time_s'] / 60:5.1f} min  {which:<10}  "
                  + "  ".join(f"{k} {v:.3f}" for k, v in s.items()))
        return 0
    if args.action == "table":
        from .pretrained import report

        for path in report.write_figures(args.figures, names, args.folder):
            print(f"written: {path}")
        report.update_readme(args.readme, names, args.folder, figures_dir=args.figures.as_posix())
        print(report.results_table(names, args.folder))
        print(f"written: {args.readme} (between {report.README_START} and {report.README_END})")
        return 0
    from .pretrained.export import export, ship_seed

    def scores(meta):
        return ", ".join(f"{k} {v:.3f}" for k, v in meta.get("scores", {}).items())

    for name in names:
        several = name in recipes.SEEDS           # trained with several seeds: seeds/NAME-seedS, then one ships
        if args.action == "ship" and not several:
            raise UsageError(f"ship picks one of several seeds; {name!r} is trained with one "
                             f"(models with several: {', '.join(recipes.SEEDS)})")
        if args.seed is not None and not several:
            raise UsageError(f"--seed applies to the models trained with several seeds "
                             f"({', '.join(recipes.SEEDS)}), not to {name!r}")
        if args.action != "ship":
            for seed in ([args.seed] if args.seed is not None else recipes.seeds(name)) if several else [None]:
                run_dir = args.runs / (name if seed is None else pretrained.seed_name(name, seed))
                if args.action == "build":
                    argv = ["train", "--recipe", name, "--out", str(run_dir), "--resume"]
                    argv += [] if seed is None else ["--seed", str(seed)]
                    code = main(argv + (["--no-progress"] if args.no_progress else []))
                    if code:
                        return code
                meta = export(name, run_dir, args.folder, seed=seed)
                print(f"exported {name}{'' if seed is None else f' seed {seed}'}: {scores(meta)}")
        if several and (args.seed is None or args.action == "ship"):
            meta = ship_seed(name, args.folder)
            print(f"shipped {name}: seed {meta['seeds']['shipped']} ({meta['seeds']['rule']}): {scores(meta)}")
    return 0


def _cmd_html(args) -> int:
    from . import site

    return site.run(args)


def cmd_student(args) -> int:
    from . import course

    for path in course.make_student_set(args.src, args.out):
        print(f"written: {path}")
    return 0


def cmd_grade(args) -> int:
    from . import course

    submissions = course.grade_folder(args.folder, source=args.source, timeout=args.timeout, fast=not args.full)
    print(course.grade_summary(submissions))
    out = args.folder / "grades.json"
    out.write_text(json.dumps(submissions, indent=2))
    print(f"written: {out}")
    return 0


def cmd_sweep(args) -> int:
    from . import sweep

    return sweep.cli(args)


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "pretrained": cmd_pretrained, "html": _cmd_html,
            "student": cmd_student, "grade": cmd_grade,
            "sweep": cmd_sweep}


def main(argv=None) -> int:
    """Run one command; a user's mistake is one line on stderr, ``dvae-tutorial <cmd>: error: ...``, exit status 2."""
    from .data.files import DataFileError
    from .pretrained import PretrainedError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, ValueError, KeyError, FileNotFoundError, files.WeightFileError, DataFileError,
            PretrainedError) as err:
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        print(f"{PROG} {args.command}: error: {' '.join(message.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
