"""dSprites (Matthey et al. 2017), rendered procedurally on exactly the official factor grid.

Official grid (deepmind/dsprites-dataset): 737,280 binary 64x64 images, every combination of
shape (3: square, ellipse, heart), scale (6: 0.5 ... 1), orientation (40: 0 ... 2 pi, endpoint
included), pos_x (32: 0 ... 1) and pos_y (32), in C order with pos_y fastest.  The files carry a
sixth factor, colour, with a single value; as in disentanglement_lib it is kept in the files and
dropped from ``factor_names``.

Known symmetries (so some factor values are not identifiable from the image):
- orientation classes 0 and 39 are a full turn apart (0 and 2 pi): the same image, for every shape;
- a square is the same image after a quarter turn, an ellipse after a half turn.  The grid steps
  by 2 pi / 39, so a quarter turn is 9.75 classes: the set holds near-duplicates (a square at
  class k and k + 10 differ by 2.3 degrees) rather than exact ones, and a square's orientation
  can be read from its image only modulo 90 degrees, an ellipse's modulo 180 degrees.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import config
from .files import DataFileError, read_dsprites_h5, read_dsprites_npz, write_dsprites_h5
from .ground_truth import GroundTruthData, PackedImages
from .render import GEOMETRY, SHAPE_NAMES, render_packed

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
OFFICIAL_LATENT_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
OFFICIAL_SIZES = (1, 3, 6, 40, 32, 32)
OFFICIAL_VALUES = (
    np.array([1.0]),
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
CACHE_FORMAT = "dvae_tutorial.dsprites/1"   # bump when the file layout changes


class DSprites(GroundTruthData):
    """dSprites as a ground-truth data set, held bit-packed in memory (360 MiB for the full grid).

    Args:
        image_size: 64 (official) or 32 (every length halved: a native 32x32 rendering for fast
            training).
        subgrid: optional ``{factor_name: class indices}`` keeping only some classes of some factors
            (official class indices); ``factor_sizes``/``factor_values`` then describe the sub-grid
            and factor classes are re-numbered 0..k-1 within it.
        cache: read/write the rendering under ``config.cache_dir()`` (HDF5, official layout).
        progress: show a progress bar while rendering or loading.

    Example::

        ds = DSprites()                          # 737,280 images, rendered once then cached
        factors, x = ds.sample(64, np.random.default_rng(0))   # x: (64, 1, 64, 64) float32
    """

    factor_names = FACTOR_NAMES

    def __init__(self, image_size: int = 64, subgrid: dict | None = None, cache: bool = True,
                 progress: bool = True, *, _packed: np.ndarray | None = None):
        if image_size not in (32, 64):
            raise ValueError(f"image_size must be 64 (official) or 32, got {image_size}")
        self.image_size = image_size
        self.observation_shape = (1, image_size, image_size)
        self.official_classes = self._parse_subgrid(subgrid or {})   # per factor: official class ids
        self.subgrid = {name: cls.tolist() for name, cls, size in
                        zip(FACTOR_NAMES, self.official_classes, FACTOR_SIZES) if len(cls) != size}
        self.factor_sizes = tuple(len(c) for c in self.official_classes)
        self.factor_values = [OFFICIAL_VALUES[k + 1][c] for k, c in enumerate(self.official_classes)]
        self.source = "procedural"
        if _packed is None:
            _packed = self._load_or_render(cache, progress)
        self._images = PackedImages(torch.from_numpy(_packed))

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def small(cls, image_size: int = 64, **kwargs) -> "DSprites":
        """A sub-grid for fast runs: every 4th orientation (10), every 2nd position (16 x 16).

        3 x 6 x 10 x 16 x 16 = 46,080 images, same API and factor ranges as the full set.
        """
        subgrid = {"orientation": range(0, 40, 4), "pos_x": range(0, 32, 2), "pos_y": range(0, 32, 2)}
        return cls(image_size=image_size, subgrid=subgrid, **kwargs)

    @classmethod
    def from_file(cls, path, progress: bool = True) -> "DSprites":
        """Read the official ``.npz`` or ``.hdf5`` file (or this package's cache file).

        The images are bit-packed while they are read, so memory stays at about 360 MiB for the
        full set.  A file holding a sub-grid of the official grid (in the official order) gives
        a ``DSprites`` with that ``subgrid``.
        """
        path = Path(path)
        reader = read_dsprites_npz if path.suffix == ".npz" else read_dsprites_h5
        with config.progress(total=None, desc=f"reading {path.name}", unit="img",
                             disable=not progress) as bar:
            packed, classes, values, _ = reader(path, progress=bar)
        subgrid = cls._grid_of_file(path, packed, classes, values)
        ds = cls(image_size=packed.shape[1], subgrid=subgrid, _packed=packed)
        ds.source = str(path)
        return ds

    @staticmethod
    def _grid_of_file(path, packed, classes, values) -> dict:
        """The (sub-)grid a file holds, checked against the official grid and order."""
        fix = "this is not a dSprites file of the official layout"
        n = packed.shape[0]
        if packed.shape[1:] not in ((64, 8), (32, 4)):
            raise DataFileError(path, f"images of {packed.shape[1]} px; dSprites has 64 px", fix)
        if classes.shape != (n, 6) or values.shape != (n, 6):
            raise DataFileError(path, f"latents have shapes {classes.shape} / {values.shape}, expected ({n}, 6)", fix)
        if (classes < 0).any() or (classes >= np.array(OFFICIAL_SIZES)).any():
            raise DataFileError(path, f"latent classes outside the official sizes {OFFICIAL_SIZES}", fix)
        expected = np.stack([OFFICIAL_VALUES[k][classes[:, k]] for k in range(6)], axis=1)
        if not np.allclose(values, expected, atol=1e-6):
            raise DataFileError(path, "latent values differ from the official grid", fix)
        per_factor = [np.unique(classes[:, k]) for k in range(6)]
        grids = np.meshgrid(*per_factor, indexing="ij")
        full_product = np.stack([g.reshape(-1) for g in grids], axis=1)
        if full_product.shape != classes.shape or not np.array_equal(full_product, classes):
            raise DataFileError(path, "the images are not every combination of its factor classes in the "
                                "official order (posY fastest)", "use the official file, unshuffled")
        return {name: per_factor[k + 1] for k, name in enumerate(FACTOR_NAMES)}

    def _parse_subgrid(self, subgrid: dict) -> list[np.ndarray]:
        unknown = set(subgrid) - set(FACTOR_NAMES)
        if unknown:
            raise ValueError(f"unknown factor(s) {sorted(unknown)} in subgrid; factors are {FACTOR_NAMES}")
        classes = []
        for name, size in zip(FACTOR_NAMES, FACTOR_SIZES):
            cls = np.unique(np.asarray(list(subgrid.get(name, range(size))), dtype=np.int64))
            if cls.size == 0 or cls[0] < 0 or cls[-1] >= size:
                raise ValueError(f"subgrid classes for {name!r} must be a non-empty subset of 0..{size - 1}")
            classes.append(cls)
        return classes

    def official_classes_of(self, indices) -> np.ndarray:
        """Official class indices ``(n, 5)`` (full-grid numbering) of image indices of this (sub-)grid."""
        local = self.factors_of(indices)
        return np.stack([self.official_classes[k][local[:, k]] for k in range(self.num_factors)], axis=1)

    def _official_latents(self):
        """Official (colour-first) classes and values of every image of this grid, (n, 6) each."""
        grids = np.meshgrid(*self.official_classes, indexing="ij")
        classes = np.stack([np.zeros(grids[0].size, np.int64)] + [g.reshape(-1) for g in grids], axis=1)
        values = np.stack([OFFICIAL_VALUES[k][classes[:, k]] for k in range(6)], axis=1)
        return classes, values

    def render(self, progress: bool = True) -> np.ndarray:
        """Render this grid: bit-packed uint8 ``(n, H, H/8)`` in official order."""
        c = self.official_classes
        per_shape = len(self) // len(c[0])
        packed = np.empty((len(self), self.image_size, self.image_size // 8), dtype=np.uint8)
        with config.progress(total=len(c[0]), desc="rendering dSprites", unit="shape",
                             disable=not progress) as bar:
            for k, shape_class in enumerate(c[0]):
                packed[k * per_shape:(k + 1) * per_shape] = render_packed(
                    SHAPE_NAMES[shape_class], OFFICIAL_VALUES[2][c[1]], OFFICIAL_VALUES[3][c[2]],
                    OFFICIAL_VALUES[4][c[3]], OFFICIAL_VALUES[5][c[4]], self.image_size,
                ).reshape(per_shape, self.image_size, self.image_size // 8)
                bar.update(1)
        return packed

    # --- cache --------------------------------------------------------------------------------
    @property
    def cache_key(self) -> str:
        spec = json.dumps({"format": CACHE_FORMAT, "size": self.image_size, "subgrid": self.subgrid,
                           "geometry": GEOMETRY}, sort_keys=True)
        return hashlib.sha256(spec.encode()).hexdigest()[:12]

    def cache_path(self) -> Path:
        tag = "full" if not self.subgrid else "sub-" + self.cache_key
        return config.cache_dir() / f"dsprites_{self.image_size}px_{tag}.hdf5"

    def _load_or_render(self, cache: bool, progress: bool) -> np.ndarray:
        path = self.cache_path() if cache else None
        if path is not None and path.exists():
            try:
                packed, classes, values, attrs = read_dsprites_h5(path)
                expected_classes, _ = self._official_latents()
                if attrs.get("dvae_tutorial_format") != CACHE_FORMAT or attrs.get("cache_key") != self.cache_key:
                    raise DataFileError(path, "made by another version of the renderer", "it is rendered again")
                if packed.shape != (len(self), self.image_size, self.image_size // 8) or \
                        not np.array_equal(classes, expected_classes):
                    raise DataFileError(path, "holds another grid than requested", "it is rendered again")
                return packed
            except DataFileError as err:
                warnings.warn(f"ignoring the dSprites cache: {err}; rendering a fresh copy", stacklevel=3)
        packed = self.render(progress)
        if path is not None:
            classes, values = self._official_latents()
            try:
                write_dsprites_h5(path, packed, classes, values,
                                  {"dvae_tutorial_format": CACHE_FORMAT, "cache_key": self.cache_key,
                                   "latent_names": list(OFFICIAL_LATENT_NAMES)})
            except OSError as err:   # a read-only or full disk costs the cache, not the data
                warnings.warn(f"could not write the dSprites cache {path}: {err}", stacklevel=3)
        return packed

    # --- images -------------------------------------------------------------------------------
    @property
    def packed(self) -> torch.Tensor:
        """The bit-packed images, uint8 ``(n, H, H/8)`` (bit ``b`` of byte ``k`` = column 8k+b)."""
        return self._images.packed

    @property
    def nbytes(self) -> int:
        return self._images.nbytes

    def to(self, device) -> "DSprites":
        """Move the packed images to ``device`` (e.g. a GPU) so batches are unpacked there."""
        self._images.to(config.choose_device(device))
        return self

    def images(self, indices, device=None) -> torch.Tensor:
        """float32 ``(n, 1, H, W)`` of {0, 1} for image indices ``(n,)``, on ``device`` if given."""
        out = self._images[indices]
        return out if device is None else out.to(device, non_blocking=True)

    def __repr__(self):
        sizes = ", ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes))
        return (f"DSprites({len(self):,} images {self.image_size}x{self.image_size}; {sizes}; "
                f"{self.nbytes / 2**20:.0f} MiB packed; source={self.source})")
