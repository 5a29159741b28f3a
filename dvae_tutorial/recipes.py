"""Named training recipes: the exact settings behind every shipped checkpoint and every run a lesson trains.

A recipe fixes everything a run depends on (method, hyper-parameters, net, data, optimisation,
seed), so one command reproduces it::

    python -m dvae_tutorial train --recipe factorvae --out build/pretrained/factorvae
    python -m dvae_tutorial pretrained build            # every shipped model (resumable)

Two families:

* ``MAIN`` -- the five models shipped in ``dvae_tutorial/pretrained/`` (``pretrained.load(name)``):
  the Burgess et al. 2018 conv net on the full procedural dSprites at 64x64, one per method.
* ``LESSON_RUNS`` -- every run a lesson trains: the small net on 32x32 dSprites (the course's five
  canonical runs, lesson 01's likelihoods, the sweeps behind the sliders).  A lesson asks for one
  by name, ``runs.recipe_run(name, fast=config.FAST)``, or for a sweep of them,
  ``runs.recipe_sweep(LESSON_SWEEPS key, fast)``; ``lesson(name, fast)`` derives the fast-mode
  variant (CI's short runs) in this one place, from ``FAST_VARIANT``.
  ``python -m dvae_tutorial pretrained lessons`` trains them all into the live-run cache before a class.

CPU budget.  The papers train 300k (Kim & Mnih 2018) or more steps; the 2-core CPU these were made
on trained the Burgess net at 400-700 images/s while two runs shared it (alone, with 2 threads,
``train.fit`` runs at 860-1,090 images/s), so the shipped recipes train 6,000 to
12,000 steps of 64 images (0.4M-0.8M images, about half to one pass over dSprites) with Adam at lr 1e-3
(Chen et al. 2018's rate; Burgess et al. use 5e-4) -- the rate that leaves the mean-image plateau soonest
in a short run.  The VAE and beta-TCVAE got 12,000 steps, FactorVAE 8,000 (each step costs 1.7 of
theirs), beta-VAE and the capacity model 6,000: the steps column of the results table says so.  The VAE and
beta-TCVAE are trained with three seeds each (``SEEDS``); the shipped one is picked by ``SHIPPING_RULE``.  The
beta-TCVAE at beta = 10 (``MORE['btcvae_beta10']``) was trained with the same three seeds and not shipped: README
tables it beside beta = 6 (same mean MIG, a tenth of the spread over seeds, a lower best seed).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Recipe:
    """Everything one training run depends on."""

    name: str
    method: str                       # a key of losses.OBJECTIVES
    hparams: dict = field(default_factory=dict)
    steps: int = 12_000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    image_size: int = 64
    architecture: str = "burgess"
    latent_dim: int = 10
    dataset: str = "dsprites"         # the full official factor grid, rendered procedurally
    holdout: float = 0.0              # papers train on every image and score on the whole grid
    why: str = ""                     # where the hyper-parameters come from

    def as_dict(self) -> dict:
        return asdict(self)

    def train_options(self) -> dict:
        """The CLI's ``train`` options this recipe sets (option dest -> value)."""
        return dict(method=self.method, steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=self.seed,
                    image_size=self.image_size, architecture=self.architecture, latent_dim=self.latent_dim,
                    dataset=self.dataset, holdout=self.holdout, **self.hparams)

    def live_run_kwargs(self) -> dict:
        """The arguments of ``runs.live_run`` that train this recipe (the lessons' runs)."""
        return dict(method=self.method, steps=self.steps, hparams=dict(self.hparams), seed=self.seed,
                    image_size=self.image_size, architecture=self.architecture, latent_dim=self.latent_dim,
                    batch_size=self.batch_size, lr=self.lr)


# FactorVAE's discriminator learns at the model's rate (Kim & Mnih 2018 train both at 1e-4; every run here trains
# the VAE at 1e-3).  A discriminator ten times slower than the encoder is exploited and the codes collapse to the
# prior (lesson 04 shows it); ``losses.FactorVAELoss`` keeps the paper's 1e-4 as its default.
FACTORVAE_DISC_LR = 1e-3


