"""The lesson-05 checks accept the reference answers and explain typical wrong ones."""
import math

import numpy as np
import pytest
import torch

from dvae_tutorial import checks, losses
from dvae_tutorial.checks import ExerciseError


def right_weights(batch, n):
    w = torch.full((batch, batch), 1 / (batch - 1), dtype=torch.float64)
    rows = torch.arange(batch)
    w[rows, rows] = 1 / n
    w[rows, (rows + 1) % batch] = (n - batch + 1) / (n * (batch - 1))
    return w.log()


def test_mss_weights_accepts_the_paper_layout(capsys):
    assert checks.check_mss_weights(right_weights)
    assert "correct" in capsys.readouterr().out
    assert torch.equal(right_weights(5, 100), losses.log_importance_weights(5, 100, "mss", dtype=torch.float64))


def remainder_in_the_last_column(batch, n):
    """The paper's layout (appendix C.2): the anchor's remaining stratum on the last other image."""
    w = torch.full((batch, batch), 1 / (batch - 1), dtype=torch.float64)
    for i in range(batch):
        w[i, i] = 1 / n
        w[i, batch - 1 if i != batch - 1 else batch - 2] = (n - batch + 1) / (n * (batch - 1))
    return w.log()


def equal_strata(batch, n):
    """Every other image stands for (N - 1)/(B - 1) images: w_ij = (N - 1)/(N (B - 1)), w_ii = 1/N."""
    w = torch.full((batch, batch), (n - 1) / (n * (batch - 1)), dtype=torch.float64)
    return w.fill_diagonal_(1 / n).log()


def remainder_at_random(batch, n):
    w = torch.full((batch, batch), 1 / (batch - 1), dtype=torch.float64)
    g = np.random.default_rng(batch)
    for i in range(batch):
        w[i, i] = 1 / n
        others = [j for j in range(batch) if j != i]
        w[i, others[g.integers(len(others))]] = (n - batch + 1) / (n * (batch - 1))
    return w.log()


@pytest.mark.parametrize("alternative", [remainder_in_the_last_column, equal_strata, remainder_at_random,
                                         lambda b, n: right_weights(b, n).numpy()])
def test_mss_weights_accepts_every_right_layout(alternative):
    assert checks.check_mss_weights(alternative)


def one_image_takes_the_rest(batch, n):
    """Rows sum to 1 with 1/N on the diagonal, but one other image stands for all N - 1 others."""
    w = torch.full((batch, batch), 1e-12, dtype=torch.float64)
    for i in range(batch):
        w[i, i] = 1 / n
        w[i, (i + 1) % batch] = 1 - 1 / n - (batch - 2) * 1e-12
    return w.log()


def published_layout(batch, n):
    """rtqichen/beta-tcvae's stride slip: 1/N down column 0 (rows still sum to 1 except near the wrap)."""
    m = batch - 1
    w = torch.full((batch, batch), 1 / m, dtype=torch.float64)
    w.view(-1)[::m + 1] = 1 / n
    w.view(-1)[1::m + 1] = (n - m) / (n * m)
    w[m - 1, 0] = 1 / n
    return w.log()


@pytest.mark.parametrize("wrong, message", [
    (lambda b, n: torch.full((b, b), -math.log(n * b), dtype=torch.float64), "weighted"),
    (lambda b, n: right_weights(b, n).exp(), "logarithms"),
    (published_layout, "column 0"),
    (lambda b, n: torch.full((b, b), 1 / b, dtype=torch.float64).fill_diagonal_(1 / n).log(), "sum to 1"),
    (lambda b, n: right_weights(b, n)[:-1], "must be"),
    (lambda b, n: right_weights(b, n).roll(1, dims=1), "anchor"),
    (one_image_takes_the_rest, "stratum"),
])
def test_mss_weights_explains_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_mss_weights(wrong)


def reference_decomposition(log_qz_given_x, log_qz, log_prod_qz, log_pz):
    return {"mi": (log_qz_given_x - log_qz).mean(), "tc": (log_qz - log_prod_qz).mean(),
            "dw_kl": (log_prod_qz - log_pz).mean()}


def test_decomposition_check():
    assert checks.check_decomposition(reference_decomposition)

    def flipped(*a):
        return {**reference_decomposition(*a), "tc": -reference_decomposition(*a)["tc"]}

    with pytest.raises(ExerciseError, match="wrong sign"):
        checks.check_decomposition(flipped)

    def shifted(a, b, c, d):
        return {"mi": (a - b).mean(), "tc": (b - c).mean(), "dw_kl": (c - a).mean()}

    with pytest.raises(ExerciseError, match="add up"):
        checks.check_decomposition(shifted)
    with pytest.raises(ExerciseError, match="keys"):
        checks.check_decomposition(lambda *a: (0.0, 0.0, 0.0))


def test_the_reference_decomposition_is_the_package_one():
    """The check's formula is losses.tc_decomposition's: same numbers on a real batch."""
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(16, 3, generator=g, dtype=torch.float64)
    logvar = torch.full_like(mu, -1.0)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g, dtype=torch.float64)
    log_qz, log_marg = losses.estimate_log_qz(z, mu, logvar, 100)
    ours = reference_decomposition(losses.log_density_gaussian(z, mu, logvar).sum(1), log_qz, log_marg.sum(1),
                                   losses.log_density_gaussian(z, 0.0, 0.0).sum(1))
    package = losses.tc_decomposition(z, mu, logvar, 100)
    for k in ("mi", "tc", "dw_kl"):
        assert math.isclose(float(ours[k]), float(package[k]), rel_tol=1e-9, abs_tol=1e-12)


def test_beta_tcvae_penalty():
    assert checks.check_beta_tcvae_penalty("tc")
    for wrong, message in (("mi", "forget"), ("dw_kl", "gamma"), ("kl", "one of")):
        with pytest.raises(ExerciseError, match=message):
            checks.check_beta_tcvae_penalty(wrong)
