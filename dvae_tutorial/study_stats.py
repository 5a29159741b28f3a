"""Reading the seed study (``study.load()`` rows): spreads, ranks by seed, setting vs seed, agreement of metrics.

Every function takes the study's rows (dicts with at least ``recipe``, ``seed`` and the metric's key) and
returns plain numbers, so that lesson 06 can print and plot them and the lessons can quote a range:

* ``expected(rows, recipe, metric)``: the spread of one recipe's score over its seeds, with the band a new
  run's score should fall in (``ExpectedRange.check``);
* ``seed_ranks`` / ``winners``: how the ranking of recipes changes from one seed to the next;
* ``variance_split``: how much of a metric's variance the setting explains (eta squared of a one-way
  analysis of variance, recipes as groups) and how much is left to the seed;
* ``metric_correlation``: Spearman's rank correlation between metrics over all runs (do MIG and the
  FactorVAE score agree?).
"""
from __future__ import annotations

import dataclasses

import numpy as np

METRIC_BOUNDS = {"mig": (0.0, 1.0), "sap": (0.0, 1.0), "factor_vae": (0.0, 1.0), "beta_vae": (0.0, 1.0),
                 "dci_disentanglement": (0.0, 1.0), "dci_completeness": (0.0, 1.0),
                 "dci_informativeness_train": (0.0, 1.0), "dci_informativeness_test": (0.0, 1.0)}


# The least half-width of a band for a score in [0, 1]. The same model's MIG moves by about 0.01 from one sample
# of 10,000 codes to another, and one recipe and seed trained on two CPUs, with 1 or 2 threads, or with float32 or
# bfloat16 convolutions, ends at scores that differ by a few hundredths where nothing is learnt (lesson 04's
# FactorVAE at gamma = 100: 0.003-0.020 over the study's seeds, 0.038 with bfloat16 convolutions) and by more
# where something is.
SCORE_FLOOR = 0.05


def values(rows, recipe: str, metric: str) -> np.ndarray:
    """The scores ``metric`` of ``recipe``'s runs, ordered by seed: shape ``(n_seeds,)``."""
    runs = sorted((r for r in rows if r["recipe"] == recipe and r.get(metric) is not None), key=lambda r: r["seed"])
    return np.array([r[metric] for r in runs], dtype=float)


@dataclasses.dataclass(frozen=True)
class ExpectedRange:
    """One recipe's score over its seeds: ``n`` seeds, ``mean`` and ``sd`` (ddof = 1), ``low`` / ``high`` the
    smallest and largest, and ``band`` = (low - w, high + w) within the metric's bounds, w = max(2 sd, 10% of
    |mean|, and for a score in [0, 1] ``SCORE_FLOOR``) (the floors keep a nearly constant quantity, such as a KL
    held at its target C or the MIG of a model whose latents all collapsed, from a band narrower than the
    differences between CPUs): where a run of the same recipe with another seed is expected to land."""

    recipe: str
    metric: str
    n: int
    mean: float
    sd: float
    low: float
    high: float
    band: tuple

    def __str__(self) -> str:
        return (f"{self.low:.3f}-{self.high:.3f} over {self.n} seeds (mean {self.mean:.3f} ± {self.sd:.3f}; "
                f"expected in {self.band[0]:.3f}-{self.band[1]:.3f})")

    def span(self, fmt: str = ".3f") -> str:
        """``"low-high (mean ± sd, n seeds)"`` with the numbers in ``fmt``: for a column next to a lesson's number."""
        return (f"{self.low:{fmt}}-{self.high:{fmt}} ({self.mean:{fmt}} ± {self.sd:{fmt}}, {self.n} seeds)")

    def check(self, value: float, what: str = "") -> None:
        """Raise ``AssertionError`` saying what to look at when ``value`` lies outside ``band``."""
        lo, hi = self.band
        if not lo <= value <= hi:
            raise AssertionError(
                f"{what or self.recipe} {self.metric} = {value:.3f} lies outside {lo:.3f}-{hi:.3f}, the band around "
                f"the seed study's {self.n} runs of {self.recipe} ({self.low:.3f}-{self.high:.3f}). A run this far "
                f"from every seed usually trained with other settings (a changed recipe or step count), stopped "
                f"early, or diverged: compare its settings with recipes.LESSON_RUNS[{self.recipe!r}] and its loss "
                f"curve with the lesson's figure")


