"""Figures of the course: image grids, factor sweeps, and (re-exported) metric matrices.

Every function draws on a given matplotlib ``ax``/``fig`` or makes its own, and returns the figure,
so a notebook can show it and a test can inspect it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def as_numpy_images(images) -> np.ndarray:
    """(n, C, H, W) tensor/array in [0, 1] -> numpy (n, H, W) or (n, H, W, 3) for imshow."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (n, 1 or 3, H, W), got {images.shape}")
    return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)


def image_grid(images, nrow: int | None = None, titles=None, row_labels=None, scale: float = 1.2, fig=None):
    """Show images (n, C, H, W) in a grid of ``nrow`` rows; optional per-image titles and row labels."""
    imgs = as_numpy_images(images)
    n = len(imgs)
    nrow = nrow or 1
    ncol = int(np.ceil(n / nrow))
    fig = fig or plt.figure(figsize=(scale * ncol + (1.2 if row_labels is not None else 0), scale * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        if k < n:
            ax.imshow(imgs[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    if row_labels is not None:
        for r, label in enumerate(row_labels):
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def factor_sweeps(dataset, base_factors, n_steps: int = 8):
    """One row per factor: the sprite as that factor sweeps its range, the others fixed at ``base_factors``.

    base_factors: (n_factors,) class indices.  Each row shows ``n_steps`` evenly spaced classes
    (every class when the factor has fewer), titled with the physical value.
    """
    base = np.asarray(base_factors, dtype=np.int64)
    rows, titles = [], []
    for k, size in enumerate(dataset.factor_sizes):
        classes = np.unique(np.linspace(0, size - 1, min(n_steps, size)).round().astype(int))
        classes = np.pad(classes, (0, n_steps - len(classes)), constant_values=-1)
        for c in classes:
            f = base.copy()
            f[k] = max(c, 0)
            rows.append(f)
            titles.append(f"{dataset.factor_values[k][c]:.2f}" if c >= 0 else "")
    factors = np.stack(rows)
    images = dataset.sample_observations_from_factors(factors).clone()
    images[np.array(titles) == ""] = 1.0            # blank (white) cells where a factor has few classes
    return image_grid(images, nrow=dataset.num_factors, titles=titles, row_labels=dataset.factor_names)


def __getattr__(name):
    """Metric figures live in ``plots_metrics``; they are re-exported here."""
    if name.startswith("__"):
        raise AttributeError(name)
    from . import plots_metrics

    try:
        return getattr(plots_metrics, name)
    except AttributeError:
        raise AttributeError(f"module 'dvae_tutorial.plots' has no attribute {name!r}") from None
