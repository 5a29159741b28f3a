"""Tests of dvae_tutorial.metrics on synthetic codes built from known factors.

Every case has a known answer: identity / permuted / rescaled codes are perfectly disentangled,
a rotation (normalised 4x4 Hadamard matrix: every code is an equal mix of all four standardised
factors) is perfectly informative but entangled, pure noise carries nothing, a duplicated latent
splits one factor over two codes. Sizes are kept small (DCI's gradient-boosted trees are slow).
"""
from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pytest
import sklearn.metrics
import torch

from dvae_tutorial import metrics

matplotlib.use("Agg")

SIZES = (3, 4, 5, 6)
CHANCE = 1.0 / len(SIZES)
HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0  # orthogonal
PERMUTATION = np.array([2, 0, 3, 1])
SCALE = np.array([2.5, -0.5, 4.0, -1.5])  # per-dimension affine maps, two of them decreasing
SHIFT = np.array([1.0, -3.0, 0.5, 7.0])
DSPRITES_SIZES = (3, 6, 40, 32, 32)
CASES = ("identity", "permuted", "rescaled", "rotated", "noise", "duplicated")


def synthetic_codes(case: str, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Codes ``(n, latent_dim)`` of the named case, built from factor classes ``(n, 4)``."""
    x = np.asarray(factors, dtype=np.float64)
    sizes = np.asarray(SIZES)
    if case == "identity":
        return x
    if case == "permuted":
        return x[:, PERMUTATION]
    if case == "rescaled":
        return x * SCALE + SHIFT
    if case == "rotated":
        standardised = (x - (sizes - 1) / 2) / np.sqrt((sizes**2 - 1) / 12)
        return standardised @ HADAMARD
    if case == "noise":
        return rng.normal(size=x.shape)
    if case == "duplicated":
        return np.concatenate([x, x[:, :1]], axis=1)
    raise ValueError(case)


def draw_factors(n: int, rng: np.random.Generator, sizes=SIZES) -> np.ndarray:
    return np.stack([rng.integers(s, size=n) for s in sizes], axis=1)


class FactorGrid:
    """A ground-truth data set (the ground-truth data protocol) whose observation is the factor vector itself."""

    def __init__(self, sizes=SIZES):
        self.factor_sizes = tuple(sizes)
        self.num_factors = len(sizes)

    def sample_factors(self, n, rng):
        return rng.integers(0, self.factor_sizes, size=(n, self.num_factors), dtype=np.int64)

    def sample_observations_from_factors(self, factors, rng):
        return torch.as_tensor(np.asarray(factors), dtype=torch.float32)


def encoder(case: str, seed: int = 5):
    """encode(observations) for the named case (noise drawn from its own seeded Generator)."""
    rng = np.random.default_rng(seed)
    return lambda x: synthetic_codes(case, x.numpy().astype(np.int64), rng)


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    return draw_factors(3000, rng), draw_factors(1500, rng)


@pytest.fixture(scope="module")
def table(split):
    """Every metric on every synthetic case, computed once: {case: {metric: value}}."""
    factors_train, factors_test = split
    dci_train, dci_test = factors_train[:600], factors_test[:300]  # small: gradient boosting is slow
    grid = FactorGrid()
    rows = {}
    for case in CASES:
        rng = np.random.default_rng(1)
        train, test = synthetic_codes(case, factors_train, rng), synthetic_codes(case, factors_test, rng)
        d = metrics.dci(train[:600], dci_train, test[:300], dci_test, seed=0)
        me = metrics.modularity_explicitness(train, factors_train, test, factors_test)
        bvae = metrics.beta_vae_score(grid, encoder(case), batch_size=32, n_train=2000, n_eval=1000, seed=0)
        fvae = metrics.factor_vae_score(grid, encoder(case), batch_size=32, n_train=2000, n_eval=1000,
                                        n_variance_estimate=2000, seed=0)
        rows[case] = {
            "mig": metrics.mig(train, factors_train),
            "sap": metrics.sap(train, factors_train, test, factors_test),
            "sap_continuous": metrics.sap(train, factors_train, test, factors_test, continuous_factors=True),
            "dci_disentanglement": d["disentanglement"],
            "dci_completeness": d["completeness"],
            "dci_informativeness": d["informativeness_test"],
            "modularity": me["modularity"],
            "explicitness": me["explicitness_test"],
            "beta_vae": bvae["eval_accuracy"],
            "factor_vae": fvae["eval_accuracy"],
        }
    return rows


def test_print_score_table(table):
    """Not a check by itself: prints the table (pytest -s) that the other tests assert on."""
    names = list(table["identity"])
    print("\n" + "case".ljust(11) + " ".join(n[:12].rjust(12) for n in names))
    for case, row in table.items():
        print(case.ljust(11) + " ".join(f"{row[n]:12.3f}" for n in names))
    assert all(np.isfinite(v) for row in table.values() for v in row.values())


# --- known answers on synthetic codes --------------------------------------------------------------
@pytest.mark.parametrize("case", ["identity", "permuted", "rescaled"])
def test_disentangled_codes_score_near_one(table, case):
    row = table[case]
    for name in ("mig", "sap_continuous", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                 "modularity", "explicitness", "beta_vae", "factor_vae"):
        assert row[name] > 0.95, (case, name, row[name])
    # discrete SAP is capped by its one-dimensional linear classifiers (see test_sap_perfect_code_...)
    assert row["sap"] > 0.35


def test_mig_is_invariant_to_permutation_and_monotone_rescaling(table):
    assert table["permuted"]["mig"] == pytest.approx(table["identity"]["mig"], abs=1e-12)
    assert table["rescaled"]["mig"] == pytest.approx(table["identity"]["mig"], abs=1e-12)
    assert table["permuted"]["sap"] == pytest.approx(table["identity"]["sap"], abs=1e-12)


def test_rotated_codes_are_entangled_but_informative(table):
    row = table["rotated"]
    assert row["mig"] < 0.05
    assert row["sap"] < 0.05 and row["sap_continuous"] < 0.05
    assert row["dci_disentanglement"] < 0.1
    # the information is all there: trees and a linear model both read the factors back
    assert row["dci_informativeness"] > 0.8
    assert row["explicitness"] > 0.95


def test_noise_scores_near_zero_or_chance(table):
    row = table["noise"]
    assert row["mig"] < 0.02
    assert row["sap"] < 0.05 and row["sap_continuous"] < 0.02
    assert row["dci_disentanglement"] < 0.1
    assert row["dci_informativeness"] == pytest.approx(np.mean(1.0 / np.asarray(SIZES)), abs=0.07)
    assert row["explicitness"] == pytest.approx(0.5, abs=0.05)
    assert row["beta_vae"] == pytest.approx(CHANCE, abs=0.06)
    assert row["factor_vae"] == pytest.approx(CHANCE, abs=0.06)


def test_duplicated_latent_lowers_mig(table):
    # factor 0 is held by two codes: its gap is 0, the other three factors keep theirs
    assert table["duplicated"]["mig"] == pytest.approx(0.75 * table["identity"]["mig"], abs=0.01)
    assert table["duplicated"]["sap_continuous"] == pytest.approx(0.75, abs=0.01)
    assert table["duplicated"]["dci_completeness"] < table["identity"]["dci_completeness"] - 0.05


# --- the facts the metrics' docstring says surprise people -----------------------------------------
def test_mig_of_a_perfect_code_on_dsprites_sizes_is_about_0_9():
    factors = draw_factors(10_000, np.random.default_rng(0), DSPRITES_SIZES)
    codes = factors.astype(np.float64)
    score = metrics.mig(codes, factors)
    assert 0.85 < score < 0.95
    # the cause: 20 bins cannot hold 32 or 40 values apart, so I(v; bin(z)) = H(bin(v)) < H(v)
    mi = metrics.mutual_info_matrix(codes, factors)
    binned_entropy = metrics.discrete_entropy(metrics.histogram_discretize(codes))
    np.testing.assert_allclose(np.diag(mi), binned_entropy, atol=1e-12)
    entropy = metrics.factor_entropies(factors)
    assert np.diag(mi)[2] / entropy[2] < 0.85  # 40 orientations in 20 bins
    np.testing.assert_allclose(np.diag(mi)[:2], entropy[:2], atol=1e-12)  # 3 and 6 values: lossless
    # factor entropies are estimated from the sample, not log(size)
    assert np.all(entropy < np.log(DSPRITES_SIZES)) and np.allclose(entropy, np.log(DSPRITES_SIZES), atol=0.01)


def test_sap_of_a_perfect_code_on_dsprites_sizes_is_about_0_2_unless_continuous():
    rng = np.random.default_rng(1)
    train, test = draw_factors(4000, rng, DSPRITES_SIZES), draw_factors(2000, rng, DSPRITES_SIZES)
    discrete = metrics.sap(train.astype(float), train, test.astype(float), test)
    continuous = metrics.sap(train.astype(float), train, test.astype(float), test, continuous_factors=True)
    assert 0.15 < discrete < 0.3
    assert continuous > 0.99
    matrix = metrics.sap_score_matrix(train.astype(float), train, test.astype(float), test)
    assert matrix[2, 2] < 0.15  # one code, 40 classes, one-vs-rest linear SVMs: hopeless


def test_dci_informativeness_is_a_classification_accuracy(split):
    from sklearn.ensemble import GradientBoostingClassifier

    factors_train, factors_test = split[0][:400], split[1][:200]
    # only factor 0 is encoded (plus a constant code): factor 0 is predicted perfectly, the others poorly
    codes_train = np.column_stack([factors_train[:, 0], np.zeros(400)]).astype(float)
    codes_test = np.column_stack([factors_test[:, 0], np.zeros(200)]).astype(float)
    scores = metrics.dci(codes_train, factors_train, codes_test, factors_test, seed=0, return_importance=True)
    accuracies = [np.mean(GradientBoostingClassifier(random_state=0).fit(codes_train, factors_train[:, k])
                          .predict(codes_test) == factors_test[:, k]) for k in range(4)]
    assert accuracies[0] == 1.0 and max(accuracies[1:]) < 0.5
    assert scores["informativeness_test"] == pytest.approx(np.mean(accuracies), abs=1e-12)
    np.testing.assert_array_equal(scores["importance"][:, 1], 0.0)  # the constant code is never used
    np.testing.assert_allclose(scores["importance"].sum(axis=1), 1.0)  # tree importances: a distribution


# --- formulas against hand-computed values -----------------------------------------------------------
def test_disentanglement_completeness_analytic():
    assert metrics.disentanglement_completeness(np.eye(3)) == pytest.approx((1.0, 1.0))
    assert metrics.disentanglement_completeness(np.eye(3)[[2, 0, 1]]) == pytest.approx((1.0, 1.0))
    assert metrics.disentanglement_completeness(np.ones((3, 3))) == pytest.approx((0.0, 0.0))
    # one code used by both factors: that code is not disentangled (D = 0), each factor complete (C = 1)
    assert metrics.disentanglement_completeness([[1.0, 0.0], [1.0, 0.0]]) == pytest.approx((0.0, 1.0))
    # degenerate: nothing is important -> 0, not NaN; a single factor -> D = 1
    assert metrics.disentanglement_completeness(np.zeros((2, 3))) == (0.0, 0.0)
    assert metrics.disentanglement_completeness([[0.2, 0.8]])[0] == pytest.approx(1.0)


def test_modularity_analytic():
    assert metrics.modularity(np.eye(3)) == pytest.approx(1.0)
    # one code equally informative about two factors: delta = 1 -> modularity 0
    assert metrics.modularity([[1.0], [1.0]]) == pytest.approx(0.0)
    # m = (1, 0.5) over K = 2 factors: delta = 0.25 / (1 * 1) -> 0.75; a silent code scores 0
    assert metrics.modularity([[1.0, 0.0], [0.5, 0.0]]) == pytest.approx(0.75 / 2)


def test_mig_from_mutual_info_analytic():
    mi = np.array([[0.9, 0.3, 0.0], [0.1, 0.2, 0.8]])
    entropy = np.array([1.2, 1.6])
    assert metrics.mig_from_mutual_info(mi, entropy) == pytest.approx(np.mean([0.6 / 1.2, 0.6 / 1.6]))
    assert metrics.mig_from_mutual_info(mi, entropy, exclude=(0,)) == pytest.approx(0.6 / 1.6)


def test_mutual_info_matches_the_pairwise_reference():
    rng = np.random.default_rng(3)
    factors = draw_factors(700, rng)
    codes = np.column_stack([factors[:, 0] + rng.normal(0, 0.5, 700), rng.normal(size=700) ** 3, factors[:, 3] * 0.1])
    # reference: disentanglement_lib's per-column np.histogram + np.digitize and pairwise sklearn MI
    digitized = np.stack([np.digitize(c, np.histogram(c, 20)[1][:-1]) for c in codes.T], axis=1)
    np.testing.assert_array_equal(metrics.histogram_discretize(codes, 20), digitized - 1)
    reference = np.array([[sklearn.metrics.mutual_info_score(factors[:, k], digitized[:, j]) for j in range(3)]
                          for k in range(4)])
    np.testing.assert_allclose(metrics.mutual_info_matrix(codes, factors), reference, atol=1e-12)
    reference_entropy = [sklearn.metrics.mutual_info_score(f, f) for f in factors.T]
    np.testing.assert_allclose(metrics.factor_entropies(factors), reference_entropy, atol=1e-12)


def test_explicitness_auc_matches_sklearn():
    from dvae_tutorial.metrics.modularity import _one_vs_rest_auc

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, size=300)
    scores = np.round(rng.random((300, 4)) + 0.3 * np.eye(4)[labels], 2)  # rounded: ties exercised
    expected = np.mean([sklearn.metrics.roc_auc_score(labels == c, scores[:, c]) for c in range(4)])
    assert _one_vs_rest_auc(np.arange(4), labels, scores) == pytest.approx(expected, abs=1e-12)


# --- Chen et al.'s protocol -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def full_grid():
    return np.array(list(itertools.product(*[range(s) for s in SIZES])))  # (360, 4), each combination once


def test_mig_chen_on_gaussian_posteriors_with_known_answers(full_grid):
    x = full_grid.astype(np.float64)
    sharp = np.full_like(x, -12.0)  # posterior std 0.0025: the code reads the factor exactly
    mi = metrics.posterior_mutual_info_matrix(x, sharp, full_grid, seed=0)
    np.testing.assert_allclose(np.diag(mi), np.log(SIZES), rtol=1e-3)  # I = H(v) = log |v| on the grid
    assert np.abs(mi - np.diag(np.diag(mi))).max() < 1e-3
    assert metrics.mig(x, full_grid, protocol="chen", logvar=sharp) > 0.99
    rotated = synthetic_codes("rotated", full_grid, np.random.default_rng(0))
    assert metrics.mig(rotated, full_grid, protocol="chen", logvar=sharp) < 0.05
    noise = np.random.default_rng(0).normal(size=x.shape)
    assert metrics.mig(noise, full_grid, protocol="chen", logvar=np.zeros_like(x)) < 0.05
    # a blurred posterior (std 1 for classes 1 apart) carries less information than a sharp one
    blurred = metrics.posterior_mutual_info_matrix(x, np.zeros_like(x), full_grid, seed=0)
    assert np.all(np.diag(blurred) < 0.8 * np.log(SIZES))


def test_mig_chen_exclude_and_seed(full_grid):
    x = full_grid.astype(np.float64)
    logvar = np.full_like(x, -4.0)
    codes = np.column_stack([x[:, 0], x[:, 0], x[:, 1], x[:, 2], x[:, 3]])  # factor 0 duplicated: gap 0
    lv = np.column_stack([logvar, logvar[:, :1]])
    everything = metrics.mig(codes, full_grid, protocol="chen", logvar=lv, seed=1)
    without_first = metrics.mig(codes, full_grid, protocol="chen", logvar=lv, seed=1, exclude=(0,))
    assert without_first > everything + 0.1  # shape-like exclusion, as Chen et al. do on dSprites
    assert metrics.mig(codes, full_grid, protocol="chen", logvar=lv, seed=1) == everything
    with pytest.raises(ValueError, match="logvar"):
        metrics.mig(codes, full_grid, protocol="chen")
    with pytest.raises(ValueError, match="protocol"):
        metrics.mig(codes, full_grid, protocol="kde")


# --- degenerate input --------------------------------------------------------------------------------
def test_constant_code_dimension_gives_defined_scores(split):
    factors_train, factors_test = split
    add_constant = lambda c: np.concatenate([c, np.full((c.shape[0], 1), 3.0)], axis=1)  # noqa: E731
    train, test = add_constant(factors_train.astype(float)), add_constant(factors_test.astype(float))
    mi = metrics.mutual_info_matrix(train, factors_train)
    np.testing.assert_array_equal(mi[:, -1], 0.0)
    assert metrics.mig(train, factors_train) == pytest.approx(metrics.mig(train[:, :-1], factors_train), abs=1e-12)
    for continuous in (False, True):
        assert np.isfinite(metrics.sap(train, factors_train, test, factors_test, continuous_factors=continuous))
    d = metrics.dci(train[:300], factors_train[:300], test[:150], factors_test[:150], return_importance=True)
    assert all(np.isfinite(v) for k, v in d.items() if k != "importance") and np.all(d["importance"][:, -1] == 0)
    me = metrics.modularity_explicitness(train, factors_train, test, factors_test)
    assert all(np.isfinite(v) for v in me.values())
    fvae = metrics.factor_vae_score(FactorGrid(), lambda x: add_constant(x.numpy()), batch_size=16, n_train=500,
                                    n_eval=300, n_variance_estimate=500, seed=0)
    assert fvae["num_active_dims"] == len(SIZES) and fvae["eval_accuracy"] > 0.95  # the constant is pruned


def test_active_dimensions_compare_the_standard_deviation_with_the_threshold():
    from dvae_tutorial.metrics import factor_vae

    variance = np.array([0.0, 0.0024, 0.0025, 0.0026, 1.0])      # std 0, 0.049, 0.05, 0.051, 1
    np.testing.assert_array_equal(factor_vae.active_dimensions(variance), [False, False, True, True, True])
    np.testing.assert_array_equal(factor_vae.active_dimensions(variance, 0.0), [True] * 5)
    np.testing.assert_array_equal(factor_vae.active_dimensions(variance, 0.5), [False] * 4 + [True])
    for bad in (np.array([0.1, -0.01]), np.ones((2, 2))):
        with pytest.raises(ValueError, match=r"must be a \(latent_dim,\) array of variances >= 0"):
            factor_vae.active_dimensions(bad)


def test_all_constant_codes_score_zero(split):
    factors_train, factors_test = split
    constant = np.ones((factors_train.shape[0], 2))
    assert metrics.mig(constant, factors_train) == 0.0
    constant_test = constant[: len(factors_test)]
    assert metrics.sap(constant, factors_train, constant_test, factors_test, continuous_factors=True) == 0.0
    fvae = metrics.factor_vae_score(FactorGrid(), lambda x: np.ones((len(x), 2)), batch_size=8, n_train=50,
                                    n_eval=50, n_variance_estimate=50)
    assert fvae == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_single_valued_factor_gives_defined_scores(split):
    factors_train, factors_test = split
    add_fixed = lambda f: np.concatenate([f, np.zeros((f.shape[0], 1), dtype=np.int64)], axis=1)  # noqa: E731
    ftrain, ftest = add_fixed(factors_train), add_fixed(factors_test)
    codes_train, codes_test = factors_train.astype(float), factors_test.astype(float)
    assert metrics.factor_entropies(ftrain)[-1] == 0.0
    # the constant factor has nothing to disentangle: it is left out, the score is unchanged
    assert metrics.mig(codes_train, ftrain) == pytest.approx(metrics.mig(codes_train, factors_train), abs=1e-12)
    for continuous in (False, True):
        with_fixed = metrics.sap(codes_train, ftrain, codes_test, ftest, continuous_factors=continuous)
        without = metrics.sap(codes_train, factors_train, codes_test, factors_test, continuous_factors=continuous)
        assert with_fixed == pytest.approx(without, abs=1e-12)
    d = metrics.dci(codes_train[:300], ftrain[:300], codes_test[:150], ftest[:150])
    assert all(np.isfinite(v) for v in d.values()) and d["disentanglement"] > 0.95
    me = metrics.modularity_explicitness(codes_train, ftrain, codes_test, ftest)
    assert all(np.isfinite(v) for v in me.values()) and me["modularity"] > 0.95
    only_fixed = np.zeros((len(codes_train), 1), dtype=np.int64)
    assert metrics.mig(codes_train, only_fixed) == 0.0
    # a size-1 factor (like dSprites' colour) is never the fixed factor of the intervention scores
    grid = FactorGrid(SIZES + (1,))
    encode = lambda x: x.numpy()[:, :4]  # noqa: E731
    assert metrics.beta_vae_score(grid, encode, batch_size=16, n_train=500, n_eval=300)["eval_accuracy"] > 0.95
    assert metrics.factor_vae_score(grid, encode, batch_size=16, n_train=500, n_eval=300,
                                    n_variance_estimate=500)["eval_accuracy"] > 0.95


def test_one_latent_dimension_gives_defined_scores(split):
    factors_train, factors_test = split
    codes_train, codes_test = factors_train[:, :1].astype(float), factors_test[:, :1].astype(float)
    assert np.isfinite(metrics.mig(codes_train, factors_train))
    assert np.isfinite(metrics.sap(codes_train, factors_train, codes_test, factors_test, continuous_factors=True))


def test_nan_codes_and_mismatched_lengths_raise_clear_errors(split):
    factors_train, factors_test = split
    codes = factors_train.astype(float)
    bad = codes.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.mig(bad, factors_train)
    with pytest.raises(ValueError, match="NaN"):
        metrics.sap(bad, factors_train, codes[:1500], factors_test)
    with pytest.raises(ValueError, match="NaN"):
        metrics.dci(codes, factors_train, bad[:1500], factors_test)
    with pytest.raises(ValueError, match="NaN"):
        metrics.modularity_explicitness(bad, factors_train, codes[:1500], factors_test)
    with pytest.raises(ValueError, match="rows"):
        metrics.mig(codes[:-1], factors_train)
    with pytest.raises(ValueError, match="rows"):
        metrics.dci(codes, factors_train, codes[:1499], factors_test)
    with pytest.raises(ValueError, match="2-D"):
        metrics.mig(codes[:, 0], factors_train)
    with pytest.raises(ValueError, match="class indices"):
        metrics.mig(codes, factors_train + 0.5)
    with pytest.raises(ValueError, match="NaN"):
        metrics.beta_vae_score(FactorGrid(), lambda x: np.full((len(x), 4), np.nan), n_train=10, n_eval=10)
    with pytest.raises(ValueError, match="model.encode"):
        metrics.factor_vae_score(FactorGrid(), lambda x: (x, x), n_train=10, n_eval=10, n_variance_estimate=10)
    with pytest.raises(ValueError, match="ground-truth"):
        metrics.beta_vae_score(object(), lambda x: x)


# --- randomness --------------------------------------------------------------------------------------
def test_same_seed_same_score_whatever_the_global_state(split):
    factors_train, factors_test = split[0][:200], split[1][:100]
    # a duplicated code makes the trees' choice between two equal features depend on their random state
    codes_train = synthetic_codes("duplicated", factors_train, None)
    codes_test = synthetic_codes("duplicated", factors_test, None)
    grid = FactorGrid()

    def beta(seed):
        return metrics.beta_vae_score(grid, encoder("noise"), batch_size=8, n_train=300, n_eval=200, seed=seed)

    def all_scores(seed, scramble):
        np.random.seed(scramble)  # numpy's legacy global state (the reference draws on it) must not matter
        torch.manual_seed(scramble)
        return (
            beta(seed),
            metrics.factor_vae_score(grid, encoder("rotated"), batch_size=8, n_train=300, n_eval=200,
                                     n_variance_estimate=300, seed=seed),
            metrics.dci(codes_train, factors_train, codes_test, factors_test, seed=seed, return_importance=True),
            metrics.sap(codes_train, factors_train, codes_test, factors_test, seed=seed),
        )

    first, second = all_scores(3, scramble=1), all_scores(3, scramble=2)
    assert first[0] == second[0] and first[1] == second[1] and first[3] == second[3]
    np.testing.assert_array_equal(first[2].pop("importance"), second[2].pop("importance"))
    assert first[2] == second[2]
    assert beta(4) != first[0]  # the seed does drive the sampling


def test_dci_gives_the_same_scores_in_any_number_of_processes(split):
    """The per-factor classifiers run in parallel (most classes first); results come back in factor order."""
    factors_train, factors_test = split
    codes_train = synthetic_codes("duplicated", factors_train, None)[:300]
    codes_test = synthetic_codes("duplicated", factors_test, None)[:150]
    ftrain, ftest = factors_train[:300].copy(), factors_test[:150]
    ftrain[:, 1] = 0          # a constant factor in the middle: its row stays zero and the order still holds
    one = metrics.dci(codes_train, ftrain, codes_test, ftest, seed=1, return_importance=True, n_jobs=1)
    two = metrics.dci(codes_train, ftrain, codes_test, ftest, seed=1, return_importance=True, n_jobs=2)
    assert not one["importance"][1].any() and one["importance"][0].any()
    np.testing.assert_array_equal(one.pop("importance"), two.pop("importance"))
    assert one == two
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="n_jobs must be a positive int"):
            metrics.dci(codes_train, ftrain, codes_test, ftest, n_jobs=bad)


# --- against the real data set -----------------------------------------------------------------------
class GroundTruthReader:
    """Wraps a data set so that a fake encoder returns the true factors of the images it is given."""

    def __init__(self, ds):
        self.ds, self.factor_sizes, self._last = ds, ds.factor_sizes, None

    def sample_factors(self, n, rng):
        return self.ds.sample_factors(n, rng)

    def sample_observations_from_factors(self, factors, rng):
        self._last = np.asarray(factors)
        return self.ds.sample_observations_from_factors(factors, rng)

    def encode(self, images):
        assert tuple(images.shape) == (len(self._last),) + tuple(self.ds.observation_shape)
        return self._last.astype(np.float64)


def test_intervention_scores_on_small_dsprites_with_a_ground_truth_encoder(dsprites_small):
    reader = GroundTruthReader(dsprites_small)
    beta = metrics.beta_vae_score(reader, reader.encode, batch_size=16, n_train=300, n_eval=200, seed=0)
    factor = metrics.factor_vae_score(reader, reader.encode, batch_size=16, n_train=300, n_eval=200,
                                      n_variance_estimate=500, seed=0)
    assert beta["eval_accuracy"] > 0.95 and factor["eval_accuracy"] == 1.0
    rng = np.random.default_rng(0)
    factors = dsprites_small.sample_factors(5000, rng)
    assert metrics.mig(factors.astype(float), factors) > 0.98  # sizes (3, 6, 10, 16, 16) all fit in 20 bins


# --- plots and bookkeeping ---------------------------------------------------------------------------
def test_plots_label_factors_and_annotate_values(split):
    import matplotlib.pyplot as plt

    from dvae_tutorial.plots_metrics import plot_dci_importance, plot_mi_matrix

    factors = split[0]
    names = ["a", "b", "c", "d"]
    codes = synthetic_codes("duplicated", factors, None)
    mi = metrics.mutual_info_matrix(codes, factors)
    ax = plot_mi_matrix(mi, names, factor_entropy=metrics.factor_entropies(factors))
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"z{j}" for j in range(5)]
    assert len(ax.texts) == mi.size and len(ax.figure.axes) == 2  # annotated, with a colour bar
    assert ax.texts[0].get_text() == f"{mi[0, 0] / metrics.factor_entropies(factors)[0]:.2f}"
    ax = plot_dci_importance(np.eye(4), names)
    assert [t.get_text() for t in ax.get_yticklabels()] == names and len(ax.texts) == 16
    with pytest.raises(ValueError, match="factor names"):
        plot_mi_matrix(mi.T, names)
    plt.close("all")


def test_versions_name_what_changes_scores():
    v = metrics.versions()
    assert {"numpy", "scikit-learn", "torch"} <= set(v) and all(isinstance(x, str) for x in v.values())


def test_gaussian_total_correlation_matches_the_closed_form_and_ignores_scale():
    rho, d, n = 0.6, 3, 200_000
    cov = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    codes = np.random.default_rng(0).multivariate_normal(np.zeros(d), cov, size=n)
    exact = -0.5 * np.log(np.linalg.det(cov))                 # unit variances: R = cov
    assert abs(metrics.gaussian_total_correlation(codes) - exact) < 0.01
    scaled = codes * np.array([1e-3, 5.0, 40.0]) + 7.0         # TC sees correlations only
    assert np.isclose(metrics.gaussian_total_correlation(scaled), metrics.gaussian_total_correlation(codes))
    independent = np.random.default_rng(1).normal(size=(n, d))
    assert metrics.gaussian_total_correlation(independent) < 1e-3
    with_constant = np.column_stack([codes[:1000], np.zeros(1000)])     # a constant latent is left out
    assert np.isclose(metrics.gaussian_total_correlation(with_constant), metrics.gaussian_total_correlation(codes[:1000]))
    with pytest.raises(ValueError, match="singular"):                    # an exact copy has no finite TC
        metrics.gaussian_total_correlation(np.column_stack([codes[:1000], codes[:1000, 0]]))
