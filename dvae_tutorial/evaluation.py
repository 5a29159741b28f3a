"""Glue between trained models and the metrics: encode sampled images, score a model in one call."""
from __future__ import annotations

import numpy as np
import torch

from . import metrics


@torch.no_grad()
def encoder_fn(model, batch_size: int = 1024):
    """``encode(observations) -> np.ndarray (n, latent_dim)`` of posterior means, for the metrics."""
    device = next(model.parameters()).device

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
