"""Discretised information quantities: the histogram protocol behind MIG and modularity.

The reference protocol (disentanglement_lib, Locatello et al. 2019, ``utils._histogram_discretize``
and ``utils.discrete_mutual_info``) discretises each code dimension into ``n_bins`` equal-width
bins spanning that dimension's observed range, then computes the *plug-in* (maximum-likelihood)
mutual information between every discretised code and every factor:

    I(v_k; z_j) = sum_{a, b} p(a, b) log[ p(a, b) / (p(a) p(b)) ]       (nats)

with p the empirical frequencies over the n points. Everything here is vectorised: the bins of all
codes come from one pass of array arithmetic, and one ``np.bincount`` over combined
(factor value, code, bin) indices gives a factor's joint histograms with every code at once.

Matrices are laid out ``(n_factors, latent_dim)``: row k is factor k, column j is code z_j (the
transpose of disentanglement_lib's ``[num_codes, num_factors]``).
"""
from __future__ import annotations

import numpy as np

from ._checks import as_codes, as_factors, check_same_length, relabel


def compact_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels usable as histogram indices: ``(labels (n, F) int64 >= 0, sizes (F,))``.

    Class indices that are already small non-negative integers are used as they are (size =
    max + 1; classes that do not occur just leave empty cells, which change no information
    quantity); anything else is mapped to 0..K-1 with ``np.unique``.
    """
    if labels.size and labels.min() >= 0 and labels.max() < 4 * labels.shape[0] + 64:
        return labels, labels.max(axis=0) + 1
    return relabel(labels)


def histogram_discretize(codes, n_bins: int = 20) -> np.ndarray:
    """Equal-width bin index of every code value: ``(n_points, latent_dim)`` int64 in ``[0, n_bins)``.

    Bin edges are those of ``np.histogram(codes[:, j], n_bins)``: ``n_bins + 1`` evenly spaced
    edges from the column's min to its max (a constant column gets the range ``[c - 0.5, c + 0.5]``,
    as numpy does, so all its points fall into one bin). A value goes into bin b when
    ``edge[b] <= value < edge[b + 1]``; the maximum goes into the last bin. This equals
    ``np.digitize(x, np.histogram(x, n_bins)[1][:-1]) - 1``, disentanglement_lib's discretiser
    shifted to start at 0 (the shift does not change any information quantity).

    Args:
        codes: ``(n_points, latent_dim)`` floats.
        n_bins: number of equal-width bins per dimension (reference: 20).
    """
    codes = as_codes(codes)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}.")
    n_bins = int(n_bins)
    low, high = codes.min(axis=0), codes.max(axis=0)
    constant = low == high
    low = np.where(constant, low - 0.5, low)
    high = np.where(constant, high + 0.5, high)
    # the same edges np.histogram makes (np.linspace), one column per latent dimension
    edges = np.linspace(low, high, n_bins + 1, axis=0)  # (n_bins + 1, latent_dim)
    position = (codes - low) * (n_bins / (high - low))  # in [0, n_bins]
    bins = np.clip(position.astype(np.int64), 0, n_bins - 1)
    # a value within rounding distance of an edge is settled by comparing it with the exact edge
    near = np.abs(position - np.rint(position)) < 1e-6
    if near.any():
        rows, cols = np.nonzero(near)
        b, value = bins[rows, cols], codes[rows, cols]
        b = b - ((value < edges[b, cols]) & (b > 0))
        b = b + ((b < n_bins - 1) & (value >= edges[np.minimum(b + 1, n_bins), cols]))
        bins[rows, cols] = b
    return bins


def discrete_entropy(labels) -> np.ndarray:
    """Plug-in entropy (nats) of each column of an integer label array ``(n_points, n_columns)``.

        H(v) = -sum_a p(a) log p(a),  p = empirical frequencies.

    A column with a single value has entropy exactly 0.
    """
    labels, sizes = compact_labels(as_factors(labels, "labels"))
    n, n_columns = labels.shape
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    counts = np.bincount((labels + offsets).ravel(), minlength=int(sizes.sum())).astype(np.float64)
    column = np.repeat(np.arange(n_columns), sizes)
    occupied = counts > 0
    p = counts[occupied] / n
    entropy = np.bincount(column[occupied], weights=-p * np.log(p), minlength=n_columns)
    entropy[(labels == labels[:1]).all(axis=0)] = 0.0  # a single value: exactly 0
    return entropy


def factor_entropies(factors) -> np.ndarray:
    """Plug-in entropy H(v_k) in nats of every factor, ``(n_factors,)``, estimated from the sample.

    This is MIG's normaliser in the reference protocol (disentanglement_lib ``discrete_entropy``).
    On a full uniform grid it equals ``log(factor_size)``; on a random sample it is a little less.
    """
    return discrete_entropy(as_factors(factors))


def discrete_mutual_info(labels_a: np.ndarray, labels_b: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) between every column of ``labels_a`` and of ``labels_b``.

    Args:
        labels_a: ``(n_points, n_a)`` int64 labels (e.g. factors).
        labels_b: ``(n_points, n_b)`` int64 labels (e.g. discretised codes).

    Returns:
        ``(n_a, n_b)`` array, entry (k, j) = I(a_k; b_j) >= 0, computed as

            I = (1/n) sum_{cells with count c > 0} c [log c + log n - log c_a - log c_b]

        from one joint histogram per column of ``labels_a`` (``np.bincount`` over combined
        indices, all columns of ``labels_b`` at once). Equal, up to floating-point rounding, to
        ``sklearn.metrics.mutual_info_score`` applied pair by pair (the reference).
    """
    a, a_sizes = compact_labels(np.asarray(labels_a, dtype=np.int64))
    b, b_sizes = compact_labels(np.asarray(labels_b, dtype=np.int64))
    return _mutual_info(a, a_sizes, b, int(b_sizes.max()))


