"""Plots of the matrices behind the disentanglement metrics (re-exported by ``dvae_tutorial.plots``).

Both matrices are laid out ``(n_factors, latent_dim)``: one row per ground-truth factor, one
column per latent dimension, as returned by ``metrics.mutual_info_matrix`` and
``metrics.dci(..., return_importance=True)["importance"]``. A disentangled code shows a single
bright cell per row (MIG, completeness) and per column (DCI disentanglement, modularity).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _matrix_heatmap(matrix, factor_names, ax, *, title, colorbar_label, latent_names, annotate, cmap, vmin, vmax):
    import matplotlib.pyplot as plt

    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"the matrix must be 2-D (n_factors, latent_dim); got shape {values.shape}.")
    n_factors, latent_dim = values.shape
    factor_names = list(factor_names)
    if len(factor_names) != n_factors:
        raise ValueError(
            f"got {len(factor_names)} factor names for a matrix with {n_factors} rows; the matrix must be "
            f"(n_factors, latent_dim) with one name per factor (transpose a (latent_dim, n_factors) matrix)."
        )
    latent_names = [f"z{j}" for j in range(latent_dim)] if latent_names is None else list(latent_names)
    if len(latent_names) != latent_dim:
        raise ValueError(f"got {len(latent_names)} latent names for {latent_dim} columns.")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * latent_dim + 2.5, 0.5 * n_factors + 1.5))
    top = vmax if vmax is not None else max(values.max(), 1e-12)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=top, aspect="auto")
    ax.set_xticks(np.arange(latent_dim), labels=latent_names)
    ax.set_yticks(np.arange(n_factors), labels=factor_names)
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("factor")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, label=colorbar_label)
    if annotate:
        threshold = (image.norm.vmin + image.norm.vmax) / 2
        for k in range(n_factors):
            for j in range(latent_dim):
                ax.text(j, k, f"{values[k, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if values[k, j] > threshold else "white")
    return ax


def plot_mi_matrix(
    mi_matrix,
    factor_names: Sequence[str],
    ax=None,
    *,
    factor_entropy=None,
    latent_names: Sequence[str] | None = None,
    annotate: bool = True,
    cmap: str = "viridis",
    title: str | None = None,
):
    """Heat map of the factor x latent mutual information I(v_k; z_j), one row per factor.

    Args:
        mi_matrix: ``(n_factors, latent_dim)`` in nats, e.g. ``metrics.mutual_info_matrix(codes, factors)``.
        factor_names: one label per row, e.g. ``ds.factor_names``.
        ax: matplotlib Axes to draw on (a new figure when None).
        factor_entropy: ``(n_factors,)`` H(v_k), e.g. ``metrics.factor_entropies(factors)``; when
            given, rows are divided by it, so each cell is the share of the factor's entropy the
            code captures (the quantity whose top-two gap MIG averages) on a 0-1 scale.
        latent_names: column labels (default ``z0, z1, ...``).
        annotate: write the value in every cell.
        cmap: matplotlib colour map.
        title: axes title (a default says what is shown).

    Returns:
        The Axes.
    """
    values = np.asarray(mi_matrix, dtype=np.float64)
    if factor_entropy is not None:
        entropy = np.asarray(factor_entropy, dtype=np.float64)
        if entropy.shape != (values.shape[0],):
            raise ValueError(f"factor_entropy must have shape ({values.shape[0]},); got {entropy.shape}.")
        values = values / np.where(entropy > 0, entropy, 1.0)[:, None]
        label, default_title, vmax = "I(v_k; z_j) / H(v_k)", "normalised mutual information", 1.0
    else:
        label, default_title, vmax = "I(v_k; z_j)  [nats]", "mutual information (nats)", None
    return _matrix_heatmap(values, factor_names, ax, title=title or default_title, colorbar_label=label,
                           latent_names=latent_names, annotate=annotate, cmap=cmap, vmin=0.0, vmax=vmax)


def plot_dci_importance(
    importance,
    factor_names: Sequence[str],
    ax=None,
    *,
    latent_names: Sequence[str] | None = None,
    annotate: bool = True,
    cmap: str = "magma",
    title: str | None = None,
):
    """Heat map of DCI's importance matrix R (feature importance of code z_j for factor v_k).

    Args:
        importance: ``(n_factors, latent_dim)``, ``metrics.dci(..., return_importance=True)["importance"]``
            (gradient-boosted tree importances; each row sums to 1).
        factor_names: one label per row, e.g. ``ds.factor_names``.
        ax: matplotlib Axes to draw on (a new figure when None).
        latent_names: column labels (default ``z0, z1, ...``).
        annotate: write the value in every cell.
        cmap: matplotlib colour map.
        title: axes title.

    Returns:
        The Axes.
    """
    return _matrix_heatmap(importance, factor_names, ax, title=title or "DCI importance R (rows: factors)",
                           colorbar_label="importance of z_j for v_k", latent_names=latent_names,
                           annotate=annotate, cmap=cmap, vmin=0.0, vmax=None)
