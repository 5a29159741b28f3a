"""Checks for lesson 02 (beta-VAE: the beta weight, rate and distortion, active latents, normalised beta)."""
from __future__ import annotations

import math

import numpy as np

from ._base import ExerciseError, exercise, scalar, terms_dict
from ._base import passed as _passed


@exercise(points=1)
def check_equivalent_beta(beta_32: float, beta_64: float = 4.0, latent_dim: int = 10) -> bool:
    """``beta_32``: the beta on 32x32 images with the same normalised beta (Higgins et al. 2017) as
    ``beta_64`` on 64x64 images, both with ``latent_dim`` latents."""
    from ..losses import beta_from_normalized, normalized_beta

    expected = beta_from_normalized(normalized_beta(beta_64, latent_dim, 64 * 64), latent_dim, 32 * 32)
    if not isinstance(beta_32, (int, float, np.number)):
        raise ExerciseError(f"give beta_32 as a number, got {type(beta_32).__name__}")
    if math.isclose(beta_32, expected, rel_tol=1e-6):
        return _passed(f"beta_norm = beta M / N is the same: {beta_64:g} * {latent_dim} / 4096 = "
                       f"{expected:g} * {latent_dim} / 1024 = {normalized_beta(beta_64, latent_dim, 4096):.4g}")
    if math.isclose(beta_32, beta_64 * 4, rel_tol=1e-6):
        hint = ("fewer pixels make the reconstruction sum smaller, so the KL needs a SMALLER weight to keep the "
                "same balance: divide by 4, do not multiply")
    elif math.isclose(beta_32, normalized_beta(beta_64, latent_dim, 64 * 64), rel_tol=1e-6):
        hint = "that is beta_norm itself; convert it back with N = 32 * 32 pixels: beta = beta_norm * N / M"
    elif math.isclose(beta_32, beta_64 / 2, rel_tol=1e-6):
        hint = "N counts pixels: 64 x 64 has four times as many as 32 x 32, not twice"
    else:
        hint = f"keep beta * M / N fixed: beta_32 = {beta_64:g} * (32 * 32) / (64 * 64)"
    raise ExerciseError(hint)


@exercise(points=1)
def check_active_latents(count_fn) -> bool:
    """``count_fn(kl_per_dim (D,), threshold) -> int``: the number of latents whose KL exceeds ``threshold``."""
    kl = np.array([0.0, 0.005, 0.02, 3.1, 0.4, 0.0099, 0.011, 1e-4, 7.2, 0.01])
    for threshold, expected in ((0.01, 5), (0.1, 3), (5.0, 1)):
        got = count_fn(kl.copy(), threshold)
        if isinstance(got, (np.ndarray, list, tuple)) and np.size(got) != 1:
            raise ExerciseError("count_fn must return one number, the count, not a mask or a list")
        if int(got) != expected:
            if int(got) == len(kl) - expected:
                hint = "you counted the collapsed latents (KL at or below the threshold); count those above it"
            elif threshold == 0.01 and int(got) == expected + 1:
                hint = "a KL exactly at the threshold (0.01) does not count as active: use >, not >="
            else:
                hint = f"with KL {kl.tolist()} and threshold {threshold}, {expected} latents are active; you gave {got}"
            raise ExerciseError(hint)
    return _passed("active latents: KL(q(z_j|x) || p(z_j)) > threshold")


@exercise(points=1)
def check_rate_distortion_direction(rate_falls: bool, distortion_rises: bool, sweep: dict) -> bool:
    """Predict how the rate (KL) and the distortion (reconstruction NLL) move from the smallest to the largest
    beta of ``sweep`` (value -> ``runs.LiveRun``); the check reads the trained runs."""
    for name, value in (("rate_falls", rate_falls), ("distortion_rises", distortion_rises)):
        if not isinstance(value, (bool, np.bool_)):
            raise ExerciseError(f"{name} must be True or False, got {value!r}")
    lo, hi = min(sweep), max(sweep)
    rate = {b: sweep[b].last["kl"] for b in (lo, hi)}
    distortion = {b: sweep[b].last["recon"] for b in (lo, hi)}
    truth_rate, truth_distortion = rate[hi] < rate[lo], distortion[hi] > distortion[lo]
    if bool(rate_falls) != truth_rate:
        raise ExerciseError(f"the trained runs say: KL {rate[lo]:.2f} nats at beta = {lo:g}, {rate[hi]:.2f} at beta = "
                            f"{hi:g}. A larger beta makes every nat of KL cost more")
    if bool(distortion_rises) != truth_distortion:
        raise ExerciseError(f"the trained runs say: recon {distortion[lo]:.1f} at beta = {lo:g}, {distortion[hi]:.1f} "
                            f"at beta = {hi:g}. Fewer nats in the code leave less to rebuild the image from")
    return _passed(f"from beta = {lo:g} to {hi:g}: rate {rate[lo]:.2f} -> {rate[hi]:.2f} nats, "
                   f"distortion {distortion[lo]:.1f} -> {distortion[hi]:.1f} nats")


