"""3D Shapes (Burgess & Kim 2018), read lazily from the official ``3dshapes.h5``.

Its images are colour, not binary: trained with the ``"bernoulli"`` likelihood (as the papers do), the
reconstruction term is a cross-entropy, not a normalised negative log-likelihood (see
``losses.reconstruction_loss``; the continuous Bernoulli of Loaiza-Ganem & Cunningham 2019 would add the
normaliser).

The file cannot be regenerated (the scenes were rendered with a 3D engine): bring your own copy.
Layout: ``images`` (480000, 64, 64, 3) uint8 and ``labels`` (480000, 6) float64 holding factor
*values*: floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4 (cube, cylinder, sphere,
capsule), orientation 15, orientation fastest.  Classes are derived from the values per column
(``np.unique(..., return_inverse=True)``), and the row of every factor combination is looked up,
so the reader does not depend on the file's order beyond holding each combination exactly once.
Official file: 267,573,662 bytes, sha256 0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .files import DataFileError
from .ground_truth import GroundTruthData, as_index_tensor

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
FIX = "use the official 3dshapes.h5 (480000 images; sha256 0a0f6ed9...1785)"


class Shapes3D(GroundTruthData):
    """3D Shapes as a ground-truth data set; images read from the HDF5 file on demand.

    Args:
        path: the official ``3dshapes.h5`` (or a file of the same layout).
        in_memory: read every image into RAM once (5.9 GB as uint8) for fast training;
            by default each batch is read from the file (h5py needs sorted indices, so they are
            sorted, read, and put back in the requested order).
    """

    factor_names = FACTOR_NAMES
    observation_shape = (3, 64, 64)

    def __init__(self, path, in_memory: bool = False):
        import h5py

        self.path = Path(path)
        if not self.path.exists():
            raise DataFileError(self.path, "file not found", f"check the path; {FIX}")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise DataFileError(self.path, f"not a readable HDF5 file ({err})",
                                f"the file is truncated or corrupt: get a fresh copy; {FIX}") from err
        f = self._file
        missing = [k for k in ("images", "labels") if k not in f]
        if missing:
            raise DataFileError(self.path, f"no dataset(s) {missing}; found {sorted(f.keys())}",
                                f"this is not a 3D Shapes file; {FIX}")
        images, labels = f["images"], f["labels"][...]
        if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
            raise DataFileError(self.path, f"'images' is {images.dtype} {images.shape}, expected uint8 (n, 64, 64, 3)", FIX)
        if labels.shape != (images.shape[0], 6):
            raise DataFileError(self.path, f"'labels' has shape {labels.shape}, expected ({images.shape[0]}, 6)", FIX)
        self.factor_values, classes = [], []
        for k in range(6):
            values, inverse = np.unique(labels[:, k], return_inverse=True)
            self.factor_values.append(values)
            classes.append(inverse.reshape(-1))
        self.factor_sizes = tuple(len(v) for v in self.factor_values)
        classes = np.stack(classes, axis=1).astype(np.int64)
        if len(self) != images.shape[0]:
            raise DataFileError(self.path, f"factor sizes {self.factor_sizes} give {len(self)} combinations "
                                f"but the file holds {images.shape[0]} images", FIX)
        # row of the file holding each factor combination (index = classes . bases)
        self._row_of = np.full(len(self), -1, dtype=np.int64)
        self._row_of[classes @ self.factor_bases] = np.arange(len(self))
        if (self._row_of < 0).any():
            raise DataFileError(self.path, "some factor combinations are missing (others repeat)", FIX)
        self._images = images
        self._memory = torch.from_numpy(images[...]) if in_memory else None

    def images(self, indices, device=None) -> torch.Tensor:
        """float32 ``(n, 3, 64, 64)`` in [0, 1] for image indices ``(n,)`` (combination order)."""
        idx = as_index_tensor(indices, "cpu").numpy()
        rows = self._row_of[idx]
        if self._memory is not None:
            batch = self._memory[torch.from_numpy(rows)]
        else:
            unique, inverse = np.unique(rows, return_inverse=True)   # h5py wants increasing indices
            batch = torch.from_numpy(self._images[unique][inverse.reshape(-1)])
        out = batch.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
        return out if device is None else out.to(device)

    def close(self):
        self._file.close()

    def __repr__(self):
        return f"Shapes3D({len(self):,} images from {self.path}; sizes {dict(zip(self.factor_names, self.factor_sizes))})"
