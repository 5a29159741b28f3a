"""DCI: Disentanglement, Completeness, Informativeness, Eastwood & Williams 2018, "A Framework for
the Quantitative Evaluation of Disentangled Representations", ICLR 2018, Sec. 2.

A regressor (here, as in disentanglement_lib ``dci.py``, a gradient-boosted tree classifier) is
trained per factor v_k on all codes; its feature importances form the importance matrix
R (latent_dim x n_factors), R_jk = importance of code z_j for predicting v_k. Then

    P_jk = R_jk / sum_k' R_jk'                      (how code j spreads over factors)
    D_j  = 1 - H_K(P_j.) = 1 + sum_k P_jk log_K P_jk
    rho_j = sum_k R_jk / sum_j'k R_j'k              (relative importance of code j)
    D    = sum_j rho_j D_j                          (disentanglement)

    P~_jk = R_jk / sum_j' R_j'k                     (how factor k spreads over codes)
    C_k  = 1 - H_L(P~_.k)                           (L = latent_dim)
    C    = sum_k (sum_j R_jk / sum R) C_k           (completeness; GBT importances sum to 1 per
                                                     factor, so this is the plain mean)
    I    = mean_k accuracy of the classifier for v_k     (informativeness, train and test)

Matrices returned by this package are laid out ``(n_factors, latent_dim)`` (rows = factors), the
transpose of R above.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_train_test, varying_factors


def _normalised_entropy(p: np.ndarray, axis: int, base: int) -> np.ndarray:
    """Entropy with logarithm base ``base`` of the rows/columns of a non-negative array, normalised
    along ``axis`` first; an all-zero slice counts as uniform (entropy 1), as scipy would with the
    reference's +1e-11."""
    total = p.sum(axis=axis, keepdims=True)
    q = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / p.shape[axis])
    terms = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
    return -terms.sum(axis=axis) / np.log(base)


def disentanglement_completeness(importance) -> tuple[float, float]:
    """Eastwood & Williams' D and C from an importance matrix ``(n_factors, latent_dim)``.

    Formulas in the module docstring. Degenerate rules (no NaN): with one factor every code with
    nonzero importance is fully disentangled (D_j = 1); with one code C_k = 1; an all-zero matrix
    (nothing predicts anything) gives D = C = 0.
    """
    r = np.abs(np.asarray(importance, dtype=np.float64))
    if r.ndim != 2:
        raise ValueError(f"importance must be a 2-D array (n_factors, latent_dim); got shape {r.shape}.")
    n_factors, latent_dim = r.shape
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0
    per_code = np.ones(latent_dim) if n_factors == 1 else 1.0 - _normalised_entropy(r, axis=0, base=n_factors)
    per_factor = np.ones(n_factors) if latent_dim == 1 else 1.0 - _normalised_entropy(r, axis=1, base=latent_dim)
    code_weight = r.sum(axis=0) / total
    factor_weight = r.sum(axis=1) / total
    return float(np.sum(per_code * code_weight)), float(np.sum(per_factor * factor_weight))


def _fit_one_factor(codes_train, target_train, codes_test, target_test, seed: int):
    """One ``GradientBoostingClassifier`` for one factor: (importances ``(latent_dim,)``, train acc, test acc)."""
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=seed)
    model.fit(codes_train, target_train)
    return (np.abs(model.feature_importances_), float(np.mean(model.predict(codes_train) == target_train)),
            float(np.mean(model.predict(codes_test) == target_test)))


def _gbt_importance(codes_train, factors_train, codes_test, factors_test, seed: int, n_jobs: int):
    """One ``GradientBoostingClassifier`` per varying factor: importances and accuracies.

    Returns importance ``(n_factors, latent_dim)`` (zero rows for constant factors) and the
    train/test accuracies ``(n_varying,)``, in factor order.  With ``n_jobs`` > 1 the factors are
    fitted in that many processes, the most classes first (a fit costs one tree per class per
    round); each fit is the same computation as in one process, so the scores are identical.
    """
    n_factors, latent_dim = factors_train.shape[1], codes_train.shape[1]
    importance = np.zeros((n_factors, latent_dim))
    varying = np.flatnonzero(varying_factors(factors_train))
    jobs = [(codes_train, factors_train[:, k], codes_test, factors_test[:, k], seed) for k in varying]
    if n_jobs > 1 and len(jobs) > 1:
        from joblib import Parallel, delayed

        order = sorted(range(len(jobs)), key=lambda i: -len(np.unique(jobs[i][1])))
        fitted = Parallel(n_jobs=min(n_jobs, len(jobs)))(delayed(_fit_one_factor)(*jobs[i]) for i in order)
        results = [None] * len(jobs)
        for i, result in zip(order, fitted):
            results[i] = result
    else:
        results = [_fit_one_factor(*job) for job in jobs]
    for k, (imp, _, _) in zip(varying, results):
        importance[k] = imp
    return importance, np.array([r[1] for r in results]), np.array([r[2] for r in results])


