"""Reconstruction likelihoods, KL, log densities, TC estimators and the five objectives."""
import math

import pytest
import torch
from torch import distributions as dist

from dvae_tutorial import losses, models


def posterior(batch, dim, seed, spread=1.0, log_sigma=-1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mu = spread * torch.randn(batch, dim, generator=g, dtype=dtype)
    logvar = 2 * (log_sigma + 0.5 * torch.randn(batch, dim, generator=g, dtype=dtype))
    z = mu + torch.exp(0.5 * logvar) * torch.randn(batch, dim, generator=g, dtype=dtype)
    return z, mu, logvar


# --- reconstruction: true negative log-likelihoods -------------------------------------------------
def images_and_logits(seed=0, shape=(4, 1, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=g) > 0.7).float()
    logits = 3 * torch.randn(shape, generator=g)
    return x, logits


def test_bernoulli_is_the_bernoulli_nll_summed_over_pixels_mean_over_batch():
    x, logits = images_and_logits()
    expected = -dist.Bernoulli(logits=logits).log_prob(x).sum() / x.shape[0]
    assert torch.allclose(losses.reconstruction_loss(x, logits), expected, rtol=1e-5)


def test_bernoulli_is_stable_for_extreme_logits():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[200.0, -200.0, -200.0, 200.0]])   # two right, two wrong by 200 nats each
    value = losses.reconstruction_loss(x, logits)
    assert torch.isfinite(value) and abs(float(value) - 400.0) < 1e-3


@pytest.mark.parametrize("scale", [0.05, 0.1, 1.0])
def test_gaussian_and_laplace_are_true_nlls_with_the_stated_scale(scale):
    x, logits = images_and_logits(seed=1)
    mean = torch.sigmoid(logits)
    gauss = -dist.Normal(mean, scale).log_prob(x).sum() / x.shape[0]
    laplace = -dist.Laplace(mean, scale).log_prob(x).sum() / x.shape[0]
    assert torch.allclose(losses.reconstruction_loss(x, logits, "gaussian", scale), gauss, rtol=1e-5)
    assert torch.allclose(losses.reconstruction_loss(x, logits, "laplace", scale), laplace, rtol=1e-5)


def test_default_scale_is_the_documented_one():
    x, logits = images_and_logits(seed=2)
    for name in ("gaussian", "laplace"):
        assert torch.allclose(losses.reconstruction_loss(x, logits, name),
                              losses.reconstruction_loss(x, logits, name, losses.DEFAULT_SCALE[name]))


# --- KL and log densities ---------------------------------------------------------------------------
def test_closed_form_kl_equals_a_monte_carlo_estimate():
    mu = torch.tensor([[0.0, 1.5, -2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, -2.0, 1.0]], dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    n = 400_000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n, 3, generator=g, dtype=torch.float64)
    samples = losses.log_density_gaussian(z, mu, logvar) - losses.log_density_gaussian(z, 0.0, 0.0)   # (n, 3)
    mc, se = samples.mean(0), samples.std(0) / math.sqrt(n)
    closed = losses.kl_normal(mu, logvar)[0]
    assert torch.all((mc - closed).abs() < 4 * se + 1e-9), (mc, closed, se)
    assert closed[0] == 0.0 and torch.all(closed >= 0)


def test_log_density_gaussian_matches_torch_distributions_and_pairwise_entries():
    z, mu, logvar = posterior(5, 3, seed=3)
    ref = dist.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z)
    assert torch.allclose(losses.log_density_gaussian(z, mu, logvar), ref)
    pairs = losses.pairwise_log_density_gaussian(z, mu, logvar)
    assert pairs.shape == (5, 5, 3)
    i, j = 1, 4                                                        # entry [i, j, d] = log q(z_i,d | x_j)
    assert torch.allclose(pairs[i, j], dist.Normal(mu[j], torch.exp(0.5 * logvar[j])).log_prob(z[i]))


