"""Separated Attribute Predictability (SAP), Kumar et al. 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations" (DIP-VAE), ICLR 2018, Sec. 3.

    S_kj = how well code z_j alone predicts factor v_k          (score matrix, n_factors x latent_dim)
    SAP  = (1/K) sum_k [ S_k(1) - S_k(2) ]                       (top score minus runner-up, per factor)

Reference implementation: disentanglement_lib ``sap_score.py`` (Locatello et al. 2019).
"""
from __future__ import annotations

import warnings

import numpy as np

from ._checks import check_train_test, varying_factors


def _squared_correlation(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """R^2 between every factor and every code, ``(n_factors, latent_dim)``, in one matrix product.

        S_kj = Cov(z_j, v_k)^2 / (Var z_j Var v_k)      (sample moments, ddof = 1)

    A code with variance <= 1e-12 scores 0 (reference rule); so does a constant factor.
    """
    zc = codes - codes.mean(axis=0)
    yc = factors - factors.mean(axis=0)
    n = codes.shape[0]
    cov = yc.T @ zc / (n - 1)
    var_z = (zc**2).sum(axis=0) / (n - 1)
    var_y = (yc**2).sum(axis=0) / (n - 1)
    ok = (var_y[:, None] > 0) & (var_z[None, :] > 1e-12)
    denominator = np.where(ok, var_y[:, None] * var_z[None, :], 1.0)
    return np.where(ok, cov**2 / denominator, 0.0)


def _single_code_accuracy(codes_train, factors_train, codes_test, factors_test, seed: int) -> np.ndarray:
    """Test accuracy of a linear SVM on one code dimension at a time, ``(n_factors, latent_dim)``.

    As the reference: ``LinearSVC(C=0.01, class_weight="balanced")`` (one-vs-rest), fitted on
    code j of the training points to predict factor k, scored by plain accuracy on the test
    points. The classifier fits dominate the cost (n_factors x latent_dim of them). Their
    ConvergenceWarnings are silenced: a constant or uninformative single code triggers them
    routinely and the accuracy is still what the metric asks for.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    n_factors, latent_dim = factors_train.shape[1], codes_train.shape[1]
    scores = np.zeros((n_factors, latent_dim))
    varying = varying_factors(factors_train)
    for k in range(n_factors):
        if not varying[k]:
            continue
        for j in range(latent_dim):
            classifier = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                classifier.fit(codes_train[:, j : j + 1], factors_train[:, k])
            scores[k, j] = np.mean(classifier.predict(codes_test[:, j : j + 1]) == factors_test[:, k])
    return scores


def sap_score_matrix(
    codes_train, factors_train, codes_test, factors_test, continuous_factors: bool = False, *, seed: int = 0
) -> np.ndarray:
    """SAP's score matrix ``(n_factors, latent_dim)``: how well each code alone predicts each factor.

    ``continuous_factors=False``: test accuracy of a one-dimensional linear SVM (see :func:`sap`).
    ``continuous_factors=True``: squared correlation on the training points (test points unused).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test, allow_float=continuous_factors
    )
    if continuous_factors:
        return _squared_correlation(codes_train, factors_train.astype(np.float64))
    return _single_code_accuracy(codes_train, factors_train, codes_test, factors_test, seed)


def sap_from_score_matrix(score_matrix, factors_train=None) -> float:
    """SAP = mean over factors of (largest - second largest) score in the factor's row.

    Rows of factors that are constant in ``factors_train`` are left out; with one latent
    dimension the runner-up counts as 0; with no factor left SAP is 0.0.
    """
    scores = np.asarray(score_matrix, dtype=np.float64)
    keep = np.ones(scores.shape[0], dtype=bool) if factors_train is None else varying_factors(np.asarray(factors_train))
    if not keep.any():
        return 0.0
    top_two = -np.sort(-scores[keep], axis=1)[:, :2]
    second = top_two[:, 1] if scores.shape[1] > 1 else 0.0
    return float(np.mean(top_two[:, 0] - second))


def sap(
    codes_train, factors_train, codes_test, factors_test, continuous_factors: bool = False, *, seed: int = 0
) -> float:
    """SAP score (Kumar et al. 2018, ICLR, Sec. 3), in [0, 1], higher = more disentangled.

        SAP = (1/K) sum_k [ S_k(1) - S_k(2) ],   S_kj = predictability of factor v_k from code z_j alone

    Defaults follow disentanglement_lib ``sap_score.py`` (reference sizes: 10,000 training and
    5,000 test points; ``continuous_factors=False``):

    - discrete factors (default): S_kj is the test accuracy of ``LinearSVC(C=0.01,
      class_weight="balanced")`` trained on the single code z_j to predict the class of v_k.
      Kumar et al. describe a balanced classification accuracy; the reference (and this
      function) reports plain accuracy of a class-balanced classifier.
    - ``continuous_factors=True``: S_kj = Cov(z_j, v_k)^2 / (Var z_j Var v_k), the squared
      correlation on the training points (the test points are not used, as in the reference).
      Factors may then be class indices or physical values (floats).

    Facts that surprise people:
    - With discrete factors a one-dimensional linear classifier cannot separate 32 or 40 classes
      along a line (one-vs-rest needs each class to win on an interval), so even a perfect code
      scores only about 0.2 on dSprites-sized factors (3, 6, 40, 32, 32). With
      ``continuous_factors=True`` a perfect (linear) code scores about 1.
    - The reference's LinearSVC draws on numpy's global random state; here ``seed`` is passed as
      its ``random_state`` so that the same seed gives the same score.

    Degenerate input: a constant code (variance <= 1e-12) scores 0 for continuous factors; a
    factor with a single value in the training set is left out of the mean; with one latent
    dimension the runner-up counts as 0; NaN codes or mismatched rows raise ValueError.

    Args:
        codes_train, codes_test: ``(n, latent_dim)`` floats.
        factors_train, factors_test: ``(n, n_factors)`` int64 class indices.
        continuous_factors: treat factors as continuous (squared correlation) instead of classes.
        seed: ``random_state`` of the classifiers.

    Returns:
        SAP as a Python float.
    """
    matrix = sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors, seed=seed)
    return sap_from_score_matrix(matrix, factors_train)
