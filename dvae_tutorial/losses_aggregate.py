"""Objectives that pull the aggregate posterior q(z) towards the prior: DIP-VAE (its moments) and InfoVAE (MMD).

The VAE's KL term pushes every q(z|x) towards p(z) = N(0, I).  These methods penalise instead (or as well)
how far the *aggregate* posterior q(z) = E_x q(z|x) is from the prior, measured on the batch:

- DIP-VAE (Kumar, Sattigeri & Balakrishnan 2018, "Variational inference of disentangled latent concepts
  from unlabeled observations", section 3): the covariance of q(z) should be the identity.  DIP-VAE-I
  matches Cov_p(x)[mu(x)], the covariance of the mean codes; DIP-VAE-II the covariance of the sampled codes,
  Cov_q(z)[z] = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)] (law of total covariance).  Penalty:
      lambda_od * sum_{i != j} C_ij^2  +  lambda_d * sum_i (C_ii - 1)^2.
- InfoVAE (Zhao, Song & Ermon 2019, "InfoVAE: Balancing learning and inference in variational
  autoencoders", AAAI; the InfoVAE objective with the MMD as the divergence):
      loss = recon + (1 - alpha) * KL(q(z|x) || p(z)) + (alpha + lambda - 1) * MMD^2(q(z), p(z)).
  alpha = 0, lambda = 1 is the VAE; alpha = 1 drops the per-image KL (the "MMD-VAE").

Shapes: mu, logvar, z ``(B, D)``.  Covariances use the 1/B normalisation (the moment estimate
E[mu mu^T] - E[mu] E[mu]^T, as disentanglement_lib's ``compute_covariance_z_mean``).
"""
from __future__ import annotations

import math

import torch

from .losses import Objective, _check_weight, register_objectives

__all__ = ["covariance", "dip_penalty", "dip_covariance", "gaussian_kernel", "mmd_squared",
           "DIPVAEILoss", "DIPVAEIILoss", "InfoVAELoss"]


# --------------------------------------------------------------------------------------------------
# DIP-VAE: moments of q(z)
# --------------------------------------------------------------------------------------------------
def covariance(x: torch.Tensor) -> torch.Tensor:
    """Covariance of the rows of ``x`` ``(B, D)`` -> ``(D, D)``, normalised by B: E[x x^T] - E[x] E[x]^T."""
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"covariance needs a batch of at least 2 codes of shape (B, D), got {tuple(x.shape)}")
    centred = x - x.mean(dim=0, keepdim=True)
    return centred.T @ centred / x.shape[0]


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, kind: str) -> torch.Tensor:
    """The covariance DIP-VAE matches to the identity, ``(D, D)`` (Kumar et al. 2018, section 3).

    ``"i"``: Cov_p(x)[mu(x)], the covariance of the mean codes (DIP-VAE-I);
    ``"ii"``: Cov_q(z)[z] = Cov_p(x)[mu(x)] + E_p(x)[diag exp(logvar(x))], of the sampled codes (DIP-VAE-II).
    """
    cov_mu = covariance(mu)
    if kind == "i":
        return cov_mu
    if kind == "ii":
        return cov_mu + torch.diag(logvar.exp().mean(dim=0))
    raise ValueError(f"kind must be 'i' (DIP-VAE-I) or 'ii' (DIP-VAE-II), got {kind!r}")


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> dict[str, torch.Tensor]:
    """DIP-VAE's regulariser on a covariance ``(D, D)``: its off-diagonal part and diagonal part, and the sum.

    ``off_diagonal`` = sum_{i != j} C_ij^2, ``diagonal`` = sum_i (C_ii - 1)^2,
    ``dip`` = lambda_od * off_diagonal + lambda_d * diagonal (Kumar et al. 2018, section 3).
    """
    diag = torch.diagonal(cov)
    off_diagonal = (cov - torch.diag(diag)).pow(2).sum()
    diagonal = (diag - 1.0).pow(2).sum()
    return {"off_diagonal": off_diagonal, "diagonal": diagonal, "dip": lambda_od * off_diagonal + lambda_d * diagonal}


class _DIPVAELoss(Objective):
    kind = "i"

    def __init__(self, lambda_od: float = 10.0, lambda_d: float = 100.0, distribution: str = "bernoulli",
                 scale: float | None = None):
        super().__init__(distribution, scale)
        self.lambda_od = _check_weight("lambda_od", lambda_od)
        self.lambda_d = _check_weight("lambda_d", lambda_d)

    def formula(self):
        which = "Cov[mu]" if self.kind == "i" else "Cov[mu] + E[diag sigma^2]"
        return (f"recon + kl + lambda_od * sum_(i!=j) C_ij^2 + lambda_d * sum_i (C_ii - 1)^2,  C = {which}")

    def __call__(self, output, x, step):
        terms = self.elbo_terms(output, x)
        penalty = dip_penalty(dip_covariance(output.mu, output.logvar, self.kind), self.lambda_od, self.lambda_d)
        terms.update(penalty)
        terms["loss"] = terms["recon"] + terms["kl"] + penalty["dip"]       # Kumar et al. 2018, section 3
        return terms


class DIPVAEILoss(_DIPVAELoss):
    """DIP-VAE-I: -ELBO + lambda_od * sum_{i!=j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2, C = Cov_p(x)[mu(x)].

    Kumar et al. 2018 suggest lambda_d = 10 * lambda_od for DIP-VAE-I; Locatello et al. 2019 sweep
    lambda_od in {1, 2, 5, 10, 20, 50} with that ratio.  Logged terms: ``off_diagonal``, ``diagonal``, ``dip``.
    """

    name = "dipvae_i"
    title = "DIP-VAE-I (Kumar et al. 2018)"
    kind = "i"


