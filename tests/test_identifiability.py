"""DIP-VAE, InfoVAE (MMD), the nonlinear ICA data, the iVAE and the MCC metric (lesson 07's package pieces)."""
import math

import numpy as np
import pytest
import torch

from dvae_tutorial import ivae, losses, losses_aggregate, metrics, models, train
from dvae_tutorial.data import nonlinear_ica


# --- DIP-VAE ----------------------------------------------------------------------------------------
def _dip_numpy(mu, logvar, kind, lambda_od, lambda_d):
    """Kumar et al. 2018's regulariser, typed from the paper with numpy on the same batch."""
    mu, var = mu.numpy().astype(np.float64), np.exp(logvar.numpy().astype(np.float64))
    cov = np.cov(mu, rowvar=False, bias=True)                     # E[mu mu^T] - E[mu] E[mu]^T
    if kind == "ii":
        cov = cov + np.diag(var.mean(axis=0))                     # + E[diag sigma^2]
    off = sum(cov[i, j] ** 2 for i in range(len(cov)) for j in range(len(cov)) if i != j)
    diag = sum((cov[i, i] - 1) ** 2 for i in range(len(cov)))
    return lambda_od * off + lambda_d * diag


@pytest.mark.parametrize("name,kind", [("dipvae_i", "i"), ("dipvae_ii", "ii")])
def test_dip_regulariser_is_the_papers_formula_on_a_fixed_batch(name, kind):
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(64, 4, generator=g, dtype=torch.float64) @ torch.tensor(
        [[1.0, 0.5, 0, 0], [0, 2.0, 0, 0], [0, 0, 0.3, 0], [0.2, 0, 0, 1.0]], dtype=torch.float64)
    logvar = torch.randn(64, 4, generator=g, dtype=torch.float64) - 1
    cov = losses_aggregate.dip_covariance(mu, logvar, kind)
    got = losses_aggregate.dip_penalty(cov, 3.0, 7.0)["dip"]
    assert float(got) == pytest.approx(_dip_numpy(mu, logvar, kind, 3.0, 7.0), rel=1e-10)
    # through the objective: loss = -ELBO + the penalty
    out = models.VAEOutput(torch.zeros(64, 1, 2, 2, dtype=torch.float64), mu, logvar, mu)
    x = torch.zeros(64, 1, 2, 2, dtype=torch.float64)
    terms = losses.make_objective(name, lambda_od=3.0, lambda_d=7.0)(out, x, 0)
    assert torch.allclose(terms["loss"], terms["recon"] + terms["kl"] + got)
    assert {"off_diagonal", "diagonal", "dip"} <= set(terms)


def test_dip_penalty_vanishes_on_the_identity_and_ii_adds_the_posterior_variances():
    eye = torch.eye(3)
    assert float(losses_aggregate.dip_penalty(eye, 1.0, 1.0)["dip"]) == 0.0
    mu = torch.randn(500, 3, generator=torch.Generator().manual_seed(1))
    logvar = torch.full((500, 3), math.log(0.25))
    diff = losses_aggregate.dip_covariance(mu, logvar, "ii") - losses_aggregate.dip_covariance(mu, logvar, "i")
    assert torch.allclose(diff, 0.25 * eye, atol=1e-6)
    with pytest.raises(ValueError, match="kind must be 'i'"):
        losses_aggregate.dip_covariance(mu, logvar, "iii")


# --- MMD --------------------------------------------------------------------------------------------
def _expected_kernel(mean_diff, var_sum, h, dim):
    """E k(a, b) for a ~ N(m1, s1^2 I), b ~ N(m2, s2^2 I), k Gaussian of bandwidth h: a - b ~ N(m1 - m2, (s1^2 + s2^2) I)."""
    return (h ** 2 / (h ** 2 + var_sum)) ** (dim / 2) * math.exp(-mean_diff ** 2 / (2 * (h ** 2 + var_sum)))


def test_mmd_is_zero_for_identical_sets_and_positive_otherwise():
    a = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    assert float(losses_aggregate.mmd_squared(a, a.clone(), 1.5)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses_aggregate.mmd_squared(a, a + 1.0, 1.5)) > 0.1


