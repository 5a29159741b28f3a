"""The lesson-08 checks accept the reference answers and explain typical wrong ones."""
import math

import pytest
import torch

from dvae_tutorial import checks, infogan, vqvae
from dvae_tutorial.checks import ExerciseError


def right_quantize(z_e, codebook):
    indices, z_q = vqvae.quantize(z_e, codebook)
    return indices, vqvae.straight_through(z_e, z_q)


def test_quantize_accepts_the_straight_through_answer(capsys):
    assert checks.check_quantize(right_quantize)
    assert "correct" in capsys.readouterr().out


def farthest(z_e, codebook):
    idx = torch.cdist(z_e.reshape(-1, z_e.shape[-1]), codebook).argmax(1).reshape(z_e.shape[:-1])
    return idx, z_e + (codebook[idx] - z_e).detach()


@pytest.mark.parametrize("wrong, message", [
    (lambda z, c: vqvae.quantize(z, c), "cut the graph"),                       # (indices, z_q): no straight-through
    (farthest, "FARTHEST"),
    (lambda z, c: (right_quantize(z, c)[0] + 1) % 12, "pair"),
    (lambda z, c: (right_quantize(z, c)[0], z), "VALUE"),
    (lambda z, c: (right_quantize(z, c)[0], z + (vqvae.quantize(z, c)[1] - z)), "no gradient"),   # nothing detached
    (lambda z, c: (right_quantize(z, c)[0], 2 * z + (vqvae.quantize(z, c)[1] - 2 * z).detach()), "unchanged"),
])
def test_quantize_explains_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_quantize(wrong)


def test_categorical_mi_accepts_the_bound(capsys):
    assert checks.check_categorical_mi(infogan.mi_lower_bound_categorical)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda q, c: -torch.nn.functional.cross_entropy(q, c), "entropy"),
    (lambda q, c: -infogan.mi_lower_bound_categorical(q, c), "sign"),
    (lambda q, c: torch.softmax(q, 1)[torch.arange(len(c)), c].mean() + math.log(q.shape[1]), "log-probabilities"),
    (lambda q, c: torch.log_softmax(q, 1)[torch.arange(len(c)), c] + math.log(q.shape[1]), "one number"),
    (lambda q, c: -torch.nn.functional.cross_entropy(q, c) + math.log(3), "K = 10"),
])
def test_categorical_mi_explains_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_categorical_mi(wrong)


def test_relabelling_invariance_accepts_mig_and_explains_sap(capsys):
    assert checks.check_relabelling_invariance("mig")
    with pytest.raises(ExerciseError, match="needs an order"):
        checks.check_relabelling_invariance("sap")
    with pytest.raises(ExerciseError, match='answer "mig" or "sap"'):
        checks.check_relabelling_invariance("dci")
