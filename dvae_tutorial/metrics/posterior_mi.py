"""Chen et al.'s estimator of I(v_k; z_j) from the encoder's Gaussian posterior (MIG, protocol="chen").

Chen et al. 2018 ("Isolating Sources of Disentanglement in VAEs", NeurIPS 2018, the section on
measuring disentanglement with MIG) define the mutual information between a latent dimension
z_j and a factor v_k under the *aggregate posterior* q(z_j) = (1/N) sum_n q(z_j | x_n) of the
whole data set (N images), and estimate it as

    I(v_k; z_j) = H(z_j) - H(z_j | v_k),
    H(z_j)       ~ -(1/S) sum_s log[ (1/N) sum_n q(z_{s,j} | x_n) ],        z_s ~ q(z | x_s)
    H(z_j | v_k) = sum_v p(v_k = v) H(z_j | v_k = v),
                   each term the same estimator restricted to the images with v_k = v,

with q(z_j | x_n) = N(mu_nj, exp(logvar_nj)). Their code (rtqichen/beta-tcvae,
``disentanglement_metrics.py``: ``estimate_entropies`` and ``mutual_info_metric_shapes``) draws
one sample z_n ~ q(z | x_n) per image of the full dSprites grid, uses a random subset of
S = 10,000 of those samples per entropy, evaluates each against all N (or N / |v_k|) posteriors,
and normalises by log |v_k| (the entropy of a uniform factor). This module does the same,
vectorised in torch and processed in blocks so that 737,280 images x 10 dimensions x 10,000
samples fit in memory on a CPU or a GPU: the cost is about (1 + n_factors) * N * S * latent_dim
log-density evaluations (about 4e11 for dSprites: seconds on a GPU, many minutes on a CPU).

Differences from their code, none of which changes the estimator: the conditional entropies are
weighted by the empirical p(v_k = v) (equal to their 1 / |v_k| on the full grid), and the random
draws come from a seeded ``torch.Generator`` on the CPU (same seed, same numbers on any device).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import as_codes, as_factors, check_same_length, relabel

LOG_2PI = math.log(2.0 * math.pi)


def _entropy_estimate(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    members: torch.Tensor,
    n_samples: int,
    generator: torch.Generator,
    block_elements: int,
) -> torch.Tensor:
    """Monte Carlo H(z_j) per dimension under the mixture of the posteriors of ``members``.

        H(z_j) ~ -(1/S) sum_s [ logsumexp_m log q(z_{s,j} | x_m) - log M ]

    Args:
        z: ``(N, latent_dim)`` one posterior sample per image.
        mu, logvar: ``(N, latent_dim)`` posterior parameters.
        members: ``(M,)`` int64 indices (on the CPU) of the images that form the mixture; the
            S = min(n_samples, M) evaluation samples are a random subset of their samples.
        block_elements: largest (samples x components x latent_dim) block held at once.

    Returns:
        ``(latent_dim,)`` float64 entropies in nats.
    """
    n_members = members.numel()
    n_eval = min(n_samples, n_members)
    chosen = members[torch.randperm(n_members, generator=generator)[:n_eval]]
    device = z.device
    z_eval = z[chosen.to(device)]  # (S, latent_dim)
    members_dev = members.to(device)
    # layout (latent_dim, M): the sum over mixture components runs along the contiguous last axis
    mu_m = mu[members_dev].T.contiguous()
    scale_m = torch.exp(-0.5 * logvar[members_dev]).mul_(math.sqrt(0.5)).T.contiguous()  # 1 / sqrt(2 var)
    log_norm = (-0.5 * (logvar[members_dev] + LOG_2PI)).T.contiguous()
    latent_dim = z.shape[1]
    m_block = min(n_members, max(1, block_elements // (latent_dim * 16)))
    s_block = max(1, min(n_eval, block_elements // (latent_dim * m_block)))
    total = torch.zeros(latent_dim, dtype=torch.float64, device=device)
    for s0 in range(0, n_eval, s_block):
        zs = z_eval[s0 : s0 + s_block, :, None]  # (s, latent_dim, 1)
        running = torch.full((zs.shape[0], latent_dim), -math.inf, device=device)
        for m0 in range(0, n_members, m_block):
            sl = slice(m0, m0 + m_block)
            # log N(z; mu, var) = -(z - mu)^2 / (2 var) - 0.5 (logvar + log 2 pi),   (s, latent_dim, m)
            log_q = (zs - mu_m[None, :, sl]).mul_(scale_m[None, :, sl]).square_().neg_().add_(log_norm[None, :, sl])
            running = torch.logaddexp(running, torch.logsumexp(log_q, dim=2))
        total += (running - math.log(n_members)).sum(dim=0, dtype=torch.float64)
    return -total / n_eval


BLOCK_ELEMENTS_CPU = 2**19    # log-densities per block on the CPU (fits its caches)
BLOCK_ELEMENTS_CUDA = 2**26   # on a GPU: 256 MB of float32


def posterior_mutual_info_matrix(
    mu,
    logvar,
    factors,
    *,
    n_samples: int = 10_000,
    seed: int = 0,
    device=None,
    block_elements: int | None = None,
) -> np.ndarray:
    """I(v_k; z_j) in nats under the aggregate Gaussian posterior (Chen et al. 2018's estimator).

    See the module docstring for the formulas. To reproduce Chen et al.'s dSprites numbers pass
    the posterior of every image of the full grid (737,280 rows) and leave shape out (column 0 of
    the factors), as their ``mutual_info_metric_shapes`` does.

    Args:
        mu, logvar: ``(N, latent_dim)`` posterior means and log-variances, numpy or torch.
        factors: ``(N, n_factors)`` int64 class indices of the same images.
        n_samples: Monte Carlo samples per entropy estimate (Chen et al.: 10,000); a group with
            fewer images uses all of its samples.
        seed: seeds the posterior samples and the subsets (a CPU ``torch.Generator``).
        device: torch device to compute on (default the CPU; pass "cuda" to use a GPU).  Only the
            speed and the float rounding depend on it.
        block_elements: memory knob, the largest block of log-densities held at once
            (default ``BLOCK_ELEMENTS_CUDA`` = 2**26 = 256 MB of float32 on CUDA,
            ``BLOCK_ELEMENTS_CPU`` = 2**19 on the CPU, which suits its caches).

    Returns:
        ``(n_factors, latent_dim)`` float64 (rows of single-valued factors are 0). Monte Carlo
        estimates can be slightly negative when the true value is 0; :func:`mig` clamps them at
        0 as Chen et al. do.
    """
    from ..models import sample_gaussian

    mu = as_codes(mu, "mu")
    logvar = as_codes(logvar, "logvar")
    if logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must have the same shape; got {mu.shape} and {logvar.shape}.")
    factors = as_factors(factors)
    check_same_length(mu, factors, "mu", "factors")
    if int(n_samples) < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
    dev = torch.device("cpu" if device is None else device)
    block = int(block_elements or (BLOCK_ELEMENTS_CUDA if dev.type == "cuda" else BLOCK_ELEMENTS_CPU))
    generator = torch.Generator().manual_seed(int(seed))

    mu_t = torch.as_tensor(mu, dtype=torch.float32)
    logvar_t = torch.as_tensor(logvar, dtype=torch.float32)
    z = sample_gaussian(mu_t, logvar_t, generator).to(dev)  # one sample per image, as Chen et al.
    mu_t, logvar_t = mu_t.to(dev), logvar_t.to(dev)

    n_points = mu.shape[0]
    everyone = torch.arange(n_points)
    marginal = _entropy_estimate(z, mu_t, logvar_t, everyone, n_samples, generator, block)
    labels, sizes = relabel(factors)
    mi = np.zeros((factors.shape[1], mu.shape[1]))
    for k in range(factors.shape[1]):
        if sizes[k] == 1:
            continue  # a single-valued factor: H(z_j | v_k) = H(z_j), MI exactly 0
        order = torch.as_tensor(np.argsort(labels[:, k], kind="stable"))
        counts = np.bincount(labels[:, k], minlength=sizes[k])
        conditional = torch.zeros_like(marginal)
        start = 0
        for count in counts:  # one Monte Carlo entropy per value of the factor
            members = order[start : start + count]
            start += count
            weight = count / n_points
            conditional += weight * _entropy_estimate(z, mu_t, logvar_t, members, n_samples, generator, block)
        mi[k] = (marginal - conditional).cpu().numpy()
    return mi
