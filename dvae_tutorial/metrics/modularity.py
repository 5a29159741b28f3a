"""Modularity and explicitness, Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings
With the F-Statistic Loss", NeurIPS 2018, Sec. 3 (as implemented in disentanglement_lib
``modularity_explicitness.py``).

Modularity: each code should carry information about one factor at most. With m_jk the
(histogram) mutual information between code z_j and factor v_k, theta_j = max_k m_jk and t_j the
"template" that keeps only that maximum,

    delta_j = sum_k (m_jk - t_jk)^2 / (theta_j^2 (K - 1)) = sum_{k != k*} m_jk^2 / (theta_j^2 (K - 1))
    modularity = mean_j (1 - delta_j)          (a code with theta_j = 0 scores 0)

Explicitness: each factor should be linearly decodable from the whole code. A logistic
regression predicts the class of v_k from the standardised codes; its explicitness is the
one-vs-rest ROC-AUC averaged over the classes, then averaged over factors.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_train_test, varying_factors
from .information import mutual_info_matrix


def modularity(mi_matrix) -> float:
    """Ridgeway & Mozer's modularity from a mutual-information matrix ``(n_factors, latent_dim)``.

        modularity = mean_j [ 1 - sum_{k != k*(j)} m_kj^2 / (max_k m_kj^2 (K - 1)) ]

    Rules (reference and documented): a code with no information (max_k m_kj = 0, e.g. a
    collapsed dimension) scores 0 and still counts in the mean; with a single factor every
    informative code is modular (score 1).
    """
    mi = np.asarray(mi_matrix, dtype=np.float64)
    if mi.ndim != 2:
        raise ValueError(f"mi_matrix must be 2-D (n_factors, latent_dim); got shape {mi.shape}.")
    squared = mi**2
    largest = squared.max(axis=0)
    informative = largest > 0
    if mi.shape[0] == 1:
        return float(np.mean(informative))
    rest = squared.sum(axis=0) - largest
    delta = rest / np.where(informative, largest * (mi.shape[0] - 1), 1.0)
    return float(np.mean(np.where(informative, 1.0 - delta, 0.0)))


def _one_vs_rest_auc(classes: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean over classes of the ROC-AUC of ``probabilities[:, c]`` for ``labels == classes[c]``.

    Vectorised Mann-Whitney form, AUC_c = (sum of ranks of positives - n+(n+ + 1)/2) / (n+ n-),
    with average ranks for ties: the same number ``sklearn.metrics.roc_auc_score`` gives.
    Classes absent from ``labels`` (no positives) or covering all of it are skipped.
    """
    from scipy.stats import rankdata

    positive = labels[:, None] == classes[None, :]  # (n, C)
    n_pos = positive.sum(axis=0)
    n_neg = labels.shape[0] - n_pos
    defined = (n_pos > 0) & (n_neg > 0)
    if not defined.any():
        return 0.5
    ranks = rankdata(probabilities[:, defined], axis=0)
    pos = positive[:, defined]
    auc = ((ranks * pos).sum(axis=0) - n_pos[defined] * (n_pos[defined] + 1) / 2) / (n_pos[defined] * n_neg[defined])
    return float(auc.mean())


def modularity_explicitness(
    codes_train, factors_train, codes_test, factors_test, *, n_bins: int = 20, seed: int = 0
) -> dict:
    """Modularity and explicitness (Ridgeway & Mozer 2018, NeurIPS, Sec. 3), each in [0, 1].

    Defaults follow disentanglement_lib ``modularity_explicitness.py`` (reference sizes 10,000
    training and 5,000 test points):

    - modularity from the histogram mutual-information matrix of the *training* codes
      (20 equal-width bins, :func:`mutual_info_matrix`), formula in :func:`modularity`;
    - explicitness: codes standardised with the training mean and standard deviation,
      ``LogisticRegression()`` with scikit-learn defaults per factor, ROC-AUC of its predicted
      class probabilities for each class against the rest, averaged over classes (macro), then
      over factors; reported on the training and on the test points. Chance level is 0.5.

    Differences from the reference, each to avoid a crash or a NaN: a constant code dimension is
    divided by 1 instead of its zero standard deviation; a class missing from an evaluation set
    is skipped in the AUC average (the reference's ``roc_auc_score`` raises); a factor with a
    single value in the training set is left out of both scores.

    Args:
        codes_train, codes_test: ``(n, latent_dim)`` floats.
        factors_train, factors_test: ``(n, n_factors)`` int64 class indices.
        n_bins: bins per code for the mutual information (reference 20).
        seed: ``random_state`` of the logistic regressions (their default lbfgs solver is
            deterministic; the argument is kept for a uniform interface).

    Returns:
        ``{"modularity", "explicitness_train", "explicitness_test"}`` (floats).
    """
    from sklearn.linear_model import LogisticRegression

    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    varying = varying_factors(factors_train)
    if not varying.any():
        return {"modularity": 0.0, "explicitness_train": 0.0, "explicitness_test": 0.0}
    mi = mutual_info_matrix(codes_train, factors_train[:, varying], n_bins)

    mean = codes_train.mean(axis=0)
    std = codes_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    train_norm = (codes_train - mean) / std
    test_norm = (codes_test - mean) / std
    explicit_train, explicit_test = [], []
    for k in np.flatnonzero(varying):
        model = LogisticRegression(random_state=seed).fit(train_norm, factors_train[:, k])
        explicit_train.append(_one_vs_rest_auc(model.classes_, factors_train[:, k], model.predict_proba(train_norm)))
        explicit_test.append(_one_vs_rest_auc(model.classes_, factors_test[:, k], model.predict_proba(test_norm)))
    return {
        "modularity": modularity(mi),
        "explicitness_train": float(np.mean(explicit_train)),
        "explicitness_test": float(np.mean(explicit_test)),
    }
