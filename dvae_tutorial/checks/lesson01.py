"""Checks for lesson 01 (the VAE: ELBO, reparameterisation, reconstruction likelihoods)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._base import ExerciseError, binary_batch, exercise, scalar, small_vae, terms_dict
from ._base import passed as _passed


def _random_posterior(seed: int = 0, batch: int = 64, dim: int = 10):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, dim, generator=g) * 1.5
    logvar = torch.randn(batch, dim, generator=g) * 1.2
    return mu, logvar


def _as_tensor(name, value, shape) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{name} must return a torch.Tensor, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        raise ExerciseError(f"{name} must return one value per sample and latent, shape {tuple(shape)}; "
                            f"got {tuple(value.shape)} (do not sum or average here)")
    return value.detach().double()


@exercise(points=1, refuses=("dvae_tutorial.losses:kl_normal",))
def check_kl_normal(kl_fn) -> bool:
    """``kl_fn(mu, logvar) -> (B, D)``: KL(N(mu, exp(logvar)) || N(0, 1)) per sample and latent."""
    from ..losses import kl_normal

    mu, logvar = _random_posterior()
    got = _as_tensor("kl_fn", kl_fn(mu, logvar), mu.shape)
    expected = kl_normal(mu, logvar).double()
    if torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
        return _passed("KL_j = (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2) / 2")
    var = logvar.exp().double()
    mu, logvar = mu.double(), logvar.double()
    if torch.allclose(got, 2 * expected, rtol=1e-4, atol=1e-5):
        hint = "your KL is twice the right one: the closed form has a factor 1/2"
    elif torch.allclose(got, -expected, rtol=1e-4, atol=1e-5):
        hint = "your KL has the wrong sign: a KL divergence is never negative"
    elif torch.allclose(got, 0.5 * (mu ** 2 + logvar.exp() ** 2 - 1 - 2 * logvar), rtol=1e-4, atol=1e-5) or \
            torch.allclose(got, 0.5 * (mu ** 2 + var.sqrt() - 1 - logvar), rtol=1e-4, atol=1e-5):
        hint = "logvar is log sigma^2, so the variance is exp(logvar) and log sigma^2 is logvar itself"
    elif torch.allclose(got, 0.5 * (var - 1 - logvar), rtol=1e-4, atol=1e-5):
        hint = "the mean enters the KL too: add mu^2"
    elif bool((got < -1e-6).any()):
        hint = "some of your values are negative, but a KL divergence is >= 0 (it is 0 only for mu = 0, sigma = 1)"
    else:
        k = int((got - expected).abs().argmax())
        b, d = divmod(k, mu.shape[1])
        hint = (f"for mu = {mu[b, d]:.3f}, logvar = {logvar[b, d]:.3f} the KL is {expected[b, d]:.4f}, you gave "
                f"{got[b, d]:.4f}; see Kingma & Welling 2013, appendix B")
    raise ExerciseError(hint)


@exercise(points=1, refuses=("dvae_tutorial.models:sample_gaussian",))
def check_reparameterisation(sample_fn) -> bool:
    """``sample_fn(mu, logvar, eps) -> z (B, D)``: z = mu + sigma * eps with sigma = exp(logvar / 2)."""
    mu, logvar = _random_posterior(1)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(2))
    mu_, logvar_ = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
    z = sample_fn(mu_, logvar_, eps)
    got = _as_tensor("sample_fn", z, mu.shape)
    expected = (mu + torch.exp(0.5 * logvar) * eps).double()
    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
        if torch.allclose(got, (mu + logvar.exp() * eps).double(), rtol=1e-4, atol=1e-5):
            hint = "you multiplied eps by the variance exp(logvar); the standard deviation is exp(logvar / 2)"
        elif torch.allclose(got, (mu + logvar * eps).double(), rtol=1e-4, atol=1e-5):
            hint = "logvar is the log of the variance: sigma = exp(logvar / 2), not logvar"
        elif torch.allclose(got, (mu + 0.5 * logvar * eps).double(), rtol=1e-4, atol=1e-5):
            hint = "log sigma = logvar / 2 is right, but sigma itself is exp(logvar / 2)"
        elif torch.allclose(got, mu.double(), rtol=1e-4, atol=1e-5):
            hint = "z equals mu: the noise eps must be scaled by sigma and added"
        else:
            hint = "z must be mu + exp(logvar / 2) * eps, elementwise (Kingma & Welling 2013, section 2.4)"
        raise ExerciseError(hint)
    if not z.requires_grad:
        raise ExerciseError("z does not depend on mu and logvar through autograd: build it from the tensors "
                            "you are given (no .detach(), .numpy() or torch.no_grad()), else no gradient reaches the encoder")
    z.sum().backward()
    if mu_.grad is None or logvar_.grad is None or not torch.allclose(mu_.grad, torch.ones_like(mu)):
        raise ExerciseError("the gradient of z with respect to mu must be 1: z = mu + sigma * eps")
    if not torch.allclose(logvar_.grad, 0.5 * torch.exp(0.5 * logvar) * eps, rtol=1e-4, atol=1e-5):
        raise ExerciseError("the gradient with respect to logvar must be sigma * eps / 2")
    return _passed("z = mu + sigma * eps, and the gradient flows to mu and logvar (the noise is an input)")


@exercise(points=1, refuses=("dvae_tutorial.losses:reconstruction_loss",))
def check_gaussian_nll(nll_fn) -> bool:
    """``nll_fn(x, mean, sigma) -> scalar``: -log prod N(x; mean, sigma^2), summed over pixels, mean over the batch."""
    from ..losses import reconstruction_loss

    g = torch.Generator().manual_seed(3)
    x = (torch.rand(16, 1, 8, 8, generator=g) > 0.7).float()
    mean = torch.rand(16, 1, 8, 8, generator=g).clamp(0.01, 0.99)
    sigma = 0.2
    got = nll_fn(x, mean, sigma)
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        raise ExerciseError("nll_fn must return one number (a scalar tensor): sum over pixels, then mean over the batch")
    got = float(got)
    expected = float(reconstruction_loss(x, torch.logit(mean), "gaussian", scale=sigma))
    if math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-4):
        return _passed("-log N(x; m, sigma^2) = (x - m)^2 / (2 sigma^2) + log sigma + log(2 pi) / 2, per pixel")
    n_pixels = x[0].numel()
    squared = float(((x - mean) ** 2).sum() / len(x))
    constant = n_pixels * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    if math.isclose(got, squared / (2 * sigma ** 2), rel_tol=1e-4):
        hint = "the normalising constant is missing: add log sigma + log(2 pi) / 2 for every pixel"
    elif math.isclose(got, squared / (2 * sigma) + constant, rel_tol=1e-4):
        hint = "divide the squared error by 2 sigma^2 (the variance), not 2 sigma"
    elif math.isclose(got, expected * len(x), rel_tol=1e-4):
        hint = "you summed over the batch too: average over the batch (sum over pixels only)"
    elif math.isclose(got, expected / n_pixels, rel_tol=1e-4):
        hint = "you averaged over the pixels: the log-likelihood of an image is the SUM over its pixels"
    else:
        hint = f"expected {expected:.4f} nats for this batch, got {got:.4f}"
    raise ExerciseError(hint)


@exercise(points=1)
def check_likelihood_predictions(unbounded: str, constant_gradient: str) -> bool:
    """Which likelihood's per-pixel loss (target 0) grows without bound as the predicted mean goes to 1,
    and which one's gradient keeps the same size all the way to the target?"""
    from ..losses import LIKELIHOODS, reconstruction_loss

    for name, answer in (("unbounded", unbounded), ("constant_gradient", constant_gradient)):
        if answer not in LIKELIHOODS:
            raise ExerciseError(f"{name} must be one of {LIKELIHOODS}, got {answer!r}")
    # the evidence, computed: per-pixel loss at a few predicted means for the target x = 0
    means = torch.tensor([0.001, 0.01, 0.5, 0.99, 0.999999], dtype=torch.float64)
    x = torch.zeros(len(means), 1, dtype=torch.float64)
    losses = {d: torch.stack([reconstruction_loss(x[i:i + 1], torch.logit(means[i:i + 1, None]), d)
                              for i in range(len(means))]) for d in LIKELIHOODS}
    growth = {d: float(v[-1] - v[-2]) for d, v in losses.items()}
    truth_unbounded = max(growth, key=growth.get)                  # bernoulli: -log(1 - m) -> infinity
    slopes = {d: float((v[1] - v[0]) / (means[1] - means[0])) / float((v[3] - v[2]) / (means[3] - means[2]))
              for d, v in losses.items()}                           # slope near the target / slope far from it
    truth_constant = min(slopes, key=lambda d: abs(slopes[d] - 1))  # laplace: |x - m| / b has slope 1/b everywhere
    if unbounded != truth_unbounded:
        raise ExerciseError(f"as the mean goes from 0.99 to 0.999999, the {unbounded} loss grows by {growth[unbounded]:.3g} "
                            f"nats, the {truth_unbounded} loss by {growth[truth_unbounded]:.3g}: which formula has a log "
                            "of (1 - m)?")
    if constant_gradient != truth_constant:
        raise ExerciseError(f"the {constant_gradient} loss's slope near the target is {slopes[constant_gradient]:.3g} "
                            f"times its slope far away; which formula is linear in |x - m|?")
    return _passed(f"{truth_unbounded}: -log(1 - m) has no bound; {truth_constant}: |x - m| / b pulls equally hard "
                   "at every distance, while the Gaussian's pull (x - m) / sigma^2 fades near the target")