def expected(rows, recipe: str, metric: str) -> ExpectedRange:
    """``ExpectedRange`` of ``metric`` for ``recipe`` from the study's ``rows`` (needs at least 2 seeds)."""
    v = values(rows, recipe, metric)
    if len(v) < 2:
        known = sorted({r["recipe"] for r in rows})
        raise ValueError(f"the seed study holds {len(v)} run(s) of {recipe!r} with {metric!r}; a range needs two "
                         f"or more (recipes in it: {', '.join(known) or 'none'}; rebuild it with "
                         f"`python -m dvae_tutorial pretrained study {recipe}`)")
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    bounds = METRIC_BOUNDS.get(metric, (-np.inf, np.inf))
    widen = max(2 * sd, 0.1 * abs(mean), SCORE_FLOOR if metric in METRIC_BOUNDS else 0.0)
    band = (max(bounds[0], float(v.min()) - widen), min(bounds[1], float(v.max()) + widen))
    return ExpectedRange(recipe, metric, len(v), mean, sd, float(v.min()), float(v.max()), band)


def common_seeds(rows, recipes) -> list[int]:
    """The seeds that every one of ``recipes`` has a run for, sorted."""
    seeds = None
    for recipe in recipes:
        have = {int(r["seed"]) for r in rows if r["recipe"] == recipe}
        seeds = have if seeds is None else seeds & have
    return sorted(seeds or ())


def seed_ranks(rows, metric: str, recipes=None):
    """Rank the recipes within each seed by ``metric`` (1 = highest score).

    Returns ``(recipes, seeds, ranks)``: ``ranks[i, j]`` is recipe ``j``'s rank among ``recipes`` in seed
    ``seeds[i]``; shape ``(n_seeds, n_recipes)``. Only the seeds that every recipe has are used; ties share
    the lower rank's order of appearance.
    """
    recipes = list(dict.fromkeys(r["recipe"] for r in rows)) if recipes is None else list(recipes)
    seeds = common_seeds(rows, recipes)
    score = {(r["recipe"], int(r["seed"])): r[metric] for r in rows}
    table = np.array([[score[(name, s)] for name in recipes] for s in seeds], dtype=float).reshape(len(seeds), len(recipes))
    order = np.argsort(-table, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, len(recipes) + 1)[None, :].repeat(len(seeds), 0), axis=1)
    return recipes, seeds, ranks


def winners(rows, metric: str, recipes=None) -> dict:
    """``{seed: recipe}``: the recipe with the highest ``metric`` in each seed (over the common seeds)."""
    recipes, seeds, ranks = seed_ranks(rows, metric, recipes)
    return {s: recipes[int(np.argmin(ranks[i]))] for i, s in enumerate(seeds)}


def variance_split(rows, metric: str, recipes=None) -> dict:
    """One-way analysis of variance of ``metric`` with the recipes as groups.

    ``between`` = sum over recipes of n_r (mean_r - grand mean)^2 (what the setting explains), ``within`` =
    sum of squared deviations from each recipe's own mean (what the seed leaves), ``total`` = their sum,
    ``explained`` = between / total (eta squared, in [0, 1]). Returns those and ``groups`` / ``n``.
    """
    recipes = list(dict.fromkeys(r["recipe"] for r in rows)) if recipes is None else list(recipes)
    groups = [values(rows, name, metric) for name in recipes]
    groups = [g for g in groups if len(g)]
    if len(groups) < 2:
        raise ValueError(f"a variance split needs runs of two or more recipes with {metric!r}, got {len(groups)}")
    allv = np.concatenate(groups)
    grand = allv.mean()
    between = float(sum(len(g) * (g.mean() - grand) ** 2 for g in groups))
    within = float(sum(((g - g.mean()) ** 2).sum() for g in groups))
    total = between + within
    return {"groups": len(groups), "n": int(len(allv)), "between": between, "within": within, "total": total,
            "explained": between / total if total > 0 else float("nan")}


def metric_correlation(rows, metrics) -> np.ndarray:
    """Spearman's rank correlation between ``metrics`` over every run that has all of them: ``(m, m)``."""
    from scipy.stats import spearmanr

    metrics = list(metrics)
    table = np.array([[r[m] for m in metrics] for r in rows if all(r.get(m) is not None for m in metrics)], dtype=float)
    if len(table) < 3:
        raise ValueError(f"a rank correlation needs three or more runs with {metrics}, got {len(table)}")
    rho = np.asarray(spearmanr(table).statistic, dtype=float)     # a scalar for two metrics
    return np.array([[1.0, float(rho)], [float(rho), 1.0]]) if rho.ndim == 0 else rho