def test_mmd_of_two_gaussians_matches_the_closed_form():
    """E[V-statistic] = MMD^2 + (1 - E k(a, a')) / n + (1 - E k(b, b')) / n, every term in closed form.

    The mean of 8 estimates on n = 1,000 points each has a standard deviation of about 0.0045 (measured
    over seeds), so the tolerance is about 3 of them."""
    dim, n, h, repeats = 2, 1000, 1.2, 8
    s1, s2, shift = 1.0, 0.6, 0.8                      # N(0, s1^2 I) vs N(shift * e_1, s2^2 I)
    g = torch.Generator().manual_seed(3)
    estimates = []
    for _ in range(repeats):
        a = s1 * torch.randn(n, dim, generator=g, dtype=torch.float64)
        b = s2 * torch.randn(n, dim, generator=g, dtype=torch.float64)
        b[:, 0] += shift
        estimates.append(float(losses_aggregate.mmd_squared(a, b, h)))
    kaa = _expected_kernel(0.0, 2 * s1 ** 2, h, dim)
    kbb = _expected_kernel(0.0, 2 * s2 ** 2, h, dim)
    kab = _expected_kernel(shift, s1 ** 2 + s2 ** 2, h, dim)
    population = kaa + kbb - 2 * kab
    expected_v = population + (1 - kaa) / n + (1 - kbb) / n
    assert population > 0.1
    assert np.mean(estimates) == pytest.approx(expected_v, abs=0.015), (np.mean(estimates), expected_v)


