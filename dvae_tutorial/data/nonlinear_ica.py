"""A synthetic nonlinear ICA data set: non-stationary sources in segments, mixed by a random invertible MLP.

The construction of Hyvarinen & Morioka 2016 ("Unsupervised feature extraction by time-contrastive
learning and nonlinear ICA", section 5) that Khemakhem et al. 2020 ("Variational autoencoders and
nonlinear ICA: a unifying framework", section 6) use for the iVAE:

1. n_segments segments u = 0 .. n_segments - 1 of points_per_segment points each.  In segment u the
   n_sources sources are independent Gaussians, s_i ~ N(m_ui, sigma_ui^2), with a standard deviation
   sigma_ui ~ U(std_range) and a mean m_ui ~ U(mean_range) drawn at random per segment and source: the
   sources are *non-stationary*, their distribution changes with the segment, and u is the auxiliary variable.
2. x = f(s), f an MLP of ``mixing_layers`` square layers: x <- A_l x for every layer, a leaky ReLU
   (slope ``negative_slope``) after every layer but the last.  With one layer the mixing is linear.
   ``matrices="orthogonal"`` draws each A_l from the uniform (Haar) distribution on the orthogonal group,
   condition number 1; ``matrices="conditioned"`` draws entries U(-1, 1), scales the columns to unit norm and
   redraws until the condition number is at most the 25th percentile of 10,000 such draws (Hyvarinen &
   Morioka's rule for a well-conditioned mixing).

The defaults (std ~ U(0.01, 3), zero means, orthogonal matrices, slope 0.2) are those of the time-contrastive
generator in Khemakhem et al.'s published experiment code (icebeem, ``gen_TCL_data_ortho``), which applies the
leaky ReLU before each matrix instead of after.  The spread of the standard deviations matters: with
variances in U(0.5, 3) and "conditioned" matrices this course's iVAE reached only MCC 0.6-0.65 at every training
length tried, with the defaults 0.98 (lesson 07 measures it).  Seeded: the same arguments give the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["NonlinearICAData", "make_nonlinear_ica", "random_mixing_matrices", "mix"]

DEFAULT_MEAN_RANGE = (0.0, 0.0)
DEFAULT_STD_RANGE = (0.01, 3.0)
MATRIX_KINDS = ("orthogonal", "conditioned")
CONDITION_QUANTILE, CONDITION_DRAWS = 0.25, 10_000


@dataclass
class NonlinearICAData:
    """Observations, their segment labels and the true sources (all rows aligned).

    ``observations`` ``(n, n_sources)`` float32, ``segments`` ``(n,)`` int64 in [0, n_segments),
    ``sources`` ``(n, n_sources)`` float32; ``means`` and ``variances`` ``(n_segments, n_sources)``
    are the sources' parameters per segment (``variances`` = sigma^2), ``mixing`` the MLP's matrices.
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


def random_mixing_matrices(n: int, layers: int, rng: np.random.Generator,
                           kind: str = "orthogonal") -> list[np.ndarray]:
    """``layers`` invertible ``(n, n)`` matrices of the kind named in the module docstring: ``"orthogonal"``
    (Haar-uniform) or ``"conditioned"`` (entries U(-1, 1), unit columns, condition number at most the 25th
    percentile of 10,000 such draws: Hyvarinen & Morioka 2016).  Both have unit-norm columns."""
    if n < 1 or layers < 1:
        raise ValueError(f"need n >= 1 sources and layers >= 1, got n = {n}, layers = {layers}")
    if kind not in MATRIX_KINDS:
        raise ValueError(f"matrices must be one of {MATRIX_KINDS}, got {kind!r}")
    if kind == "orthogonal":
        # QR of a Gaussian matrix, signs fixed by R's diagonal: Haar-uniform (Mezzadri 2007, section 5)
        matrices = []
        for _ in range(layers):
            q, r = np.linalg.qr(rng.standard_normal((n, n)))
            matrices.append(q * np.sign(np.diag(r)))
        return matrices
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
                       mixing_layers: int = 2, seed: int = 0, negative_slope: float = 0.2,
                       mean_range=DEFAULT_MEAN_RANGE, std_range=DEFAULT_STD_RANGE,
                       matrices: str = "orthogonal") -> NonlinearICAData:
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
    lo, hi = std_range
    if not 0 < lo <= hi:
        raise ValueError(f"std_range must be (low, high) with 0 < low <= high, got {std_range}")
    rng = np.random.default_rng(seed)
    means = rng.uniform(*mean_range, size=(n_segments, n_sources))
    stds = rng.uniform(lo, hi, size=(n_segments, n_sources))
    segments = np.repeat(np.arange(n_segments), points_per_segment)
    sources = means[segments] + stds[segments] * rng.standard_normal((len(segments), n_sources))
    mixing = random_mixing_matrices(n_sources, mixing_layers, rng, kind=matrices)
    observations = mix(sources, mixing, negative_slope)
    return NonlinearICAData(torch.as_tensor(observations, dtype=torch.float32), torch.as_tensor(segments),
                            torch.as_tensor(sources, dtype=torch.float32), means, stds ** 2, mixing,
                            negative_slope, seed)
