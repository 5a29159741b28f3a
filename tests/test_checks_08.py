"""The lesson-08 checks accept the reference answers and explain typical wrong ones."""
import math

import exercise_answers as answers
import pytest
import torch

from dvae_tutorial import checks
from dvae_tutorial.checks import ExerciseError


def test_vq_layer_accepts_the_solution(capsys):
    assert checks.check_vq_layer(answers.my_vq_layer)
    assert "correct" in capsys.readouterr().out


def changed(**parts):
    """The reference answer with some of its parts replaced: parts(z_e, codebook, right) -> value."""
    def answer(z_e, codebook):
        right = answers.my_vq_layer(z_e, codebook)
        return {**right, **{k: f(z_e, codebook, right) for k, f in parts.items()}}
    return answer


def farthest(z_e, codebook, right):
    return torch.cdist(z_e.reshape(-1, z_e.shape[-1]), codebook).argmax(1).reshape(z_e.shape[:-1])


def z_q(z_e, codebook, right):
    return codebook[right["indices"]]


@pytest.mark.parametrize("wrong, message", [
    (lambda z, c: answers.my_vq_layer(z, c)["z"], "a dict"),
    (changed(z=z_q), "no gradient reaches z_e"),                                  # no straight-through
    (changed(indices=farthest), "FARTHEST"),
    (changed(indices=lambda z, c, r: (r["indices"] + 1) % 12), "not the nearest"),
    (changed(z=lambda z, c, r: z), "VALUE"),
    (changed(z=lambda z, c, r: 2 * z + (z_q(z, c, r) - 2 * z).detach()), "unchanged"),
    (changed(codebook=lambda z, c, r: (z.detach() - z_q(z, c, r)).pow(2).mean()), "averaged over everything"),
    (changed(codebook=lambda z, c, r: (z - z_q(z, c, r).detach()).pow(2).sum() / len(z),
             commitment=lambda z, c, r: (z.detach() - z_q(z, c, r)).pow(2).sum() / len(z)), "swapped"),
    (changed(codebook=lambda z, c, r: (z - z_q(z, c, r)).pow(2).sum() / len(z)), "must not move the encoder"),
    (changed(commitment=lambda z, c, r: (z - z_q(z, c, r)).pow(2).sum() / len(z)), "must not move the codebook"),
    (changed(perplexity=lambda z, c, r: r["perplexity"].log()), "entropy"),
    (changed(perplexity=lambda z, c, r: torch.tensor(float(r["indices"].unique().numel()))), "counts the entries"),
])
def test_vq_layer_explains_typical_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_vq_layer(wrong)


def test_categorical_mi_accepts_the_bound(capsys):
    assert checks.check_categorical_mi(answers.my_categorical_mi)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda q, c: -torch.nn.functional.cross_entropy(q, c), "entropy"),
    (lambda q, c: -answers.my_categorical_mi(q, c), "sign"),
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
