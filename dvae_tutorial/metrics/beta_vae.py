"""The BetaVAE score, Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", ICLR 2017 (the section that introduces its disentanglement
metric).

One training point of the metric:
  1. choose a factor y uniformly;
  2. draw L pairs of factor vectors (v1_l, v2_l) that agree on factor y (and are independent
     otherwise), render both images of each pair, encode them: z1_l, z2_l;
  3. the feature is the mean absolute difference  z_diff = (1/L) sum_l |z1_l - z2_l|;
  4. the label is y.
A linear classifier is trained to predict y from z_diff; the score is its accuracy. In a
disentangled code the dimension that encodes y has z_diff ~ 0, which makes y easy to read off.

Reference implementation: disentanglement_lib ``beta_vae.py`` (``compute_beta_vae_sklearn``):
L = batch_size = 64, 10,000 training and 5,000 evaluation points, scikit-learn's
``LogisticRegression`` with default settings.
"""
from __future__ import annotations

import numpy as np

from ._sampling import MAX_ENCODE_BATCH, check_counts, check_ground_truth, encode_factor_batches, sample_fixed_factor


def beta_vae_features(
    ds, encode, batch_size: int, n_points: int, rng: np.random.Generator, max_encode_batch: int = MAX_ENCODE_BATCH
):
    """Features and labels of the BetaVAE score: ``(n_points, latent_dim)`` z_diff and ``(n_points,)`` y.

    All random draws are made up front, in this order: the fixed factor of every point
    (``rng.integers``), then ``ds.sample_factors(n_points * batch_size, rng)`` for the first and
    then for the second images; then the images are rendered and encoded in blocks of at most
    ``max_encode_batch`` images.
    """
    factor_sizes = check_ground_truth(ds)
    n_factors = len(factor_sizes)
    fixed = sample_fixed_factor(factor_sizes, n_points, rng)
    first = np.asarray(ds.sample_factors(n_points * batch_size, rng)).reshape(n_points, batch_size, n_factors)
    second = np.asarray(ds.sample_factors(n_points * batch_size, rng)).reshape(n_points, batch_size, n_factors)
    points = np.arange(n_points)[:, None]
    pairs = np.arange(batch_size)[None, :]
    second[points, pairs, fixed[:, None]] = first[points, pairs, fixed[:, None]]
    # encode both images of a pair in the same call: (n_points, 2 * batch_size, n_factors)
    both = np.concatenate([first, second], axis=1)
    features = encode_factor_batches(
        ds, encode, both, rng, max_encode_batch,
        reduce=lambda z: np.abs(z[:, :batch_size] - z[:, batch_size:]).mean(axis=1),
    )
    return features, fixed


def beta_vae_score(
    ds, encode, batch_size: int = 64, n_train: int = 10000, n_eval: int = 5000, seed: int = 0, *,
    max_encode_batch: int = MAX_ENCODE_BATCH,
) -> dict:
    """BetaVAE score (Higgins et al. 2017, ICLR): accuracy of a linear classifier that
    tells which factor a pair of batches shares, in [0, 1]; chance = 1 / n_factors.

        z_diff = (1/L) sum_{l=1..L} |z(x1_l) - z(x2_l)|,   [v1_l]_y = [v2_l]_y,   label y
        score  = accuracy of LogisticRegression(z_diff -> y)

    Defaults follow disentanglement_lib ``beta_vae.py``: L = ``batch_size`` = 64, 10,000 training
    and 5,000 evaluation points, ``LogisticRegression()`` with scikit-learn's defaults (its
    results depend on the scikit-learn version: record ``metrics.versions()``).

    Known limits, taught rather than fixed: the score reaches 100% when all but one factor are
    disentangled (Kim & Mnih 2018, their motivation for a new metric), and a linear classifier
    can also read rotated codes.
    Factors with a single value (like dSprites' colour) are never chosen as the fixed factor.

    Args:
        ds: ground-truth data set (``data.DSprites`` or any object with ``factor_sizes``,
            ``sample_factors(n, rng)``, ``sample_observations_from_factors(factors, rng)``).
        encode: ``encode(observations) -> (n, latent_dim)`` codes (numpy or torch), e.g.
            ``lambda x: model.encode(x.to(device))[0]``; called under ``torch.no_grad()`` with up
            to ``max_encode_batch`` observations at a time.
        batch_size: L, pairs averaged per point.
        n_train, n_eval: points to train and to evaluate the classifier.
        seed: seeds a ``np.random.Generator`` for every draw; same seed, same score.
        max_encode_batch: observations passed to ``encode`` per call (whole groups of
            ``batch_size`` images, at least one group). Only speed and memory depend on it, never
            the score: raise it on a GPU; on a CPU small batches that fit the caches are as fast.

    Returns:
        ``{"train_accuracy", "eval_accuracy"}`` (floats).
    """
    from sklearn.linear_model import LogisticRegression

    check_counts(batch_size=batch_size, n_train=n_train, n_eval=n_eval, max_encode_batch=max_encode_batch)
    rng = np.random.default_rng(seed)
    train_x, train_y = beta_vae_features(ds, encode, batch_size, n_train, rng, max_encode_batch)
    model = LogisticRegression(random_state=seed).fit(train_x, train_y)
    eval_x, eval_y = beta_vae_features(ds, encode, batch_size, n_eval, rng, max_encode_batch)
    return {
        "train_accuracy": float(np.mean(model.predict(train_x) == train_y)),
        "eval_accuracy": float(np.mean(model.predict(eval_x) == eval_y)),
    }