def test_infovae_loss_is_its_formula_and_checks_its_weights():
    model = models.VAE(architecture="small", image_size=32)
    x = (torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    out = model(x, generator=torch.Generator().manual_seed(0))
    objective = losses.make_objective("infovae", alpha=0.25, lambda_mmd=50.0)
    objective.prepare(model, 100, "cpu", seed=0)
    terms = objective(out, x, 0)
    assert torch.allclose(terms["loss"], terms["recon"] + 0.75 * terms["kl"] + 49.25 * terms["mmd"])
    objective.prepare(model, 100, "cpu", seed=0)      # the same seed draws the same prior samples
    assert torch.equal(objective(out, x, 0)["mmd"], terms["mmd"])
    with pytest.raises(ValueError, match="alpha must lie in"):
        losses.make_objective("infovae", alpha=1.5)
    with pytest.raises(ValueError, match="lambda_mmd must be >= 1 - alpha"):
        losses.make_objective("infovae", alpha=0.0, lambda_mmd=0.5)


# --- nonlinear ICA data ---------------------------------------------------------------------------
def test_nonlinear_ica_data_is_seeded_non_stationary_and_invertibly_mixed():
    data = nonlinear_ica.make_nonlinear_ica(n_segments=6, points_per_segment=400, n_sources=3, mixing_layers=3, seed=4)
    again = nonlinear_ica.make_nonlinear_ica(n_segments=6, points_per_segment=400, n_sources=3, mixing_layers=3, seed=4)
    assert torch.equal(data.observations, again.observations)
    assert len(data) == 2400 and data.observations.shape == data.sources.shape == (2400, 3)
    assert torch.equal(torch.bincount(data.segments), torch.full((6,), 400))
    s, u = data.sources.numpy(), data.segments.numpy()
    seg_var = np.array([s[u == k].var(0) for k in range(6)])
    assert np.allclose(seg_var, data.variances, rtol=0.25)              # the variances change across segments
    assert np.ptp(seg_var, axis=0).min() > 0.5                       # by more than sampling noise
    # invertible: undo each layer (leaky ReLU with slope 0.2 is invertible) and get the sources back
    h = data.observations.numpy().astype(np.float64)
    for k, a in reversed(list(enumerate(data.mixing))):
        if k < len(data.mixing) - 1:
            h = np.where(h > 0, h, h / data.negative_slope)
        h = h @ np.linalg.inv(a).T
    assert np.allclose(h, s, atol=1e-3)
    assert all(np.allclose(a.T @ a, np.eye(3)) for a in data.mixing)   # orthogonal by default
    assert np.allclose(data.means, 0) and np.sqrt(data.variances).min() >= 0.01 and np.sqrt(data.variances).max() <= 3
    with pytest.raises(ValueError, match="n_segments must be a positive int"):
        nonlinear_ica.make_nonlinear_ica(n_segments=0)
    with pytest.raises(ValueError, match="std_range must be"):
        nonlinear_ica.make_nonlinear_ica(std_range=(0.0, 3.0))
    with pytest.raises(ValueError, match="matrices must be one of"):
        nonlinear_ica.make_nonlinear_ica(matrices="random")


def test_mixing_matrices_orthogonal_are_haar_and_conditioned_obey_the_threshold():
    rng = np.random.default_rng(0)
    ortho = np.stack(nonlinear_ica.random_mixing_matrices(3, 4000, rng))
    assert np.allclose(ortho @ ortho.transpose(0, 2, 1), np.eye(3), atol=1e-10)
    # Haar: every entry has mean 0 and variance 1/n; QR without the sign fix would bias the diagonal positive
    assert abs(ortho[:, 0, 0].mean()) < 0.03 and abs(ortho[:, 1, 2].var() - 1 / 3) < 0.03
    assert abs(np.mean(np.linalg.det(ortho) > 0) - 0.5) < 0.05
    cond = nonlinear_ica.random_mixing_matrices(4, 50, np.random.default_rng(1), kind="conditioned")
    draws = nonlinear_ica._unit_columns(np.random.default_rng(2).uniform(-1, 1, (10_000, 4, 4)))
    assert max(np.linalg.cond(a) for a in cond) <= np.quantile(np.linalg.cond(draws), 0.3)
    assert all(np.allclose(np.linalg.norm(a, axis=0), 1) for a in cond)
    data = nonlinear_ica.make_nonlinear_ica(n_segments=3, points_per_segment=50, n_sources=4, matrices="conditioned")
    assert not np.allclose(data.mixing[0].T @ data.mixing[0], np.eye(4))


# --- MCC --------------------------------------------------------------------------------------------
def test_mcc_is_one_for_a_permuted_rescaled_copy_and_small_for_noise():
    rng = np.random.default_rng(0)
    sources = rng.standard_normal((5000, 4)) * [1, 3, 0.5, 2]
    copy = sources[:, [2, 0, 3, 1]] * [-2.0, 0.1, 7.0, -1.0] + 5.0
    score, matching = metrics.mcc(copy, sources, return_matching=True)
    assert score == pytest.approx(1.0, abs=1e-12)
    assert matching.tolist() == [1, 3, 0, 2]
    assert metrics.mcc(np.exp(copy), sources, "spearman") == pytest.approx(1.0, abs=1e-12)   # any monotone map
    assert metrics.mcc(np.exp(copy), sources, "pearson") < 0.99                               # Pearson: linear only
    noise = rng.standard_normal((5000, 4))
    # each |corr| of independent columns is ~ N(0, 1/n): 25 of them stay below 5 / sqrt(n) = 0.07
    assert metrics.mcc(noise, sources) < 5 / math.sqrt(5000)
    with pytest.raises(ValueError, match="one row per point"):
        metrics.mcc(noise[:10], sources)
    with pytest.raises(ValueError, match="fewer than the 4 sources"):
        metrics.mcc(noise[:, :2], sources)


def test_mcc_needs_the_matching():
    """A rotation mixes the sources: without the sources' own latents the score drops well below 1."""
    rng = np.random.default_rng(1)
    sources = rng.standard_normal((4000, 2))
    rotated = sources @ np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    assert metrics.mcc(rotated, sources) < 0.8


# --- iVAE -------------------------------------------------------------------------------------------
def test_ivae_prior_kl_and_refusals():
    model = ivae.IVAE(data_dim=3, latent_dim=3, n_segments=4)
    x, u = torch.randn(8, 3), torch.arange(8) % 4
    out = model(x, u)
    assert out.prior_mu.shape == (8, 3) and torch.equal(out.prior_mu, model.prior_mean[u])
    mu, logvar, pm, plv = (torch.randn(5, 3, generator=torch.Generator().manual_seed(k)) for k in range(4))
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                 torch.distributions.Normal(pm, (0.5 * plv).exp()))
    assert torch.allclose(ivae.kl_gaussians(mu, logvar, pm, plv), expected, atol=1e-5)
    objective = losses.make_objective("ivae")
    terms = objective(out, x, 0)
    assert torch.allclose(terms["loss"], terms["recon"] + terms["kl"])
    with pytest.raises(ValueError, match="train it with ivae.fit"):
        objective.prepare(models.VAE(), 100, "cpu")
    with pytest.raises(ValueError, match="segment labels must lie in"):
        model(x, u + 4)
    vae = ivae.IVAE(data_dim=3, latent_dim=3, n_segments=4, conditional_prior=False)
    assert not any("prior" in name for name, _ in vae.named_parameters())
    assert torch.equal(vae(x, u).prior_logvar, torch.zeros(8, 3))