MAIN = {r.name: r for r in (
    Recipe("vae", "vae", why="Kingma & Welling 2014; the baseline every other model is compared with"),
    Recipe("betavae", "betavae", {"beta": 4.0}, steps=6000,
           why="Higgins et al. 2017 use beta = 4 on dSprites (normalised beta 0.0098 at 64x64, D = 10)"),
    Recipe("capacity", "capacity", {"gamma": 3.0, "c_max": 25.0, "c_steps": 5000}, steps=6000,
           why="Burgess et al. 2018: C from 0 to 25 nats; their gamma = 1000 over 100k steps stays on the "
               "mean-image plateau in a short run (lesson 03 shows it), so gamma = 3 and C rises over 5k steps"),
    Recipe("factorvae", "factorvae", {"gamma": 35.0, "disc_lr": FACTORVAE_DISC_LR}, steps=8000,
           why="Kim & Mnih 2018: gamma = 35 on dSprites, discriminator and VAE at the same learning rate "
               "(both 1e-4 there, both 1e-3 here; a discriminator 10x slower than the encoder is exploited "
               "and the codes collapse -- lesson 04)"),
    Recipe("btcvae", "btcvae", {"beta": 6.0},
           why="Chen et al. 2018: beta = 6, alpha = gamma = 1, minibatch stratified sampling"),
)}


# The shipped recipes trained with several seeds (Locatello et al. 2019: the seed moves the scores as much as the
# method does).  Every seed's weights ship in dvae_tutorial/pretrained/seeds/; the model ``pretrained.load(name)``
# gives is the seed SHIPPING_RULE picks, the same rule for every recipe, and the README table says which one.
SEEDS = {"vae": (0, 1, 2), "btcvae": (0, 1, 2)}
SHIPPING_RULE = "the seed with the highest MIG (ties: the lowest seed), for every model trained with several seeds"


def seeds(name: str) -> tuple[int, ...]:
    """The training seeds of the shipped recipe ``name`` (one, the recipe's own, unless ``SEEDS`` lists several)."""
    return SEEDS.get(name, (get(name).seed,))


# Not shipped (MAIN is what dvae_tutorial/pretrained holds): the other regularisers of q(z) with the same net and
# data, trainable with `train --recipe NAME`.
MORE = {r.name: r for r in (
    Recipe("btcvae_beta10", "btcvae", {"beta": 10.0},
           why="beta-TCVAE at the top of Locatello et al. 2019's beta grid {1, 2, 4, 6, 8, 10}; three seeds "
               "measured against the shipped beta = 6 (README: same mean MIG, a tenth of the spread), not shipped"),
    Recipe("dipvae_i", "dipvae_i", {"lambda_od": 10.0, "lambda_d": 100.0},
           why="Kumar et al. 2018: lambda_d = 10 lambda_od for DIP-VAE-I; Locatello et al. 2019 sweep lambda_od "
               "in {1, 2, 5, 10, 20, 50}"),
    Recipe("dipvae_ii", "dipvae_ii", {"lambda_od": 10.0, "lambda_d": 10.0},
           why="Kumar et al. 2018: lambda_d = lambda_od for DIP-VAE-II; lambda_od from Locatello et al.'s sweep"),
    Recipe("infovae", "infovae", {"alpha": 0.0, "lambda_mmd": 1000.0},
           why="Zhao et al. 2019's objective with the MMD; alpha = 0 keeps the VAE's KL, lambda = 1000 is this "
               "course's choice (the MMD^2 of a batch is a fraction of a nat)"),
)}


# The lessons' runs: the small net on 32x32 dSprites, batch 128, Adam 1e-3, seed 0, 3,000 steps (0.38M images,
# about half a pass over dSprites: 1.4 min for a VAE or beta-TCVAE on a 2-core AMD EPYC, 4,700 images/s).  Issue 15
# asks for every lesson <= 10 min and the course <= 45 min with an empty cache; at 6,000 steps the course trained
# about 100 min there.
LESSON_SETTINGS = dict(steps=3000, batch_size=128, image_size=32, architecture="small")


def _lesson_run(name: str, method: str, hparams: dict | None = None, why: str = "", **settings) -> Recipe:
    return Recipe(name, method, dict(hparams or {}), **{**LESSON_SETTINGS, **settings}, why=why)


def _lesson_sweep(method: str, name: str, values, fixed: dict | None = None) -> list[Recipe]:
    return [_lesson_run(f"{method}-{name}{v:g}-small32", method, {name: v, **(fixed or {})},
                        why="a lesson slider position") for v in values]


CAPACITY = {"gamma": 3, "c_steps": 2500}              # lesson 03: C rises from 0 over 2,500 of the 3,000 steps
# lesson 04: the discriminator learns at the model's rate.  Kim & Mnih's D has 6 hidden layers of 1000 units; the
# lessons' has 6 of 256: with 1000 a FactorVAE step cost 5.5 VAE steps on the 2-core CPU (850 vs 4,700 images/s),
# with 256 it costs 1.8 (2,630 images/s), and the three-run slider of lesson 04 fits in its 10 minutes.
LESSON_DISC_HIDDEN = 256
BTCVAE_MWS = {"beta": 10, "estimator": "mws"}   # lesson 05: beta-TCVAE penalising the MWS estimate of the TC
DIP_LAMBDAS = (10, 100)   # lesson 07's lambda_od slider, lambda_d = 10 (lambda_od = 1 trained like 10: dropped)
FACTORVAE = {"disc_lr": FACTORVAE_DISC_LR, "disc_hidden": LESSON_DISC_HIDDEN}

