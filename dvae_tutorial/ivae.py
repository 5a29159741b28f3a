"""The identifiable VAE (iVAE, Khemakhem et al. 2020) for tabular data, and the plain VAE it is compared with.

Khemakhem, Kingma, Monti & Hyvarinen (2020), "Variational autoencoders and nonlinear ICA: a unifying
framework", AISTATS.  The generative model has a *conditional* prior: given an observed auxiliary
variable u (here the segment label of ``data.nonlinear_ica``),

    p(z | u) = prod_i N(z_i; m_i(u), v_i(u)),      p(x | z) = N(x; f(z), scale^2 I),

and the encoder q(z | x, u) sees u too.  With enough segments whose prior variances differ, the sources
are identifiable up to permutation and elementwise transformation (their Theorem 1 and section 6); with
the N(0, I) prior of the VAE any rotation of z fits the data as well, so they are not.

Here m(u) and log v(u) are learned tables ``(n_segments, D)``.  ``IVAE(conditional_prior=False)`` is the
plain VAE with the same MLPs: prior N(0, I), encoder q(z | x); only the prior differs.

    data = nonlinear_ica.make_nonlinear_ica(n_segments=40, seed=0)
    model = IVAE(data_dim=5, latent_dim=5, n_segments=40)
    result = fit(model, make_objective("ivae"), data, steps=3000)
    metrics.mcc(encode(model, data), data.sources)

Shapes: x ``(B, data_dim)``, u ``(B,)`` int64, mu / logvar / z / prior_mu / prior_logvar ``(B, D)``.
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from . import config
from .losses import LOG_2PI, Objective, _check_weight, register_objectives
from .models import sample_gaussian

__all__ = ["IVAE", "IVAEOutput", "IVAELoss", "kl_gaussians", "gaussian_nll", "fit", "encode"]

NEGATIVE_SLOPE = 0.2   # leaky ReLU of the encoder and decoder MLPs


class IVAEOutput(NamedTuple):
    """What ``IVAE.forward`` returns: the decoder mean, the posterior, its sample, and the prior for u."""

    mean: torch.Tensor          # (B, data_dim) f(z)
    mu: torch.Tensor            # (B, D)
    logvar: torch.Tensor        # (B, D)
    z: torch.Tensor             # (B, D)
    prior_mu: torch.Tensor      # (B, D) m(u)
    prior_logvar: torch.Tensor  # (B, D) log v(u)


def _mlp(n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    blocks, width = [], n_in
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.LeakyReLU(NEGATIVE_SLOPE)]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, n_out))


class IVAE(nn.Module):
    """Encoder q(z | x, u), decoder p(x | z) = N(f(z), scale^2 I) and a learned prior p(z | u), all small MLPs.

    ``hidden`` units in each of ``layers`` hidden layers (leaky ReLU 0.2).  ``conditional_prior=False``:
    prior N(0, I) and encoder q(z | x), i.e. a plain VAE on the same data.
    """

    def __init__(self, data_dim: int, latent_dim: int, n_segments: int, hidden: int = 64, layers: int = 2,
                 conditional_prior: bool = True):
        super().__init__()
        for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim), ("n_segments", n_segments),
                            ("hidden", hidden), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.data_dim, self.latent_dim, self.n_segments = data_dim, latent_dim, n_segments
        self.hidden, self.layers, self.conditional_prior = hidden, layers, conditional_prior
        extra = n_segments if conditional_prior else 0
        self.encoder = _mlp(data_dim + extra, 2 * latent_dim, hidden, layers)
        self.decoder = _mlp(latent_dim, data_dim, hidden, layers)
        if conditional_prior:
            self.prior_mean = nn.Parameter(torch.zeros(n_segments, latent_dim))
            self.prior_logvar = nn.Parameter(torch.zeros(n_segments, latent_dim))

    @property
    def config(self) -> dict:
        return dict(data_dim=self.data_dim, latent_dim=self.latent_dim, n_segments=self.n_segments,
                    hidden=self.hidden, layers=self.layers, conditional_prior=self.conditional_prior)

    def _check(self, x: torch.Tensor, u: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.data_dim or not x.is_floating_point():
            raise ValueError(f"x must be a float tensor (batch, {self.data_dim}), got {tuple(x.shape)} {x.dtype}")
        if u.shape != x.shape[:1] or u.dtype != torch.long:
            raise ValueError(f"u must be the segment labels, int64 of shape ({x.shape[0]},), got {tuple(u.shape)} {u.dtype}")
        if len(u) and (int(u.min()) < 0 or int(u.max()) >= self.n_segments):
            raise ValueError(f"segment labels must lie in [0, {self.n_segments}), got [{int(u.min())}, {int(u.max())}]")

    def encode(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x, u) (of q(z | x) without a conditional prior), each ``(B, D)``."""
        self._check(x, u)
        inputs = torch.cat([x, nn.functional.one_hot(u, self.n_segments).to(x.dtype)], 1) \
            if self.conditional_prior else x
        return self.encoder(inputs).chunk(2, dim=1)

    def prior(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, logvar) of p(z | u), each ``(B, D)``; zeros (N(0, I)) without a conditional prior."""
        if self.conditional_prior:
            return self.prior_mean[u], self.prior_logvar[u]
        zeros = torch.zeros(len(u), self.latent_dim, device=u.device)
        return zeros, zeros

    def forward(self, x: torch.Tensor, u: torch.Tensor, sample: bool = True,
                generator: torch.Generator | None = None) -> IVAEOutput:
        mu, logvar = self.encode(x, u)
        z = sample_gaussian(mu, logvar, generator) if sample else mu
        return IVAEOutput(self.decoder(z), mu, logvar, z, *self.prior(u))


def kl_gaussians(mu, logvar, prior_mu, prior_logvar) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(prior_mu, e^prior_logvar)) per sample and dimension ``(B, D)``, closed form:
    (prior_logvar - logvar + (e^logvar + (mu - prior_mu)^2) / e^prior_logvar - 1) / 2."""
    return 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).pow(2)) * torch.exp(-prior_logvar) - 1.0)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, scale: float) -> torch.Tensor:
    """-log N(x; mean, scale^2 I) summed over dimensions, averaged over the batch (nats)."""
    squared = (x - mean).pow(2).sum(dim=1).mean()
    return squared / (2 * scale ** 2) + x.shape[1] * (math.log(scale) + 0.5 * LOG_2PI)


