"""Glue between trained models and the metrics: encode sampled images, score a model in one call."""
from __future__ import annotations

import numpy as np
import torch

from . import metrics


def encoder_fn(model, batch_size: int = 1024):
    """``encode(observations) -> np.ndarray (n, latent_dim)`` of posterior means, for the metrics."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def encode(x) -> np.ndarray:
        x = torch.as_tensor(x, dtype=torch.float32)
        return torch.cat([model.encode(x[i:i + batch_size].to(device))[0].cpu()
                          for i in range(0, len(x), batch_size)]).numpy()

    return encode


@torch.no_grad()
def sample_codes(model, dataset, n: int = 10_000, seed: int = 0, with_logvar: bool = False):
    """Factors ``(n, n_factors)`` drawn uniformly and the model's mean codes ``(n, latent_dim)`` for them.

    With ``with_logvar`` also returns the posterior log variances ``(n, latent_dim)``.
    """
    rng = np.random.default_rng(seed)
    factors = dataset.sample_factors(n, rng)
    device = next(model.parameters()).device
    mus, logvars = [], []
    for start in range(0, n, 1024):
        x = dataset.sample_observations_from_factors(factors[start:start + 1024], rng).to(device)
        mu, logvar = model.encode(x)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    codes = torch.cat(mus).numpy()
    return (factors, codes, torch.cat(logvars).numpy()) if with_logvar else (factors, codes)


def score(model, dataset, which=("mig", "sap", "factor_vae", "beta_vae", "dci"), n: int = 10_000,
          n_test: int = 5_000, seed: int = 0, **kwargs) -> dict:
    """The disentanglement scores of ``model`` on ``dataset`` (reference protocol; see ``metrics``).

    ``which`` selects metrics; ``n`` / ``n_test`` are the train / test points (codes are drawn
    independently for the two sets); keyword arguments go to the intervention scores (e.g. n_train).
    DCI with gradient-boosted trees takes minutes at n = 10,000: pass a smaller ``n`` for it.
    Returns a flat dict, e.g. ``{"mig": 0.31, "sap": 0.05, "factor_vae": 0.72, ...}``.
    """
    out = {}
    need_codes = {"mig", "sap", "dci", "modularity"} & set(which)
    if need_codes:
        f_train, c_train = sample_codes(model, dataset, n, seed)
        f_test, c_test = sample_codes(model, dataset, n_test, seed + 1)
    if "mig" in which:
        out["mig"] = metrics.mig(c_train, f_train)
    if "sap" in which:
        out["sap"] = metrics.sap(c_train, f_train, c_test, f_test)
    if "dci" in which:
        d = metrics.dci(c_train, f_train, c_test, f_test, seed=seed)
        out.update({f"dci_{k}": v for k, v in d.items()})
    if "modularity" in which:
        m = metrics.modularity_explicitness(c_train, f_train, c_test, f_test, seed=seed)
        out.update(m)
    encode = encoder_fn(model)
    if "beta_vae" in which:
        out["beta_vae"] = metrics.beta_vae_score(dataset, encode, seed=seed, **kwargs)["eval_accuracy"]
    if "factor_vae" in which:
        out["factor_vae"] = metrics.factor_vae_score(dataset, encode, seed=seed, **kwargs)["eval_accuracy"]
    return out


@torch.no_grad()
def decomposition(model, dataset, n_batches: int = 8, batch_size: int = 512, seed: int = 0,
                  estimator: str = "mss", dataset_size: int | None = None) -> dict:
    """Index-code MI, total correlation and dimension-wise KL of ``model`` (Chen et al. 2018, eq. (2)).

    Draws ``n_batches`` batches of ``batch_size`` images uniformly from ``dataset`` (the same
    batches for every model with the same ``seed``), takes one posterior sample z ~ q(z|x) per
    image and averages ``losses.tc_decomposition`` over the batches; N = ``dataset_size``
    (default ``len(dataset)``, the images the model was trained on).  Returns floats ``mi``,
    ``tc``, ``dw_kl``, ``kl`` (closed-form E_x KL(q(z|x) || p(z)), for comparison) and the
    standard error over batches of each, ``mi_se``, ``tc_se``, ...
    """
    from .losses import kl_normal, tc_decomposition

    if n_batches < 1 or batch_size < 2:
        raise ValueError(f"need n_batches >= 1 and batch_size >= 2, got {n_batches} and {batch_size}")
    rng = np.random.default_rng(seed)
    noise = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    n = len(dataset) if dataset_size is None else int(dataset_size)
    rows = []
    for _ in range(n_batches):
        x = dataset.sample_observations_from_factors(dataset.sample_factors(batch_size, rng), rng).to(device)
        mu, logvar = (t.double().cpu() for t in model.encode(x))
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=noise, dtype=mu.dtype)
        terms = tc_decomposition(z, mu, logvar, n, estimator)
        rows.append([float(terms["mi"]), float(terms["tc"]), float(terms["dw_kl"]),
                     float(kl_normal(mu, logvar).sum(1).mean())])
    rows = np.array(rows)                                          # (n_batches, 4)
    out = dict(zip(("mi", "tc", "dw_kl", "kl"), rows.mean(0).tolist()))
    se = rows.std(0, ddof=1) / np.sqrt(n_batches) if n_batches > 1 else np.zeros(4)
    out.update({f"{k}_se": float(v) for k, v in zip(("mi", "tc", "dw_kl", "kl"), se)})
    return out


@torch.no_grad()
def decomposition_reference(model, dataset, n_codes: int = 1000, n_reference: int = 50_000, seed: int = 0) -> dict:
    """Index-code MI, TC and dimension-wise KL of ``model``, with q(z) estimated on a large reference set.

    The minibatch estimates that training logs (``decomposition``, ``losses.tc_decomposition``) see B
    images out of N; with the narrow posteriors of a trained encoder most of the aggregate density at
    a code comes from images outside the batch, and the TC estimate is biased low by nats (lesson 05).
    Here ``n_reference`` images are drawn uniformly without replacement, the first ``n_codes`` of them
    give one sample z_i ~ q(z|x_i) each, and q(z_i) and every q(z_id) are estimated from all reference
    images (``losses.estimate_log_qz_reference``); N = ``len(dataset)``.

    Returns floats ``mi``, ``tc``, ``dw_kl``, ``kl`` (the Monte-Carlo E[log q(z|x) - log p(z)]; the three
    terms add up to it) and the standard error over the codes of each, ``mi_se``, ...
    Cost: ``n_codes * n_reference * latent_dim`` Gaussian log densities, plus encoding the reference.
    """
    from .losses import decomposition_terms, estimate_log_qz_reference

    n = len(dataset)
    if not 2 <= n_reference <= n:
        raise ValueError(f"n_reference must be between 2 and the data set size {n}, got {n_reference}")
    if not 1 <= n_codes <= n_reference:
        raise ValueError(f"n_codes must be between 1 and n_reference = {n_reference}, got {n_codes}")
    rng = np.random.default_rng(seed)
    reference = rng.choice(n, size=n_reference, replace=False)      # uniform, in random order
    device = next(model.parameters()).device
    mus, logvars = [], []
    for start in range(0, n_reference, 2048):
        mu, logvar = model.encode(dataset.images(reference[start:start + 2048], device))
        mus.append(mu.double().cpu())
        logvars.append(logvar.double().cpu())
    mu, logvar = torch.cat(mus), torch.cat(logvars)                  # (K, D)
    noise = torch.randn((n_codes, mu.shape[1]), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = mu[:n_codes] + torch.exp(0.5 * logvar[:n_codes]) * noise      # (n_codes, D)
    log_qz, log_qz_marginals = estimate_log_qz_reference(z, mu, logvar, n)
    per_code = decomposition_terms(z, mu[:n_codes], logvar[:n_codes], log_qz, log_qz_marginals)
    out = {k: float(v.mean()) for k, v in per_code.items()}
    out.update({f"{k}_se": float(v.std() / np.sqrt(n_codes)) if n_codes > 1 else 0.0 for k, v in per_code.items()})
    return out


class FactorsAsObservations:
    """A ground-truth "data set" whose observation of the factor classes v is v itself.

    For sanity checks of the metrics: an ``encode`` applied to these observations is a synthetic
    code (perfect: v scaled; entangled: v rotated; noise: independent of v), and the
    intervention-based scores (BetaVAE, FactorVAE) run on it exactly as on images.
    ``sample_observations_from_factors(factors, rng) -> (n, n_factors)`` float32 tensor.
    """

    def __init__(self, factor_sizes, factor_names=None):
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        if not self.factor_sizes or min(self.factor_sizes) < 1:
            raise ValueError(f"factor_sizes must be positive class counts, got {factor_sizes}")
        self.factor_names = tuple(factor_names) if factor_names is not None else \
            tuple(f"v{k}" for k in range(len(self.factor_sizes)))

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.factor_sizes, size=(n, len(self.factor_sizes)), dtype=np.int64)

    def sample_observations_from_factors(self, factors, rng=None) -> torch.Tensor:
        return torch.as_tensor(np.asarray(factors), dtype=torch.float32)
