"""The ground-truth data protocol shared by every data set of the course.

A ground-truth data set is a grid of generative factors (each with a finite number of classes)
and one observation for every combination.  The protocol is disentanglement_lib's
(Locatello et al. 2019), with numpy Generators instead of RandomState:

- ``factor_names``, ``factor_sizes``, ``factor_values`` describe the grid;
- ``sample_factors(n, rng)`` draws factor classes uniformly, ``(n, n_factors)`` int64;
- ``sample_observations_from_factors(factors, rng)`` returns the matching images;
- ``index_of`` / ``factors_of`` convert between factor classes and the image index
  (C order: the last factor varies fastest, ``index = classes . bases``).
"""
from __future__ import annotations

import numpy as np
import torch

# row k holds the 8 bits of byte value k, least significant first: unpacking is one table lookup
BYTE_TO_BITS = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).to(torch.float32)


class GroundTruthData:
    """Base class: factor grid bookkeeping and the sampling protocol.

    Subclasses set ``factor_names``, ``factor_sizes``, ``factor_values``, ``observation_shape``
    and implement ``images(indices, device)``.
    """

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    factor_values: list[np.ndarray]
    observation_shape: tuple[int, int, int]

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def factor_bases(self) -> np.ndarray:
        """(n_factors,) int64 with ``index = factors @ factor_bases`` (last factor fastest)."""
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes))

    # --- index <-> factors --------------------------------------------------------------------
    def _check_factors(self, factors) -> np.ndarray:
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape (n, {self.num_factors}) for factors {self.factor_names}, "
                f"got {factors.shape}"
            )
        if not np.issubdtype(factors.dtype, np.integer):
            raise ValueError(f"factors must hold integer class indices, got dtype {factors.dtype}")
        sizes = np.asarray(self.factor_sizes)
        bad = (factors < 0) | (factors >= sizes)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"factor {self.factor_names[col]!r} class {factors[row, col]} is out of range "
                f"0..{sizes[col] - 1} (row {row})"
            )
        return factors.astype(np.int64, copy=False)

    def index_of(self, factors) -> np.ndarray:
        """Image indices ``(n,)`` int64 of factor classes ``(n, n_factors)``."""
        return self._check_factors(factors) @ self.factor_bases

    def factors_of(self, indices) -> np.ndarray:
        """Factor classes ``(n, n_factors)`` int64 of image indices ``(n,)``."""
        indices = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"image indices must lie in 0..{len(self) - 1}")
        return (indices[:, None] // self.factor_bases) % np.asarray(self.factor_sizes)

    # --- the sampling protocol ---------------------------------------------------------------
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor combinations drawn uniformly: ``(n, n_factors)`` int64."""
        return rng.integers(0, self.factor_sizes, size=(n, self.num_factors), dtype=np.int64)

    def sample_observations_from_factors(self, factors, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Images of the given factor classes: float32 ``(n, channels, H, W)`` in [0, 1].

        ``rng`` is unused (each combination has exactly one image) but kept for the protocol.
        """
        return self.images(self.index_of(factors))

    def sample(self, n: int, rng: np.random.Generator):
        """``(factors (n, n_factors), observations (n, channels, H, W))``."""
        factors = self.sample_factors(n, rng)
        return factors, self.sample_observations_from_factors(factors, rng)

    def images(self, indices, device=None) -> torch.Tensor:
        raise NotImplementedError

    def factor_value_table(self, factors) -> np.ndarray:
        """Physical values ``(n, n_factors)`` float64 of factor classes."""
        factors = self._check_factors(factors)
        return np.stack([self.factor_values[k][factors[:, k]] for k in range(self.num_factors)], axis=1)


def as_index_tensor(indices, device) -> torch.Tensor:
    """1-D int64 tensor on ``device`` from a numpy array, list or tensor of indices."""
    if isinstance(indices, torch.Tensor):
        return indices.to(device=device, dtype=torch.int64).reshape(-1)
    return torch.as_tensor(np.asarray(indices, dtype=np.int64).reshape(-1), device=device)


def unpack_bits(packed: torch.Tensor) -> torch.Tensor:
    """uint8 ``(n, H, W/8)`` bit-packed rows -> float32 ``(n, 1, H, W)`` of {0, 1}.

    Bit ``b`` of byte ``k`` is column ``8k + b`` (numpy's ``bitorder="little"``).
    """
    n, height, nbytes = packed.shape
    bits = torch.nn.functional.embedding(packed.long(), BYTE_TO_BITS.to(packed.device))  # (n, H, W/8, 8)
    return bits.reshape(n, 1, height, nbytes * 8)


class PackedImages:
    """Binary images held bit-packed (8 pixels a byte) in one uint8 tensor, unpacked per batch."""

    def __init__(self, packed: torch.Tensor):
        if packed.dtype != torch.uint8 or packed.ndim != 3:
            raise ValueError(f"packed images must be uint8 (n, H, W/8), got {packed.dtype} {tuple(packed.shape)}")
        self.packed = packed

    def __len__(self):
        return self.packed.shape[0]

    @property
    def nbytes(self) -> int:
        return self.packed.numel()

    def to(self, device) -> "PackedImages":
        self.packed = self.packed.to(device)
        return self

    def __getitem__(self, indices) -> torch.Tensor:
        """float32 ``(n, 1, H, W)`` for an index array (any device; result on the storage's)."""
        idx = as_index_tensor(indices, self.packed.device)
        return unpack_bits(self.packed.index_select(0, idx))