class IVAELoss(Objective):
    """-ELBO of the iVAE (Khemakhem et al. 2020, section 4): recon + KL(q(z | x, u) || p(z | u)).

    recon = -log N(x; f(z), scale^2 I) (``gaussian_nll``; ``scale`` is fixed, 0.1 by default, a choice of
    this course); the KL is ``kl_gaussians`` summed over latents, both averaged over the batch.  With a
    model built with ``conditional_prior=False`` the prior is N(0, I) and this is the VAE's -ELBO.
    Trains ``ivae.IVAE`` models with ``ivae.fit`` (not the image VAEs of ``train.fit``).
    """

    name = "ivae"
    title = "iVAE (Khemakhem et al. 2020)"
    model_type = "IVAE"

    def __init__(self, scale: float = 0.1):
        super().__init__("gaussian", _check_weight("scale", scale, allow_zero=False))

    def formula(self):
        return "recon + kl(q(z|x,u) || p(z|u))"

    def build_model(self, *args, **kwargs):
        raise ValueError("the iVAE is not an image model: build ivae.IVAE(data_dim, latent_dim, n_segments) and train "
                         "it with ivae.fit on data.nonlinear_ica.make_nonlinear_ica(...), not with train.run")

    def prepare(self, model, dataset_size, device, seed=0):
        if not isinstance(model, IVAE):
            raise ValueError(f"the ivae objective trains an ivae.IVAE (tabular data with segment labels), got "
                             f"{type(model).__name__}; train it with ivae.fit(model, objective, data, steps=...) on "
                             f"data.nonlinear_ica.make_nonlinear_ica(...), not with train.fit or the train command")

    def __call__(self, output, x, step):
        if not isinstance(output, IVAEOutput):
            raise ValueError("the ivae objective needs the output of an ivae.IVAE (with the prior of each point's "
                             "segment); train it with ivae.fit")
        recon = gaussian_nll(x, output.mean, self.scale)
        kl_per_dim = kl_gaussians(output.mu, output.logvar, output.prior_mu, output.prior_logvar).mean(dim=0)
        kl = kl_per_dim.sum()
        return {"loss": recon + kl, "recon": recon, "kl": kl, "kl_per_dim": kl_per_dim}


register_objectives(IVAELoss)


def fit(model: IVAE, objective: Objective, data, *, steps: int, batch_size: int = 256, lr: float = 1e-3,
        seed: int = 0, device=None, progress: bool = True):
    """Train ``model`` on ``data`` (a ``data.nonlinear_ica.NonlinearICAData``) for ``steps`` Adam steps.

    The batches visit the data in seeded random epochs (``train.EpochSampler``), the reparameterisation
    noise has its own seeded generator; every scalar term is recorded per step.  Returns a
    ``train.TrainResult`` (history: term -> ``(steps,)`` array, ``kl_per_dim`` -> ``(steps, D)``).
    A ``KeyboardInterrupt`` stops cleanly with ``interrupted=True``.
    """
    from .train import EpochSampler, TrainResult

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if len(data) < batch_size:
        raise ValueError(f"the data set has {len(data)} points, fewer than the batch size {batch_size}")
    device = config.choose_device(device)
    model.to(device)
    objective.prepare(model, len(data), device, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    sampler = EpochSampler(torch.arange(len(data)), batch_size, torch.Generator().manual_seed(seed))
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    history: dict = {}
    interrupted, start = False, time.perf_counter()
    bar = config.progress(total=steps, desc=objective.name, **({} if progress else {"disable": True}))
    model.train()
    try:
        for step in range(steps):
            x, u = data.batch(sampler.next(), device)
            terms = objective(model(x, u, generator=noise), x, step)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            for name, value in terms.items():
                value = value.detach().cpu()
                history.setdefault(name, []).append(value.tolist() if value.ndim else float(value))
            if not math.isfinite(history["loss"][-1]):
                raise FloatingPointError(f"the loss became {history['loss'][-1]} at step {step}; lower the "
                                         f"learning rate")
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    model.eval()
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    arrays["step"] = np.arange(len(history.get("loss", [])))
    config_ = dict(method=objective.name, objective=objective.hparams, model=model.config, seed=seed,
                   batch_size=batch_size, lr=lr, steps=steps, dataset_size=len(data))
    return TrainResult(model, objective, arrays, [], interrupted, time.perf_counter() - start,
                       len(arrays["step"]), config_)


@torch.no_grad()
def encode(model: IVAE, data, batch_size: int = 4096) -> np.ndarray:
    """Posterior means ``(n, D)`` of every point of ``data`` (the code MCC scores)."""
    device = next(model.parameters()).device
    out = [model.encode(*data.batch(torch.arange(i, min(i + batch_size, len(data))), device))[0].cpu()
           for i in range(0, len(data), batch_size)]
    return torch.cat(out).numpy()
