"""Figures of the course: image grids, factor sweeps, and (re-exported) metric matrices.

Every function draws on a given matplotlib ``ax``/``fig`` or makes its own, and returns the figure,
so a notebook can show it and a test can inspect it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .models import active_latents

# Latent traversals sweep one latent over [-TRAVERSAL_LIMIT, TRAVERSAL_LIMIT]: about the central 99% of the prior
# N(0, 1) (+-2.58), where a trained decoder has seen codes.
TRAVERSAL_LIMIT = 2.5


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


@torch.no_grad()
def reconstructions(model, x, n: int = 8):
    """Top row: images ``x`` (n, C, H, W); bottom row: sigmoid(decode(mu)), the posterior-mean reconstruction."""
    x = x[:n]
    device = next(model.parameters()).device
    recon = model.reconstruct(x.to(device)).cpu()
    return image_grid(torch.cat([x.cpu(), recon]), nrow=2, row_labels=["data", "recon"])


@torch.no_grad()
def prior_samples(model, n: int = 16, seed: int = 0, nrow: int = 2):
    """Images decoded from z ~ N(0, I): what the generative model believes an image looks like."""
    device = next(model.parameters()).device
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    return image_grid(torch.sigmoid(model.decode(z)).cpu(), nrow=nrow)


@torch.no_grad()
def traversal_images(model, x, dims=None, n_steps: int = 9, limit: float = TRAVERSAL_LIMIT) -> torch.Tensor:
    """Decoded images ``(len(dims) * n_steps, C, H, W)``: latent ``d`` swept over ``[-limit, limit]``.

    The other latents stay at the posterior mean of the single image ``x`` ``(1, C, H, W)``.
    """
    device = next(model.parameters()).device
    mu, _ = model.encode(x[:1].to(device))
    dims = list(range(model.latent_dim)) if dims is None else list(dims)
    values = torch.linspace(-limit, limit, n_steps, device=device)
    z = mu.repeat(len(dims) * n_steps, 1)
    for row, d in enumerate(dims):
        z[row * n_steps:(row + 1) * n_steps, d] = values
    return torch.sigmoid(model.decode(z)).cpu()


def latent_traversal(model, x, kl_per_dim=None, dims=None, n_steps: int = 9, limit: float = TRAVERSAL_LIMIT,
                     max_dims: int = 10):
    """Latent traversals, one row per latent, rows sorted by KL (most informative first) when given.

    kl_per_dim: ``(latent_dim,)`` average KL of each latent; labels each row with it, and latents
    that are not active (KL <= ``models.ACTIVE_KL`` = 0.01 nats) are marked "(off)": a collapsed latent decodes
    to the same image.
    """
    order = list(range(model.latent_dim))
    if kl_per_dim is not None:
        kl_per_dim = np.asarray(kl_per_dim, dtype=float)
        order = list(np.argsort(-kl_per_dim))
    dims = (order if dims is None else list(dims))[:max_dims]
    images = traversal_images(model, x, dims, n_steps, limit)
    labels = [f"z{d}" + ("" if kl_per_dim is None else f"\nKL {kl_per_dim[d]:.2f}" +
                         ("" if active_latents(kl_per_dim[d]) else " (off)")) for d in dims]
    fig = image_grid(images, nrow=len(dims), row_labels=labels, scale=0.9)
    fig.suptitle(f"each row: one latent from {-limit:g} to {limit:g}, the others at the image's code", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_size_inches()[1]))   # room for the title above the grid
    return fig


def kl_per_dimension(kl_per_dim, ax=None, title: str | None = None):
    """Bar chart of the average KL(q(z_j|x) || N(0, 1)) of each latent, in nats."""
    kl = np.asarray(kl_per_dim, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.5, 0.4 * len(kl)), 2.5))
    ax.bar(range(len(kl)), kl, color=["tab:blue" if on else "lightgray" for on in active_latents(kl)])
    ax.set_xticks(range(len(kl)), [f"z{j}" for j in range(len(kl))])
    ax.set_ylabel("KL (nats)")
    ax.set_title(title or f"KL per latent (total {kl.sum():.1f} nats)", fontsize=10)
    return ax.figure


def loss_curves(history: dict, terms=None, ax=None, smooth: int = 25, title: str | None = None, logy: bool = False):
    """Every scalar term of a training history (``TrainResult.history``) against the step.

    smooth: width of a running mean (steps), so noisy minibatch estimates stay readable.
    """
    terms = [t for t in (terms or history) if np.ndim(history[t][0] if len(history[t]) else 0) == 0
             and t not in ("step", "time")]
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    for name in terms:
        values = np.asarray(history[name], dtype=float)
        if len(values) == 0:
            continue
        k = max(1, min(smooth, len(values) // 5))
        curve = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(curve)) + k - 1, curve, label=name)
    ax.set_xlabel("step")
    if logy:
        ax.set_yscale("symlog")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    if title:
        ax.set_title(title, fontsize=10)
    return ax.figure


def __getattr__(name):
    """Metric figures live in ``plots_metrics``; they are re-exported here."""
    if name.startswith("__"):
        raise AttributeError(name)
    from . import plots_metrics

    try:
        return getattr(plots_metrics, name)
    except AttributeError:
        raise AttributeError(f"module 'dvae_tutorial.plots' has no attribute {name!r}") from None


def kl_per_dim_curves(history: dict, labels=None, ax=None, smooth: int = 50, min_kl: float = 0.1,
                      title: str | None = None):
    """KL of every latent against the training step, one line per latent, coloured by its label.

    history: a training history with ``"kl_per_dim"`` ``(steps, latent_dim)`` (and, for
    capacity-annealed runs, ``"capacity"`` ``(steps,)``, drawn dashed on a second axis).
    labels: ``(latent_dim,)`` names, e.g. the factor each latent encodes best; latents with the same
    label share a colour.  Latents whose final KL stays under ``min_kl`` nats are drawn thin and grey.
    smooth: width of a running mean (steps) over the minibatch noise.
    """
    kl = np.asarray(history["kl_per_dim"], dtype=float)
    if kl.ndim != 2:
        raise ValueError(f"history['kl_per_dim'] must be (steps, latent_dim), got shape {kl.shape}")
    steps, latent_dim = kl.shape
    labels = [f"z{j}" for j in range(latent_dim)] if labels is None else [str(v) for v in labels]
    if len(labels) != latent_dim:
        raise ValueError(f"got {len(labels)} labels for {latent_dim} latents")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    k = max(1, min(smooth, steps // 5))
    curves = np.stack([np.convolve(kl[:, j], np.ones(k) / k, mode="valid") for j in range(latent_dim)], axis=1)
    x = np.arange(len(curves)) + k - 1
    palette = {}
    for name in dict.fromkeys(labels):
        palette[name] = f"C{len(palette) % 10}"
    shown = set()
    for j in np.argsort(-curves[-1]):
        active = curves[-1, j] >= min_kl
        color = palette[labels[j]] if active else "lightgray"
        label = labels[j] if active and labels[j] not in shown else None   # one legend entry per label
        if label:
            shown.add(label)
        ax.plot(x, curves[:, j], color=color, lw=1.8 if active else 0.8, label=label)
        if active:
            ax.annotate(f"z{j}", (x[-1], curves[-1, j]), xytext=(3, 0), textcoords="offset points", fontsize=7,
                        color=color, va="center")
    ax.set_xlabel("step")
    ax.set_ylabel("KL of the latent (nats)")
    ax.grid(alpha=0.3)
    if "capacity" in history:
        twin = ax.twinx()
        twin.plot(np.arange(len(history["capacity"])), history["capacity"], "k--", lw=1, label="C (total)")
        twin.set_ylabel("target C of the total KL (nats)", fontsize=8)
        twin.legend(loc="upper left", fontsize=8)
    ax.legend(loc="center left" if "capacity" in history else "best", fontsize=8)
    ax.set_title(title or "KL of each latent during training", fontsize=10)
    return ax.figure
