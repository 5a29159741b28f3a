"""A synthetic nonlinear ICA data set: non-stationary sources in segments, mixed by a random invertible MLP.

The construction of Hyvarinen & Morioka 2016 ("Unsupervised feature extraction by time-contrastive
learning and nonlinear ICA", section 5) that Khemakhem et al. 2020 ("Variational autoencoders and
nonlinear ICA: a unifying framework", section 6) use for the iVAE:

1. n_segments segments u = 0 .. n_segments - 1 of points_per_segment points each.  In segment u the
   n_sources sources are independent Gaussians, s_i ~ N(m_ui, v_ui), with a mean m_ui ~ U(mean_range)
   and a variance v_ui ~ U(variance_range) drawn at random per segment and source: the sources are
   *non-stationary*, their distribution changes with the segment, and u is the auxiliary variable.
2. x = f(s), f an MLP of ``mixing_layers`` square layers: x <- A_l x for every layer, a leaky ReLU
   (slope ``negative_slope``) after every layer but the last.  Each A_l has entries U(-1, 1) and
   unit-norm columns, redrawn until its condition number is at most the 25th percentile of the
   condition numbers of 10,000 such matrices (Hyvarinen & Morioka's rule for a well-conditioned,
   hence safely invertible, mixing).  With one layer the mixing is linear.

The ranges are this course's choices (``DEFAULT_MEAN_RANGE``, ``DEFAULT_VARIANCE_RANGE``).  Seeded:
the same arguments give the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["NonlinearICAData", "make_nonlinear_ica", "random_mixing_matrices", "mix"]

DEFAULT_MEAN_RANGE = (-2.0, 2.0)
DEFAULT_VARIANCE_RANGE = (0.5, 3.0)
CONDITION_QUANTILE, CONDITION_DRAWS = 0.25, 10_000


@dataclass
class NonlinearICAData:
    """Observations, their segment labels and the true sources (all rows aligned).

    ``observations`` ``(n, n_sources)`` float32, ``segments`` ``(n,)`` int64 in [0, n_segments),
    ``sources`` ``(n, n_sources)`` float32; ``means`` and ``variances`` ``(n_segments, n_sources)``
    are the sources' parameters per segment, ``mixing`` the MLP's matrices.
    """

    observations: torch.Tensor
    segments: torch.Tensor
    sources: torch.Tensor
    means: np.ndarray
    variances: np.ndarray
    mixing: list
    negative_slope: float
    seed: int

    def __len__(self) -> int:
        return self.observations.shape[0]

    @property
    def n_segments(self) -> int:
        return self.means.shape[0]

    @property
    def n_sources(self) -> int:
        return self.sources.shape[1]

    def batch(self, indices, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(observations[indices], segments[indices])`` on ``device``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        x, u = self.observations[idx], self.segments[idx]
        return (x, u) if device is None else (x.to(device), u.to(device))


def _leaky_relu(h: np.ndarray, slope: float) -> np.ndarray:
    return np.where(h > 0, h, slope * h)


def _unit_columns(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-2, keepdims=True)


def random_mixing_matrices(n: int, layers: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``layers`` well-conditioned ``(n, n)`` matrices (entries U(-1, 1), unit columns, condition number at
    most the 25th percentile of 10,000 such draws: Hyvarinen & Morioka 2016)."""
    if n < 1 or layers < 1:
        raise ValueError(f"need n >= 1 sources and layers >= 1, got n = {n}, layers = {layers}")
    draws = rng.uniform(-1, 1, size=(CONDITION_DRAWS, n, n))
    threshold = np.quantile(np.linalg.cond(_unit_columns(draws)), CONDITION_QUANTILE)
    matrices = []
    while len(matrices) < layers:
        a = _unit_columns(rng.uniform(-1, 1, size=(n, n)))
        if np.linalg.cond(a) <= threshold:
            matrices.append(a)
    return matrices


def mix(sources: np.ndarray, matrices: list[np.ndarray], negative_slope: float = 0.2) -> np.ndarray:
    """x = f(s): ``(n, d)`` -> ``(n, d)``, x <- x A_l^T per layer, a leaky ReLU after every layer but the last."""
    h = np.asarray(sources, dtype=np.float64)
    for k, a in enumerate(matrices):
        h = h @ a.T
        if k < len(matrices) - 1:
            h = _leaky_relu(h, negative_slope)
    return h


def make_nonlinear_ica(n_segments: int = 40, points_per_segment: int = 500, n_sources: int = 5,
                       mixing_layers: int = 3, seed: int = 0, negative_slope: float = 0.2,
                       mean_range=DEFAULT_MEAN_RANGE, variance_range=DEFAULT_VARIANCE_RANGE) -> NonlinearICAData:
    """The data set of the module docstring: n_segments * points_per_segment points of dimension n_sources.

    ``n_segments = 1`` gives stationary Gaussian sources: then no method can recover them (any rotation of
    the sources fits the data as well), which is the point of lesson 07.
    """
    for name, value in (("n_segments", n_segments), ("points_per_segment", points_per_segment),
                        ("n_sources", n_sources), ("mixing_layers", mixing_layers)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not 0 < negative_slope <= 1:
        raise ValueError(f"negative_slope must lie in (0, 1] so that the mixing stays invertible, got {negative_slope}")
    lo, hi = variance_range
    if not 0 < lo <= hi:
        raise ValueError(f"variance_range must be (low, high) with 0 < low <= high, got {variance_range}")
    rng = np.random.default_rng(seed)
    means = rng.uniform(*mean_range, size=(n_segments, n_sources))
    variances = rng.uniform(lo, hi, size=(n_segments, n_sources))
    segments = np.repeat(np.arange(n_segments), points_per_segment)
    sources = means[segments] + np.sqrt(variances[segments]) * rng.standard_normal((len(segments), n_sources))
    matrices = random_mixing_matrices(n_sources, mixing_layers, rng)
    observations = mix(sources, matrices, negative_slope)
    return NonlinearICAData(torch.as_tensor(observations, dtype=torch.float32), torch.as_tensor(segments),
                            torch.as_tensor(sources, dtype=torch.float32), means, variances, matrices,
                            negative_slope, seed)
