"""Reconstruction likelihoods, KL terms, log densities, total-correlation estimators, one objective per method.

Conventions (the papers'; every number this module returns follows them):

- natural logarithms (nats);
- reconstruction: the negative log-likelihood -log p(x|z) SUMMED over pixels (and channels),
  then AVERAGED over the batch;
- KL: summed over latent dimensions, averaged over the batch; ``kl_per_dim`` keeps the dimensions
  apart, ``(latent_dim,)``;
- the weights (beta, gamma, alpha) multiply these sums directly.  No hidden scaling constants.
  Because the reconstruction is a sum over N pixels and the KL a sum over M latents, the same beta
  means something different at another image size; Higgins et al. 2017 therefore also quote the
  normalised beta_norm = beta * M / N (``normalized_beta``).  beta = 4 on 64 x 64 dSprites with
  M = 10 is beta_norm = 4 * 10 / 4096 ~= 0.0098.

Shapes: x, logits ``(B, C, H, W)``; mu, logvar, z ``(B, D)``.

Objectives are small classes with one call signature, ``objective(output, x, step) -> dict`` where
``output`` is a ``models.VAEOutput``.  The dict holds scalar tensors ``loss``, ``recon``, ``kl``, the
vector ``kl_per_dim`` ``(D,)`` and the method's own terms.  Build one by name:

    objective = make_objective("btcvae", beta=6)      # names: OBJECTIVES
"""
from __future__ import annotations

import functools
import inspect
import math
import warnings

import torch
import torch.nn.functional as F

from . import vqvae
from .models import Discriminator, VAEOutput, permute_dims, sample_gaussian

__all__ = [
    "LIKELIHOODS", "DEFAULT_SCALE", "reconstruction_loss", "kl_normal", "log_density_gaussian",
    "pairwise_log_density_gaussian", "log_importance_weights", "estimate_log_qz", "tc_decomposition",
    "estimate_log_qz_reference", "decomposition_terms",
    "normalized_beta", "beta_from_normalized", "linear_capacity",
    "Objective", "VAELoss", "BetaVAELoss", "CapacityLoss", "FactorVAELoss", "BetaTCVAELoss", "VQVAELoss", "InfoGANLoss",
    "OBJECTIVES", "make_objective", "register_objectives",
]

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("bernoulli", "gaussian", "laplace")
# The stated scale of the continuous likelihoods: sigma of the Gaussian, b of the Laplace, in pixel
# units of [0, 1] images.  A choice of this course (0.1 = a tenth of the pixel range), not a paper's.
DEFAULT_SCALE = {"gaussian": 0.1, "laplace": 0.1}
ESTIMATORS = ("mss", "mws")


# --------------------------------------------------------------------------------------------------
# input checks (every public function says what is wrong and how to fix it)
# --------------------------------------------------------------------------------------------------
def _check_tensor(name: str, t, ndim: int | None = None) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}; use .float()")


def _check_finite(**tensors) -> None:
    for name, t in tensors.items():
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values; check the data and, during training, "
                             f"lower the learning rate (a NaN usually means the weights diverged)")