# --- the real exercise: rate, distortion and active latents of a trained model ----------------------

@exercise(points=4, refuses=("dvae_tutorial.losses:kl_normal", "dvae_tutorial.losses:reconstruction_loss",
                              "dvae_tutorial.losses:Objective.elbo_terms", "dvae_tutorial.models:VAE.reconstruct"))
def check_rate_distortion(rd_fn, model, images, threshold: float = 0.01) -> bool:
    """``rd_fn(model, images, threshold) -> {"rate", "distortion", "active"}`` on ``images`` (n, 1, H, W):

    rate = sum_j mean_x KL(q(z_j|x) || N(0, 1)) (nats), distortion = Bernoulli NLL of the images decoded
    from the posterior mean, summed over pixels and averaged over the images (nats), active = the number
    of latents whose mean KL exceeds ``threshold``.  Compared with the package's formulas.
    """
    import torch

    from ..losses import kl_normal, reconstruction_loss

    with torch.no_grad():
        mu, logvar = model.encode(images)
        kl_per_dim = kl_normal(mu, logvar).mean(dim=0).double()
        rate = float(kl_per_dim.sum())
        distortion = float(reconstruction_loss(images, model.decode(mu), "bernoulli"))
        active = int((kl_per_dim > threshold).sum())
    got = terms_dict("rd_fn", rd_fn(model, images, threshold), ("rate", "distortion", "active"))
    got_rate, got_distortion = scalar("rate", got["rate"]), scalar("distortion", got["distortion"])
    n, d = len(images), mu.shape[1]
    if not math.isclose(got_rate, rate, rel_tol=1e-3, abs_tol=1e-3):
        if math.isclose(got_rate, rate / d, rel_tol=1e-3):
            hint = "the rate is the SUM of the latents' KLs (averaged over images), not their mean"
        elif math.isclose(got_rate, rate * n, rel_tol=1e-3):
            hint = "average the KL over the images (the rate of one image), do not sum over them"
        else:
            hint = "rate = sum over latents of the mean over images of (mu^2 + sigma^2 - 1 - log sigma^2) / 2"
        raise ExerciseError(f"rate should be {rate:.3f} nats, got {got_rate:.3f}. {hint}")
    if not math.isclose(got_distortion, distortion, rel_tol=1e-3, abs_tol=1e-3):
        if math.isclose(got_distortion, distortion / images[0].numel(), rel_tol=1e-3):
            hint = "sum the NLL over the pixels of an image (average over images only)"
        elif math.isclose(got_distortion, distortion * n, rel_tol=1e-3):
            hint = "average the NLL over the images, do not sum over them"
        else:
            hint = ("decode the posterior MEAN mu (no sampling) and take the Bernoulli NLL of the images under those "
                    "logits (binary_cross_entropy_with_logits, no sigmoid first)")
        raise ExerciseError(f"distortion should be {distortion:.3f} nats, got {got_distortion:.3f}. {hint}")
    got_active = got["active"]
    if int(scalar("active", got_active)) != active:
        per_image = int((kl_normal(mu, logvar).mean(dim=0) > threshold).sum())
        hint = ("count a latent as active when its KL AVERAGED over the images exceeds the threshold"
                if per_image == active else f"{active} latents have a mean KL above {threshold}")
        raise ExerciseError(f"active should be {active}, got {got_active}. {hint}")
    return _passed(f"rate {rate:.2f} nats, distortion {distortion:.1f} nats, {active} active latents")