# --- the real exercise: the negative ELBO of a batch, and a training loop built on it -------------

ELBO_REFERENCES = ("dvae_tutorial.losses:kl_normal", "dvae_tutorial.losses:reconstruction_loss",
                   "dvae_tutorial.losses:Objective.elbo_terms", "dvae_tutorial.losses:VAELoss.__call__",
                   "dvae_tutorial.models:sample_gaussian", "dvae_tutorial.train:fit")


def _reference_elbo(model, x, eps) -> dict:
    from ..losses import kl_normal, reconstruction_loss

    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = reconstruction_loss(x, model.decode(z), "bernoulli")
    kl = kl_normal(mu, logvar).sum(dim=1).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl, "mu": mu, "logvar": logvar}


def _elbo_hint(got: dict, ref: dict, model, x, eps) -> str:
    """The typical mistake behind a wrong recon or KL, found by computing each mistaken version."""
    from ..losses import kl_normal, reconstruction_loss

    b, n_pixels = x.shape[0], x[0].numel()
    recon, kl = scalar("recon", got["recon"]), scalar("kl", got["kl"])
    r, k = float(ref["recon"].detach()), float(ref["kl"].detach())
    mu, logvar = ref["mu"].detach(), ref["logvar"].detach()
    close = lambda a, b_: math.isclose(a, b_, rel_tol=1e-4, abs_tol=1e-4)   # noqa: E731
    with torch.no_grad():
        recon_mean = float(reconstruction_loss(x, model.decode(mu), "bernoulli"))
        recon_var = float(reconstruction_loss(x, model.decode(mu + logvar.exp() * eps), "bernoulli"))
        recon_probs = float(F.binary_cross_entropy_with_logits(torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps)),
                                                                x, reduction="sum") / b)
    if not close(recon, r):
        for value, hint in ((r / n_pixels, "you averaged the reconstruction over the pixels: the NLL of an image is the SUM over its pixels"),  # noqa: E501
                            (r * b, "you summed the reconstruction over the batch too: average over the images"),
                            (recon_mean, "the reconstruction decodes mu, not a sample: decode z = mu + exp(logvar / 2) * eps"),
                            (recon_var, "z = mu + exp(logvar) * eps uses the variance; the standard deviation is exp(logvar / 2)"),  # noqa: E501
                            (recon_probs, "the decoder returns LOGITS: binary_cross_entropy_with_logits takes them as they are "
                                          "(no sigmoid first)"),
                            (-r, "the reconstruction term is the NEGATIVE log-likelihood: it is positive")):
            if close(recon, value):
                return hint
        return (f"recon should be {r:.3f} nats (Bernoulli NLL of x under the logits decoded from z = mu + sigma * eps, "
                f"summed over pixels, mean over the batch), got {recon:.3f}")
    if not close(kl, k):
        per = kl_normal(mu, logvar)
        for value, hint in ((float(per.mean()), "you averaged the KL over the latents too: sum over the latents, mean over the batch"),  # noqa: E501
                            (float(per.sum()), "you summed the KL over the batch: average it over the images"),
                            (-k, "the KL has the wrong sign: it is >= 0 and ADDED to the reconstruction")):
            if close(kl, value):
                return hint
        return f"kl should be {k:.3f} nats (closed form, summed over latents, mean over the batch), got {kl:.3f}"
    loss = scalar("loss", got["loss"])
    if close(loss, r - k):
        return "the negative ELBO is recon + KL (the ELBO is -recon - KL)"
    return f"loss should be recon + kl = {r + k:.3f}, got {loss:.3f}"


