"""One evaluation path for trained models: encode, score, ELBO terms.

Used by the command line (``evaluate``), ``pretrained`` (export and the shipped scores), the
lessons and the benchmarks, so one model gets the same numbers from each of them.

* ``encoder_fn(model)`` / ``sample_codes(model, dataset, n, seed)``: posterior means for the metrics.
* ``score(model, dataset, which, ...)``: any of the disentanglement metrics in one call; each
  metric option reaches only the metrics that take it.
* ``protocol_scores(model, dataset, protocol)``: the scores under a named protocol of sample
  sizes (``SCORE_PROTOCOL``: the one behind the shipped models' scores).
* ``elbo_terms`` (reconstruction NLL and KL in nats over uniformly drawn images) and
  ``objective_terms`` (an objective's own terms over given images, as logged in training).
* ``decomposition`` / ``decomposition_reference``: index-code MI, TC, dimension-wise KL.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch

from . import metrics
from .models import sample_gaussian

ENCODE_BATCH = 1024      # images per encoder call when only the posterior is needed (memory/speed only)
ELBO_BATCH = 500         # images per draw in ``elbo_terms`` (the shipped ELBO numbers were drawn in these blocks)

# How the shipped scores are computed (disentanglement_lib's estimators; sample sizes reduced where
# the reference sizes would take several CPU minutes per model -- the README's table says so).
SCORE_PROTOCOL = dict(
    seed=0,
    codes=10_000,          # MIG (20 bins), SAP (one-dimensional LinearSVC): train codes
    codes_test=5_000,      # SAP test codes
    dci_codes=2_000,       # DCI's gradient-boosted trees: train codes (reference: 10,000)
    dci_codes_test=1_000,  # DCI test codes (reference: 5,000)
    intervention_train=2_000,   # BetaVAE / FactorVAE scores: training votes / pairs (reference: 10,000)
    intervention_eval=1_000,    # evaluation votes / pairs (reference: 5,000)
    elbo_images=10_000,    # reconstruction and KL in nats
)


def scaled_protocol(codes: int, seed: int = 0) -> dict:
    """``SCORE_PROTOCOL`` in its proportions for ``codes`` train codes (``scaled_protocol(10_000)`` is it):
    ``codes / 2`` test codes, DCI ``codes / 5`` + ``codes / 10``, the intervention scores ``codes / 5``
    training and ``codes / 10`` evaluation points, ``codes`` images for the ELBO terms."""
    if int(codes) != codes or codes < 20:
        raise ValueError(f"need at least 20 codes for a scoring protocol, got {codes!r}")
    codes = int(codes)
    return dict(seed=int(seed), codes=codes, codes_test=codes // 2, dci_codes=codes // 5, dci_codes_test=codes // 10,
                intervention_train=codes // 5, intervention_eval=codes // 10, elbo_images=codes)


METRICS = ("mig", "sap", "dci", "beta_vae", "factor_vae", "modularity")


def _device(model) -> torch.device:
    return next(model.parameters()).device


def encoder_fn(model, batch_size: int = ENCODE_BATCH):
    """``encode(observations) -> np.ndarray (n, latent_dim)`` of posterior means, for the metrics."""
    device = _device(model)

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
    device = _device(model)
    mus, logvars = [], []
    for start in range(0, n, ENCODE_BATCH):
        x = dataset.sample_observations_from_factors(factors[start:start + ENCODE_BATCH], rng).to(device)
        mu, logvar = model.encode(x)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    codes = torch.cat(mus).numpy()
    return (factors, codes, torch.cat(logvars).numpy()) if with_logvar else (factors, codes)


def _options_for(fn, options: dict) -> dict:
    """The entries of ``options`` that ``fn`` takes as keyword arguments."""
    accepted = inspect.signature(fn).parameters
    return {k: v for k, v in options.items() if k in accepted}


def score(model, dataset, which=("mig", "sap", "factor_vae", "beta_vae", "dci"), n: int = 10_000,
          n_test: int = 5_000, seed: int = 0, **options) -> dict:
    """The disentanglement scores of ``model`` on ``dataset`` (reference protocol; see ``metrics``).

    ``which`` selects metrics (``METRICS``); ``n`` / ``n_test`` are the train / test points (codes
    are drawn independently for the two sets).  ``options`` are keyword arguments of the metric
    functions (e.g. ``n_train``, ``n_eval`` of the intervention scores, ``n_variance_estimate`` or
    ``prune_threshold`` of ``metrics.factor_vae_score``); each goes only to the selected metrics
    that take it, and an option none of them takes is an error.  DCI with gradient-boosted trees
    takes minutes at n = 10,000: pass a smaller ``n`` for it.
    Returns a flat dict, e.g. ``{"mig": 0.31, "sap": 0.05, "factor_vae": 0.72, ...}``.
    """
    unknown = sorted(set(which) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    with_codes = {"mig": metrics.mig, "sap": metrics.sap, "dci": metrics.dci,
                  "modularity": metrics.modularity_explicitness}
    interventions = {"beta_vae": metrics.beta_vae_score, "factor_vae": metrics.factor_vae_score}
    chosen = [fn for name, fn in {**with_codes, **interventions}.items() if name in which]
    unused = sorted(set(options) - {k for fn in chosen for k in _options_for(fn, options)})
    if unused:
        raise TypeError(f"option(s) {', '.join(unused)} are taken by none of the metrics {', '.join(which)}")
    out = {}
    if set(with_codes) & set(which):
        f_train, c_train = sample_codes(model, dataset, n, seed)
        f_test, c_test = sample_codes(model, dataset, n_test, seed + 1)
    if "mig" in which:
        out["mig"] = metrics.mig(c_train, f_train, **_options_for(metrics.mig, options))
    if "sap" in which:
        out["sap"] = metrics.sap(c_train, f_train, c_test, f_test, **_options_for(metrics.sap, options))
    if "dci" in which:
        d = metrics.dci(c_train, f_train, c_test, f_test, seed=seed, **_options_for(metrics.dci, options))
        out.update({f"dci_{k}": v for k, v in d.items()})
    if "modularity" in which:
        fn = metrics.modularity_explicitness
        out.update(fn(c_train, f_train, c_test, f_test, seed=seed, **_options_for(fn, options)))
    encode = encoder_fn(model)
    for name, fn in interventions.items():
        if name in which:
            out[name] = fn(dataset, encode, seed=seed, **_options_for(fn, options))["eval_accuracy"]
    return out


def protocol_scores(model, dataset, which=("mig", "sap", "dci", "beta_vae", "factor_vae"),
                    protocol: dict | None = None, dci_jobs: int | None = None) -> dict:
    """The scores of ``model`` on ``dataset`` under ``protocol`` (default ``SCORE_PROTOCOL``; floats, 6 digits).

    ``dci_jobs``: processes for DCI's per-factor trees (``metrics.dci``'s ``n_jobs``; None: every core this
    process may use).  The scores do not depend on it.
    """
    p, out = protocol or SCORE_PROTOCOL, {}
    plain = [m for m in which if m in ("mig", "sap")]
    if plain:
        out.update(score(model, dataset, which=plain, n=p["codes"], n_test=p["codes_test"], seed=p["seed"]))
    if "dci" in which:
        out.update(score(model, dataset, which=("dci",), n=p["dci_codes"], n_test=p["dci_codes_test"],
                         seed=p["seed"], n_jobs=dci_jobs))
    interventions = [m for m in which if m in ("beta_vae", "factor_vae")]
    if interventions:
        out.update(score(model, dataset, which=interventions, seed=p["seed"], n_train=p["intervention_train"],
                         n_eval=p["intervention_eval"]))
    return {k: round(float(v), 6) for k, v in out.items()}


@torch.no_grad()
def elbo_terms(model, dataset, n: int, seed: int) -> dict:
    """Mean reconstruction NLL and KL(q(z|x) || p(z)) in nats over ``n`` images drawn uniformly (one z each)."""
    from .losses import kl_normal, reconstruction_loss

    rng = np.random.default_rng(seed)
    noise = torch.Generator().manual_seed(seed)
    recon, kl, count = 0.0, 0.0, 0
    for start in range(0, n, ELBO_BATCH):
        m = min(ELBO_BATCH, n - start)
        x = dataset.sample_observations_from_factors(dataset.sample_factors(m, rng), rng)
        out = model(x, sample=True, generator=noise)
        recon += float(reconstruction_loss(x, out.logits)) * m
        kl += float(kl_normal(out.mu, out.logvar).sum(1).mean()) * m
        count += m
    return {"recon": recon / count, "kl": kl / count}


@torch.no_grad()
def objective_terms(model, objective, dataset, indices, batch_size: int, dataset_size: int, seed: int,
                    step: int) -> dict:
    """Batch-size-weighted means of ``objective``'s terms and the MI / TC / dim-wise KL decomposition
    (``losses.tc_decomposition``, N = ``dataset_size``) over the images ``indices``, in batches of
    ``batch_size`` (the TC estimate improves with it); one posterior sample per image from a
    generator seeded with ``seed``; ``step`` is the training step the objective's schedule is read at.
    Returns numpy floats, and ``kl_per_dim`` as an array ``(latent_dim,)``.
    """
    from .losses import tc_decomposition

    device = _device(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums, total = {}, 0
    for start in range(0, len(indices), batch_size):
        idx = indices[start:start + batch_size]
        if len(idx) < 2:
            break
        x = dataset.images(idx, device)
        output = model(x, sample=True, generator=generator)
        terms = objective(output, x, step)
        terms.update(tc_decomposition(output.z, output.mu, output.logvar, dataset_size))
        for k, v in terms.items():
            sums[k] = sums.get(k, 0) + v.double().cpu().numpy() * len(idx)
        total += len(idx)
    return {k: v / total for k, v in sums.items()}


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
    device = _device(model)
    n = len(dataset) if dataset_size is None else int(dataset_size)
    rows = []
    for _ in range(n_batches):
        x = dataset.sample_observations_from_factors(dataset.sample_factors(batch_size, rng), rng).to(device)
        mu, logvar = (t.double().cpu() for t in model.encode(x))
        z = sample_gaussian(mu, logvar, noise)
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
    device = _device(model)
    mus, logvars = [], []
    for start in range(0, n_reference, ENCODE_BATCH):
        mu, logvar = model.encode(dataset.images(reference[start:start + ENCODE_BATCH], device))
        mus.append(mu.double().cpu())
        logvars.append(logvar.double().cpu())
    mu, logvar = torch.cat(mus), torch.cat(logvars)                  # (K, D)
    z = sample_gaussian(mu[:n_codes], logvar[:n_codes], torch.Generator().manual_seed(seed))   # (n_codes, D)
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
