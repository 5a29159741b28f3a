"""Right and delegating answers to the function exercises, shared by the exercise tests.

The right answers are the lessons' reference solutions (the code between BEGIN/END SOLUTION); a
delegating answer calls the package function the check compares against, which the check must refuse.
"""
import numpy as np
import torch
import torch.nn.functional as F

from dvae_tutorial import infogan, losses, losses_aggregate, metrics, models, vqvae


def my_negative_elbo(model, x, eps):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode(z)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(dim=1).mean()
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def my_train(model, dataset, steps, seed):
    rng = np.random.default_rng(seed)
    noise = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(steps):
        x = dataset.sample_observations_from_factors(dataset.sample_factors(64, rng), rng)
        eps = torch.randn(len(x), model.latent_dim, generator=noise)
        loss = my_negative_elbo(model, x, eps)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    return history


def rate_distortion(model, images, threshold):
    kl_sum, nll_sum = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(images), 500):
            x = images[start:start + 500]
            mu, logvar = model.encode(x)
            kl_sum = kl_sum + (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(dim=0)
            logits = model.decode(mu)
            nll_sum += F.binary_cross_entropy_with_logits(logits, x, reduction="sum").item()
    kl_per_dim = kl_sum / len(images)
    return {"rate": kl_per_dim.sum().item(), "distortion": nll_sum / len(images),
            "active": int((kl_per_dim > threshold).sum())}


def my_capacity_objective(model, x, eps, step, gamma, c_max, c_steps):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode(z)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl_per_dim = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).mean(dim=0)     # (D,): mean over the batch
    kl = kl_per_dim.sum()
    fraction = min(max(step, 0) / c_steps, 1.0)                                # the ramp, then flat
    capacity = c_max * fraction
    loss = recon + gamma * (kl - capacity).abs()
    return {"loss": loss, "recon": recon, "kl": kl, "kl_per_dim": kl_per_dim, "capacity": capacity}


def my_discriminator_step(model, discriminator, d_optimizer, x1, x2, generator):
    with torch.no_grad():
        mu1, logvar1 = model.encode(x1)
        z1 = models.sample_gaussian(mu1, logvar1, generator)
        mu2, logvar2 = model.encode(x2)
        z2 = models.sample_gaussian(mu2, logvar2, generator)
        z_perm = models.permute_dims(z2, generator)
    logits_q, logits_perm = discriminator(z1), discriminator(z_perm)
    class_q = torch.zeros(len(z1), dtype=torch.long)
    class_perm = torch.ones(len(z_perm), dtype=torch.long)
    loss = 0.5 * (F.cross_entropy(logits_q, class_q) + F.cross_entropy(logits_perm, class_perm))
    d_optimizer.zero_grad()
    loss.backward()
    d_optimizer.step()
    return loss.item()


def my_log_qz(z, mu, logvar, dataset_size):
    batch, n = z.shape[0], dataset_size
    weights = torch.full((batch, batch), 1.0 / (batch - 1), dtype=z.dtype)
    rows = torch.arange(batch)
    weights[rows, rows] = 1.0 / n
    weights[rows, (rows + 1) % batch] = (n - batch + 1) / (n * (batch - 1))
    log_w = weights.log()                                                         # (B, B)
    diff = z[:, None, :] - mu[None, :, :]                                        # (B, B, D): z_i against x_j
    log_q_pairs = -0.5 * (diff ** 2 / logvar.exp()[None] + logvar[None] + np.log(2 * np.pi))
    log_qz = torch.logsumexp(log_w + log_q_pairs.sum(dim=2), dim=1)
    log_marginals = torch.logsumexp(log_w[:, :, None] + log_q_pairs, dim=1)       # (B, D)
    return log_qz, log_marginals.sum(dim=1)


def my_sap(codes_train, factors_train, codes_test, factors_test):
    import warnings

    from sklearn.svm import LinearSVC

    gaps = []
    for k in range(factors_train.shape[1]):
        if factors_train[:, k].min() == factors_train[:, k].max():
            continue                                   # a constant factor: left out
        accuracy = []
        for j in range(codes_train.shape[1]):
            classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                classifier.fit(codes_train[:, j:j + 1], factors_train[:, k])
            accuracy.append(np.mean(classifier.predict(codes_test[:, j:j + 1]) == factors_test[:, k]))
        top = sorted(accuracy, reverse=True)
        gaps.append(top[0] - top[1])
    return float(np.mean(gaps)) if gaps else 0.0


def my_mcc(codes, sources):
    from scipy.optimize import linear_sum_assignment

    codes = np.asarray(codes, dtype=np.float64)
    sources = np.asarray(sources, dtype=np.float64)
    codes = codes - codes.mean(axis=0)                           # centre every column
    sources = sources - sources.mean(axis=0)
    codes = codes / codes.std(axis=0)                            # unit standard deviation
    sources = sources / sources.std(axis=0)
    corr = np.abs(sources.T @ codes) / len(codes)                # (n_sources, latent_dim) |Pearson|
    rows, cols = linear_sum_assignment(corr, maximize=True)      # one latent per source
    matched = corr[rows, cols]
    return float(matched.mean())