LESSON_RUNS = {r.name: r for r in (
    [_lesson_run("vae-small32", "vae", why="the course's VAE (lessons 01, 02, 05-08)"),
     _lesson_run("vae-gaussian-small32", "vae", {"distribution": "gaussian"}, why="lesson 01: likelihoods"),
     _lesson_run("vae-laplace-small32", "vae", {"distribution": "laplace"}, why="lesson 01: likelihoods")]
    + _lesson_sweep("betavae", "beta", (0.5,))                                            # lesson 01 (with 02's 2)
    + _lesson_sweep("betavae", "beta", (2, 4, 8, 16))                                     # lesson 02 (beta 1: the VAE)
    + _lesson_sweep("capacity", "c_max", (5, 10, 20), CAPACITY)                           # lesson 03
    + _lesson_sweep("capacity", "gamma", (10, 1000), {"c_max": 20, "c_steps": CAPACITY["c_steps"]})  # lesson 03 (3 above)
    + _lesson_sweep("factorvae", "gamma", (10, 40, 100), FACTORVAE)                       # lesson 04
    + _lesson_sweep("btcvae", "beta", (1, 6, 10))                                         # lesson 05
    # lesson 05, section 5: the other estimator of log q(z), minibatch weighted sampling (Chen et al. 2018, sec. 4.1)
    + [_lesson_run("btcvae-beta10-mws-small32", "btcvae", BTCVAE_MWS,
                   why="lesson 05: beta-TCVAE with the MWS estimator. benchmarks/bench_time_to_disentanglement.py: "
                       "ahead of the VAE on every seed tried with 2 threads (8 seeds, two CPUs); the seed study "
                       "(1 thread): 4 of 5, +0.108 +- 0.128 MIG")]
    + [_lesson_run("vae-small32-1500steps", "vae", steps=1500, why="lesson 05: MIG after fewer steps"),
       _lesson_run("btcvae-beta6-small32-1500steps", "btcvae", {"beta": 6}, steps=1500,
                   why="lesson 05: MIG after fewer steps"),
       _lesson_run("btcvae-beta10-mws-small32-1500steps", "btcvae", BTCVAE_MWS, steps=1500,
                   why="lesson 05: MIG after fewer steps"),
       _lesson_run("factorvae-gamma40-slowdisc-small32-1500steps", "factorvae", {"gamma": 40, "disc_lr": 1e-4,
                                                                                "disc_hidden": LESSON_DISC_HIDDEN},
                   steps=1500, why="lesson 04: the discriminator ten times slower than the model (Kim & Mnih's 1e-4)")]
    # lesson 07 sets these beside the course's vae-small32 and btcvae-beta6-small32 (the same net and steps)
    + [_lesson_run("dipvae_i-small32-3000steps", "dipvae_i", MORE["dipvae_i"].hparams, steps=3000, why="lesson 07"),
       _lesson_run("infovae-small32-3000steps", "infovae", MORE["infovae"].hparams, steps=3000, why="lesson 07")]
    + [_lesson_run(f"dipvae_ii-lambda_od{v:g}-small32-3000steps", "dipvae_ii", {"lambda_od": v, "lambda_d": 10.0},
                   steps=3000, why="lesson 07: the lambda_od slider") for v in DIP_LAMBDAS]
    # lesson 08, beyond the beta-family (its VAE is the course's vae-small32: the same net and budget)
    + [_lesson_run("infogan-small32", "infogan", {"lambda_cat": 1.0, "lambda_cont": 1.0}, steps=4000, batch_size=64,
                   latent_dim=4,
                   why="lesson 08. Chen et al. 2016: 1 categorical code (3 classes: dSprites' shapes) + continuous "
                       "codes (4: scale, rotation, x, y), lambda = 1 for both (losses.InfoGANLoss says why not the "
                       "paper's smaller continuous lambda); generator Adam 1e-3, D/Q 2e-4 as in the paper. Designed "
                       "for <= 10 min on a 2-core CPU (a step cost 0.066 s of CPU time on one thread, measured while "
                       "other jobs shared the CPU: 4.4 min)"),
       _lesson_run("vqvae-small32-3000steps", "vqvae", {"beta": 0.25, "codebook_size": 32}, steps=3000,
                   why="lesson 08. van den Oord et al. 2017: beta = 0.25; 10 discrete codes (one per latent of the "
                       "course's VAEs) of K = 32 entries, i.e. 10 * log2(32) = 50 bits per image. Measured here (CPU, "
                       "one seed): up to 1,800 steps the encoder's outputs stayed nearly constant across images "
                       "(index collapse, reconstruction at the mean-image plateau of ~141 nats), also with "
                       "beta = 0.05 over 600 steps; an open problem")]
)}

