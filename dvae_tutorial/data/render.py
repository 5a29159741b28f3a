"""Vectorised rasteriser for the dSprites shapes, row by row, straight into bit-packed rows.

Geometry (fitted to the frames of the official dSprites animation, see ``shared/reference``):
on a 64x64 canvas the sprite centre is at column ``16 + 32 * pos_x`` and row ``16 + 32 * pos_y``
(continuous coordinates, pixel ``i`` spans ``[i, i + 1)``); a pixel is on when its centre lies
inside the shape (no anti-aliasing).  At scale 1 the square has side 19.2 px, the ellipse
semi-axes 12.8 x 7.2 px (long axis horizontal at orientation 0), the heart is upright (lobes up)
and about 20 px wide, 17 px tall.  A larger orientation turns the sprite counter-clockwise as
displayed.  Other image sizes scale every length by ``image_size / 64``.

How it is fast: every shape is a union of convex pieces (half-plane polygons and ellipses).  A
horizontal line meets a convex piece in one interval ``[x_left, x_right]``, computed in closed
form for all rows of all sprites at once; the pixels of that interval become one machine word
(``image_size`` bits: bit ``c`` is column ``c``), and a union of pieces is a bitwise OR.  The
result is already bit-packed (``numpy.packbits(..., bitorder="little")`` layout), so the full
data set never exists unpacked.
"""
from __future__ import annotations

import numpy as np

SHAPE_NAMES = ("square", "ellipse", "heart")

# --- the shapes, in sprite units of 64-pixel canvas pixels at scale 1, display axes (x right, y up)

SQUARE_HALF_SIDE = 9.6          # side 19.2 px
ELLIPSE_SEMI_AXES = (12.8, 7.2)  # horizontal, vertical at orientation 0

# Heart: two round lobes and the convex hull joining them to the tip (values fitted to the
# official frames by maximising IoU; see benchmarks/bench_data.py for the match).
HEART_LOBE_X = 4.75     # lobe centres at (+-HEART_LOBE_X, HEART_LOBE_Y)
HEART_LOBE_Y = 3.85
HEART_LOBE_R = 4.85     # horizontal semi-axis of the lobes
HEART_LOBE_RY = 5.5     # vertical semi-axis of the lobes
HEART_TIP_Y = -8.65     # the tip, below the centre

# Every number that shapes a pixel; a cached rendering is valid only for the same geometry.
GEOMETRY = {"square_half_side": SQUARE_HALF_SIDE, "ellipse_semi_axes": ELLIPSE_SEMI_AXES,
            "heart": (HEART_LOBE_X, HEART_LOBE_Y, HEART_LOBE_R, HEART_LOBE_RY, HEART_TIP_Y)}