class DIPVAEIILoss(_DIPVAELoss):
    """DIP-VAE-II: the same penalty on C = Cov_q(z)[z] = Cov_p(x)[mu(x)] + E_p(x)[diag sigma^2(x)].

    Kumar et al. 2018 suggest lambda_d = lambda_od for DIP-VAE-II (Locatello et al. 2019: lambda_od in
    {1, 2, 5, 10, 20, 50}, lambda_d = lambda_od).
    """

    name = "dipvae_ii"
    title = "DIP-VAE-II (Kumar et al. 2018)"
    kind = "ii"

    def __init__(self, lambda_od: float = 10.0, lambda_d: float = 10.0, distribution: str = "bernoulli",
                 scale: float | None = None):
        super().__init__(lambda_od, lambda_d, distribution, scale)


# --------------------------------------------------------------------------------------------------
# InfoVAE: maximum mean discrepancy between q(z) and p(z)
# --------------------------------------------------------------------------------------------------
def gaussian_kernel(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """k(a_i, b_j) = exp(-||a_i - b_j||^2 / (2 h^2)) for every pair: ``(n, D)``, ``(m, D)`` -> ``(n, m)``."""
    squared = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(dim=2)
    return torch.exp(-squared / (2.0 * bandwidth ** 2))


def mmd_squared(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Squared maximum mean discrepancy between the samples ``a`` ``(n, D)`` and ``b`` ``(m, D)``, a scalar.

    The biased (V-statistic) estimate of Gretton et al. 2012 (JMLR, eq. (5)) with the Gaussian kernel
    ``gaussian_kernel``: mean k(a, a') + mean k(b, b') - 2 mean k(a, b), every pair included (the
    diagonals too).  It is >= 0, and exactly 0 when the two sets are equal.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must be (n, D) and (m, D) with the same D, got {tuple(a.shape)}, {tuple(b.shape)}")
    return (gaussian_kernel(a, a, bandwidth).mean() + gaussian_kernel(b, b, bandwidth).mean()
            - 2.0 * gaussian_kernel(a, b, bandwidth).mean())


class InfoVAELoss(Objective):
    """InfoVAE (Zhao et al. 2019): recon + (1 - alpha) * KL + (alpha + lambda_mmd - 1) * MMD^2(q(z), p(z)).

    ``alpha`` in [0, 1] removes part of the per-image KL (alpha = 1: none of it); ``lambda_mmd`` is the
    paper's lambda, the weight of the divergence D(q(z) || p(z)) in the objective before it is rewritten in this form;
    it must be >= 1 - alpha so that the MMD weight is not negative.  MMD^2 (``mmd_squared``) compares
    the batch's codes z ~ q(z|x) with as many draws of p(z) = N(0, I), under a Gaussian kernel of
    bandwidth h = ``bandwidth`` (default sqrt(D): two draws of N(0, I) lie about sqrt(2 D) apart, so
    2 h^2 is the typical squared distance).  The prior draws come from the objective's own generator,
    seeded in ``prepare``.  Defaults alpha = 0, lambda_mmd = 1000 are this course's choice (a VAE plus
    an MMD term strong enough to matter next to a reconstruction of hundreds of nats), not the paper's.
    Logged terms: ``mmd`` (MMD^2).
    """

    name = "infovae"
    title = "InfoVAE (Zhao et al. 2019)"

    def __init__(self, alpha: float = 0.0, lambda_mmd: float = 1000.0, bandwidth: float | None = None,
                 distribution: str = "bernoulli", scale: float | None = None):
        super().__init__(distribution, scale)
        self.alpha = _check_weight("alpha", alpha)
        if self.alpha > 1:
            raise ValueError(f"alpha must lie in [0, 1] (the KL weight 1 - alpha cannot be negative), got {alpha}")
        self.lambda_mmd = _check_weight("lambda_mmd", lambda_mmd)
        if self.alpha + self.lambda_mmd - 1 < 0:
            raise ValueError(f"lambda_mmd must be >= 1 - alpha = {1 - self.alpha:g} (the MMD weight alpha + lambda - 1 "
                             f"cannot be negative), got {lambda_mmd}")
        self.bandwidth = None if bandwidth is None else _check_weight("bandwidth", bandwidth, allow_zero=False)
        self.generator: torch.Generator | None = None

    def formula(self):
        return "recon + (1 - alpha) * kl + (alpha + lambda_mmd - 1) * mmd^2(q(z), N(0, I))"

    def prepare(self, model, dataset_size, device, seed=0):
        self.generator = torch.Generator(device=device).manual_seed(seed + 2)

    def __call__(self, output, x, step):
        if self.generator is None:
            self.generator = torch.Generator(device=output.z.device).manual_seed(2)
        terms = self.elbo_terms(output, x)
        z = output.z
        prior = torch.randn(z.shape, generator=self.generator, device=z.device, dtype=z.dtype)
        bandwidth = self.bandwidth or math.sqrt(z.shape[1])
        terms["mmd"] = mmd_squared(z, prior, bandwidth)
        terms["loss"] = (terms["recon"] + (1 - self.alpha) * terms["kl"]
                         + (self.alpha + self.lambda_mmd - 1) * terms["mmd"])     # Zhao et al. 2019, the InfoVAE objective
        return terms

    def state_dict(self):
        return {} if self.generator is None else {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        if "generator" in state and self.generator is not None:
            self.generator.set_state(state["generator"])


register_objectives(DIPVAEILoss, DIPVAEIILoss, InfoVAELoss)