@exercise(points=4, refuses=ELBO_REFERENCES)
def check_negative_elbo(elbo_fn) -> bool:
    """``elbo_fn(model, x, eps) -> {"loss", "recon", "kl"}``: the negative ELBO of a batch (Kingma & Welling
    2013, eq. (10)) with z = mu + exp(logvar / 2) * eps, a Bernoulli likelihood and the closed-form KL.

    Compared with the package on two batches of a small VAE, and the gradient must reach the encoder.
    """
    for seed in (0, 1):
        model = small_vae(seed)
        x, eps = binary_batch(seed)
        ref = _reference_elbo(model, x, eps)
        got = terms_dict("elbo_fn", elbo_fn(model, x, eps.clone()), ("loss", "recon", "kl"))
        values = {key: scalar(key, got[key]) for key in ("loss", "recon", "kl")}
        if not all(math.isclose(values[key], float(ref[key].detach()), rel_tol=1e-4, abs_tol=1e-4) for key in values):
            raise ExerciseError(_elbo_hint(got, ref, model, x, eps))
        loss = got["loss"]
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            raise ExerciseError("loss has no gradient: build it with torch operations from model.encode / model.decode "
                                "(no .item(), .detach(), numpy or torch.no_grad())")
        loss.backward()
        encoder_grad = sum(float(p.grad.abs().sum()) for p in model.encoder.parameters() if p.grad is not None)
        if encoder_grad == 0:
            raise ExerciseError("no gradient reaches the encoder: z must be built from mu and logvar (reparameterised), "
                                "not detached")
    r, k = float(ref["recon"].detach()), float(ref["kl"].detach())
    return _passed(f"-ELBO = recon + KL = {r:.1f} + {k:.2f} nats on a test batch, "
                   "and its gradient reaches the encoder through z = mu + sigma * eps")


