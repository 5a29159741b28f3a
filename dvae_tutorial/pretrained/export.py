"""Turn a finished training run into a shipped model: float16 weights, history summary, scores, sha256.

    python -m dvae_tutorial pretrained build btcvae     # train (resumable) + export
    python -m dvae_tutorial pretrained export btcvae build/pretrained/btcvae

The scores follow ``evaluation.SCORE_PROTOCOL`` (``evaluation.protocol_scores``, the function the
command line's ``evaluate`` calls too) and are computed from the float16 weights as shipped (loaded
back through ``pretrained.load``), so ``tests/test_pretrained.py`` can recompute them and compare.
"""
from __future__ import annotations

import datetime
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..evaluation import SCORE_PROTOCOL, elbo_terms, protocol_scores, sample_codes
from ..files import atomic_write, atomic_write_json, load_checkpoint, machine, model_from_checkpoint, sha256
from . import FOLDER, SEEDS_DIR, info, location, read_weights, save_weights, seeds, verify

HISTORY_POINTS = 100       # the shipped history: each scalar term averaged over this many blocks of steps


def history_summary(history: dict, points: int = HISTORY_POINTS) -> dict:
    """Every scalar term averaged over ``points`` equal blocks of steps, plus the per-latent KL at the end.

    Returns ``{"block_end_step": [...], "terms": {name: [...]}, "final": {name: mean over the last 10%},
    "kl_per_dim_final": [...]}`` -- small enough to ship, enough to redraw the loss curves.
    """
    steps = len(history["loss"])
    edges = np.linspace(0, steps, min(points, steps) + 1).astype(int)
    tail = slice(steps - max(1, steps // 10), steps)
    terms, final = {}, {}
    for name, values in history.items():
        values = np.asarray(values, dtype=np.float64)
        if name == "step" or values.ndim != 1:
            continue
        terms[name] = [round(float(values[a:b].mean()), 5) for a, b in zip(edges[:-1], edges[1:])]
        final[name] = float(values[tail].mean())
    kl_dim = np.asarray(history["kl_per_dim"], dtype=np.float64)[tail].mean(axis=0)
    return {"block_end_step": edges[1:].tolist(), "terms": terms, "final": final,
            "kl_per_dim_final": [float(v) for v in kl_dim]}


def factor_latent_summary(model, dataset, protocol: dict | None = None) -> dict:
    """``codes_factor_summary`` of the model's mean codes on ``dataset`` (the protocol's codes and seed)."""
    protocol = protocol or SCORE_PROTOCOL
    factors, codes = sample_codes(model, dataset, protocol["codes"], protocol["seed"])
    return codes_factor_summary(codes, factors, dataset.factor_names)


def codes_factor_summary(codes, factors, factor_names) -> dict:
    """The normalised MI matrix I(v_k; z_j) / H(v_k) ``(n_factors, latent_dim)`` of ``codes`` ``(n, latent_dim)``
    and ``factors`` ``(n, n_factors)``, and each factor's best latent and its share (rounded to 4 decimals)."""
    from .. import metrics

    share = metrics.mutual_info_matrix(codes, factors) / metrics.factor_entropies(factors)[:, None]
    best = share.argmax(axis=1)
    return {"factor_names": list(factor_names),
            "mi_share": np.round(share, 4).tolist(),
            "best_latent": {f: int(j) for f, j in zip(factor_names, best)},
            "best_share": {f: round(float(share[k, best[k]]), 4) for k, f in enumerate(factor_names)}}


POSITION_AND_SCALE = ("pos_x", "pos_y", "scale")     # the factors a disentangled dSprites code gives a latent each


def best_shares(summary: dict, factors=POSITION_AND_SCALE) -> dict:
    """How much of each of ``factors`` its best latent holds, from a ``factor_latent_summary``.

    Returns ``{"best_share": {factor: I(v_k; z_j*) / H(v_k)}, "distinct": bool}``, ``distinct`` when the best
    latents of the factors differ.  Distinct best latents alone say little: a code that mixes x and y across
    three latents (a rotated position) still gives each coordinate a different best latent, holding about a
    tenth of its entropy, where a latent that encodes one coordinate alone holds about 0.6 (20 bins).
    """
    return {"best_share": {f: summary["best_share"][f] for f in factors},
            "distinct": len({summary["best_latent"][f] for f in factors}) == len(factors)}


def recipe_mismatches(recipe, cfg: dict) -> list[str]:
    """The settings in which a run's ``config.json`` (``cfg``) differs from ``recipe``, as "what: run X, recipe Y"."""
    run = {"method": cfg["method"], "batch_size": cfg["batch_size"], "lr": cfg["lr"], "seed": cfg["seed"],
           "image_size": cfg["model"]["image_size"], "architecture": cfg["model"]["architecture"],
           "latent_dim": cfg["model"]["latent_dim"]}
    wanted = {k: getattr(recipe, k) for k in run}
    wanted.update(recipe.hparams)
    run.update({k: cfg["objective"].get(k) for k in recipe.hparams})
    return [f"{k}: run {run[k]!r}, recipe {v!r}" for k, v in wanted.items() if run[k] != v]


def export(name: str, run_dir, folder=None, score: bool = True, protocol: dict | None = None,
           seed: int | None = None) -> dict:
    """Ship the run in ``run_dir`` (a ``train --recipe NAME --out run_dir`` folder) as ``folder/NAME.{pt,json}``.

    ``protocol``: the sample sizes of the scores (default ``evaluation.SCORE_PROTOCOL``).
    ``seed``: the run is that training seed of the recipe (``train --recipe NAME --seed S``); it goes to
    ``folder/seeds/NAME-seedS.{pt,json}``, and ``ship_seed`` later makes one of the seeds the shipped model.
    """
    from .. import __version__, metrics
    from ..data import DSprites
    from ..recipes import get

    recipe = get(name) if seed is None else replace(get(name), seed=int(seed))
    folder = FOLDER if folder is None else Path(folder)
    file, where = location(name, folder, seed)
    checkpoint = load_checkpoint(run_dir)
    cfg = checkpoint["config"]
    seed_flag = "" if seed is None else f" --seed {seed}"
    if checkpoint["step"] < recipe.steps:
        raise ValueError(f"{run_dir} holds {checkpoint['step']} of the recipe's {recipe.steps} steps; finish it "
                         f"first: python -m dvae_tutorial train --recipe {name}{seed_flag} --out {run_dir} --resume")
    differs = recipe_mismatches(recipe, cfg)
    if differs:
        raise ValueError(f"{run_dir} was not trained with the recipe {name!r} at seed {recipe.seed}: "
                         + "; ".join(differs) + f". Train the recipe into a new folder and export that one: "
                         f"python -m dvae_tutorial train --recipe {name}{seed_flag} --out NEW_FOLDER")
    model = model_from_checkpoint(checkpoint)
    where.mkdir(parents=True, exist_ok=True)
    path = save_weights(model, name, where, file=file)
    shipped = read_weights(path, name)   # score exactly what is shipped: the float16 weights
    meta = {
        "name": name, "recipe": recipe.as_dict(), "config": cfg,
        "training": {"steps": checkpoint["step"], "wall_time_s": round(float(checkpoint["wall_time"]), 1),
                     "images_seen": checkpoint["step"] * cfg["batch_size"],
                     "machine": cfg.get("machine") or {**machine(), "note": "recorded at export, not at training"}},
        "history": history_summary(checkpoint["history"]),
        "weights": {"file": path.name, "dtype": "float16", "bytes": path.stat().st_size},
        "sha256": sha256(path),
        "versions": {"dvae_tutorial": __version__, **metrics.versions()},
        "exported": datetime.date.today().isoformat(),
    }
    if score:
        dataset = DSprites(image_size=recipe.image_size)
        protocol = dict(protocol or SCORE_PROTOCOL)
        meta["score_protocol"] = protocol
        meta["scores"] = protocol_scores(shipped, dataset, protocol=protocol)
        meta["elbo"] = {k: round(v, 4) for k, v in elbo_terms(shipped, dataset, protocol["elbo_images"],
                                                                protocol["seed"]).items()}
        meta["factors"] = factor_latent_summary(shipped, dataset, protocol)
    atomic_write_json(where / f"{file}.json", meta, indent=1)
    return meta


def pick_seed(mig_by_seed: dict) -> int:
    """``recipes.SHIPPING_RULE``: the seed with the highest MIG, the lowest such seed on a tie."""
    if not mig_by_seed:
        raise ValueError("no seeds to pick from")
    return min(mig_by_seed, key=lambda s: (-mig_by_seed[s], s))


def seed_summary(metas: dict, shipped: int) -> dict:
    """Every seed's training, ELBO terms and scores, their mean and sd (ddof = 1), and which seed ships."""
    from ..recipes import SHIPPING_RULE

    runs = [{"seed": s, "scores": m.get("scores", {}), "elbo": m.get("elbo", {}),
             "position_and_scale": best_shares(m["factors"]) if "factors" in m else None,
             "steps": m["training"]["steps"], "wall_time_s": m["training"]["wall_time_s"],
             "cpu": m["training"]["machine"].get("cpu"), "cores": m["training"]["machine"].get("cores"),
             "torch_threads": m["training"]["machine"].get("torch_threads"),
             "sha256": m["sha256"]} for s, m in sorted(metas.items())]
    values = {f"{group}.{k}": [r[group][k] for r in runs] for group in ("scores", "elbo") for k in runs[0][group]}
    mean = {k: round(float(np.mean(v)), 6) for k, v in values.items()}
    sd = {k: round(float(np.std(v, ddof=1)), 6) if len(v) > 1 else 0.0 for k, v in values.items()}
    return {"shipped": shipped, "rule": SHIPPING_RULE, "runs": runs, "mean": mean, "sd": sd}


def ship_seed(name: str, folder=None) -> dict:
    """Make the seed that ``recipes.SHIPPING_RULE`` picks among ``recipes.seeds(name)`` the shipped ``NAME.{pt,json}``.

    Every seed must have been exported (``export(name, run, seed=s)``) with the same score protocol; the shipped
    ``NAME.pt`` is a byte copy of ``seeds/NAME-seedS.pt``, and ``NAME.json`` is that seed's metadata plus
    ``"seeds"`` (``seed_summary``: every seed's scores, mean and sd, the rule).
    """
    from ..recipes import seeds as recipe_seeds

    folder = FOLDER if folder is None else Path(folder)
    wanted = recipe_seeds(name)
    missing = [s for s in wanted if s not in seeds(name, folder)]
    if missing:
        raise ValueError(f"{name}: seed(s) {', '.join(map(str, missing))} not exported to {folder / SEEDS_DIR} yet; "
                         f"train and export them with: python -m dvae_tutorial pretrained build {name}")
    metas = {}
    for s in wanted:
        verify(name, folder, s)
        metas[s] = info(name, folder, s)
    protocols = {str(sorted(m.get("score_protocol", {}).items())) for m in metas.values()}
    if len(protocols) > 1 or any("scores" not in m for m in metas.values()):
        raise ValueError(f"{name}: the seeds were not all scored with one protocol; re-export them with "
                         f"python -m dvae_tutorial pretrained export {name}")
    best = pick_seed({s: m["scores"]["mig"] for s, m in metas.items()})
    file, where = location(name, folder, best)
    source = where / f"{file}.pt"
    atomic_write(folder / f"{name}.pt", lambda tmp: shutil.copyfile(source, tmp))
    meta = dict(metas[best], name=name)
    meta["weights"] = dict(meta["weights"], file=f"{name}.pt")
    meta["seeds"] = seed_summary(metas, best)
    atomic_write_json(folder / f"{name}.json", meta, indent=1)
    return meta

