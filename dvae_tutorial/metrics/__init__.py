"""Disentanglement metrics: the reference protocol (disentanglement_lib), validated and vectorised.

Inputs follow the package's conventions (docs/design.md, "Codes and factors"): codes
``(n_points, latent_dim)`` floats (posterior means), factors ``(n_points, n_factors)`` int64 class
indices; the intervention-based scores take a ground-truth data set and an ``encode`` function
instead. Every function checks its input (NaN codes or rows that do not match raise ValueError)
and handles degenerate input with a documented rule (a constant code dimension, a factor with a
single value) instead of returning NaN.

==========================  ========================================  =================================
function                    definition (paper)                        reference defaults
==========================  ========================================  =================================
``beta_vae_score``          linear classifier on mean |z1 - z2| of    L = 64, 10,000 / 5,000 points,
                            pairs sharing one factor (Higgins et       LogisticRegression()
                            al. 2017, ICLR)
``factor_vae_score``        majority vote on the least-varying         L = 64, 10,000 / 5,000 points,
                            normalised dimension (Kim & Mnih 2018,     10,000 for variances, prune
                            ICML)                                      std < 0.05
``mig``                     gap of the two largest I(v_k; z_j) over    20 equal-width bins, 10,000
                            H(v_k) (Chen et al. 2018, NeurIPS)         points; ``protocol="chen"``
``sap``                     gap of the two best single-code            LinearSVC(C=0.01, balanced),
                            predictors (Kumar et al. 2018, ICLR)       10,000 / 5,000 points
``dci``                     entropy of GBT importances; accuracy       GradientBoostingClassifier(),
                            (Eastwood & Williams 2018, ICLR)           10,000 / 5,000 points
``modularity_explicitness`` MI template deviation; one-vs-rest AUC     20 bins, LogisticRegression(),
                            (Ridgeway & Mozer 2018, NeurIPS)           10,000 / 5,000 points
``mcc``                     mean |correlation| of sources and          Pearson; Hungarian matching
                            latents after matching (Hyvarinen &        (scipy linear_sum_assignment)
                            Morioka 2016; Khemakhem et al. 2020)
==========================  ========================================  =================================

Facts that surprise people (each is tested in tests/test_metrics.py):

- MIG with 20 equal-width bins cannot reach 1 for factors with more than 20 values: a perfect
  code on dSprites-sized factors scores about 0.9. Factor entropies are estimated from the sample.
- SAP with discrete factors uses a linear classifier on one code at a time: it cannot separate
  32 or 40 classes, so a perfect code scores about 0.2 on dSprites-sized factors; with
  ``continuous_factors=True`` (squared correlation) it scores about 1.
- DCI's informativeness is a classification accuracy; its gradient-boosted trees are slow
  (minutes for 10,000 points and a 40-class factor). The reference draws them from numpy's
  global random state; here every stochastic metric takes ``seed``.
- Scores that use scikit-learn classifiers depend on the scikit-learn version: store
  :func:`versions` with every result.

Matrices (:func:`mutual_info_matrix`, :func:`posterior_mutual_info_matrix`,
:func:`sap_score_matrix`, ``dci(..., return_importance=True)["importance"]``) are laid out
``(n_factors, latent_dim)``: rows are factors, columns latent dimensions.
"""
from __future__ import annotations

import platform

from .beta_vae import beta_vae_features, beta_vae_score
from .dci import dci, disentanglement_completeness
from .factor_vae import factor_vae_score, factor_vae_votes, global_code_variance
from .information import (
    discrete_entropy,
    discrete_mutual_info,
    factor_entropies,
    histogram_discretize,
    mutual_info_matrix,
)
from .mcc import correlation_matrix, mcc
from .mig import mig, mig_from_mutual_info
from .modularity import modularity, modularity_explicitness
from .posterior_mi import posterior_mutual_info_matrix
from .sap import sap, sap_from_score_matrix, sap_score_matrix
from .total_correlation import gaussian_total_correlation


def versions() -> dict:
    """Versions that change metric values (scikit-learn's classifiers above all): store them with scores."""
    import numpy
    import scipy
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
    }


__all__ = [
    "beta_vae_score",
    "beta_vae_features",
    "factor_vae_score",
    "factor_vae_votes",
    "global_code_variance",
    "mig",
    "mig_from_mutual_info",
    "mutual_info_matrix",
    "posterior_mutual_info_matrix",
    "histogram_discretize",
    "discrete_entropy",
    "discrete_mutual_info",
    "factor_entropies",
    "sap",
    "sap_score_matrix",
    "sap_from_score_matrix",
    "dci",
    "disentanglement_completeness",
    "modularity",
    "modularity_explicitness",
    "gaussian_total_correlation",
    "mcc",
    "correlation_matrix",
    "versions",
]