# the sliders: sweep name -> (the hyper-parameter it moves, {value: recipe name})
LESSON_SWEEPS = {
    # beta = 1 is the VAE's objective term for term (same loss, same logged terms, same seed): its position loads
    # the course's VAE instead of training the same run again under another name
    "betavae-beta-near1": ("beta", {0.5: "betavae-beta0.5-small32", 1: "vae-small32", 2: "betavae-beta2-small32"}),
    "betavae-beta": ("beta", {v: "vae-small32" if v == 1 else f"betavae-beta{v}-small32" for v in (1, 2, 4, 8, 16)}),
    "capacity-c_max": ("c_max", {v: f"capacity-c_max{v}-small32" for v in (5, 10, 20)}),
    "capacity-gamma": ("gamma", {3: "capacity-c_max20-small32", 10: "capacity-gamma10-small32",
                                 1000: "capacity-gamma1000-small32"}),
    "factorvae-gamma": ("gamma", {v: f"factorvae-gamma{v}-small32" for v in (10, 40, 100)}),
    "btcvae-beta": ("beta", {v: f"btcvae-beta{v}-small32" for v in (1, 6, 10)}),
    "dipvae_ii-lambda_od": ("lambda_od", {v: f"dipvae_ii-lambda_od{v:g}-small32-3000steps" for v in DIP_LAMBDAS}),
}


# the course's five canonical runs (lessons 01-05 train them, 05 and 06 compare them): label -> recipe name
COURSE_RUNS = {"VAE": "vae-small32", "beta-VAE (4)": "betavae-beta4-small32", "capacity": "capacity-c_max20-small32",
               "FactorVAE (10)": "factorvae-gamma10-small32", "beta-TCVAE (6)": "btcvae-beta6-small32"}

# Fast mode (CI runs every lesson in minutes): each full-mode value -> its fast-mode value.  Every lesson run
# has one (tests/test_recipes.py checks it); nothing else in a lesson run changes.
FAST_VARIANT = {"steps": {3000: 150, 4000: 40, 1500: 50}, "c_steps": {2500: 100}}


def lesson(name: str, fast: bool) -> Recipe:
    """The lesson run ``name`` (a key of ``LESSON_RUNS``) as trained in full mode, or its fast-mode variant."""
    try:
        recipe = LESSON_RUNS[name]
    except KeyError:
        raise KeyError(f"unknown lesson run {name!r}; known: {', '.join(LESSON_RUNS)}") from None
    if not fast:
        return recipe
    hparams = {k: FAST_VARIANT[k][v] if k in FAST_VARIANT else v for k, v in recipe.hparams.items()}
    return replace(recipe, steps=FAST_VARIANT["steps"][recipe.steps], hparams=hparams)


def prefix_steps(name: str, fast: bool) -> tuple[int, ...]:
    """The step counts of the other lesson runs that are the first steps of lesson run ``name``.

    A run of S steps is, step for step, the beginning of a longer run with every other setting equal
    (``train.fit``: the batches, the noise and the optimisers do not depend on the number of steps), so
    training ``name`` can keep its state at those step counts as the shorter runs (``runs.live_run``'s
    ``keep_prefixes``) instead of training them again.  E.g. ``prefix_steps("vae-small32", False) == (1500,)``:
    lesson 05's ``vae-small32-1500steps``.  ``fast``: compare the fast-mode variants (``lesson``).
    """
    recipe = lesson(name, fast)
    same = {k: v for k, v in recipe.as_dict().items() if k not in ("name", "steps", "why")}
    found = set()
    for other in LESSON_RUNS:
        shorter = lesson(other, fast)
        if shorter.steps < recipe.steps and all(getattr(shorter, k) == v for k, v in same.items()):
            found.add(shorter.steps)
    return tuple(sorted(found))


RECIPES = {**MAIN, **MORE, **LESSON_RUNS}


def get(name: str) -> Recipe:
    """The recipe called ``name``; a clear error listing the known names otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
