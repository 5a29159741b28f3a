"""Checks for lesson 06 (evaluation: the disentanglement metrics)."""
from __future__ import annotations

import numpy as np

from ._base import ExerciseError, exercise, scalar
from ._base import passed as _passed


@exercise(points=1, refuses=("dvae_tutorial.metrics.mig:mig_from_mutual_info",))
def check_mig_from_mi(mig_fn) -> bool:
    """``mig_fn(mi (n_factors, latent_dim), entropy (n_factors,)) -> float``: the mean over factors of
    (largest - second largest MI of the factor's row) / H(v_k) (Chen et al. 2018, eq. (6))."""
    from ..metrics import mig_from_mutual_info

    rng = np.random.default_rng(3)
    mi = rng.uniform(0, 1, size=(4, 6))
    entropy = rng.uniform(1.5, 3, size=4)
    expected = mig_from_mutual_info(mi, entropy)
    got = float(mig_fn(mi, entropy))
    if np.isclose(got, expected):
        return _passed(f"MIG = mean_k (I_(1)k - I_(2)k) / H(v_k) = {expected:.4f} on a random MI matrix")
    top = -np.sort(-mi, axis=1)
    if np.isclose(got, np.mean(top[:, 0] - top[:, 1])):
        raise ExerciseError("divide each factor's gap by its entropy H(v_k) before averaging")
    if np.isclose(got, np.mean((top[:, 0] - top[:, -1]) / entropy)):
        raise ExerciseError("the gap is between the largest and the SECOND largest MI, not the smallest")
    if np.isclose(got, np.mean(top[:, 0] / entropy)):
        raise ExerciseError("subtract the second largest MI: MIG rewards the gap, not the information")
    raise ExerciseError(f"expected {expected:.4f}, got {got:.4f}; rows of mi are factors, columns latents: "
                        "sort each row, take (first - second) / H(v_k), then the mean over factors")


@exercise(points=1, refuses=("dvae_tutorial.metrics.beta_vae:beta_vae_features",))
def check_beta_vae_features(features_fn) -> bool:
    """``features_fn(z1 (n, L, D), z2 (n, L, D)) -> (n, D)``: the BetaVAE score's feature
    z_diff = (1/L) sum_l |z1_l - z2_l| of every point (Higgins et al. 2017)."""
    rng = np.random.default_rng(4)
    z1, z2 = rng.normal(size=(2, 5, 64, 3))
    expected = np.abs(z1 - z2).mean(axis=1)
    got = np.asarray(features_fn(z1, z2), dtype=np.float64)
    if got.shape != expected.shape:
        raise ExerciseError(f"expected one feature row per point, shape {expected.shape} = (n, latent_dim); got "
                            f"{got.shape}: average over the L pairs (axis 1) only")
    if np.allclose(got, expected):
        return _passed("z_diff = mean over the L pairs of |z1 - z2|, one row per point")
    if np.allclose(got, (z1 - z2).mean(axis=1)) or np.allclose(got, np.abs((z1 - z2).mean(axis=1))):
        raise ExerciseError("take the absolute value of each difference BEFORE averaging over the pairs")
    if np.allclose(got, ((z1 - z2) ** 2).mean(axis=1)):
        raise ExerciseError("Higgins et al. use the absolute difference, not the squared one")
    raise ExerciseError("z_diff[i, d] = mean over l of |z1[i, l, d] - z2[i, l, d]|")


@exercise(points=1)
def check_capped_score(metric: str) -> bool:
    """Which score gives a *perfect* code on dSprites only about 0.2 (answer 'mig', 'sap', 'dci' or
    'factor_vae')?"""
    options = ("mig", "sap", "dci", "factor_vae")
    if metric not in options:
        raise ExerciseError(f"answer one of {options}")
    if metric == "sap":
        return _passed("SAP with discrete factors: a 1-D linear classifier cannot separate 32 or 40 classes on a "
                       "line, so even a perfect code scores about 0.2 (see the sanity-check table)")
    hints = {"mig": "MIG is capped too (20 bins cannot hold 40 classes apart), but only to about 0.9",
             "dci": "DCI's trees can split a code anywhere, so a perfect code gets a disentanglement near 1",
             "factor_vae": "the FactorVAE score of a perfect code is 1: the fixed factor's dimension has zero variance"}
    raise ExerciseError(hints[metric] + "; look at the sanity-check table again")


# --- the real exercise: SAP from scratch, on a shipped model ------------------------------------------

@exercise(points=4, refuses=("dvae_tutorial.metrics.sap:sap", "dvae_tutorial.metrics.sap:sap_score_matrix",
                              "dvae_tutorial.metrics.sap:sap_from_score_matrix",
                              "dvae_tutorial.metrics.sap:_single_code_accuracy"))
def check_sap(sap_fn, codes, factors) -> bool:
    """``sap_fn(codes_train, factors_train, codes_test, factors_test) -> float``: the SAP score with discrete
    factors (Kumar et al. 2018; disentanglement_lib's protocol: a ``LinearSVC(C=0.01, class_weight="balanced",
    random_state=0)`` per factor and single code dimension, test accuracy, mean over the factors that vary
    of top minus runner-up).  ``codes`` ``(n, D)`` and ``factors`` ``(n, K)`` (a shipped model's mean codes)
    are split in halves; compared with ``metrics.sap`` there and on a perfect code of 3 factors."""
    from .. import metrics

    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    half = len(codes) // 2
    rng = np.random.default_rng(0)
    perfect_factors = np.column_stack([rng.integers(0, 4, 400), rng.integers(0, 3, 400), np.zeros(400, dtype=np.int64)])
    perfect_codes = np.column_stack([perfect_factors[:, :2] + rng.normal(0, 0.05, (400, 2)), rng.normal(size=400)])
    for name, (c, f) in (("the model's codes", (codes, factors)), ("a perfect code (factor 2 constant)",
                                                                 (perfect_codes, perfect_factors))):
        n = len(c) // 2
        args = (c[:n], f[:n], c[n:], f[n:])
        expected = metrics.sap(*args, seed=0)
        got = scalar("sap_fn's result", sap_fn(*(a.copy() for a in args)))
        if np.isclose(got, expected, atol=1e-6):
            continue
        matrix = metrics.sap_score_matrix(*args, seed=0)
        keep = f[:n].max(axis=0) > f[:n].min(axis=0)
        ordered = -np.sort(-matrix, axis=1)
        if np.isclose(got, np.mean(ordered[:, 0] - ordered[:, 1])):
            hint = "leave out the factors that are constant in the training half (their row is all 0)"
        elif np.isclose(got, np.mean((ordered[:, 0] - ordered[:, -1])[keep])):
            hint = "the gap is between the best and the SECOND best code, not the worst"
        elif np.isclose(got, metrics.sap(*args, continuous_factors=True)):
            hint = "that is the continuous-factor SAP (squared correlation); here the factors are classes: use the classifiers"
        elif np.isclose(got, np.mean(ordered[keep, 0])):
            hint = "subtract the runner-up: SAP rewards the gap between the two best codes"
        else:
            hint = ("fit LinearSVC(C=0.01, class_weight='balanced', random_state=0) on ONE code column of the training "
                    "half per (factor, code) pair, score its accuracy on the test half, then average top - second "
                    "over the factors")
        raise ExerciseError(f"on {name}: SAP should be {expected:.4f}, got {got:.4f}. {hint}")
    return _passed(f"SAP of the shipped model's codes: {metrics.sap(codes[:half], factors[:half], codes[half:], factors[half:], seed=0):.4f}")  # noqa: E501