def heldout_elbo(model, dataset, n: int = 256, seed: int = 1234) -> float:
    """The negative ELBO of ``model`` on ``n`` held-out images of ``dataset`` with fixed noise (nats)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = dataset.sample_observations_from_factors(dataset.sample_factors(n, rng), rng)
    eps = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return float(_reference_elbo(model, x, eps)["loss"])


@exercise(points=3, refuses=ELBO_REFERENCES)
def check_training(train_fn, dataset, steps: int) -> bool:
    """``train_fn(model, dataset, steps, seed) -> list of losses``: ``steps`` Adam steps on the negative ELBO
    of batches drawn from ``dataset``.  The check trains a fresh small VAE with it and measures the negative
    ELBO on held-out images before and after (with the package's formula)."""
    model = small_vae(7)
    before = heldout_elbo(model, dataset)
    start = [p.detach().clone() for p in model.parameters()]
    history = train_fn(model, dataset, steps, 0)
    try:
        history = [scalar("each loss in the history", v) for v in history]
    except TypeError:
        raise ExerciseError("train_fn must return the list of the losses of every step (floats)") from None
    if len(history) != steps:
        raise ExerciseError(f"train_fn must run {steps} steps and return one loss per step; got {len(history)}")
    moved = [not torch.equal(a, p.detach()) for a, p in zip(start, model.parameters())]
    if not any(moved):
        raise ExerciseError("the model's weights did not change: call optimizer.step() after loss.backward(), with an "
                            "optimizer built on model.parameters()")
    if not all(moved):
        raise ExerciseError("some of the model's weights never changed: give the optimizer ALL of model.parameters() "
                            "(encoder and decoder)")
    after = heldout_elbo(model, dataset)
    if not math.isfinite(after):
        raise ExerciseError("the held-out negative ELBO is not finite after your training: is the learning rate too large?")
    if after > 0.6 * before:
        raise ExerciseError(f"after {steps} steps the held-out negative ELBO is {after:.1f} nats (it was {before:.1f}): it "
                            "should fall below 60% of its start. Check optimizer.zero_grad() before every backward "
                            "(else the gradients pile up), a learning rate near 1e-3 and a fresh batch every step")
    first, last = sum(history[:5]) / 5, sum(history[-5:]) / 5
    if not last < first:
        raise ExerciseError("the losses you returned do not fall: return loss.item() of every step, in order")
    return _passed(f"{steps} steps: held-out -ELBO {before:.1f} -> {after:.1f} nats")