# --- importance weights (Chen et al. 2018, appendix C) ------------------------------------------------
@pytest.mark.parametrize("batch,n", [(2, 2), (2, 10), (5, 100), (64, 737_280), (16, 16)])
def test_stratified_weight_matrix_follows_the_paper(batch, n):
    w = losses.log_importance_weights(batch, n, "mss", dtype=torch.float64).exp()
    assert w.shape == (batch, batch)
    assert torch.allclose(w.sum(1), torch.ones(batch, dtype=torch.float64), atol=1e-12)   # unbiased weights
    assert torch.allclose(w.diagonal(), torch.full((batch,), 1 / n, dtype=torch.float64))  # the anchor: 1/N
    strat = (n - batch + 1) / (n * (batch - 1))
    rows = torch.arange(batch)
    assert torch.allclose(w[rows, (rows + 1) % batch], torch.full((batch,), strat, dtype=torch.float64))
    off = ~torch.eye(batch, dtype=torch.bool)
    off[rows, (rows + 1) % batch] = False
    assert torch.allclose(w[off], torch.full((int(off.sum()),), 1 / (batch - 1), dtype=torch.float64))


def test_stratified_weights_are_not_the_published_column_layout():
    # rtqichen/beta-tcvae writes 1/N down column 0 (stride B, not B+1); here row 3's anchor gets 1/N.
    w = losses.log_importance_weights(6, 1000, "mss", dtype=torch.float64).exp()
    assert w[3, 3] == pytest.approx(1 / 1000) and w[3, 0] == pytest.approx(1 / 5)


def test_weighted_sampling_matrix_is_uniform_one_over_n_b():
    w = losses.log_importance_weights(8, 1000, "mws", dtype=torch.float64).exp()
    assert torch.allclose(w, torch.full((8, 8), 1 / 8000, dtype=torch.float64))
    assert torch.allclose(w.sum(1), torch.full((8,), 1 / 1000, dtype=torch.float64))   # a lower bound: rows sum to 1/N


# --- the decomposition -----------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_mi_tc_dwkl_telescope_to_the_monte_carlo_kl_on_every_batch(estimator):
    for seed in range(20):
        batch = [2, 7, 32, 64][seed % 4]
        z, mu, logvar = posterior(batch, 6, seed, spread=[0.1, 1.0, 3.0][seed % 3], log_sigma=[-2.0, 0.0][seed % 2])
        terms = losses.tc_decomposition(z, mu, logvar, dataset_size=5000, estimator=estimator)
        mc_kl = (losses.log_density_gaussian(z, mu, logvar) - losses.log_density_gaussian(z, 0.0, 0.0)).sum(1).mean()
        total = terms["mi"] + terms["tc"] + terms["dw_kl"]
        assert torch.allclose(total, mc_kl, atol=1e-9), (seed, float(total), float(mc_kl))


