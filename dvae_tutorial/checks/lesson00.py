"""Checks for lesson 00 (ground-truth data)."""
from __future__ import annotations

import numpy as np

from ._base import ExerciseError, exercise
from ._base import passed as _passed

# --- lesson 00: ground-truth data ---------------------------------------------------------------

@exercise(points=1, refuses=("dvae_tutorial.data.ground_truth:GroundTruthData.index_of",
                              "dvae_tutorial.data.ground_truth:GroundTruthData.factor_bases"))
def check_index_formula(index_fn, dataset) -> bool:
    """``index_fn(factors (n, k), sizes) -> (n,)`` must give the C-order image index of dSprites."""
    rng = np.random.default_rng(0)
    factors = dataset.sample_factors(1000, rng)
    expected = dataset.index_of(factors)
    got = np.asarray(index_fn(factors, dataset.factor_sizes))
    if got.shape != expected.shape:
        raise ExerciseError(f"expected one index per row, shape {expected.shape}, got {got.shape}")
    if np.array_equal(got, expected):
        return _passed("index = sum_k class_k * (product of the sizes of the factors after k)")
    first = factors[0]
    bases_if_reversed = np.concatenate([[1], np.cumprod(dataset.factor_sizes[:-1])])   # shape fastest
    if np.array_equal(got, factors @ bases_if_reversed):
        hint = "the last factor (pos_y) must vary fastest (base 1) and the first (shape) slowest, not the reverse"
    else:
        hint = (f"for factors {first.tolist()} the index is {expected[0]}, you gave {got[0]}; "
                f"the bases are {dataset.factor_bases.tolist()}")
    raise ExerciseError(hint)


@exercise(points=1)
def check_symmetry_angle(shape: str, angle: float) -> bool:
    """``angle`` (radians, in (0, 2 pi)) must be the smallest turn that leaves ``shape`` unchanged."""
    expected = {"square": np.pi / 2, "ellipse": np.pi, "heart": 2 * np.pi}
    if shape not in expected:
        raise ExerciseError(f"shape must be one of {list(expected)}")
    if not 0 < angle <= 2 * np.pi:
        raise ExerciseError(f"give the angle in radians, in (0, 2 pi]; got {angle}")
    if np.isclose(angle, expected[shape]):
        return _passed(f"the {shape} first looks the same after {np.degrees(angle):.0f} degrees")
    from ..data.render import render_packed

    grid = np.linspace(0, 1, 4)
    same = np.array_equal(render_packed(shape, [1.0], [0.3], grid, grid),
                          render_packed(shape, [1.0], [0.3 + angle], grid, grid))
    if same:
        raise ExerciseError(f"a turn of {np.degrees(angle):.0f} degrees does leave the {shape} unchanged, "
                            "but a smaller one does too")
    raise ExerciseError(f"after {np.degrees(angle):.0f} degrees the {shape} looks different: render both and compare")


@exercise(points=1)
def check_memory(unpacked_bytes: int, packed_bytes: int, dataset) -> bool:
    """Bytes of all images as one uint8 per pixel, and as one bit per pixel."""
    pixels = len(dataset) * int(np.prod(dataset.observation_shape))
    if unpacked_bytes != pixels:
        raise ExerciseError(f"one byte per pixel: {len(dataset):,} images x "
                            f"{int(np.prod(dataset.observation_shape)):,} pixels; you gave {unpacked_bytes:,}")
    if packed_bytes != pixels // 8:
        raise ExerciseError(f"one bit per pixel is 8 pixels a byte; you gave {packed_bytes:,}")
    return _passed(f"{unpacked_bytes / 2**30:.2f} GiB as bytes, {packed_bytes / 2**20:.0f} MiB as bits")