def my_dip_penalty(mu, logvar, lambda_od, lambda_d, kind):
    centred = mu - mu.mean(0)
    cov = centred.T @ centred / mu.shape[0]
    if kind == "ii":
        cov = cov + torch.diag(logvar.exp().mean(0))
    diag = torch.diagonal(cov)
    return lambda_od * (cov - torch.diag(diag)).pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()


def my_vq_layer(z_e, codebook):
    batch, size = z_e.shape[0], codebook.shape[0]
    distances = (z_e.unsqueeze(-2) - codebook).pow(2).sum(-1)      # (B, n, K)
    indices = distances.argmin(-1)                                 # (B, n): the nearest entries
    z_q = codebook[indices]                                        # (B, n, D)
    z = z_e + (z_q - z_e).detach()                                 # value of z_q, gradient of z_e
    codebook_loss = (z_e.detach() - z_q).pow(2).sum() / batch      # moves the entries
    commitment = (z_e - z_q.detach()).pow(2).sum() / batch         # moves the encoder
    counts = torch.bincount(indices.reshape(-1), minlength=size).to(z_e.dtype)
    p = counts[counts > 0] / counts.sum()
    perplexity = torch.exp(-(p * p.log()).sum())
    return {"indices": indices, "z": z, "codebook": codebook_loss, "commitment": commitment, "perplexity": perplexity}


def my_categorical_mi(logits, category):
    log_q = torch.log_softmax(logits, dim=1)[torch.arange(len(category)), category]
    return log_q.mean() + np.log(logits.shape[1])


# --- answers that delegate to the package's reference: each must be refused -----------------------

def delegating_answers(dataset=None):
    """``{check name: (answer, extra args)}`` for every function exercise."""
    return {
        "check_index_formula": (lambda factors, sizes: dataset.index_of(factors), (dataset,)),
        "check_kl_normal": (lambda mu, logvar: losses.kl_normal(mu, logvar), ()),
        "check_reparameterisation": (lambda mu, logvar, eps: models.sample_gaussian(mu, logvar) * 0 + mu
                                     + torch.exp(0.5 * logvar) * eps, ()),
        "check_gaussian_nll": (lambda x, mean, sigma: losses.reconstruction_loss(x, torch.logit(mean), "gaussian", sigma), ()),
        "check_negative_elbo": (lambda model, x, eps: losses.VAELoss()(model(x), x, 0), ()),
        "check_training": (None, ()),   # built in the test: trains with losses.VAELoss
        "check_active_latents": (None, ()),   # no package function counts active latents
        "check_rate_distortion": (None, ()),   # built in the test (needs a model)
        "check_linear_capacity": (lambda step, c_min, c_max, c_steps: losses.linear_capacity(step, c_min, c_max, c_steps), ()),
        "check_capacity_loss": (None, ()),    # built in the test
        "check_capacity_objective": (lambda model, x, eps, step, gamma, c_max, c_steps: losses.CapacityLoss(
            gamma=gamma, c_max=c_max, c_steps=c_steps)(models.VAEOutput(model.decode(model.encode(x)[0] + torch.exp(
                0.5 * model.encode(x)[1]) * eps), *model.encode(x), None), x, step), ()),
        "check_permute_dims": (lambda z: models.permute_dims(z), ()),
        "check_density_ratio_tc": (None, ()),  # built in the test (needs a discriminator)
        "check_discriminator_step": (None, ()),  # built in the test
        "check_mss_weights": (lambda b, n: losses.log_importance_weights(b, n, "mss", dtype=torch.float64), ()),
        "check_decomposition": (None, ()),    # decomposition_terms needs codes: built in the test
        "check_log_qz": (lambda z, mu, logvar, n: (lambda q, m: (q, m.sum(1)))(*losses.estimate_log_qz(z, mu, logvar, n, "mss")), ()),  # noqa: E501
        "check_mig_from_mi": (lambda mi, entropy: metrics.mig_from_mutual_info(mi, entropy), ()),
        "check_beta_vae_features": (None, ()),  # beta_vae_features samples from a data set: built in the test
        "check_sap": (lambda a, b, c, d: metrics.sap(a, b, c, d, seed=0), ()),
        "check_mcc": (lambda codes, sources: metrics.mcc(codes, sources), ()),
        "check_dip_penalty": (lambda mu, logvar, od, d, kind: losses_aggregate.dip_penalty(
            losses_aggregate.dip_covariance(mu, logvar, kind), od, d)["dip"], ()),
        "check_vq_layer": (lambda z_e, codebook: dict(zip(("indices", "z_q"), vqvae.quantize(z_e, codebook))), ()),
        "check_categorical_mi": (lambda logits, category: infogan.mi_lower_bound_categorical(logits, category), ()),
    }