def _halfplanes_of_polygon(vertices: np.ndarray):
    """Outward normals ``n_k`` and offsets ``d_k`` with ``n_k . q <= d_k`` inside a convex polygon.

    vertices: (k, 2), counter-clockwise.
    """
    edges = np.roll(vertices, -1, axis=0) - vertices
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = np.einsum("kd,kd->k", normals, vertices)
    return normals, offsets


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (monotone chain) of (k, 2) points."""
    pts = sorted(map(tuple, points))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def _tangent_points(tip, centre, radius):
    """The two points where lines from ``tip`` touch the circle (``centre``, ``radius``)."""
    d = np.asarray(centre) - np.asarray(tip)
    dist = np.hypot(*d)
    angle = np.arctan2(d[1], d[0])
    half = np.arcsin(radius / dist)
    length = np.sqrt(dist**2 - radius**2)
    return [np.asarray(tip) + length * np.array([np.cos(angle + s * half), np.sin(angle + s * half)]) for s in (-1, 1)]


def heart_pieces(lobe_x=HEART_LOBE_X, lobe_y=HEART_LOBE_Y, lobe_r=HEART_LOBE_R, tip_y=HEART_TIP_Y,
                 lobe_ry=HEART_LOBE_RY):
    """The heart as convex pieces: two elliptic lobes and the hull of their centres, tangents and tip."""
    squash = lobe_r / lobe_ry                  # maps the lobes to circles of radius lobe_r
    tip = np.array([0.0, tip_y])
    centres = [np.array([-lobe_x, lobe_y]), np.array([lobe_x, lobe_y])]
    hull_points = [tip, *centres]
    for c in centres:
        for t in _tangent_points(tip * [1, squash], c * [1, squash], lobe_r):
            hull_points.append(t / [1, squash])   # tangency survives the affine map back
    polygon = _convex_hull(np.array(hull_points))
    return [
        ("ellipse", (tuple(centres[0]), (lobe_r, lobe_ry))),
        ("ellipse", (tuple(centres[1]), (lobe_r, lobe_ry))),
        ("polygon", _halfplanes_of_polygon(polygon)),
    ]


def shape_pieces(shape: str):
    """Convex pieces ``(kind, params)`` of a shape in sprite units (display axes, scale 1)."""
    if shape == "square":
        h = SQUARE_HALF_SIDE
        square = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
        return [("polygon", _halfplanes_of_polygon(square))]
    if shape == "ellipse":
        return [("ellipse", ((0.0, 0.0), ELLIPSE_SEMI_AXES))]
    if shape == "heart":
        return heart_pieces()
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPE_NAMES}")


# --- row intervals of one convex piece ---------------------------------------------------------

def _polygon_rows(params, theta, y_disp):
    """x-interval (left, right) of ``{x : R(-theta)(x, y) inside polygon}`` for every row.

    theta: (o,) radians; y_disp: (..., o, r) display y of each row relative to the centre, in
    sprite units.  Returns two arrays shaped like ``y_disp`` (empty rows have left > right).
    """
    normals, offsets = params
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    left = np.full(y_disp.shape, -np.inf)
    right = np.full(y_disp.shape, np.inf)
    for (nx, ny), d in zip(normals, offsets):
        # n . R(-theta) (x, y) = x * (nx cos - ny sin) + y * (nx sin + ny cos) <= d
        a = nx * cos - ny * sin
        b = nx * sin + ny * cos
        rhs = d - b * y_disp
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = rhs / a
        flat = np.abs(a) < 1e-12
        right = np.where((a > 0) & ~flat, np.minimum(right, bound), right)
        left = np.where((a < 0) & ~flat, np.maximum(left, bound), left)
        left = np.where(flat & (rhs < 0), np.inf, left)
    return left, right


def _ellipse_rows(params, theta, y_disp):
    """x-interval of a rotated ellipse ``((qx - cx)/ax)^2 + ((qy - cy)/ay)^2 <= 1`` per row."""
    (cx, cy), (ax, ay) = params
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    # q = R(-theta) (x, y) - c  =  x * u + w, with u = (cos, -sin), w = y * (sin, cos) - c
    ux, uy = cos, -sin
    wx, wy = y_disp * sin - cx, y_disp * cos - cy
    qa = (ux / ax) ** 2 + (uy / ay) ** 2
    qb = 2 * (ux * wx / ax**2 + uy * wy / ay**2)
    qc = (wx / ax) ** 2 + (wy / ay) ** 2 - 1
    disc = qb**2 - 4 * qa * qc
    root = np.sqrt(np.maximum(disc, 0))
    left = np.where(disc >= 0, (-qb - root) / (2 * qa), np.inf)
    right = np.where(disc >= 0, (-qb + root) / (2 * qa), -np.inf)
    return left, right


_ROW_INTERVALS = {"polygon": _polygon_rows, "ellipse": _ellipse_rows}


def _interval_words(first, last, width):
    """Words with bits ``first..last`` set (inclusive); zero where ``last < first``."""
    word = np.uint64 if width == 64 else np.uint32
    full = np.array(np.iinfo(word).max, dtype=word)
    first = np.clip(first, 0, width)
    last = np.clip(last, -1, width - 1)
    empty = last < first
    first_c = np.where(empty, 0, first).astype(word)
    last_c = np.where(empty, 0, last).astype(word)
    high = full >> (word(width - 1) - last_c)  # bits 0..last
    low = full << first_c                      # bits first..width-1
    return np.where(empty, word(0), high & low)


def render_packed(shape: str, scales, orientations, pos_x, pos_y, image_size: int = 64) -> np.ndarray:
    """Render every combination of the given factor values for one shape, bit-packed.

    scales: (s,) scale values; orientations: (o,) radians; pos_x: (px,), pos_y: (py,) in [0, 1].
    Returns uint8 (s, o, px, py, image_size, image_size // 8): bit ``c % 8`` of byte ``c // 8`` in
    row ``r`` is the pixel at row ``r``, column ``c`` (``numpy.unpackbits(..., bitorder="little")``).
    The order of the leading axes is the official C order (pos_y fastest).
    """
    if image_size not in (32, 64):
        raise ValueError(f"image_size must be 32 or 64, got {image_size}")
    word = np.uint64 if image_size == 64 else np.uint32
    unit = image_size / 64.0                      # canvas pixels per sprite unit
    theta = np.asarray(orientations, dtype=np.float64)
    centre_x = unit * (16 + 32 * np.asarray(pos_x, dtype=np.float64))   # (px,)
    centre_y = unit * (16 + 32 * np.asarray(pos_y, dtype=np.float64))   # (py,)
    rows = np.arange(image_size) + 0.5                                   # pixel centres
    pieces = shape_pieces(shape)
    out = np.empty((len(scales), len(theta), len(centre_x), len(centre_y), image_size), dtype=word)
    for si, scale in enumerate(scales):
        size = unit * scale                                              # canvas px per sprite unit
        # display y (up) of each row relative to the sprite centre, in sprite units: (py, 1, r)
        y_disp = (centre_y[:, None] - rows[None, :]) / size
        y_disp = np.broadcast_to(y_disp[None], (len(theta),) + y_disp.shape)  # (o, py, r)
        y_disp = np.moveaxis(y_disp, 0, 1)                                # (py, o, r)
        words = np.zeros((len(theta), len(centre_x), len(centre_y), image_size), dtype=word)
        for kind, params in pieces:
            left, right = _ROW_INTERVALS[kind](params, theta, y_disp)    # (py, o, r) sprite units
            left = np.moveaxis(left, 0, 1) * size                        # (o, py, r) canvas px
            right = np.moveaxis(right, 0, 1) * size
            # column c is on when c + 0.5 lies in [centre_x + left, centre_x + right]
            cx = centre_x[None, :, None, None]
            with np.errstate(invalid="ignore"):
                first = np.ceil(cx + left[:, None] - 0.5)
                last = np.floor(cx + right[:, None] - 0.5)
            first = np.nan_to_num(first, nan=image_size, posinf=image_size, neginf=0).astype(np.int64)
            last = np.nan_to_num(last, nan=-1, posinf=image_size - 1, neginf=-1).astype(np.int64)
            words |= _interval_words(first, last, image_size)
        out[si] = words
    return out.astype(out.dtype.newbyteorder("<"), copy=False).view(np.uint8).reshape(out.shape + (image_size // 8,))


def unpack_numpy(packed: np.ndarray) -> np.ndarray:
    """uint8 (..., H, W/8) bit-packed rows -> uint8 (..., H, W) of {0, 1}."""
    return np.unpackbits(packed, axis=-1, bitorder="little")


def pack_numpy(images: np.ndarray) -> np.ndarray:
    """uint8/bool (..., H, W) of {0, 1} -> uint8 (..., H, W/8) bit-packed rows."""
    return np.packbits(np.asarray(images, dtype=bool), axis=-1, bitorder="little")