def default_jobs() -> int:
    """Processes for the per-factor fits when ``n_jobs`` is None: the CPU cores this process may use."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def dci(
    codes_train, factors_train, codes_test, factors_test, *, seed: int = 0, return_importance: bool = False,
    n_jobs: int | None = None,
) -> dict:
    """DCI scores (Eastwood & Williams 2018, ICLR, Sec. 2) with gradient-boosted trees.

        D = sum_j rho_j (1 - H_K(P_j.)),  C = mean_k (1 - H_L(P~_.k)),  I = mean_k accuracy_k

    (full definitions in the module docstring). Defaults follow disentanglement_lib ``dci.py``:
    ``sklearn.ensemble.GradientBoostingClassifier()`` with default settings (100 trees of depth
    3) per factor, its impurity-based ``feature_importances_`` as R; reference sizes 10,000
    training and 5,000 test points.

    Facts that surprise people:
    - Informativeness is a classification *accuracy* (higher = better), not the paper's
      prediction error: disentanglement_lib classifies factor classes.
    - Gradient boosting fits one tree per class per round: a 40-class factor on 10,000 points
      takes minutes on a CPU. Use a few thousand points for quick looks.
    - The reference's trees draw on numpy's *global* random state (``random_state=None``), so
      repeated runs differ; here ``seed`` is the ``random_state`` of every model, so the same
      seed gives the same scores.
    - Scores depend on the scikit-learn version; record ``metrics.versions()`` with results.
    - scikit-learn fits one classifier on one core; the factors' classifiers are independent, so
      they run in ``n_jobs`` processes (default: every core this process may use). The scores are
      the same for every ``n_jobs``; only the wall time changes (on 2 cores, 1,000 + 500 codes of
      dSprites' factors: 52 s in one process, 30-37 s in two).

    Degenerate input: a constant code gets zero importance (D_j weighted 0); a factor with a
    single value in the training set is skipped (its importance row is 0 and it is left out of
    the informativeness mean); see :func:`disentanglement_completeness` for one factor / one code;
    if no factor varies every score is 0.0. NaN codes or mismatched rows raise ValueError.

    Args:
        codes_train, codes_test: ``(n, latent_dim)`` floats.
        factors_train, factors_test: ``(n, n_factors)`` int64 class indices.
        seed: ``random_state`` of the gradient-boosted trees.
        return_importance: also return the importance matrix under ``"importance"``,
            ``(n_factors, latent_dim)``, e.g. for ``plots.plot_dci_importance``.
        n_jobs: processes for the per-factor fits (1: in this process); None: :func:`default_jobs`.

    Returns:
        ``{"disentanglement", "completeness", "informativeness_train", "informativeness_test"}``
        (floats), plus ``"importance"`` when asked.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    if n_jobs is None:
        n_jobs = default_jobs()
    if not (isinstance(n_jobs, (int, np.integer)) and n_jobs >= 1):
        raise ValueError(f"n_jobs must be a positive int (processes for the per-factor fits) or None for every "
                         f"core, got {n_jobs!r}")
    importance, train_acc, test_acc = _gbt_importance(codes_train, factors_train, codes_test, factors_test, seed,
                                                      int(n_jobs))
    varying = varying_factors(factors_train)
    d, c = disentanglement_completeness(importance[varying]) if varying.any() else (0.0, 0.0)
    scores = {
        "disentanglement": d,
        "completeness": c,
        "informativeness_train": float(train_acc.mean()) if train_acc.size else 0.0,
        "informativeness_test": float(test_acc.mean()) if test_acc.size else 0.0,
    }
    if return_importance:
        scores["importance"] = importance
    return scores
