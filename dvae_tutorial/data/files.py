"""Reading and writing data files: the official dSprites .npz/.hdf5 and this package's cache.

The cache uses the layout of the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5``
(datasets ``imgs`` uint8 (n, H, W), ``latents/classes`` int64 (n, 6), ``latents/values``
float64 (n, 6), colour column included), so one reader serves both, and any tool written for
the official file reads the cache.  The cache adds one dataset, ``imgs_packed`` (the same images
bit-packed, 8x smaller), which the reader prefers when present: decompressing and re-packing
``imgs`` takes longer than rendering.  Every dataset carries HDF5's fletcher32 checksum, so a
damaged chunk fails loudly instead of returning wrong pixels.  Files are read in chunks
and bit-packed on the fly: the full image array (2.8 GiB as uint8) never sits in memory.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..files import atomic_write_h5
from .render import pack_numpy, unpack_numpy

CHUNK = 8192  # images per read/write slab (32 MiB of uint8 at 64x64)
PACKED_KEY = "imgs_packed"   # optional extra dataset of the cache: imgs bit-packed along rows


class DataFileError(RuntimeError):
    """A data file is missing, truncated, or not what it claims to be."""

    def __init__(self, path, problem: str, fix: str):
        self.path = Path(path)
        super().__init__(f"{path}: {problem}. {fix}")


def write_dsprites_h5(path, packed: np.ndarray, classes: np.ndarray, values: np.ndarray, attrs: dict) -> None:
    """Write bit-packed images ``(n, H, W/8)`` in the official dSprites HDF5 layout."""
    n, height, nbytes = packed.shape

    def write(f):
        imgs = f.create_dataset("imgs", (n, height, nbytes * 8), dtype=np.uint8, chunks=(min(n, 1024), height,
                                nbytes * 8), compression="lzf", fletcher32=True)
        for start in range(0, n, CHUNK):
            imgs[start:start + CHUNK] = unpack_numpy(packed[start:start + CHUNK])
        # the same images bit-packed: what this package reads back (8x less to decompress)
        f.create_dataset(PACKED_KEY, data=packed, chunks=(min(n, CHUNK), height, nbytes),
                         compression="lzf", fletcher32=True)
        f.create_dataset("latents/classes", data=classes.astype(np.int64))
        f.create_dataset("latents/values", data=values.astype(np.float64))
        f.attrs.update(attrs)

    atomic_write_h5(path, write)


def _packed_from_chunks(chunks, n, height, width, path, progress=None) -> np.ndarray:
    """Bit-pack an iterator of uint8 image slabs, checking that every pixel is 0 or 1."""
    packed = np.empty((n, height, width // 8), dtype=np.uint8)
    start = 0
    for slab in chunks:
        if slab.max(initial=0) > 1:
            raise DataFileError(path, f"pixel values up to {int(slab.max())} found, dSprites images hold 0/1",
                                "pass the official dSprites file (values 0/1), not a rescaled copy")
        packed[start:start + len(slab)] = pack_numpy(slab)
        start += len(slab)
        if progress is not None:
            progress.update(len(slab))
    if start != n:
        raise DataFileError(path, f"expected {n} images, read {start}", "the file is truncated: get a fresh copy")
    return packed


def read_dsprites_h5(path, progress=None):
    """``(packed (n, H, W/8) uint8, classes (n, 6) int64, values (n, 6) float64, attrs dict)``."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found", "check the path (official file: "
                            "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5)")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataFileError(path, f"not a readable HDF5 file ({err})",
                            "the file is truncated or corrupt: delete it and get (or render) it again") from err
    with f:
        missing = [k for k in ("imgs", "latents/classes", "latents/values") if k not in f]
        if missing:
            raise DataFileError(path, f"no dataset(s) {missing}; found {sorted(f.keys())}",
                                "this is not a dSprites file in the official layout")
        imgs = f["imgs"]
        if imgs.ndim != 3 or imgs.dtype != np.uint8 or imgs.shape[1] != imgs.shape[2] or imgs.shape[2] % 8:
            raise DataFileError(path, f"'imgs' is {imgs.dtype} {imgs.shape}, expected uint8 (n, H, H)",
                                "this is not a dSprites file in the official layout")
        n, height, width = imgs.shape
        try:
            classes = f["latents/classes"][...]
            values = f["latents/values"][...]
            if PACKED_KEY in f and f[PACKED_KEY].shape == (n, height, width // 8):
                packed = f[PACKED_KEY][...]
                if progress is not None:
                    progress.update(n)
            else:
                chunks = (imgs[s:s + CHUNK] for s in range(0, n, CHUNK))
                packed = _packed_from_chunks(chunks, n, height, width, path, progress)
        except OSError as err:
            raise DataFileError(path, f"reading failed ({err})",
                                "the file is truncated or corrupt: delete it and get (or render) it again") from err
        attrs = dict(f.attrs)
    return packed, classes, values, attrs


def _npz_member(zf: zipfile.ZipFile, name: str, path):
    """Open member ``name`` (.npy) of an npz; return (file object, shape, dtype) after the header."""
    member = f"{name}.npy"
    if member not in zf.namelist():
        raise DataFileError(path, f"no array {name!r} in the npz (has {sorted(zf.namelist())})",
                            "this is not the official dSprites .npz")
    fobj = zf.open(member)
    version = np.lib.format.read_magic(fobj)
    reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    shape, fortran_order, dtype = reader[version](fobj)
    if fortran_order:
        raise DataFileError(path, f"{name} is stored in Fortran order", "re-save it in C order")
    return fobj, shape, dtype


def read_dsprites_npz(path, progress=None):
    """Stream the official .npz (keys imgs, latents_classes, latents_values) into packed form.

    The images are read in slabs straight from the zip stream (no 2.8 GiB array in memory).
    The Python-2 pickled ``metadata`` entry is never unpickled.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found",
                            "check the path (official file: dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz)")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataFileError(path, f"not a readable .npz ({err})",
                            "the file is truncated or corrupt: get a fresh copy "
                            "(official md5 7da33b31b13a06f4b04a70402ce90c2e)") from err
    with zf:
        try:
            small = {}
            for key in ("latents_classes", "latents_values"):
                fobj, shape, dtype = _npz_member(zf, key, path)
                with fobj:
                    small[key] = np.frombuffer(fobj.read(), dtype=dtype).reshape(shape)
            fobj, shape, dtype = _npz_member(zf, "imgs", path)
            if len(shape) != 3 or dtype != np.uint8:
                raise DataFileError(path, f"'imgs' is {dtype} {shape}, expected uint8 (n, 64, 64)",
                                    "this is not the official dSprites .npz")
            n, height, width = shape
            per_image = height * width

            def slabs():
                for start in range(0, n, CHUNK):
                    count = min(CHUNK, n - start)
                    buf = fobj.read(count * per_image)
                    if len(buf) != count * per_image:
                        raise DataFileError(path, "the image array ends early", "the file is truncated: get a fresh copy")
                    yield np.frombuffer(buf, dtype=np.uint8).reshape(count, height, width)

            with fobj:
                packed = _packed_from_chunks(slabs(), n, height, width, path, progress)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            if isinstance(err, DataFileError):
                raise
            raise DataFileError(path, f"reading failed ({err})", "the file is truncated or corrupt: get a fresh copy") from err
    return packed, np.array(small["latents_classes"]), np.array(small["latents_values"]), {}