def test_ivae_fit_learns_and_is_reproducible():
    data = nonlinear_ica.make_nonlinear_ica(n_segments=5, points_per_segment=200, n_sources=2, mixing_layers=2, seed=0)
    runs = []
    for steps in (100, 10):
        torch.manual_seed(0)
        model = ivae.IVAE(2, 2, 5, hidden=16)
        runs.append(ivae.fit(model, losses.make_objective("ivae"), data, steps=steps, batch_size=100, lr=3e-3,
                             progress=False))
    h = runs[0].history
    assert isinstance(runs[0], train.TrainResult) and h["loss"].shape == (100,) and h["kl_per_dim"].shape == (100, 2)
    assert h["loss"][-10:].mean() < 0.5 * h["loss"][:10].mean()
    assert np.array_equal(h["loss"][:10], runs[1].history["loss"])         # same seed, same numbers
    codes = ivae.encode(runs[0].model, data)
    assert codes.shape == (1000, 2) and np.isfinite(codes).all()


# --- command line and recipes ---------------------------------------------------------------------------
def test_new_objectives_are_reachable_from_the_command_line_and_recipes():
    from dvae_tutorial import __main__ as cli
    from dvae_tutorial import recipes

    args = cli.build_parser().parse_args(["train", "--method", "dipvae_i", "--lambda-od", "5", "--out", "x"])
    assert cli.resolve_train_args(args)[1] == {"lambda_od": 5.0}
    args = cli.build_parser().parse_args(["train", "--recipe", "infovae", "--out", "x"])
    assert cli.resolve_train_args(args)[1] == {"alpha": 0.0, "lambda_mmd": 1000.0}
    with pytest.raises(cli.UsageError, match="--lambda-mmd does not apply to --method dipvae_ii"):
        cli.resolve_train_args(cli.build_parser().parse_args(
            ["train", "--method", "dipvae_ii", "--lambda-mmd", "5", "--out", "x"]))
    with pytest.raises(SystemExit):                    # the iVAE is not an image method: ivae.fit trains it
        cli.build_parser().parse_args(["train", "--method", "ivae", "--out", "x"])
    for name in ("dipvae_i", "dipvae_ii", "infovae"):
        recipe = recipes.get(name)
        assert losses.make_objective(recipe.method, **recipe.hparams).name == name


def test_ivae_recovers_the_sources_where_the_vae_with_the_same_nets_does_not():
    # end to end: 20 segments, 3 sources, a 2-layer orthogonal mixing; the conditional prior is the only difference
    data = nonlinear_ica.make_nonlinear_ica(n_segments=20, points_per_segment=200, n_sources=3, mixing_layers=2, seed=1)
    scores = {}
    for conditional in (True, False):
        torch.manual_seed(1)
        model = ivae.IVAE(3, 3, 20, hidden=32, conditional_prior=conditional)
        ivae.fit(model, losses.make_objective("ivae"), data, steps=1000, lr=1e-2, seed=1, progress=False)
        scores[conditional] = metrics.mcc(ivae.encode(model, data), data.sources.numpy())
    assert scores[True] > 0.9 and scores[True] > scores[False] + 0.1, scores
