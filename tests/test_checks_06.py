"""The lesson-06 checks accept the reference answers and explain typical wrong ones."""
import numpy as np
import pytest

from dvae_tutorial import checks, metrics
from dvae_tutorial.checks import ExerciseError


def right_mig(mi, entropy):
    top = -np.sort(-mi, axis=1)
    return np.mean((top[:, 0] - top[:, 1]) / entropy)


def test_mig_check_accepts_the_definition_and_agrees_with_the_package(capsys):
    assert checks.check_mig_from_mi(right_mig)
    with pytest.raises(ExerciseError, match="write it yourself"):
        checks.check_mig_from_mi(metrics.mig_from_mutual_info)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda mi, h: np.mean(np.sort(mi, axis=1)[:, -1] - np.sort(mi, axis=1)[:, -2]), "entropy"),
    (lambda mi, h: np.mean((mi.max(1) - mi.min(1)) / h), "SECOND"),
    (lambda mi, h: np.mean(mi.max(1) / h), "gap"),
    (lambda mi, h: 0.5, "expected"),
])
def test_mig_check_explains_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_mig_from_mi(wrong)


def test_beta_vae_features_check():
    assert checks.check_beta_vae_features(lambda a, b: np.abs(a - b).mean(axis=1))
    for wrong, message in (
        (lambda a, b: np.abs((a - b).mean(axis=1)), "BEFORE"),
        (lambda a, b: ((a - b) ** 2).mean(axis=1), "squared"),
        (lambda a, b: np.abs(a - b).mean(axis=(1, 2)), "shape"),
        (lambda a, b: np.abs(a - b).sum(axis=1), "mean over l"),
    ):
        with pytest.raises(ExerciseError, match=message):
            checks.check_beta_vae_features(wrong)


def test_beta_vae_features_check_matches_the_package_feature():
    """The check's formula is the one metrics.beta_vae_features applies (identity encoder on factors)."""
    from dvae_tutorial.evaluation import FactorsAsObservations

    ds = FactorsAsObservations((3, 4, 5))
    feats, fixed = metrics.beta_vae_features(ds, lambda x: np.asarray(x), 16, 50, np.random.default_rng(0))
    assert feats.shape == (50, 3)
    assert np.all(feats[np.arange(50), fixed] == 0)          # the shared factor never differs
    others = np.ones_like(feats, dtype=bool)
    others[np.arange(50), fixed] = False
    assert feats[others].mean() > 0.5                        # the others do


def test_capped_score_check():
    assert checks.check_capped_score("sap")
    for wrong, message in (("mig", "0.9"), ("dci", "trees"), ("factor_vae", "zero variance"), ("bvae", "one of")):
        with pytest.raises(ExerciseError, match=message):
            checks.check_capped_score(wrong)
