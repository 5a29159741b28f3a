"""Real dSprites frames (the official animation) and how closely the renderer matches them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

GIF_PATH = Path(__file__).parent / "reference" / "dsprites.gif"


def reference_frames() -> np.ndarray:
    """The 320 frames of the official dSprites animation: bool (320, 64, 64)."""
    from PIL import Image, ImageSequence

    with Image.open(GIF_PATH) as gif:
        return np.stack([np.array(frame.convert("L")) > 127 for frame in ImageSequence.Iterator(gif)])


def reference_factors() -> np.ndarray:
    """Factor classes (shape, scale, orientation, pos_x, pos_y) of every frame: int64 (320, 5).

    The frames traverse one factor at a time (inferred by fitting; see shared/reference):
    hearts 0-191, ellipses 192-255, squares 256-319; scale sweeps at pos (0, 0), orientation
    sweeps at scale class 5, and for the heart a loop around the border of the canvas.
    """
    rows = np.zeros((320, 5), dtype=np.int64)

    def put(frames, shape, scale, orientation, pos_x, pos_y):
        frames = np.asarray(list(frames))
        rows[frames] = np.stack(np.broadcast_arrays(shape, scale, orientation, pos_x, pos_y, frames)[:5], axis=1)

    up, down = np.arange(6), np.arange(5, -1, -1)
    for shape, first in ((2, 0), (1, 192), (0, 256)):
        put(range(first, first + 6), shape, up, 0, 0, 0)
        put(range(first + 6, first + 12), shape, down, 0, 0, 0)
        put(range(first + 12, first + 18), shape, up, 0, 0, 0)
        put(range(first + 18, first + 58), shape, 5, np.arange(40), 0, 0)
    put(range(58, 90), 2, 5, 0, 0, np.arange(32))
    put(range(90, 122), 2, 5, 0, np.arange(32), 31)
    put(range(122, 154), 2, 5, 0, 31, np.arange(31, -1, -1))
    put(range(154, 186), 2, 5, 0, np.arange(31, -1, -1), 0)
    put(range(186, 192), 2, down, 0, 0, 0)
    for first in (192, 256):
        put(range(first + 58, first + 64), rows[first, 0], down, 0, 0, 0)
    return rows


def reference_iou(dataset=None) -> dict:
    """Per-frame IoU of the renderer against the real frames, summarised per shape.

    Returns ``{"iou": (320,) array, "square"/"ellipse"/"heart": mean IoU, "min_<shape>": worst}``.
    """
    from .dsprites import DSprites

    ds = dataset if dataset is not None else DSprites(cache=False, progress=False)
    if ds.image_size != 64 or ds.subgrid:
        raise ValueError("reference_iou needs the full 64x64 grid")
    factors = reference_factors()
    rendered = ds.sample_observations_from_factors(factors).numpy()[:, 0] > 0.5
    real = reference_frames()
    iou = (rendered & real).sum(axis=(1, 2)) / (rendered | real).sum(axis=(1, 2))
    out = {"iou": iou}
    for k, name in enumerate(("square", "ellipse", "heart")):
        out[name] = float(iou[factors[:, 0] == k].mean())
        out[f"min_{name}"] = float(iou[factors[:, 0] == k].min())
    return out