def _check_same_shape(a_name, a, b_name, b) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{a_name} and {b_name} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def _check_weight(name: str, value, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def _check_posterior(mu, logvar, z=None, check_values: bool = True) -> None:
    _check_tensor("mu", mu, ndim=2)
    _check_tensor("logvar", logvar, ndim=2)
    _check_same_shape("mu", mu, "logvar", logvar)
    if z is not None:
        _check_tensor("z", z, ndim=2)
        _check_same_shape("z", z, "mu", mu)
    if check_values:
        _check_finite(**({} if z is None else {"z": z}), mu=mu, logvar=logvar)


# --------------------------------------------------------------------------------------------------
# reconstruction: -log p(x|z), summed over pixels, mean over the batch
# --------------------------------------------------------------------------------------------------
def reconstruction_loss(x: torch.Tensor, logits: torch.Tensor, distribution: str = "bernoulli",
                        scale: float | None = None, *, check_values: bool = True) -> torch.Tensor:
    """Negative log-likelihood -log p(x|z) in nats, summed over pixels and channels, averaged over the batch.

    ``x``: images ``(B, C, H, W)`` in [0, 1]; ``logits``: the decoder's output, same shape.

    - ``"bernoulli"``: p(x|z) = prod Bernoulli(x; sigmoid(logits)), computed from the logits with
      the stable log-sigmoid form (``binary_cross_entropy_with_logits``).  Needs x in [0, 1]
      (the usual choice for dSprites: Higgins et al. 2017; Burgess et al. 2018).  It is a negative
      log-likelihood only for binary images (dSprites).  On grey or colour images (3D Shapes) it is the
      cross-entropy the papers train with, but not a normalised NLL: the Bernoulli mass function is no
      density on [0, 1].  The continuous Bernoulli (Loaiza-Ganem & Cunningham, NeurIPS 2019) adds the
      log-normaliser log C(lambda), C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda); this package does
      not add it, so compare such numbers only with each other, not with densities or across data sets.
    - ``"gaussian"``: p(x|z) = prod N(x; sigmoid(logits), scale^2), a density:
      -log p = sum [ (x - m)^2 / (2 scale^2) + log scale + log(2 pi) / 2 ].
    - ``"laplace"``: p(x|z) = prod Laplace(x; sigmoid(logits), scale):
      -log p = sum [ |x - m| / scale + log(2 scale) ].

    ``scale`` (sigma, or b) defaults to ``DEFAULT_SCALE`` (0.1 in [0, 1] pixel units).  The continuous
    likelihoods are densities, so their NLL can be negative.  Returns a scalar tensor.

    ``check_values=False`` skips the checks that read every value (NaN / infinity, pixels in [0, 1]):
    each is a pass over the batch and a wait for its result.  The objectives check their first
    batch only, and the training loop watches the loss for NaNs.  Shapes and dtypes are always checked.
    """
    if distribution not in LIKELIHOODS:
        raise ValueError(f"unknown distribution {distribution!r}; choose one of {LIKELIHOODS}")
    _check_tensor("x", x)
    _check_tensor("logits", logits)
    _check_same_shape("x (the images)", x, "logits (the decoder output)", logits)
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and at least one pixel axis, got shape {tuple(x.shape)}")
    if check_values:
        _check_finite(x=x, logits=logits)
    batch = x.shape[0]
    if distribution == "bernoulli":
        if scale is not None:
            raise ValueError("the Bernoulli likelihood has no scale; pass scale only with 'gaussian' or 'laplace'")
        lo, hi = torch.aminmax(x) if check_values else (0, 1)
        if lo < 0 or hi > 1:
            raise ValueError(f"the Bernoulli likelihood needs pixels in [0, 1], got values in [{float(lo):.3g}, "
                             f"{float(hi):.3g}]; divide uint8 images by 255, or use 'gaussian' / 'laplace'")
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / batch
    scale = DEFAULT_SCALE[distribution] if scale is None else _check_weight("scale", scale, allow_zero=False)
    mean = torch.sigmoid(logits)
    n_pixels = x[0].numel()
    if distribution == "gaussian":
        squared = ((x - mean) ** 2).sum() / batch
        return squared / (2 * scale ** 2) + n_pixels * (math.log(scale) + 0.5 * LOG_2PI)
    absolute = (x - mean).abs().sum() / batch
    return absolute / scale + n_pixels * math.log(2 * scale)


# --------------------------------------------------------------------------------------------------
# KL and Gaussian log densities
# --------------------------------------------------------------------------------------------------
def kl_normal(mu: torch.Tensor, logvar: torch.Tensor, *, check_values: bool = True) -> torch.Tensor:
    """KL(q(z_j|x) || N(0, 1)) per sample and dimension, ``(B, D)``, in closed form.

    KL = (mu^2 + sigma^2 - 1 - log sigma^2) / 2   (Kingma & Welling 2013, appendix B).
    ``check_values=False`` skips the NaN check (see ``reconstruction_loss``).
    """
    _check_posterior(mu, logvar, check_values=check_values)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_density_gaussian(z: torch.Tensor, mu, logvar) -> torch.Tensor:
    """Elementwise log N(z; mu, exp(logvar)) = -(log 2 pi + logvar + (z - mu)^2 / exp(logvar)) / 2.

    Broadcasts like any torch arithmetic: ``(B, D)`` with ``(B, D)`` gives ``(B, D)``; the prior is
    ``log_density_gaussian(z, 0., 0.)``.  Sum over the last axis for the log density of a vector.
    """
    mu = torch.as_tensor(mu, dtype=z.dtype, device=z.device)
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def pairwise_log_density_gaussian(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z_i,d | x_j) for every pair: ``(B, B, D)``, entry ``[i, j, d]``.

    ``z``: samples ``(B, D)`` (row i drawn from q(z|x_i)); ``mu``, ``logvar``: ``(B, D)``.
    """
    return log_density_gaussian(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))


# --------------------------------------------------------------------------------------------------
# log q(z) from a minibatch: minibatch weighted / stratified sampling (Chen et al. 2018)
# --------------------------------------------------------------------------------------------------
def _check_sizes(batch_size, dataset_size, estimator) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose 'mss' (minibatch stratified sampling) "
                         f"or 'mws' (minibatch weighted sampling)")
    for name, value in (("batch_size", batch_size), ("dataset_size", dataset_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if dataset_size < batch_size:
        raise ValueError(f"the data set size N={dataset_size} is smaller than the batch ({batch_size}); "
                         f"N must be the number of training images the batch is drawn from")
    if estimator == "mss" and batch_size < 2:
        raise ValueError("minibatch stratified sampling needs a batch of at least 2 codes")


def log_importance_weights(batch_size: int, dataset_size: int, estimator: str = "mss", *,
                           dtype=torch.float32, device=None) -> torch.Tensor:
    """log w_ij ``(B, B)`` such that q(z_i) ~= sum_j w_ij q(z_i | x_j), for a batch of B from N images.

    ``"mws"``, minibatch weighted sampling (Chen et al. 2018, section 4.1 and appendix C.1):
    every w_ij = 1 / (N B), so log q(z_i) ~= logsumexp_j log q(z_i|x_j) - log(N B).  The paper
    derives it as a lower bound, and it is biased: a row sums to 1/N, not 1, and the anchor x_i
    weighs as much as any other image.  Its log q(z) is too low by about log B where the
    posteriors do not overlap and by about log N where they all coincide, so the printed MI / TC /
    dim-wise KL are shifted.  The constant log(N B) has no gradient, but the bias depends on the
    overlap, hence on the parameters, and the anchor's weight differs from MSS's: the gradients of
    the two estimates differ (lesson 05 measures it).

    ``"mss"``, minibatch stratified sampling (Chen et al. 2018, appendix C.2; the paper writes the
    batch as B_{M+1}, so M = B - 1 here).  For the code z_i of image n* = x_i the data set is
    split into strata: {n*}, B - 2 strata of N / (B - 1) images each, and n*'s own stratum
    without n* (N / (B - 1) - 1 images); each of the other B - 1 batch images stands for one
    stratum.  That makes the estimate of q(z_i) unbiased, with weights
        w_ii            = 1 / N                        (the anchor itself)
        w_i,(i+1 mod B) = (N - B + 1) / (N (B - 1))    (the anchor's remaining stratum)
        all other w_ij  = 1 / (B - 1)
    Each row sums to 1.  (Which off-diagonal entry takes the remainder weight does not matter for
    an i.i.d. batch; this uses the next one, cyclically.)  The published code (rtqichen/beta-tcvae,
    ``_log_importance_weight_matrix``, copied into YannDubs/disentangling-vae and many others)
    writes ``W.view(-1)[::M+1] = 1/N`` with M = B - 1: that stride is B, not B + 1, so 1/N goes
    down column 0 (and the remainder weight down column 1) instead of onto the diagonal, and its
    wrap-around entry ``W[M-1, 0]`` lands in row B - 2 instead of row B - 1.  Only row 0 comes out
    as the paper says (see rtqichen/beta-tcvae pull request #1, YannDubs/disentangling-vae
    issue #58).  This function puts every weight where the paper does; the tests check the matrix.
    """
    _check_sizes(batch_size, dataset_size, estimator)
    B, N = batch_size, dataset_size
    if estimator == "mws":
        return torch.full((B, B), -math.log(N * B), dtype=dtype, device=device)
    weights = torch.full((B, B), 1.0 / (B - 1), dtype=torch.float64)
    rows = torch.arange(B)
    weights[rows, rows] = 1.0 / N
    weights[rows, (rows + 1) % B] = (N - B + 1) / (N * (B - 1))
    return weights.log().to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _log_importance_weights_on(batch_size: int, dataset_size: int, estimator: str, dtype, device) -> torch.Tensor:
    """``log_importance_weights``, built once per (sizes, dtype, device): every training step needs the same
    matrix, and building it on the CPU then copying it to a GPU would make each step wait for the copy."""
    return log_importance_weights(batch_size, dataset_size, estimator, dtype=dtype, device=device)


def estimate_log_qz(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                    estimator: str = "mss") -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of the aggregate posterior q(z) = (1/N) sum_n q(z|x_n) at the batch's codes.

    Returns ``(log_qz (B,), log_qz_marginals (B, D))`` with
        log q(z_i)    ~= logsumexp_j [ log w_ij + sum_d log q(z_i,d | x_j) ]
        log q(z_i,d)  ~= logsumexp_j [ log w_ij + log q(z_i,d | x_j) ]        (each dimension d)
    The weights enter once per logsumexp, for the joint and for every marginal alike.  Two slips
    seen in public code: adding the log weights to every dimension before summing over dimensions
    (the joint then gets the weight D times), and dropping the MWS constant -log(N B) (the TC then
    drops by (D - 1) log(N B); disentanglement_lib's ``total_correlation`` drops it on purpose and
    says so in its docstring).  YannDubs/disentangling-vae issue #60 discusses both.
    """
    log_w = _log_importance_weights_on(z.shape[0], dataset_size, estimator, z.dtype, z.device)    # (B, B)
    log_q_pairs = pairwise_log_density_gaussian(z, mu, logvar)                     # (B, B, D)
    log_qz = torch.logsumexp(log_w + log_q_pairs.sum(dim=2), dim=1)                # (B,)
    log_qz_marginals = torch.logsumexp(log_w.unsqueeze(2) + log_q_pairs, dim=1)    # (B, D)
    return log_qz, log_qz_marginals


def estimate_log_qz_reference(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                              chunk_elements: int = 2**18) -> tuple[torch.Tensor, torch.Tensor]:
    """q(z) and its marginals at codes z_i ~ q(z|x_i), estimated from K reference images of the N.

    ``mu``, ``logvar``: ``(K, D)``, the posteriors of K images drawn uniformly without replacement from
    the N = ``dataset_size`` images; ``z``: ``(n, D)``, n <= K, row i drawn from the posterior of
    reference image i.  Stratified as in Chen et al.'s MSS (2018, appendix C.2), with the whole reference
    set in place of a batch: image i itself, and the K - 1 others as a uniform sample of the other N - 1,
        q(z_i) ~= (1/N) q(z_i|x_i) + (N - 1) / ((K - 1) N) * sum_{k != i} q(z_i|x_k)
    and the same for every q(z_id).  The estimate of q(z_i) is unbiased; its log is low only by about
    half the estimate's relative variance, which shrinks as K grows, and at K = N it is exact.
    Returns ``(log_qz (n,), log_qz_marginals (n, D))``.

    Cost: n * K * D Gaussian log densities.  The joint ones are summed over d without being formed:
        sum_d log q(z_d|x_k) = c_k - sum_d z_d^2 / (2 s_kd^2) + sum_d z_d mu_kd / s_kd^2,
        c_k = sum_d [-(log 2 pi + log s_kd^2) / 2 - mu_kd^2 / (2 s_kd^2)],
    two matrix products per chunk of codes; the marginals take one (codes, K) matrix per dimension.
    Chunks of codes hold at most ``chunk_elements`` log densities (small enough to stay in the CPU's
    cache: 2**18 is about 4x faster than building all (codes, K, D) at once).
    """
    n, K = z.shape[0], mu.shape[0]
    if not 2 <= K <= dataset_size or n > K:
        raise ValueError(f"need 2 <= K <= N and n <= K: got n = {n} codes, K = {K} reference images, "
                         f"N = {dataset_size}")
    log_w_own = -math.log(dataset_size)
    log_w_other = math.log(dataset_size - 1) - math.log(K - 1) - math.log(dataset_size)
    precision, log_norm = torch.exp(-logvar), -0.5 * (LOG_2PI + logvar)              # (K, D) each
    const = (log_norm - 0.5 * mu.square() * precision).sum(1)                        # (K,)
    quadratic, linear = (-0.5 * precision).T.contiguous(), (mu * precision).T.contiguous()   # (D, K) each
    mu_t, precision_t, log_norm_t = mu.T.contiguous(), precision.T.contiguous(), log_norm.T.contiguous()
    log_own_all = log_density_gaussian(z, mu[:n], logvar[:n])                       # (n, D): each code's own image
    log_qz, log_qz_marginals = [], []
    rows = max(1, chunk_elements // K)
    for i in range(0, n, rows):
        zc, log_own = z[i:i + rows], log_own_all[i:i + rows]                          # (c, D) each
        own = torch.arange(len(zc))
        joint = torch.addmm(const.expand(len(zc), K), zc.square(), quadratic).addmm_(zc, linear)   # (c, K)
        joint[own, i + own] = -math.inf                                               # the others only
        log_qz.append(torch.logaddexp(log_own.sum(1) + log_w_own, torch.logsumexp(joint, 1) + log_w_other))
        others = torch.empty_like(zc)
        for d in range(z.shape[1]):
            pairs = (zc[:, d:d + 1] - mu_t[d]).square_().mul_(-0.5 * precision_t[d]).add_(log_norm_t[d])  # (c, K)
            pairs[own, i + own] = -math.inf
            others[:, d] = torch.logsumexp(pairs, 1)
        log_qz_marginals.append(torch.logaddexp(log_own + log_w_own, others + log_w_other))
    return torch.cat(log_qz), torch.cat(log_qz_marginals)


def tc_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int,
                     estimator: str = "mss", *, check_values: bool = True) -> dict[str, torch.Tensor]:
    """Split E_x KL(q(z|x) || p(z)) into index-code MI + total correlation + dimension-wise KL.

    Chen et al. 2018, eq. (2), with q(z) estimated on the batch (``estimate_log_qz``):
        mi    = E[ log q(z|x) - log q(z) ]                      I_q(z; x)
        tc    = E[ log q(z) - sum_d log q(z_d) ]                KL(q(z) || prod_d q(z_d))
        dw_kl = E[ sum_d log q(z_d) - log p(z) ]                sum_d KL(q(z_d) || p(z_d))
    the expectations being batch means over z_i ~ q(z|x_i).  The three terms add up exactly to the
    Monte-Carlo KL E[log q(z|x) - log p(z)] of the same samples, whatever the estimator.  Works for
    any model with a Gaussian posterior, so every method's codes can be decomposed.

    ``z``, ``mu``, ``logvar``: ``(B, D)``; ``dataset_size``: N, the number of images q(z) averages
    over (the training set).  Returns a dict of scalar tensors ``mi``, ``tc``, ``dw_kl``.
    ``check_values=False`` skips the NaN check (see ``reconstruction_loss``).
    """
    _check_posterior(mu, logvar, z, check_values)
    _check_sizes(z.shape[0], dataset_size, estimator)
    log_qz, log_qz_marginals = estimate_log_qz(z, mu, logvar, dataset_size, estimator)
    terms = decomposition_terms(z, mu, logvar, log_qz, log_qz_marginals)
    return {k: terms[k].mean() for k in ("mi", "tc", "dw_kl")}             # batch means


def decomposition_terms(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, log_qz: torch.Tensor,
                        log_qz_marginals: torch.Tensor) -> dict[str, torch.Tensor]:
    """The terms of Chen et al. 2018, eq. (2), per code, given estimates of log q(z_i) and log q(z_i,d).

    ``z``, ``mu``, ``logvar``: ``(B, D)``, row i drawn from q(z|x_i); ``log_qz``: ``(B,)``;
    ``log_qz_marginals``: ``(B, D)`` (``estimate_log_qz`` or ``estimate_log_qz_reference``).
    Returns ``(B,)`` tensors ``mi``, ``tc``, ``dw_kl`` and ``kl`` = log q(z|x) - log p(z), their sum.
    """
    log_qz_given_x = log_density_gaussian(z, mu, logvar).sum(dim=1)               # (B,)
    log_pz = log_density_gaussian(z, 0.0, 0.0).sum(dim=1)                         # (B,)
    log_prod_qz = log_qz_marginals.sum(dim=1)                                     # (B,)
    return {
        "mi": log_qz_given_x - log_qz,               # index-code mutual information   (eq. (2), i)
        "tc": log_qz - log_prod_qz,                  # total correlation               (eq. (2), ii)
        "dw_kl": log_prod_qz - log_pz,               # dimension-wise KL               (eq. (2), iii)
        "kl": log_qz_given_x - log_pz,               # Monte-Carlo KL(q(z|x) || p(z)), the sum of the three
    }


# --------------------------------------------------------------------------------------------------
# beta conventions and the capacity schedule
# --------------------------------------------------------------------------------------------------
def normalized_beta(beta: float, latent_dim: int, n_pixels: int) -> float:
    """Higgins et al. 2017's beta_norm = beta * M / N (M latent dimensions, N input pixels x channels)."""
    return _check_weight("beta", beta) * latent_dim / n_pixels


def beta_from_normalized(beta_norm: float, latent_dim: int, n_pixels: int) -> float:
    """The beta of this module's sum-over-pixels convention for a normalised beta_norm = beta M / N."""
    return _check_weight("beta_norm", beta_norm) * n_pixels / latent_dim


def linear_capacity(step: int, c_min: float, c_max: float, c_steps: int) -> float:
    """C at ``step``: rises linearly from ``c_min`` to ``c_max`` over ``c_steps`` steps, then stays (Burgess et al. 2018)."""
    return c_min + (c_max - c_min) * min(max(step, 0) / c_steps, 1.0)


# --------------------------------------------------------------------------------------------------
# objectives: one per method, one call signature
# --------------------------------------------------------------------------------------------------
class Objective:
    """Base class: ``objective(output, x, step) -> dict`` of terms for one training step.

    ``output``: ``models.VAEOutput`` of ``model(x, sample=True)``; ``x``: the batch ``(B, C, H, W)``;
    ``step``: the 0-based training step (for schedules).  The training loop also calls:

    - ``prepare(model, dataset_size, device, seed)`` once before the first step;
    - ``auxiliary_parameters()``: weights the objective itself learns (FactorVAE's discriminator;
      empty for the others).  The training loop gives them their own optimiser
      (``auxiliary_optimizer``: Adam's settings) and, after each optimiser step of the model, takes
      one step on ``auxiliary_terms(model, output, step=, next_batch=, generator=)[auxiliary_loss]``
      (FactorVAE's discriminator; InfoGAN's D and Q, which live in its model);
    - ``after_step(model, output, step=, generator=)``: updates without gradients after the model's
      step (VQ-VAE's EMA codebook and restarts of unused entries);
    - ``build_model(...)``: the model it trains (``models.VAE``; VQ-VAE and InfoGAN their own), used by
      ``train.run``, ``train.build_from_checkpoint`` and the live-run cache;
    - ``state_dict()`` / ``load_state_dict()`` for what a checkpoint must keep besides the model.
    """

    name = "objective"
    title = "an objective"
    # the model it trains: "VAE" (models.VAE on images, train.fit; a Gaussian posterior), "VQVAE" / "GAN" (their
    # own image models, train.fit; no Gaussian posterior), or "IVAE" (ivae.fit, tabular data)
    model_type = "VAE"

    def __init__(self, distribution: str = "bernoulli", scale: float | None = None):
        if distribution not in LIKELIHOODS:
            raise ValueError(f"unknown distribution {distribution!r}; choose one of {LIKELIHOODS}")
        if scale is not None:
            if distribution == "bernoulli":
                raise ValueError("the Bernoulli likelihood has no scale; pass scale only with 'gaussian' or 'laplace'")
            _check_weight("scale", scale, allow_zero=False)
        self.distribution, self.scale = distribution, scale
        self.values_checked = False   # the first batch's values are checked (NaNs, pixel range), then no more

    # -- what every method shares ------------------------------------------------------------------
    def elbo_terms(self, output: VAEOutput, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``recon`` (scalar), ``kl_per_dim`` ``(D,)`` and ``kl`` (scalar): the two halves of -ELBO.

        The values of the first batch are checked (NaNs, pixels in [0, 1]); later batches are not,
        as each check is a pass over the batch (the training loop watches the loss for NaNs).
        """
        check = not self.values_checked
        recon = reconstruction_loss(x, output.logits, self.distribution, self.scale, check_values=check)
        kl_per_dim = kl_normal(output.mu, output.logvar, check_values=check).mean(dim=0)   # (D,) batch mean
        self.values_checked = True
        return {"recon": recon, "kl": kl_per_dim.sum(), "kl_per_dim": kl_per_dim}

    def __call__(self, output: VAEOutput, x: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def hparams(self) -> dict:
        """Constructor arguments: ``make_objective(self.name, **self.hparams)`` rebuilds this objective."""
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def formula(self) -> str:
        raise NotImplementedError

    def describe(self, latent_dim: int = 10, n_pixels: int = 64 * 64) -> str:
        """The loss in words, with its reductions and (where there is a beta) Higgins's normalised beta."""
        recon = {"bernoulli": "Bernoulli NLL", "gaussian": f"Gaussian NLL (sigma = {self.scale or DEFAULT_SCALE['gaussian']})",
                 "laplace": f"Laplace NLL (b = {self.scale or DEFAULT_SCALE['laplace']})"}[self.distribution]
        lines = [f"{self.name}: loss = {self.formula()}",
                 f"  recon = {recon}, summed over {n_pixels} pixels, mean over the batch",
                 f"  KL terms summed over {latent_dim} latent dimensions, mean over the batch (nats)"]
        for weight in ("beta", "gamma"):
            value = getattr(self, weight, None)
            if value is not None and weight in self.normalisable:
                lines.append(f"  {weight} = {value:g}  (normalised, Higgins et al. 2017: {weight}*M/N = "
                             f"{value:g}*{latent_dim}/{n_pixels} = {normalized_beta(value, latent_dim, n_pixels):.3g})")
        return "\n".join(lines)

    normalisable: tuple = ()

    @property
    def decomposable(self) -> bool:
        """A Gaussian posterior q(z|x) (``model_type == "VAE"``): its MI / TC / dim-wise KL split is logged
        by ``train.fit`` and scored by ``evaluate``."""
        return self.model_type == "VAE"

    def build_model(self, latent_dim: int = 10, in_channels: int = 1, image_size: int = 64,
                    architecture: str = "burgess", **saved) -> torch.nn.Module:
        """The model this objective trains (``models.VAE`` here; VQ-VAE and InfoGAN build their own)."""
        from .models import VAE

        return VAE(latent_dim, in_channels, image_size, architecture, **saved)

    # -- hooks for the training loop (no-ops unless a method needs them) --------------------------
    auxiliary_loss: str | None = None   # the term of auxiliary_terms that the auxiliary optimiser minimises

    def prepare(self, model, dataset_size: int, device, seed: int = 0) -> None:
        pass

    def auxiliary_parameters(self) -> list:
        """The weights the objective learns besides the model's (none, unless a method has a network)."""
        return []

    def auxiliary_optimizer(self) -> dict:
        """Adam's settings (lr, betas) for ``auxiliary_parameters``."""
        return {}

    def auxiliary_terms(self, model, output: VAEOutput, *, step: int, next_batch, generator=None) -> dict:
        """Scalar terms of the auxiliary step, ``auxiliary_loss`` among them (with gradients)."""
        return {}

    def after_step(self, model, output, *, step: int, generator=None) -> dict:
        """Updates without gradients after the model's optimiser step (VQ-VAE: EMA codebook, restarts of
        unused entries); returns scalar terms to log.  Nothing for most methods."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"{type(self).__name__}({args})"


class VAELoss(Objective):
    """The VAE: loss = -ELBO = recon + KL (Kingma & Welling 2013, eq. (10))."""

    name = "vae"
    title = "VAE (Kingma & Welling 2013)"

    def formula(self):
        return "recon + kl"

    def __call__(self, output, x, step):
        terms = self.elbo_terms(output, x)
        terms["loss"] = terms["recon"] + terms["kl"]                    # -ELBO, Kingma & Welling 2013 eq. (10)
        return terms


class BetaVAELoss(Objective):
    """beta-VAE: loss = recon + beta * KL (Higgins et al. 2017, eq. (4)).

    beta multiplies the KL summed over latents, the reconstruction being summed over pixels (the
    convention of Higgins et al.: beta = 4 on dSprites, beta_norm = 4 * 10 / 4096 ~= 0.0098).
    """

    name = "betavae"
    title = "beta-VAE (Higgins et al. 2017)"
    normalisable = ("beta",)

    def __init__(self, beta: float = 4.0, distribution: str = "bernoulli", scale: float | None = None):
        super().__init__(distribution, scale)
        self.beta = _check_weight("beta", beta)

    def formula(self):
        return "recon + beta * kl"

    def __call__(self, output, x, step):
        terms = self.elbo_terms(output, x)
        terms["loss"] = terms["recon"] + self.beta * terms["kl"]        # Higgins et al. 2017, eq. (4)
        return terms


class CapacityLoss(Objective):
    """beta-VAE with a controlled capacity increase (Burgess et al. 2018, eq. (8)).

    loss = recon + gamma * |KL - C|, with C rising linearly from ``c_min`` to ``c_max`` nats over
    ``c_steps`` steps.  Burgess et al. use gamma = 1000 and C from 0 to 25 nats on dSprites; their
    schedule spans 100,000 steps, shorten ``c_steps`` for short runs.
    """

    name = "capacity"
    title = "capacity-annealed beta-VAE (Burgess et al. 2018)"
    normalisable = ("gamma",)

    def __init__(self, gamma: float = 1000.0, c_min: float = 0.0, c_max: float = 25.0, c_steps: int = 100_000,
                 distribution: str = "bernoulli", scale: float | None = None):
        super().__init__(distribution, scale)
        self.gamma = _check_weight("gamma", gamma)
        self.c_min = _check_weight("c_min", c_min)
        self.c_max = _check_weight("c_max", c_max)
        if self.c_max < self.c_min:
            raise ValueError(f"c_max ({c_max}) must be >= c_min ({c_min}): the capacity rises during training")
        if isinstance(c_steps, bool) or not isinstance(c_steps, int) or c_steps < 1:
            raise ValueError(f"c_steps must be a positive int (steps over which C rises), got {c_steps!r}")
        self.c_steps = c_steps

    def formula(self):
        return "recon + gamma * |kl - C(step)|"

    def capacity(self, step: int) -> float:
        return linear_capacity(step, self.c_min, self.c_max, self.c_steps)

    def __call__(self, output, x, step):
        terms = self.elbo_terms(output, x)
        c = self.capacity(step)
        terms["capacity"] = terms["kl"].new_full((), c)        # made on kl's device: no copy from the host
        terms["loss"] = terms["recon"] + self.gamma * (terms["kl"] - c).abs()   # Burgess et al. 2018, eq. (8)
        return terms


class FactorVAELoss(Objective):
    """FactorVAE (Kim & Mnih 2018, eq. (2) and Algorithm 2).

    VAE step: loss = recon + KL + gamma * TC, with TC = mean_i log D(z_i) / (1 - D(z_i)) from the
    discriminator's logits (density-ratio trick).  The discriminator's weights are frozen in this
    step: gamma * TC trains the encoder only.

    Discriminator step (``auxiliary_terms``, after the VAE's optimiser step): a second batch x'
    is encoded without gradients, z' ~ q(z|x') is permuted dimension-wise (``permute_dims``), and
    D minimises the cross entropy ``disc_loss`` of "z from q(z)" (class 0: the first batch's codes,
    detached) against "z' from prod_j q(z_j)" (class 1).  The training loop steps D with its own
    Adam optimiser (``auxiliary_optimizer``: lr 1e-4, betas (0.5, 0.9) as in Kim & Mnih 2018).
    Nothing of this update reaches the encoder.

    gamma: Locatello et al. 2019 sweep gamma in {10, 20, 30, 40, 50, 100} on dSprites.
    """

    name = "factorvae"
    title = "FactorVAE (Kim & Mnih 2018)"

    def __init__(self, gamma: float = 35.0, disc_lr: float = 1e-4, disc_betas: tuple = (0.5, 0.9),
                 disc_hidden: int = 1000, disc_layers: int = 6,
                 distribution: str = "bernoulli", scale: float | None = None):
        super().__init__(distribution, scale)
        self.gamma = _check_weight("gamma", gamma)
        self.disc_lr = _check_weight("disc_lr", disc_lr, allow_zero=False)
        self.disc_betas = tuple(float(b) for b in disc_betas)
        if len(self.disc_betas) != 2 or not all(0 <= b < 1 for b in self.disc_betas):
            raise ValueError(f"disc_betas must be two numbers in [0, 1), got {disc_betas!r}")
        self.disc_hidden, self.disc_layers = int(disc_hidden), int(disc_layers)
        self.discriminator: Discriminator | None = None

    auxiliary_loss = "disc_loss"

    def formula(self):
        return "recon + kl + gamma * tc_disc   (tc_disc: the discriminator's TC estimate)"

    def prepare(self, model, dataset_size, device, seed=0):
        """Build the discriminator (seeded, without touching torch's global random state)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.discriminator = Discriminator(model.latent_dim, self.disc_hidden, self.disc_layers)
        self.discriminator.to(device)

    def auxiliary_parameters(self):
        self._require_discriminator()
        return list(self.discriminator.parameters())

    def auxiliary_optimizer(self):
        return {"lr": self.disc_lr, "betas": self.disc_betas}

    def _require_discriminator(self):
        if self.discriminator is None:
            raise RuntimeError("FactorVAE's discriminator does not exist yet: call objective.prepare(model, "
                               "dataset_size, device) first (train.fit does this for you)")

    def __call__(self, output, x, step):
        self._require_discriminator()
        terms = self.elbo_terms(output, x)
        self.discriminator.requires_grad_(False)          # the VAE step must not train D
        # named tc_disc so that "tc" stays the minibatch-stratified estimate every method logs
        terms["tc_disc"] = self.discriminator.tc_estimate(output.z).mean()
        terms["loss"] = terms["recon"] + terms["kl"] + self.gamma * terms["tc_disc"]   # Kim & Mnih 2018, eq. (2)
        return terms

    def discriminator_loss(self, z: torch.Tensor, z_permuted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross entropy of D on codes of q(z) (class 0) and permuted codes (class 1); and D's accuracy.

        Kim & Mnih 2018, Algorithm 2, line 10: minimise -[mean log D(z) + mean log(1 - D(z_perm))] / 2.
        """
        logits = self.discriminator(torch.cat([z, z_permuted]))      # one pass over both halves (faster)
        logits_q, logits_perm = logits[:len(z)], logits[len(z):]
        zeros = torch.zeros(len(z), dtype=torch.long, device=z.device)
        ones = torch.ones(len(z_permuted), dtype=torch.long, device=z.device)
        loss = 0.5 * (F.cross_entropy(logits_q, zeros) + F.cross_entropy(logits_perm, ones))
        accuracy = 0.5 * ((logits_q.argmax(1) == 0).float().mean() + (logits_perm.argmax(1) == 1).float().mean())
        return loss, accuracy

    def discriminator_terms(self, z: torch.Tensor, z_other: torch.Tensor, generator=None) -> dict:
        """D's loss on detached codes ``z`` (class 0) and ``permute_dims(z_other)`` (class 1); gradients reach D only.

        Returns ``disc_loss`` (minimise it with an optimiser over ``discriminator.parameters()``)
        and ``disc_accuracy``.
        """
        self._require_discriminator()
        self.discriminator.requires_grad_(True)
        z_permuted = permute_dims(z_other.detach(), generator)
        loss, accuracy = self.discriminator_loss(z.detach(), z_permuted)
        return {"disc_loss": loss, "disc_accuracy": accuracy.detach()}

    def auxiliary_terms(self, model, output, *, step, next_batch, generator=None):
        with torch.no_grad():                              # Algorithm 2, lines 7-8: a second batch
            mu, logvar = model.encode(next_batch())
            z_other = sample_gaussian(mu, logvar, generator)
        return self.discriminator_terms(output.z, z_other, generator)

    def state_dict(self):
        self._require_discriminator()
        return {"discriminator": self.discriminator.state_dict()}

    def load_state_dict(self, state):
        self._require_discriminator()
        self.discriminator.load_state_dict(state["discriminator"])   # (older checkpoints also hold D's optimiser)


class BetaTCVAELoss(Objective):
    """beta-TCVAE (Chen et al. 2018, eq. (4)): loss = recon + alpha * MI + beta * TC + gamma * dim-wise KL.

    The three terms come from ``tc_decomposition`` with the chosen estimator (``"mss"``: minibatch
    stratified sampling, unbiased for q(z); ``"mws"``: minibatch weighted sampling, the paper's
    main-text estimator).  ``dataset_size`` N is the number of training images; ``train.fit`` fills
    it in from the training pool when left as None.  Chen et al. use alpha = gamma = 1, beta = 6.
    With alpha = beta = gamma = 1 this is the VAE (up to the estimator's noise).  ``kl`` reports the
    closed-form KL for comparison; it is not part of the loss.
    """

    name = "btcvae"
    title = "beta-TCVAE (Chen et al. 2018)"
    normalisable = ("beta",)

    def __init__(self, beta: float = 6.0, alpha: float = 1.0, gamma: float = 1.0, dataset_size: int | None = None,
                 estimator: str = "mss", distribution: str = "bernoulli", scale: float | None = None):
        super().__init__(distribution, scale)
        self.alpha = _check_weight("alpha", alpha)
        self.beta = _check_weight("beta", beta)
        self.gamma = _check_weight("gamma", gamma)
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; choose 'mss' or 'mws'")
        if dataset_size is not None and (isinstance(dataset_size, bool) or not isinstance(dataset_size, int)
                                         or dataset_size < 1):
            raise ValueError(f"dataset_size must be a positive int (the number of training images), got {dataset_size!r}")
        self.estimator, self.dataset_size = estimator, dataset_size

    def formula(self):
        return "recon + alpha * mi + beta * tc + gamma * dw_kl"

    def prepare(self, model, dataset_size, device, seed=0):
        if self.dataset_size is None:
            self.dataset_size = int(dataset_size)

    def __call__(self, output, x, step):
        if self.dataset_size is None:
            raise RuntimeError("beta-TCVAE needs dataset_size (the number of training images): pass it to "
                               "make_objective('btcvae', dataset_size=N), or train with train.fit which sets it")
        terms = self.elbo_terms(output, x)
        terms.update(tc_decomposition(output.z, output.mu, output.logvar, self.dataset_size, self.estimator,
                                      check_values=False))           # mu, logvar checked in elbo_terms
        terms["loss"] = (terms["recon"] + self.alpha * terms["mi"] + self.beta * terms["tc"]
                         + self.gamma * terms["dw_kl"])                     # Chen et al. 2018, eq. (4)
        return terms


class VQVAELoss(Objective):
    """VQ-VAE (van den Oord et al. 2017, eq. (3)): loss = recon + codebook + beta * commitment.

    ``codebook`` = ||sg[z_e] - e||^2 and ``commitment`` = ||z_e - sg[e]||^2, each summed over the codes'
    numbers and averaged over the batch (the paper's beta = 0.25).  With ``ema_decay`` in (0, 1) the
    codebook follows exponential moving averages instead (appendix A.1; 0.99 there) and the codebook
    term is logged but not optimised.  Also logged: ``perplexity`` and ``codes_used`` of the batch's
    codes (``codebook_usage``), and the constant ``kl`` = latent_dim * log K.  A
    ``DeadCodebookWarning`` is raised (once) when, over a window of ``usage_window`` steps, fewer than
    ``min_usage`` of the entries were chosen.

    ``restart_dead`` (not in van den Oord et al.): the codebook starts as random encoder outputs of the
    first batch, and at the end of every window the entries no code chose are moved to random encoder
    outputs of the current batch (``restarted`` logs how many) -- the "random restarts" against
    codebook collapse of Dhariwal et al. 2020 (Jukebox).  A short measurement of this project (300 steps,
    the course's small net, 32x32 dSprites, batch 128, one seed): without restarts the codes used 8 of the
    32 entries, the same ones for every image, with or without EMA; with them, 25 of 32 by step 300.
    (At 300 steps a VAE with the same net also still draws the mean image, so this does not show how
    either run ends.)
    """

    name = "vqvae"
    title = "VQ-VAE (van den Oord et al. 2017)"
    model_type = "VQVAE"      # no Gaussian posterior: train.fit does not log the MI / TC / dim-wise KL split

    def __init__(self, beta: float = 0.25, codebook_size: int = 32, embedding_dim: int = 4, ema_decay: float = 0.0,
                 min_usage: float = 0.1, usage_window: int = 100, restart_dead: bool = True,
                 distribution: str = "bernoulli", scale: float | None = None):
        super().__init__(distribution, scale)
        self.beta = _check_weight("beta", beta)
        if not 0 <= ema_decay < 1:
            raise ValueError(f"ema_decay must lie in [0, 1) (0: codebook trained by the loss; 0.99: the paper's "
                             f"EMA), got {ema_decay}")
        if not 0 <= min_usage <= 1:
            raise ValueError(f"min_usage is a fraction of the codebook in [0, 1], got {min_usage}")
        if isinstance(usage_window, bool) or not isinstance(usage_window, int) or usage_window < 1:
            raise ValueError(f"usage_window must be a positive int (steps), got {usage_window!r}")
        self.codebook_size, self.embedding_dim, self.ema_decay = codebook_size, embedding_dim, float(ema_decay)
        self.min_usage, self.usage_window, self.restart_dead = float(min_usage), usage_window, bool(restart_dead)
        self._window_counts, self._window_steps, self.warned, self._initialised = None, 0, False, False

    def build_model(self, latent_dim: int = 10, in_channels: int = 1, image_size: int = 64,
                    architecture: str = "burgess", **saved) -> torch.nn.Module:
        saved.setdefault("codebook_size", self.codebook_size)
        saved.setdefault("embedding_dim", self.embedding_dim)
        saved.setdefault("ema", self.ema_decay > 0)
        return vqvae.VQVAE(latent_dim, in_channels, image_size, architecture, **saved)

    def prepare(self, model, dataset_size, device, seed=0):
        if not isinstance(model, vqvae.VQVAE):
            raise TypeError(f"the vqvae objective trains a vqvae.VQVAE, got {type(model).__name__}; build it with "
                            f"make_objective('vqvae').build_model(...) or train.run('vqvae', ...)")
        if (model.codebook_size, model.embedding_dim, model.ema) != (self.codebook_size, self.embedding_dim,
                                                                     self.ema_decay > 0):
            raise ValueError(f"the model's codebook ({model.codebook_size} x {model.embedding_dim}, ema={model.ema}) "
                             f"differs from the objective's ({self.codebook_size} x {self.embedding_dim}, "
                             f"ema_decay={self.ema_decay}); build both from the same settings")

    def formula(self):
        if self.ema_decay:
            return "recon + beta * commitment  (codebook: EMA)"
        return "recon + codebook + beta * commitment"

    def __call__(self, output, x, step):
        if not isinstance(output, vqvae.VQOutput):
            raise TypeError("the vqvae objective needs a VQOutput (the output of a vqvae.VQVAE), "
                            f"got {type(output).__name__}")
        recon = reconstruction_loss(x, output.logits, self.distribution, self.scale,
                                    check_values=not self.values_checked)   # the first batch's values only
        self.values_checked = True
        batch = len(x)
        codebook = (output.z_e.detach() - output.z_q).pow(2).sum() / batch        # || sg[z_e] - e ||^2
        commitment = (output.z_e - output.z_q.detach()).pow(2).sum() / batch      # || z_e - sg[e] ||^2
        usage = vqvae.codebook_usage(output.indices, self.codebook_size)
        n_codes = output.indices.shape[1]
        kl_per_dim = torch.full((n_codes,), math.log(self.codebook_size), device=x.device, dtype=recon.dtype)
        loss = recon + self.beta * commitment + (0 if self.ema_decay else codebook)   # eq. (3)
        return {"loss": loss, "recon": recon, "kl": kl_per_dim.sum(), "kl_per_dim": kl_per_dim,
                "codebook": codebook, "commitment": commitment, "perplexity": usage["perplexity"],
                "codes_used": usage["used"]}

    def after_step(self, model, output, *, step, generator=None):
        """EMA codebook update (if ``ema_decay``), data-dependent start and restarts of unused entries."""
        if self.ema_decay:
            model.quantizer.ema_update(output.z_e, output.indices, self.ema_decay)
        if self.restart_dead and not self._initialised:           # data-dependent start
            everything = torch.arange(self.codebook_size, device=output.z_e.device)
            model.quantizer.reset_entries(everything, self._random_outputs(output.z_e, len(everything), generator))
            self._initialised = True
        counts = self.track_usage(output.indices)
        restarted = 0
        if counts is not None and self.restart_dead:
            dead = (counts == 0).nonzero().flatten().to(output.z_e.device)
            if len(dead):
                model.quantizer.reset_entries(dead, self._random_outputs(output.z_e, len(dead), generator))
            restarted = len(dead)
        return {"restarted": output.z_e.new_tensor(float(restarted))}

    @staticmethod
    def _random_outputs(z_e: torch.Tensor, m: int, generator=None) -> torch.Tensor:
        """``m`` encoder outputs ``(m, D)`` drawn at random (with replacement) from the batch's ``z_e``."""
        flat = z_e.detach().reshape(-1, z_e.shape[-1])
        return flat[torch.randint(len(flat), (m,), generator=generator, device=flat.device)]

    def track_usage(self, indices: torch.Tensor) -> torch.Tensor | None:
        """Count the entries chosen over ``usage_window`` steps; warn once if the codebook collapsed.

        Returns the window's counts ``(K,)`` when a window ends, else None.
        """
        counts = torch.bincount(indices.detach().reshape(-1).cpu(), minlength=self.codebook_size)
        self._window_counts = counts if self._window_counts is None else self._window_counts + counts
        self._window_steps += 1
        if self._window_steps < self.usage_window:
            return None
        window, self._window_counts, self._window_steps = self._window_counts, None, 0
        message = vqvae.usage_collapse_message(window, self.min_usage)
        if message and not self.warned:
            warnings.warn(message, vqvae.DeadCodebookWarning, stacklevel=2)
            self.warned = True
        return window

    def state_dict(self):
        return {"window_counts": self._window_counts, "window_steps": self._window_steps, "warned": self.warned,
                "initialised": self._initialised}

    def load_state_dict(self, state):
        self._window_counts, self._window_steps = state["window_counts"], state["window_steps"]
        self.warned, self._initialised = state["warned"], state["initialised"]


class InfoGANLoss(Objective):
    """InfoGAN (Chen et al. 2016, eq. (6)): min_{G,Q} max_D V(D, G) - lambda L_I(G, Q).

    The GAN value V is played with the non-saturating generator loss of Goodfellow et al. 2014
    (section 3): D minimises BCE(D(x), 1) + BCE(D(G(z, c)), 0); G minimises BCE(D(G(z, c)), 1) =
    -log D(G(z, c)) instead of log(1 - D(G(z, c))), which saturates early in training.  The MI lower
    bound L_I (``infogan.mi_lower_bound_*``) is weighted by ``lambda_cat`` for the categorical code
    and ``lambda_cont`` for the continuous ones.  Chen et al. (section 6) use lambda = 1 for discrete
    codes and a smaller lambda for continuous ones, so that lambda L_I stays on the GAN loss's scale.
    The defaults here are 1 and 1: in 600-800-step runs on 32x32 dSprites (batch 64) the continuous
    codes' bounds stayed at or below 0 nats (codes unused) with lambda_cont = 0.1 and rose to about
    1.4 nats each with lambda_cont = 1 (a short measurement of this project, one seed).

    Two optimisers, as for FactorVAE: ``train.fit``'s Adam steps the generator on ``loss`` = G's
    loss - lambda L_I (``model(x)`` generates a batch and scores it with D and Q frozen), then the
    training loop takes one step of D and Q (``auxiliary_parameters``) with their own Adam
    (``auxiliary_optimizer``: rate ``disc_lr``, Chen et al.: 2e-4, betas (0.5, 0.999) as in Radford et
    al. 2015) on ``auxiliary_terms(...)["d_total"]`` = D's loss - lambda L_I, with the generated batch
    detached and a fresh real batch.  History terms: ``g_loss``, ``d_loss`` (the GAN parts),
    ``mi_cat``, ``mi_cont`` (sum over the codes), ``mi_c0``, ``mi_c1``, ... (each code), ``d_real`` /
    ``d_fake`` (D's mean probability of "real"); ``loss`` = the generator's total.
    """

    name = "infogan"
    title = "InfoGAN (Chen et al. 2016)"
    model_type = "GAN"
    ADAM_BETAS = (0.5, 0.999)
    auxiliary_loss = "d_total"

    def __init__(self, lambda_cat: float = 1.0, lambda_cont: float = 1.0, n_categories: int = 3, noise_dim: int = 8,
                 disc_lr: float = 2e-4):
        super().__init__()
        self.lambda_cat = _check_weight("lambda_cat", lambda_cat)
        self.lambda_cont = _check_weight("lambda_cont", lambda_cont)
        self.disc_lr = _check_weight("disc_lr", disc_lr, allow_zero=False)
        self.n_categories, self.noise_dim = n_categories, noise_dim
        self.model = None

    def build_model(self, latent_dim: int = 4, in_channels: int = 1, image_size: int = 32,
                    architecture: str = "small", **saved) -> torch.nn.Module:
        from .infogan import InfoGAN

        saved.setdefault("n_categories", self.n_categories)
        saved.setdefault("noise_dim", self.noise_dim)
        return InfoGAN(latent_dim, in_channels, image_size, architecture, **saved)

    def prepare(self, model, dataset_size, device, seed=0):
        from .infogan import InfoGAN

        if not isinstance(model, InfoGAN):
            raise TypeError(f"the infogan objective trains an infogan.InfoGAN, got {type(model).__name__}; build it "
                            f"with make_objective('infogan').build_model(...) or train.run('infogan', ...)")
        if (model.n_categories, model.noise_dim) != (self.n_categories, self.noise_dim):
            raise ValueError(f"the model has {model.n_categories} categories and {model.noise_dim} noise inputs, the "
                             f"objective {self.n_categories} and {self.noise_dim}; build both from the same settings")
        self.model = model
        model.set_discriminator_trainable(False)          # G's step must not move D or Q

    def formula(self):
        return ("G: bce(D(G(z,c)), 1) - lambda_cat L_I,cat - lambda_cont L_I,cont;  "
                "D, Q: bce(D(x), 1) + bce(D(G(z,c)), 0) - (the same lambda L_I)")

    def describe(self, latent_dim: int = 4, n_pixels: int = 32 * 32) -> str:
        return (f"{self.name}: {self.formula()}\n  codes: 1 categorical ({self.n_categories} classes, lambda = "
                f"{self.lambda_cat:g}), {latent_dim} continuous U(-1, 1) (lambda = {self.lambda_cont:g}), "
                f"{self.noise_dim} noise; L_I in nats")

    def information(self, q, latent) -> dict[str, torch.Tensor]:
        """The MI lower bounds of Q's guesses ``q`` (``infogan.QOutput``) of the codes in ``latent``, and their
        weighted sum ``info`` = lambda_cat L_I,cat + lambda_cont L_I,cont (Chen et al. 2016, eq. (5)-(6))."""
        from .infogan import mi_lower_bound_categorical, mi_lower_bound_continuous

        mi_cat = mi_lower_bound_categorical(q.category_logits, latent.category)
        per_code = mi_lower_bound_continuous(q.mean, q.logvar, latent.continuous)
        return {"mi_cat": mi_cat, "mi_cont": per_code.sum(), **{f"mi_c{j}": v for j, v in enumerate(per_code)},
                "info": self.lambda_cat * mi_cat + self.lambda_cont * per_code.sum()}

    def __call__(self, output, x, step):
        """G's terms from ``output`` = ``model(x)`` (an ``infogan.GANOutput``): the non-saturating
        bce(D(G(z, c)), 1) (Goodfellow et al. 2014, section 3) minus the weighted MI bound."""
        if not hasattr(output, "fake_logit"):
            raise TypeError(f"the infogan objective needs the output of an infogan.InfoGAN, got {type(output).__name__}")
        g_loss = F.binary_cross_entropy_with_logits(output.fake_logit, torch.ones_like(output.fake_logit))
        info = self.information(output.q, output.latent)
        return {"loss": g_loss - info.pop("info"), "g_loss": g_loss, **info}

    def discriminator_terms(self, model, x_real: torch.Tensor, fake: torch.Tensor, latent) -> dict:
        """D's and Q's loss ``d_total`` = bce(D(x), 1) + bce(D(fake), 0) - lambda L_I (fake detached)."""
        logits, q_both = model.discriminate(torch.cat([x_real, fake.detach()]))    # one pass over both halves
        real_logit, fake_logit = logits[:len(x_real)], logits[len(x_real):]
        q = type(q_both)(*(t[len(x_real):] for t in q_both))                       # Q on the generated half
        d_loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        return {"d_total": d_loss - self.information(q, latent)["info"], "d_loss": d_loss,
                "d_real": torch.sigmoid(real_logit).mean(), "d_fake": torch.sigmoid(fake_logit).mean()}

    def _require_prepared(self):
        if self.model is None:
            raise RuntimeError("call objective.prepare(model, dataset_size, device) first (train.fit does)")

    def auxiliary_parameters(self):
        self._require_prepared()
        return list(self.model.discriminator_parameters())

    def auxiliary_optimizer(self):
        return {"lr": self.disc_lr, "betas": self.ADAM_BETAS}

    def auxiliary_terms(self, model, output, *, step, next_batch, generator=None):
        """D's and Q's terms on a fresh real batch and the step's generated batch (detached); the training
        loop steps D and Q on ``d_total`` with their own Adam (``auxiliary_optimizer``)."""
        self._require_prepared()
        model.set_discriminator_trainable(True)           # frozen again by the next generator step (forward)
        return self.discriminator_terms(model, next_batch(), output.fake, output.latent)


OBJECTIVES = {cls.name: cls for cls in (VAELoss, BetaVAELoss, CapacityLoss, FactorVAELoss, BetaTCVAELoss)}
OBJECTIVES.update({cls.name: cls for cls in (VQVAELoss, InfoGANLoss)})   # beyond the beta-family: other models


def register_objectives(*classes) -> None:
    """Add objective classes to ``OBJECTIVES`` by their ``name`` (modules with more methods call this)."""
    for cls in classes:
        OBJECTIVES[cls.name] = cls


# More methods, each in its own module, which subclasses Objective from this one and registers itself:
# DIP-VAE and InfoVAE (losses_aggregate), the iVAE (ivae: its own model and data).  Imported last, so that
# whichever module is imported first finds Objective defined here.
from . import losses_aggregate  # noqa: E402,F401  (isort: skip, the order of OBJECTIVES)
from . import ivae  # noqa: E402,F401


def make_objective(name: str, **hparams) -> Objective:
    """The objective called ``name`` (one of ``OBJECTIVES``: vae, betavae, capacity, factorvae, btcvae, dipvae_i,
    dipvae_ii, infovae, ivae)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(OBJECTIVES)}")
    cls = OBJECTIVES[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise ValueError(f"{name} does not take {unknown}; its hyper-parameters are {accepted}")
    return cls(**hparams)