def test_decomposition_on_a_model_output():
    model = models.VAE(architecture="small", image_size=32)
    x = (torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    out = model(x, generator=torch.Generator().manual_seed(1))
    terms = losses.tc_decomposition(out.z, out.mu, out.logvar, dataset_size=1000)
    mc_kl = (losses.log_density_gaussian(out.z, out.mu, out.logvar)
             - losses.log_density_gaussian(out.z, 0.0, 0.0)).sum(1).mean()
    assert set(terms) == {"mi", "tc", "dw_kl"} and all(t.ndim == 0 for t in terms.values())
    assert torch.allclose(sum(terms.values()), mc_kl, atol=1e-4)


def test_tc_is_near_zero_for_independent_codes_and_large_for_correlated_ones():
    g = torch.Generator().manual_seed(0)
    n, batch = 100_000, 256
    mu = torch.randn(batch, 4, generator=g, dtype=torch.float64)
    logvar = torch.full_like(mu, math.log(0.05 ** 2))
    z = mu + 0.05 * torch.randn(batch, 4, generator=g, dtype=torch.float64)
    independent = losses.tc_decomposition(z, mu, logvar, n)["tc"]
    mu_corr = mu[:, :1].expand(-1, 4) + 0.01 * mu             # four copies of one code
    z_corr = mu_corr + 0.05 * torch.randn(batch, 4, generator=g, dtype=torch.float64)
    correlated = losses.tc_decomposition(z_corr, mu_corr, logvar, n)["tc"]
    assert abs(float(independent)) < 1.0 and float(correlated) > 3.0, (float(independent), float(correlated))


class ToyPosteriors:
    """N Gaussian posteriors q(z|n) in 2-D: q(z) = (1/N) sum_n q(z|n) is computable exactly."""

    def __init__(self, n=64, dim=2, sigma=0.3, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.n = n
        self.mu = 1.5 * torch.randn(n, dim, generator=g, dtype=torch.float64)
        self.logvar = torch.full((n, dim), 2 * math.log(sigma), dtype=torch.float64)

    def exact_log_qz(self, z, marginal=False):
        pairs = losses.pairwise_log_density_gaussian(z, self.mu, self.logvar)            # (B, N, D)
        return torch.logsumexp(pairs if marginal else pairs.sum(2), 1) - math.log(self.n)

    def errors(self, batch, estimator, repeats, seed, marginal=False):
        """Per-anchor (log q_hat - log q, q_hat / q - 1) over ``repeats`` batches drawn without replacement.

        ``marginal=True``: the same for every one-dimensional marginal q(z_d) instead of the joint q(z).
        """
        g = torch.Generator().manual_seed(seed)
        log_err, ratio_err = [], []
        for _ in range(repeats):
            idx = torch.randperm(self.n, generator=g)[:batch]
            mu, logvar = self.mu[idx], self.logvar[idx]
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g, dtype=torch.float64)
            joint, marginals = losses.estimate_log_qz(z, mu, logvar, self.n, estimator)
            diff = (marginals if marginal else joint) - self.exact_log_qz(z, marginal)
            log_err.append(diff)
            ratio_err.append(diff.exp() - 1)
        return torch.cat(log_err), torch.cat(ratio_err)


def test_stratified_estimate_of_q_z_is_unbiased_on_an_enumerable_data_set():
    toy = ToyPosteriors()
    for batch in (2, 4, 8, 16, 32):
        _, ratio = toy.errors(batch, "mss", repeats=4000 // batch, seed=batch)
        se = ratio.std() / math.sqrt(len(ratio))
        # heavy-tailed ratios: allow 5 standard errors; MWS (about -0.98 here) or a misplaced weight fails
        assert abs(float(ratio.mean())) < 5 * float(se) + 5e-3, (batch, float(ratio.mean()), float(se))


def test_stratified_estimates_of_the_marginals_are_unbiased_too():
    toy = ToyPosteriors(dim=3)
    for batch in (4, 16):
        _, ratio = toy.errors(batch, "mss", repeats=2000 // batch, seed=batch, marginal=True)
        ratio = ratio.reshape(-1)
        se = ratio.std() / math.sqrt(len(ratio))
        assert abs(float(ratio.mean())) < 5 * float(se) + 5e-3, (batch, float(ratio.mean()), float(se))


def test_log_q_z_estimates_converge_as_the_batch_grows():
    toy = ToyPosteriors()
    mss_bias, mws_gap = [], []
    for batch in (2, 8, 32, 64):
        mss_log, _ = toy.errors(batch, "mss", repeats=2000 // batch, seed=batch)
        mws_log, _ = toy.errors(batch, "mws", repeats=2000 // batch, seed=batch)
        mss_bias.append(abs(float(mss_log.mean())))
        mws_gap.append(abs(float(mws_log.mean()) + math.log(toy.n)))   # MWS's limit is log q(z) - log N
    assert all(a > b for a, b in zip(mss_bias, mss_bias[1:])), mss_bias
    assert all(a > b for a, b in zip(mws_gap, mws_gap[1:])), mws_gap
    assert mss_bias[-1] < 0.01 and mws_gap[-1] < 1e-9     # the whole data set in the batch


def _reference_estimate(toy, k, n_codes, g, chunk_elements=2**24):
    """Codes from the first n_codes of k reference posteriors drawn without replacement; (estimate, exact)."""
    idx = torch.randperm(toy.n, generator=g)[:k]
    mu, logvar = toy.mu[idx], toy.logvar[idx]
    z = mu[:n_codes] + torch.exp(0.5 * logvar[:n_codes]) * torch.randn((n_codes, mu.shape[1]), generator=g,
                                                                        dtype=torch.float64)
    joint, marginals = losses.estimate_log_qz_reference(z, mu, logvar, toy.n, chunk_elements)
    return (joint, marginals), (toy.exact_log_qz(z), toy.exact_log_qz(z, marginal=True))


def test_reference_estimate_of_q_z_is_exact_with_the_whole_data_set_and_chunking_changes_nothing():
    toy = ToyPosteriors(n=64, dim=3)
    (joint, marginals), (exact, exact_marginals) = _reference_estimate(toy, 64, 20, torch.Generator().manual_seed(0))
    torch.testing.assert_close(joint, exact)
    torch.testing.assert_close(marginals, exact_marginals)
    (joint_small, marginals_small), _ = _reference_estimate(toy, 64, 20, torch.Generator().manual_seed(0),
                                                            chunk_elements=100)       # one code per chunk
    torch.testing.assert_close(joint_small, joint)
    torch.testing.assert_close(marginals_small, marginals)


def test_reference_estimate_of_q_z_equals_the_direct_sum_for_narrow_posteriors():
    """The joint density is summed over d by matrix products: no cancellation error when the posteriors
    are narrow (log variance -12, precision 1.6e5) and the codes far from zero."""
    g = torch.Generator().manual_seed(3)
    k, n, dim, size = 300, 40, 5, 10_000
    mu = 3 * torch.randn(k, dim, generator=g, dtype=torch.float64)
    logvar = -12 + torch.rand(k, dim, generator=g, dtype=torch.float64) * 11       # in (-12, -1)
    mu[1] = mu[0] + 1e-4                                                           # a close neighbour counts
    z = mu[:n] + torch.exp(0.5 * logvar[:n]) * torch.randn(n, dim, generator=g, dtype=torch.float64)
    joint, marginals = losses.estimate_log_qz_reference(z, mu, logvar, size)
    pairs = losses.log_density_gaussian(z[:, None], mu[None], logvar[None])          # (n, K, D), the plain way
    own = torch.arange(n)
    w_own, w_other = -math.log(size), math.log((size - 1) / ((k - 1) * size))
    others = pairs.clone()
    others[own, own] = -math.inf
    direct_joint = torch.logaddexp(pairs[own, own].sum(1) + w_own, torch.logsumexp(others.sum(2), 1) + w_other)
    direct_marginals = torch.logaddexp(pairs[own, own] + w_own, torch.logsumexp(others, 1) + w_other)
    torch.testing.assert_close(joint, direct_joint, rtol=0, atol=1e-8)
    torch.testing.assert_close(marginals, direct_marginals, rtol=0, atol=1e-10)


def test_reference_estimate_of_q_z_is_unbiased_on_a_subset():
    toy = ToyPosteriors(n=64, dim=2)
    g = torch.Generator().manual_seed(1)
    ratios, marginal_ratios = [], []
    for _ in range(400):
        (joint, marginals), (exact, exact_marginals) = _reference_estimate(toy, 8, 4, g)
        ratios.append((joint - exact).exp() - 1)
        marginal_ratios.append(((marginals - exact_marginals).exp() - 1).reshape(-1))
    for r in (torch.cat(ratios), torch.cat(marginal_ratios)):
        se = r.std() / math.sqrt(len(r))
        assert abs(float(r.mean())) < 5 * float(se) + 5e-3, (float(r.mean()), float(se))


def test_reference_estimate_rejects_impossible_sizes():
    mu = torch.zeros(5, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="K = 5 reference images, N = 4"):
        losses.estimate_log_qz_reference(mu[:2], mu, mu, 4)
    with pytest.raises(ValueError, match="n = 6 codes, K = 5"):
        losses.estimate_log_qz_reference(torch.zeros(6, 2, dtype=torch.float64), mu, mu, 10)


class IndexedPosteriors(torch.nn.Module):
    """A stand-in data set and encoder for ``evaluation``: image n is the number n, its posterior row n."""

    def __init__(self, mu, logvar):
        super().__init__()
        self.mu, self.logvar = mu, logvar
        self.unused = torch.nn.Parameter(torch.zeros(1))      # evaluation reads the device from a parameter

    def __len__(self):
        return len(self.mu)

    def images(self, indices, device=None):
        return torch.as_tensor(indices)

    def encode(self, indices):
        return self.mu[indices], self.logvar[indices]


def test_reference_decomposition_recovers_a_known_total_correlation():
    from dvae_tutorial import evaluation

    n, rho, sigma = 3000, 0.7, 0.3
    cov0 = torch.full((3, 3), rho, dtype=torch.float64) + (1 - rho) * torch.eye(3, dtype=torch.float64)
    mu = torch.randn(n, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) @ \
        torch.linalg.cholesky(cov0).T
    toy = IndexedPosteriors(mu, torch.full_like(mu, 2 * math.log(sigma)))
    cov = cov0 + sigma ** 2 * torch.eye(3, dtype=torch.float64)       # q(z) is close to N(0, cov)
    corr = cov / torch.outer(cov.diag().sqrt(), cov.diag().sqrt())
    analytic_tc = -0.5 * float(torch.logdet(corr))                     # 0.61 nats
    d = evaluation.decomposition_reference(toy, toy, n_codes=n, n_reference=n, seed=0)   # exact q(z)
    assert abs(d["tc"] - analytic_tc) < 4 * d["tc_se"] + 0.02, (d["tc"], d["tc_se"], analytic_tc)
    assert d["mi"] + d["tc"] + d["dw_kl"] == pytest.approx(d["kl"], abs=1e-9)
    sub = evaluation.decomposition_reference(toy, toy, n_codes=500, n_reference=1500, seed=1)
    assert abs(sub["tc"] - analytic_tc) < 4 * sub["tc_se"] + 0.05, (sub["tc"], sub["tc_se"])
    with pytest.raises(ValueError, match="n_reference must be between 2 and the data set size 3000"):
        evaluation.decomposition_reference(toy, toy, n_reference=5000)
    with pytest.raises(ValueError, match="n_codes must be between 1 and n_reference = 100"):
        evaluation.decomposition_reference(toy, toy, n_codes=200, n_reference=100)


# --- objectives --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def batch_and_output():
    torch.manual_seed(0)
    model = models.VAE(architecture="small", image_size=32)
    x = (torch.rand(8, 1, 32, 32) > 0.8).float()
    return model, x, model(x, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(m for m, c in losses.OBJECTIVES.items() if c.model_type == "VAE"))
def test_every_objective_returns_its_terms_with_the_documented_shapes(name, batch_and_output):
    model, x, out = batch_and_output
    objective = losses.make_objective(name)
    objective.prepare(model, dataset_size=1000, device="cpu")
    terms = objective(out, x, step=10)
    assert {"loss", "recon", "kl", "kl_per_dim"} <= set(terms)
    assert terms["kl_per_dim"].shape == (model.latent_dim,)
    assert torch.allclose(terms["kl_per_dim"].sum(), terms["kl"])
    assert torch.allclose(terms["kl"], losses.kl_normal(out.mu, out.logvar).sum(1).mean())
    assert all(v.ndim == 0 for k, v in terms.items() if k != "kl_per_dim")
    assert losses.make_objective(name, **objective.hparams).hparams == objective.hparams


def test_each_loss_is_its_formula(batch_and_output):
    model, x, out = batch_and_output
    t = losses.make_objective("betavae", beta=3.5)(out, x, 0)
    assert torch.allclose(t["loss"], t["recon"] + 3.5 * t["kl"])
    t = losses.make_objective("vae")(out, x, 0)
    assert torch.allclose(t["loss"], t["recon"] + t["kl"])
    cap = losses.make_objective("capacity", gamma=100.0, c_min=1.0, c_max=5.0, c_steps=100)
    t = cap(out, x, 50)
    assert float(t["capacity"]) == pytest.approx(3.0)
    assert torch.allclose(t["loss"], t["recon"] + 100.0 * (t["kl"] - 3.0).abs())
    tc = losses.make_objective("btcvae", alpha=0.5, beta=6.0, gamma=2.0, dataset_size=1000)
    t = tc(out, x, 0)
    assert torch.allclose(t["loss"], t["recon"] + 0.5 * t["mi"] + 6.0 * t["tc"] + 2.0 * t["dw_kl"])
    f = losses.make_objective("factorvae", gamma=7.0)
    f.prepare(model, 1000, "cpu")
    t = f(out, x, 0)
    assert torch.allclose(t["loss"], t["recon"] + t["kl"] + 7.0 * t["tc_disc"])
    assert torch.allclose(t["tc_disc"], f.discriminator.tc_estimate(out.z).mean())


def test_capacity_schedule_is_linear_then_flat():
    c = [losses.linear_capacity(s, 0.0, 25.0, 1000) for s in (0, 250, 1000, 5000)]
    assert c == [0.0, 6.25, 25.0, 25.0]


def test_normalised_beta_of_higgins():
    assert losses.normalized_beta(4.0, 10, 4096) == pytest.approx(4 * 10 / 4096)
    assert losses.beta_from_normalized(losses.normalized_beta(6.0, 10, 1024), 10, 1024) == pytest.approx(6.0)
    text = losses.make_objective("betavae", beta=4).describe(10, 4096)
    assert "summed over 4096 pixels" in text and "0.00977" in text


# --- errors ----------------------------------------------------------------------------------------------
def test_reconstruction_errors_say_what_is_wrong():
    x, logits = images_and_logits()
    with pytest.raises(ValueError, match="same shape"):
        losses.reconstruction_loss(x, logits[:, :, :4])
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        losses.reconstruction_loss(x * 255, logits)
    with pytest.raises(ValueError, match="NaN or infinite"):
        losses.reconstruction_loss(x, logits.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="unknown distribution"):
        losses.reconstruction_loss(x, logits, "poisson")
    with pytest.raises(ValueError, match="scale must be"):
        losses.reconstruction_loss(x, logits, "gaussian", scale=0.0)
    with pytest.raises(ValueError, match="no scale"):
        losses.reconstruction_loss(x, logits, "bernoulli", scale=0.1)


def test_posterior_and_estimator_errors():
    z, mu, logvar = posterior(8, 3, seed=0)
    with pytest.raises(ValueError, match="smaller than the batch"):
        losses.tc_decomposition(z, mu, logvar, dataset_size=4)
    with pytest.raises(ValueError, match="NaN or infinite"):
        losses.tc_decomposition(z, mu, logvar.clone().fill_(float("inf")), dataset_size=100)
    with pytest.raises(ValueError, match="same shape"):
        losses.tc_decomposition(z[:, :2], mu, logvar, dataset_size=100)
    with pytest.raises(ValueError, match="unknown estimator"):
        losses.tc_decomposition(z, mu, logvar, dataset_size=100, estimator="exact")
    with pytest.raises(ValueError, match="at least 2"):
        losses.log_importance_weights(1, 100, "mss")
    with pytest.raises(ValueError, match="NaN or infinite"):
        losses.kl_normal(mu.clone().fill_(float("nan")), logvar)


@pytest.mark.parametrize("name,kwargs,message", [
    ("betavae", {"beta": -1.0}, "beta must be"),
    ("btcvae", {"beta": -6.0}, "beta must be"),
    ("btcvae", {"alpha": float("nan")}, "alpha must be"),
    ("capacity", {"gamma": -1.0}, "gamma must be"),
    ("capacity", {"c_max": -5.0}, "c_max must be"),
    ("capacity", {"c_min": 10.0, "c_max": 5.0}, "c_max .* must be >= c_min"),
    ("capacity", {"c_steps": 0}, "c_steps must be"),
    ("factorvae", {"gamma": -35.0}, "gamma must be"),
    ("btcvae", {"dataset_size": 0}, "dataset_size must be"),
    ("vae", {"beta": 2.0}, "does not take"),
    ("nope", {}, "unknown method"),
])
def test_bad_hyper_parameters_are_refused(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        losses.make_objective(name, **kwargs)


# --- checks at the boundary, devices and dtypes ---------------------------------------------------
def test_objectives_check_the_values_of_their_first_batch_only(batch_and_output):
    model, x, out = batch_and_output
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        losses.make_objective("vae")(out, x * 255, 0)                 # uint8-scale images, first batch
    nan_logits = out._replace(logits=out.logits.detach().clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="logits contains NaN"):
        losses.make_objective("betavae")(nan_logits, x, 0)
    nan_mu = out._replace(mu=out.mu.detach().clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="mu contains NaN"):
        losses.make_objective("btcvae", dataset_size=100)(nan_mu, x, 0)
    checked = losses.make_objective("vae")
    checked(out, x, 0)                                                 # a good first batch ...
    assert checked.values_checked
    assert torch.isnan(checked(nan_logits, x, 1)["loss"])              # ... then no pass over the values:
    with pytest.raises(ValueError, match="must have the same shape"):  # the training loop catches the NaN,
        checked(out, x[:, :, :16], 2)                                  # shapes are still checked every call


@pytest.mark.parametrize("name", sorted(m for m, c in losses.OBJECTIVES.items() if c.model_type != "IVAE"))
def test_every_objective_computes_on_the_device_and_dtype_of_its_inputs(name):
    # "meta" tensors have a device and a dtype but no values: a tensor made on the CPU (or in float32) inside
    # the step would show up as a device (or dtype) mismatch here, as it would on a GPU.  (The iVAE trains on
    # tabular data with its own model: tests/test_ivae.py.)
    for device, dtype in (("meta", torch.float32), ("cpu", torch.float64)):
        if name in ("infovae", "vqvae") and device == "meta":
            continue      # InfoVAE's seeded torch.Generator and VQ-VAE's usage counts (bincount) have no "meta" kernel
        objective = losses.make_objective(name)
        torch.manual_seed(0)
        model = objective.build_model(architecture="small", image_size=32).to(device=device, dtype=dtype)
        x = torch.zeros(8, 1, 32, 32, device=device, dtype=dtype)
        objective.prepare(model, dataset_size=1000, device=device)
        objective.values_checked = device == "meta"                    # meta tensors have no values to check
        if getattr(objective, "discriminator", None) is not None:      # FactorVAE's, outside the model
            objective.discriminator.to(dtype)
        out = model(x, sample=True)
        terms = objective(out, x, step=10)
        if objective.decomposable:
            terms.update(losses.tc_decomposition(out.z, out.mu, out.logvar, 1000, check_values=False))
        if device != "meta":                                           # VQ-VAE's usage counts need values
            terms.update(objective.after_step(model, out, step=10))
        if objective.auxiliary_loss:
            terms.update(objective.auxiliary_terms(model, out, step=10, next_batch=lambda x=x: x))
        counted = ("disc_accuracy", "codes_used", "perplexity")      # statistics of counts, in float32
        for k, v in terms.items():
            assert (v.device.type, v.dtype) == (device, dtype if k not in counted else v.dtype), (device, k)
        terms["loss"].backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]   # InfoGAN: D, Q frozen in G's step
        assert grads and all(g.device.type == device and g.dtype == dtype for g in grads)


def test_objectives_build_the_model_they_train():
    from dvae_tutorial import infogan, vqvae

    built = {m: losses.make_objective(m).build_model(image_size=32, architecture="small")
             for m, c in losses.OBJECTIVES.items() if c.model_type != "IVAE"}
    kinds = {"VAE": models.VAE, "VQVAE": vqvae.VQVAE, "GAN": infogan.InfoGAN}
    for name, model in built.items():
        objective = losses.make_objective(name)
        assert isinstance(model, kinds[objective.model_type]), name
        assert objective.decomposable == (objective.model_type == "VAE")
    with pytest.raises(ValueError, match="ivae.fit"):
        losses.make_objective("ivae").build_model()