def _mutual_info(a: np.ndarray, a_sizes: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """Plug-in MI ``(n_a, n_b)`` of compact labels ``a`` (sizes ``a_sizes``) and ``b`` (all < ``width``)."""
    n, n_b = b.shape
    n_a = a.shape[1]
    combined_b = b + np.arange(n_b) * width  # (n, n_b): code j's bins live in [j*width, (j+1)*width)
    b_counts = np.bincount(combined_b.ravel(), minlength=n_b * width).astype(np.float64)
    log_n = np.log(n)
    mi = np.zeros((n_a, n_b))
    for k in range(n_a):  # a handful of factors; each step is vectorised over points and codes
        if (a[:, k] == a[0, k]).all():
            continue  # a constant has no information about anything: exactly 0
        size = int(a_sizes[k])
        joint = np.bincount((a[:, k, None] * (n_b * width) + combined_b).ravel(), minlength=size * n_b * width)
        a_counts = np.bincount(a[:, k], minlength=size).astype(np.float64)
        cells = np.flatnonzero(joint)
        count = joint[cells].astype(np.float64)
        value, rest = np.divmod(cells, n_b * width)
        contribution = count * (np.log(count) + log_n - np.log(a_counts[value]) - np.log(b_counts[rest]))
        mi[k] = np.bincount(rest // width, weights=contribution, minlength=n_b) / n
    mi[:, (b == b[:1]).all(axis=0)] = 0.0  # a constant code: exactly 0
    return np.clip(mi, 0.0, None)


def mutual_info_matrix(codes, factors, n_bins: int = 20) -> np.ndarray:
    """Mutual information I(v_k; z_j) in nats between factors and discretised codes.

    The reference (disentanglement_lib) protocol: each code dimension is cut into ``n_bins``
    equal-width bins over its observed range (:func:`histogram_discretize`), then the plug-in
    mutual information with each factor's class labels is computed (:func:`discrete_mutual_info`).

    Args:
        codes: ``(n_points, latent_dim)`` floats, e.g. the posterior means.
        factors: ``(n_points, n_factors)`` int64 class indices.
        n_bins: bins per code dimension (reference: 20).

    Returns:
        ``(n_factors, latent_dim)`` float64, rows = factors, columns = latent dimensions.
        A constant code dimension or a single-valued factor gives exactly 0 in its row/column.
    """
    codes = as_codes(codes)
    factors = as_factors(factors)
    check_same_length(codes, factors, "codes", "factors")
    a, a_sizes = compact_labels(factors)
    return _mutual_info(a, a_sizes, histogram_discretize(codes, n_bins), int(n_bins))
