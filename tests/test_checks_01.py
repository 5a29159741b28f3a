"""Lesson 01's exercise checks: right answers pass, typical mistakes raise with the matching hint."""
import math

import pytest
import torch

from dvae_tutorial import checks
from dvae_tutorial.checks import ExerciseError


def test_kl_normal_right_and_wrong():
    assert checks.check_kl_normal(lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv))
    wrong = {
        "factor 1/2": lambda mu, lv: mu ** 2 + lv.exp() - 1 - lv,
        "wrong sign": lambda mu, lv: -0.5 * (mu ** 2 + lv.exp() - 1 - lv),
        "exp\\(logvar\\)": lambda mu, lv: 0.5 * (mu ** 2 + (2 * lv).exp() - 1 - 2 * lv),
        "add mu\\^2": lambda mu, lv: 0.5 * (lv.exp() - 1 - lv),
        "shape": lambda mu, lv: (0.5 * (mu ** 2 + lv.exp() - 1 - lv)).sum(1),
    }
    for hint, fn in wrong.items():
        with pytest.raises(ExerciseError, match=hint):
            checks.check_kl_normal(fn)


def test_reparameterisation_right_and_wrong():
    assert checks.check_reparameterisation(lambda mu, lv, eps: mu + torch.exp(0.5 * lv) * eps)
    wrong = {
        "variance exp\\(logvar\\)": lambda mu, lv, eps: mu + lv.exp() * eps,
        "not logvar": lambda mu, lv, eps: mu + lv * eps,
        "z equals mu": lambda mu, lv, eps: mu + 0 * eps,
        "autograd": lambda mu, lv, eps: (mu + torch.exp(0.5 * lv) * eps).detach(),
    }
    for hint, fn in wrong.items():
        with pytest.raises(ExerciseError, match=hint):
            checks.check_reparameterisation(fn)


def _gaussian_nll(x, m, s):
    per_pixel = (x - m) ** 2 / (2 * s ** 2) + math.log(s) + 0.5 * math.log(2 * math.pi)
    return per_pixel.sum() / len(x)


def test_gaussian_nll_right_and_wrong():
    assert checks.check_gaussian_nll(_gaussian_nll)
    wrong = {
        "normalising constant": lambda x, m, s: ((x - m) ** 2).sum() / (2 * s ** 2) / len(x),
        "2 sigma\\^2": lambda x, m, s: _gaussian_nll(x, m, s) - ((x - m) ** 2).sum() / len(x) * (1 / (2 * s ** 2) - 1 / (2 * s)),
        "summed over the batch": lambda x, m, s: _gaussian_nll(x, m, s) * len(x),
        "SUM over its pixels": lambda x, m, s: _gaussian_nll(x, m, s) / x[0].numel(),
        "one number": lambda x, m, s: (x - m) ** 2,
    }
    for hint, fn in wrong.items():
        with pytest.raises(ExerciseError, match=hint):
            checks.check_gaussian_nll(fn)


def test_likelihood_predictions():
    assert checks.check_likelihood_predictions("bernoulli", "laplace")
    with pytest.raises(ExerciseError, match="log of \\(1 - m\\)"):
        checks.check_likelihood_predictions("gaussian", "laplace")
    with pytest.raises(ExerciseError, match="linear in"):
        checks.check_likelihood_predictions("bernoulli", "gaussian")
    with pytest.raises(ExerciseError, match="must be one of"):
        checks.check_likelihood_predictions("normal", "laplace")
