"""Named training recipes: the exact settings behind every shipped checkpoint and every lesson sweep.

A recipe fixes everything a run depends on (method, hyper-parameters, net, data, optimisation,
seed), so one command reproduces it::

    python -m dvae_tutorial train --recipe btcvae --out build/pretrained/btcvae
    python -m dvae_tutorial pretrained build            # every shipped model (resumable)

Two families:

* ``MAIN`` -- the five models shipped in ``dvae_tutorial/pretrained/`` (``pretrained.load(name)``):
  the Burgess et al. 2018 conv net on the full procedural dSprites at 64x64, one per method.
* ``SWEEPS`` -- the small-net runs on 32x32 dSprites behind the lessons' sliders (what
  ``runs.live_run`` trains, with the same settings); ``python -m dvae_tutorial pretrained lessons``
  trains them all into the live-run cache before a class.

CPU budget.  The papers train 300k (Kim & Mnih 2018) or more steps; the 2-core CPU these were made
on trained the Burgess net at 400-700 images/s while two runs shared it (alone, with 2 threads,
``train.fit`` runs at 860-1,090 images/s), so the shipped recipes train 6,000 to
12,000 steps of 64 images (0.4M-0.8M images, about half to one pass over dSprites) with Adam at lr 1e-3
(Chen et al. 2018's rate; Burgess et al. use 5e-4) -- the rate that leaves the mean-image plateau soonest
in a short run.  The VAE and beta-TCVAE got 12,000 steps, FactorVAE 8,000 (each step costs 1.7 of
theirs), beta-VAE and the capacity model 6,000: the steps column of the results table says so.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
        """The arguments of ``runs.live_run`` that train this recipe (for the lesson sweeps)."""
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


def _lesson_sweep(method: str, name: str, values, fixed: dict | None = None) -> list[Recipe]:
    small = dict(steps=6000, batch_size=128, image_size=32, architecture="small")
    return [Recipe(f"{method}-{name}{v:g}-small32", method, {name: v, **(fixed or {})}, **small,
                   why="a lesson slider position (runs.live_run)") for v in values]


# the settings must equal the notebooks' runs.sweep(...) calls in full mode
SWEEPS = {r.name: r for r in (
    _lesson_sweep("betavae", "beta", (1, 2, 4, 8, 16))                                       # lesson 02
    + _lesson_sweep("capacity", "c_max", (5, 10, 20), {"gamma": 3, "c_steps": 5000})           # lesson 03
    + _lesson_sweep("factorvae", "gamma", (10, 40, 100), {"disc_lr": FACTORVAE_DISC_LR})      # lesson 04
    + _lesson_sweep("btcvae", "beta", (1, 6, 10))                                              # lesson 05
)}

RECIPES = {**MAIN, **SWEEPS}


def get(name: str) -> Recipe:
    """The recipe called ``name``; a clear error listing the known names otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None


# Lesson 08 (beyond the beta-family): InfoGAN and VQ-VAE on 32x32 dSprites, the lesson's full-mode settings.
# Not shipped as pretrained models; `train --recipe infogan-small32 --out DIR` trains one.
LESSON08 = {r.name: r for r in (
    Recipe("infogan-small32", "infogan", {"lambda_cat": 1.0, "lambda_cont": 1.0}, steps=4000, batch_size=64,
           image_size=32, architecture="small", latent_dim=4,
           why="Chen et al. 2016: 1 categorical code (3 classes: dSprites' shapes) + continuous codes (4: scale, "
               "rotation, x, y), lambda = 1 for both (losses.InfoGANLoss says why not the paper's smaller continuous "
               "lambda); generator Adam 1e-3, D/Q 2e-4 as in the paper. Designed for <= 10 min on a 2-core CPU "
               "(a step cost 0.066 s of CPU time on one thread, measured while other jobs shared the CPU: 4.4 min)"),
    Recipe("vqvae-small32", "vqvae", {"beta": 0.25, "codebook_size": 32}, steps=3000,
           batch_size=128, image_size=32, architecture="small", latent_dim=10,
           why="van den Oord et al. 2017: beta = 0.25; 10 discrete codes (one per latent of the course's VAEs) "
               "of K = 32 entries, i.e. 10 * log2(32) = 50 bits per image. Measured here (CPU, one seed): up to 1,800 "
               "steps the encoder's outputs stayed nearly constant across images (index collapse, reconstruction "
               "at the mean-image plateau of ~141 nats), also with beta = 0.05 over 600 steps; an open problem"),
)}

RECIPES.update(LESSON08)
