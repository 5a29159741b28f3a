"""Turn a finished training run into a shipped model: float16 weights, history summary, scores, sha256.

    python -m dvae_tutorial pretrained build btcvae     # train (resumable) + export
    python -m dvae_tutorial pretrained export btcvae build/pretrained/btcvae

The scores follow ``SCORE_PROTOCOL`` and are computed from the float16 weights as shipped (loaded
back through ``pretrained.load``), so ``tests/test_pretrained.py`` can recompute them and compare.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write_json, load_checkpoint, machine, model_from_checkpoint, sha256
from . import FOLDER, read_weights, save_weights

# How the shipped scores are computed (disentanglement_lib's estimators; sample sizes reduced where
# the reference sizes would take several CPU minutes per model -- the table says so).
SCORE_PROTOCOL = dict(
    seed=0,
    codes=10_000,          # MIG (20 bins), SAP (one-dimensional LinearSVC): train codes
    codes_test=5_000,      # SAP test codes
    dci_codes=2_000,       # DCI's gradient-boosted trees: train codes (reference: 10,000)
    dci_codes_test=1_000,  # DCI test codes (reference: 5,000)
    intervention_train=2_000,   # BetaVAE / FactorVAE scores: training votes / pairs (reference: 10,000)
    intervention_eval=1_000,    # evaluation votes / pairs (reference: 5,000)
    elbo_images=10_000,    # reconstruction and KL in nats
)
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


@torch.no_grad()
def elbo_terms(model, dataset, n: int, seed: int) -> dict:
    """Mean reconstruction NLL and KL(q(z|x) || p(z)) in nats over ``n`` images drawn uniformly (one z each)."""
    from ..losses import kl_normal, reconstruction_loss

    rng = np.random.default_rng(seed)
    noise = torch.Generator().manual_seed(seed)
    recon, kl, count = 0.0, 0.0, 0
    for start in range(0, n, 500):
        m = min(500, n - start)
        x = dataset.sample_observations_from_factors(dataset.sample_factors(m, rng), rng)
        out = model(x, sample=True, generator=noise)
        recon += float(reconstruction_loss(x, out.logits)) * m
        kl += float(kl_normal(out.mu, out.logvar).sum(1).mean()) * m
        count += m
    return {"recon": recon / count, "kl": kl / count}


def compute_scores(model, dataset, which=("mig", "sap", "dci", "beta_vae", "factor_vae"),
                   protocol: dict | None = None) -> dict:
    """The scores of ``model`` on ``dataset`` under ``protocol`` (default ``SCORE_PROTOCOL``; floats, 6 digits)."""
    from ..evaluation import score

    p, out = protocol or SCORE_PROTOCOL, {}
    fast = [m for m in which if m in ("mig", "sap")]
    if fast:
        out.update(score(model, dataset, which=fast, n=p["codes"], n_test=p["codes_test"], seed=p["seed"]))
    if "dci" in which:
        out.update(score(model, dataset, which=("dci",), n=p["dci_codes"], n_test=p["dci_codes_test"],
                         seed=p["seed"]))
    interventions = [m for m in which if m in ("beta_vae", "factor_vae")]
    if interventions:
        out.update(score(model, dataset, which=interventions, seed=p["seed"], n_train=p["intervention_train"],
                         n_eval=p["intervention_eval"]))
    return {k: round(float(v), 6) for k, v in out.items()}


def factor_latent_summary(model, dataset, protocol: dict | None = None) -> dict:
    """The normalised MI matrix I(v_k; z_j) / H(v_k) ``(n_factors, latent_dim)`` and each factor's best latent."""
    from .. import metrics
    from ..evaluation import sample_codes

    protocol = protocol or SCORE_PROTOCOL
    factors, codes = sample_codes(model, dataset, protocol["codes"], protocol["seed"])
    share = metrics.mutual_info_matrix(codes, factors) / metrics.factor_entropies(factors)[:, None]
    best = share.argmax(axis=1)
    return {"factor_names": list(dataset.factor_names),
            "mi_share": np.round(share, 4).tolist(),
            "best_latent": {f: int(j) for f, j in zip(dataset.factor_names, best)},
            "best_share": {f: round(float(share[k, best[k]]), 4) for k, f in enumerate(dataset.factor_names)}}


def separates(summary: dict, factors=("pos_x", "pos_y", "scale")) -> bool:
    """True when each of ``factors`` is captured best by a different latent."""
    latents = [summary["best_latent"][f] for f in factors]
    return len(set(latents)) == len(latents)


def export(name: str, run_dir, folder=None, score: bool = True) -> dict:
    """Ship the run in ``run_dir`` (a ``train --recipe NAME --out run_dir`` folder) as ``folder/NAME.{pt,json}``."""
    from .. import __version__, metrics
    from ..data import DSprites
    from ..recipes import get

    recipe = get(name)
    folder = FOLDER if folder is None else Path(folder)
    checkpoint = load_checkpoint(run_dir)
    cfg = checkpoint["config"]
    if checkpoint["step"] < recipe.steps:
        raise ValueError(f"{run_dir} holds {checkpoint['step']} of the recipe's {recipe.steps} steps; finish it "
                         f"first: python -m dvae_tutorial train --recipe {name} --out {run_dir} --resume")
    if cfg["method"] != recipe.method or cfg["batch_size"] != recipe.batch_size or cfg["lr"] != recipe.lr:
        raise ValueError(f"{run_dir} was not trained with the recipe {name!r} (method {cfg['method']}, "
                         f"batch {cfg['batch_size']}, lr {cfg['lr']})")
    model = model_from_checkpoint(checkpoint)
    path = save_weights(model, name, folder)
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
        meta["score_protocol"] = dict(SCORE_PROTOCOL)
        meta["scores"] = compute_scores(shipped, dataset)
        meta["elbo"] = {k: round(v, 4) for k, v in elbo_terms(shipped, dataset, SCORE_PROTOCOL["elbo_images"],
                                                                SCORE_PROTOCOL["seed"]).items()}
        meta["factors"] = factor_latent_summary(shipped, dataset)
        meta["factors"]["separates_pos_x_pos_y_scale"] = separates(meta["factors"])
    atomic_write_json(folder / f"{name}.json", meta, indent=1)
    return meta

