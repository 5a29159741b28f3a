"""The results table of the shipped models (embedded in README.md) and their latent-traversal figures.

    python -m dvae_tutorial pretrained table      # rewrites README.md's table and docs/pretrained/*.png

Everything is read from the shipped ``NAME.json`` files (scores computed by ``pretrained.export``)
and the shipped weights; nothing is typed in by hand except the published numbers in ``PUBLISHED``,
each with its source.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from . import available, info, load
from .export import best_shares

TITLES = {"vae": "VAE", "betavae": "β-VAE (β = 4)", "capacity": "capacity-annealed β-VAE (C_max = 25)",
          "factorvae": "FactorVAE (γ = 35)", "btcvae": "β-TCVAE (β = 6)"}
README_START, README_END = "<!-- results-table:start -->", "<!-- results-table:end -->"

# Published dSprites numbers for the same methods: (metric, value, source).  Only numbers read in the
# cited paper go here, never numbers from memory; their protocols differ from ours.  Empty so far: the
# papers show these results mostly as plots over hyper-parameters and seeds, and no copy of their
# tables could be read where this table was made (see PUBLISHED_NOTE).
PUBLISHED: dict[str, list[tuple[str, str, str]]] = {}
PUBLISHED_NOTE = (
    "Published numbers: the last column stays empty until someone transcribes them from the papers with table "
    "numbers. Chen et al. 2018 (MIG), Kim & Mnih 2018 (FactorVAE score, reconstruction) and Locatello et al. "
    "2019 (every metric, 50 seeds per setting) report these methods on dSprites mostly as plots over "
    "hyper-parameters and seeds, with other protocols (Chen et al.'s MIG uses the full grid and the posterior, "
    "lesson 06), longer training (Kim & Mnih: 300k steps; ours: 6k-12k) and a spread over seeds as wide as the gaps "
    "between methods (Locatello et al.). This project prints no number it could not read in a source.")


def _fmt(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# the table's score columns: (group in NAME.json, key, digits)
COLUMNS = (("elbo", "recon", 1), ("elbo", "kl", 1), ("scores", "mig", 2), ("scores", "factor_vae", 2),
           ("scores", "beta_vae", 2), ("scores", "sap", 3), ("scores", "dci_disentanglement", 2))


def _mean_sd(seeds: dict, group: str, key: str, digits: int) -> str:
    mean, sd = seeds["mean"].get(f"{group}.{key}"), seeds["sd"].get(f"{group}.{key}")
    return "–" if mean is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


# the last column: how much of x, y and scale its best latent holds (export.best_shares)
SHARES_HEADER = "share of x / y / scale in its best latent"


def _shares(found: dict | None) -> str:
    """``export.best_shares`` as "0.65 / 0.65 / 0.68", marked when two of the factors share their best latent."""
    if not found:
        return "–"
    text = " / ".join(f"{v:.2f}" for v in found["best_share"].values())
    return text if found["distinct"] else text + " (one latent for two)"


def _seeds_cells(seeds: dict) -> tuple[list[str], str]:
    """The score cells (mean ± sd over seeds) and the mean best-latent shares of a ``seed_summary``."""
    runs = [r["position_and_scale"] for r in seeds["runs"] if r.get("position_and_scale")]
    shares = "–" if not runs else " / ".join(
        f"{np.mean([r['best_share'][f] for r in runs]):.2f}" for f in runs[0]["best_share"]) + " (mean)"
    return [_mean_sd(seeds, g, k, d) for g, k, d in COLUMNS], shares


def _seed_row(title: str, run: dict) -> str:
    """One seed of a ``seed_summary`` as a table row: title, seed, machine, wall time, scores, separation."""
    cells = [_fmt(run[g].get(k), d) for g, k, d in COLUMNS]
    return (f"| {title} | {run['seed']} | {run['cpu']} ({run['torch_threads']}) | {run['wall_time_s'] / 60:.0f} min | "
            + " | ".join(cells) + f" | {_shares(run.get('position_and_scale'))} |")


def results_table(names=None, folder=None) -> str:
    """A markdown table: every shipped model's training, ELBO terms and scores, and the published numbers.

    A model trained with several seeds (``recipes.SEEDS``) gets the mean ± sd over its seeds (ddof = 1) in every
    score column; ``seed_table`` lists the seeds one by one and marks the shipped one.
    """
    names = list(names or available(folder))
    rows = ["| model | seeds | steps (images) | wall time | recon (nats) | KL (nats) | MIG | FactorVAE score | "
            f"BetaVAE score | SAP | DCI dis. | {SHARES_HEADER} | published on dSprites |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        meta = info(name, folder)
        t, seeds = meta["training"], meta.get("seeds")
        published = "; ".join(f"{m} {v} ({src})" for m, v, src in PUBLISHED.get(name, [])) or "–"
        if seeds:
            runs = seeds["runs"]
            minutes = sorted(r["wall_time_s"] / 60 for r in runs)
            cells, separate = _seeds_cells(seeds)
            wall = f"{minutes[0]:.0f}–{minutes[-1]:.0f} min"
            count = f"{len(runs)} (mean ± sd)"
        else:
            cells = [_fmt(meta.get(g, {}).get(k), d) for g, k, d in COLUMNS]
            wall, count = f"{t['wall_time_s'] / 60:.0f} min", "1"
            separate = _shares(best_shares(meta["factors"]) if "factors" in meta else None)
        rows.append(f"| {TITLES.get(name, name)} (`{name}`) | {count} | {t['steps']:,} ({t['images_seen'] / 1e6:.2f}M) "
                    f"| {wall} | " + " | ".join(cells) + f" | {separate} | {published} |")
    return "\n".join(rows)


def seed_table(names=None, folder=None) -> str:
    """A markdown table: one row per training seed of every model trained with several, the shipped one marked."""
    names = [n for n in (names or available(folder)) if info(n, folder).get("seeds")]
    if not names:
        return ""
    rows = ["| model | seed | trained on (torch threads) | wall time | recon (nats) | KL (nats) | MIG | FactorVAE score | "
            f"BetaVAE score | SAP | DCI dis. | {SHARES_HEADER} | shipped |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        seeds = info(name, folder)["seeds"]
        for r in seeds["runs"]:
            shipped = "**shipped** (highest MIG)" if r["seed"] == seeds["shipped"] else ""
            rows.append(_seed_row(TITLES.get(name, name), r) + f" {shipped} |")
    return "\n".join(rows)


# Recipes measured over seeds and not shipped: docs/pretrained/alternatives/RECIPE/NAME-seedS.json, the metadata
# `pretrained.export(..., seed=s)` wrote for each seed (scores, ELBO terms, training), without the weights.
ALTERNATIVES = Path(__file__).resolve().parents[2] / "docs" / "pretrained" / "alternatives"


ALTERNATIVE_RECIPES = {"btcvae_beta10": "btcvae"}     # measured alternative -> the shipped recipe it is set beside


def alternative_lead(recipe_name: str, shipped_name: str) -> str:
    """The sentence above ``alternative_table``: what was measured, with which command, and how its best seed
    compares with the shipped one under the shipping rule."""
    from ..recipes import get

    best = max(r["scores"]["mig"] for r in _alternative_summary(recipe_name)["runs"])
    shipped = info(shipped_name)["scores"]["mig"]
    verdict = (f"its best seed's MIG ({best:.2f}) is below the shipped seed's ({shipped:.2f}), so by the shipping "
               f"rule `{shipped_name}` stays as it is" if best < shipped else
               f"its best seed's MIG ({best:.2f}) is at or above the shipped seed's ({shipped:.2f})")
    return (f"Measured, not shipped: the recipe `{recipe_name}` ({get(recipe_name).why.split(';')[0]}), trained with "
            f"the same seeds, net, data and steps as `{shipped_name}` (`train --recipe {recipe_name} --seed S`); "
            f"its seeds' metadata, without weights, is in `docs/pretrained/alternatives/{recipe_name}/`; {verdict}.")


def _alternative_summary(recipe_name: str, folder=None) -> dict:
    """``export.seed_summary`` of the seeds in ``ALTERNATIVES/recipe_name`` (or ``folder``), checked against the recipe."""
    import json

    from ..recipes import get
    from .export import seed_summary

    where = Path(folder) if folder else ALTERNATIVES / recipe_name
    metas = {m["recipe"]["seed"]: m for m in (json.loads(p.read_text()) for p in sorted(where.glob("*.json")))}
    if not metas:
        raise FileNotFoundError(f"no seed metadata (*.json) in {where}; export the runs of recipe {recipe_name!r} "
                                f"there with pretrained.export(..., folder=..., seed=s)")
    if any(m["recipe"]["hparams"] != get(recipe_name).hparams for m in metas.values()):
        raise ValueError(f"{where} holds runs of other hyper-parameters than the recipe {recipe_name!r}")
    return seed_summary(metas, shipped=-1)


def alternative_table(recipe_name: str, shipped_name: str, folder=None) -> str:
    """A markdown table: the shipped recipe's mean ± sd over seeds beside a measured alternative's, then every
    seed of the alternative (``ALTERNATIVES/recipe_name/*.json``)."""
    from ..recipes import get

    recipe = get(recipe_name)
    alternative = _alternative_summary(recipe_name, folder)
    title = TITLES[shipped_name].split(" (")[0] + " (" + ", ".join(
        f"{'β' if k == 'beta' else k} = {v:g}" for k, v in recipe.hparams.items()) + ")"
    rows = ["| recipe | seed | trained on (torch threads) | wall time | recon (nats) | KL (nats) | MIG | "
            f"FactorVAE score | BetaVAE score | SAP | DCI dis. | {SHARES_HEADER} |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name_, seeds_ in ((f"{TITLES[shipped_name]}, `{shipped_name}` (shipped)", info(shipped_name)["seeds"]),
                          (title + f", `{recipe_name}`", alternative)):
        cells, separate = _seeds_cells(seeds_)
        rows.append(f"| {name_} | mean ± sd of {len(seeds_['runs'])} | | | " + " | ".join(cells) + f" | {separate} |")
    rows += [_seed_row(title, r) for r in alternative["runs"]]
    return "\n".join(rows)


def seed_note(names=None, folder=None) -> str:
    """One paragraph: which models have several seeds, the rule that picked the shipped one, what that implies."""
    names = [n for n in (names or available(folder)) if info(n, folder).get("seeds")]
    if not names:
        return ""
    rule = info(names[0], folder)["seeds"]["rule"]
    which = " and ".join(f"{TITLES.get(n, n)} ({len(info(n, folder)['seeds']['runs'])} seeds)" for n in names)
    return (f"Seeds: the {which} were trained with several seeds of one recipe; the first table gives their mean ± sd "
            f"(ddof = 1), the one above every seed. The model `pretrained.load(name)` gives is {rule}; every seed's "
            f"weights ship too (`pretrained.load(name, seed=s)`). So each shipped model of these is the best of its "
            f"seeds by MIG, picked by the same rule for the VAE as for the β-TCVAE; what a new seed of the recipe "
            f"gives is the mean ± sd. The other models are one seed each (seed 0).")


def protocol_note(names=None, folder=None) -> str:
    """One paragraph: how the numbers of the table were computed (read from the shipped metadata)."""
    names = list(names or available(folder))
    if not names:
        return ""
    meta = info(names[0], folder)
    p, v = meta.get("score_protocol", {}), meta.get("versions", {})
    cpus = []                     # every machine a shipped model or one of its seeds was trained on
    for name in names:
        m = info(name, folder)
        machine = m["training"]["machine"]
        found = [f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores)" if isinstance(machine, dict)
                 else str(machine)]
        found += [f"{r['cpu']} ({r.get('cores', '?')} cores)" for r in m.get("seeds", {}).get("runs", [])]
        for c in found:
            if c not in cpus:
                cpus.append(c)
    cpu = " and ".join(cpus)
    return (f"Scores of the mean codes with `dvae_tutorial.metrics` (disentanglement_lib's estimators): MIG on "
            f"{p.get('codes', '?'):,} codes (20 bins), SAP on {p.get('codes', '?'):,} / {p.get('codes_test', '?'):,}, "
            f"DCI on {p.get('dci_codes', '?'):,} / {p.get('dci_codes_test', '?'):,}, the BetaVAE and FactorVAE "
            f"scores on {p.get('intervention_train', '?'):,} training and {p.get('intervention_eval', '?'):,} "
            f"evaluation points (the reference uses 10,000 / 5,000), seed {p.get('seed', '?')}; reconstruction "
            f"(Bernoulli NLL summed over pixels) and KL on {p.get('elbo_images', '?'):,} images, in nats. "
            f"The last column gives, for each of x, y and scale, the share of its entropy that its best latent "
            f"holds, I(v_k; z_j)/H(v_k) on the MIG's codes and bins (a latent that determined the factor would "
            f"hold 1; the 20 bins keep a 32-valued factor below that), marked where two of them share one latent: "
            f"distinct best latents alone would not tell a code that mixes x and y across latents from one that "
            f"separates them. "
            f"Trained on {cpu}; "
            f"versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")


def traversal_figure(name: str, folder=None, n_steps: int = 9, dataset=None):
    """Latent traversals of the shipped model ``name`` around a centred heart, rows sorted by KL.

    ``dataset``: the model's ``data.DSprites`` (default: loaded here; pass it when drawing several models).
    """
    import numpy as np

    from .. import plots
    from ..data import DSprites

    meta = info(name, folder)
    model = load(name, folder=folder)
    ds = dataset if dataset is not None else DSprites(image_size=meta["recipe"]["image_size"])
    x0 = ds.sample_observations_from_factors(np.array([[2, 3, 0, 16, 16]]))   # heart, scale 0.8, centred
    fig = plots.latent_traversal(model, x0, kl_per_dim=meta["history"]["kl_per_dim_final"], n_steps=n_steps)
    fig.suptitle(f"{TITLES.get(name, name)}: each row one latent from {-plots.TRAVERSAL_LIMIT:g} to "
                 f"{plots.TRAVERSAL_LIMIT:g} (sorted by KL)", fontsize=9)
    return fig


def write_figures(out_dir="docs/pretrained", names=None, folder=None) -> list[Path]:
    """Save ``traversals_NAME.png`` for every shipped model; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..data import DSprites

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, datasets = [], {}           # one data set per image size, shared by the models
    for name in names or available(folder):
        size = info(name, folder)["recipe"]["image_size"]
        if size not in datasets:
            datasets[size] = DSprites(image_size=size)
        fig = traversal_figure(name, folder, dataset=datasets[size])
        path = out_dir / f"traversals_{name}.png"
        fig.savefig(path, dpi=72, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def replace_between_markers(path, start: str, end: str, paragraphs, what: str = "the table") -> str:
    """Rewrite the text between the lines ``start`` and ``end`` of the file at ``path`` with ``paragraphs``
    (strings joined by blank lines); the markers stay.  Returns the new block, markers included."""
    path = Path(path)
    text = path.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{path} has no {start} ... {end} markers to put {what} between")
    block = "\n\n".join([start, *paragraphs, end])
    path.write_text(re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S))
    return block


def update_readme(readme="README.md", names=None, folder=None, figures_dir="docs/pretrained") -> str:
    """Replace the text between README's results-table markers with a freshly generated table."""
    names = list(names or available(folder))
    figures = " ".join(f"[{n}]({figures_dir}/traversals_{n}.png)" for n in names)
    blocks = [results_table(names, folder), seed_table(names, folder), seed_note(names, folder)]
    for recipe_name, shipped_name in ALTERNATIVE_RECIPES.items():
        if shipped_name in names and folder is None:
            blocks += [alternative_lead(recipe_name, shipped_name), alternative_table(recipe_name, shipped_name)]
    blocks += [protocol_note(names, folder), PUBLISHED_NOTE, f"Latent traversals: {figures}."]
    return replace_between_markers(readme, README_START, README_END, [b for b in blocks if b])
