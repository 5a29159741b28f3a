"""Time every metric of dvae_tutorial.metrics against a plain-loop implementation of the same definition.

The plain loops follow the reference implementation (disentanglement_lib, Locatello et al. 2019):
per-column np.histogram + np.digitize and pairwise sklearn ``mutual_info_score`` for MIG and
modularity, pairwise ``np.cov`` for continuous SAP, ``scipy.stats.entropy`` for DCI, one encoder
call per batch of 64 images for the BetaVAE and FactorVAE scores. They draw the same random
numbers as the package, so both must give the same values; the script asserts it.

Codes: a noisy, partly entangled code of dSprites-sized factors (3, 6, 40, 32, 32), 10
dimensions (five factor codes with noise and a little mixing, five noise dimensions).
For the intervention scores the "images" are first the factor vectors with an elementwise
encoder (batching cannot change a single bit of the codes), then real 64x64 images of
``data.DSprites.small()`` with a small fixed conv net in float64 (n_train = 1,000, n_eval = 500).

Run (2 cores shared with others: take the heavy-job lock):

    flock /tmp/dvae-heavy.lock python benchmarks/bench_metrics.py            # about 20 minutes (DCI: 2 x 5.5)
    flock /tmp/dvae-heavy.lock python benchmarks/bench_metrics.py --quick    # DCI on 2,000 points

Timings use one torch thread by default (``--threads``): on a shared 2-core machine two threads
made the small-batch loops up to 10x slower from one run to the next.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import scipy.stats
import sklearn.metrics
import torch
from sklearn import preprocessing
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from dvae_tutorial import evaluation, metrics

SIZES = (3, 6, 40, 32, 32)


# --- data ------------------------------------------------------------------------------------------
def make_codes(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 10): factor k (scaled to [0, 1]) + noise + 0.2 x factor k+1, then five noise dimensions."""
    scaled = factors / (np.asarray(SIZES) - 1)
    signal = scaled + 0.2 * np.roll(scaled, -1, axis=1) + 0.05 * rng.normal(size=scaled.shape)
    return np.concatenate([signal, rng.normal(size=scaled.shape)], axis=1)


def factor_grid():
    """Ground-truth data set whose observation is the factor vector (``evaluation.FactorsAsObservations``)."""
    return evaluation.FactorsAsObservations(SIZES)


def image_encoder():
    """A small fixed conv net for 64x64 images (float64, so batching changes no score), -> 10 codes."""
    generator = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(1, 8, kernel_size=4, stride=4).double()
    linear = torch.nn.Linear(8 * 16 * 16, 10).double()
    with torch.no_grad():
        for layer, scale in ((conv, 0.5), (linear, 0.05)):
            for p in layer.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * scale)
    net = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.Flatten(), linear).eval()

    def encode_images(images):
        with torch.no_grad():
            return net(images.double()).numpy()

    return encode_images


def encode(observations: torch.Tensor) -> np.ndarray:
    """An elementwise 'encoder': (n, 5) -> (n, 10), bit-identical whatever the batch size."""
    x = observations.numpy().astype(np.float64) / (np.asarray(SIZES) - 1)
    return np.concatenate([np.tanh(2 * x - 1), np.cos(3 * x)], axis=1)


# --- plain-loop references -------------------------------------------------------------------------
def loop_mig(codes, factors, n_bins=20):
    binned = np.zeros_like(codes)
    for j in range(codes.shape[1]):
        binned[:, j] = np.digitize(codes[:, j], np.histogram(codes[:, j], n_bins)[1][:-1])
    m = np.zeros((factors.shape[1], codes.shape[1]))
    for k in range(factors.shape[1]):
        for j in range(codes.shape[1]):
            m[k, j] = sklearn.metrics.mutual_info_score(factors[:, k], binned[:, j])
    entropy = np.array([sklearn.metrics.mutual_info_score(f, f) for f in factors.T])
    top = np.sort(m, axis=1)[:, ::-1]
    return float(np.mean((top[:, 0] - top[:, 1]) / entropy)), m


def loop_sap_continuous(codes, factors):
    score = np.zeros((factors.shape[1], codes.shape[1]))
    for k in range(factors.shape[1]):
        for j in range(codes.shape[1]):
            c = np.cov(codes[:, j], factors[:, k], ddof=1)
            score[k, j] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
    top = np.sort(score, axis=1)
    return float(np.mean(top[:, -1] - top[:, -2]))


def loop_sap_discrete(codes, factors, codes_test, factors_test, seed=0):
    from sklearn.svm import LinearSVC

    score = np.zeros((factors.shape[1], codes.shape[1]))
    for k in range(factors.shape[1]):
        for j in range(codes.shape[1]):
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed).fit(codes[:, j:j + 1], factors[:, k])
            score[k, j] = np.mean(clf.predict(codes_test[:, j:j + 1]) == factors_test[:, k])
    top = np.sort(score, axis=1)
    return float(np.mean(top[:, -1] - top[:, -2]))


def loop_dci(codes, factors, codes_test, factors_test, seed=0):
    r = np.zeros((codes.shape[1], factors.shape[1]))
    train_acc, test_acc = [], []
    for k in range(factors.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(codes, factors[:, k])
        r[:, k] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes) == factors[:, k]))
        test_acc.append(np.mean(model.predict(codes_test) == factors_test[:, k]))
    per_code = 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])
    return {
        "disentanglement": float(np.sum(per_code * r.sum(axis=1) / r.sum())),
        "completeness": float(np.sum(per_factor * r.sum(axis=0) / r.sum())),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
    }


def loop_modularity_explicitness(codes, factors, codes_test, factors_test):
    _, m = loop_mig(codes, factors)
    m = m.T  # (codes, factors), as the reference
    mod = []
    for i in range(m.shape[0]):
        sq = m[i] ** 2
        top = sq.max()
        mod.append(0.0 if top == 0 else 1.0 - (sq.sum() - top) / (top * (m.shape[1] - 1)))
    mean, std = codes.mean(axis=0), codes.std(axis=0)
    x, xt = (codes - mean) / std, (codes_test - mean) / std
    train, test = [], []
    for k in range(factors.shape[1]):
        clf = LogisticRegression().fit(x, factors[:, k])
        mlb = preprocessing.MultiLabelBinarizer()
        train.append(sklearn.metrics.roc_auc_score(mlb.fit_transform(factors[:, k:k + 1]), clf.predict_proba(x)))
        test.append(sklearn.metrics.roc_auc_score(mlb.fit_transform(factors_test[:, k:k + 1]), clf.predict_proba(xt)))
    return {"modularity": float(np.mean(mod)), "explicitness_train": float(np.mean(train)),
            "explicitness_test": float(np.mean(test))}


def loop_beta_vae_features(ds, batch_size, n_points, rng, encode=encode):
    """Same draws as metrics.beta_vae_features, then one encoder call per batch, as the reference."""
    fixed = rng.integers(len(ds.factor_sizes), size=n_points)
    first = ds.sample_factors(n_points * batch_size, rng).reshape(n_points, batch_size, -1)
    second = ds.sample_factors(n_points * batch_size, rng).reshape(n_points, batch_size, -1)
    features = None
    for i in range(n_points):
        second[i, :, fixed[i]] = first[i, :, fixed[i]]
        z1 = encode(ds.sample_observations_from_factors(first[i], rng))
        z2 = encode(ds.sample_observations_from_factors(second[i], rng))
        if features is None:
            features = np.zeros((n_points, z1.shape[1]))
        features[i] = np.mean(np.abs(z1 - z2), axis=0)
    return features, fixed


def loop_beta_vae(ds, batch_size, n_train, n_eval, seed, encode=encode):
    rng = np.random.default_rng(seed)
    x, y = loop_beta_vae_features(ds, batch_size, n_train, rng, encode)
    model = LogisticRegression(random_state=seed).fit(x, y)
    xe, ye = loop_beta_vae_features(ds, batch_size, n_eval, rng, encode)
    return {"train_accuracy": float(np.mean(model.predict(x) == y)), "eval_accuracy": float(np.mean(model.predict(xe) == ye))}


def loop_factor_vae_votes(ds, batch_size, n_points, rng, variance, active, encode=encode):
    fixed = rng.integers(len(ds.factor_sizes), size=n_points)
    factors = ds.sample_factors(n_points * batch_size, rng).reshape(n_points, batch_size, -1)
    votes = np.zeros((len(ds.factor_sizes), variance.shape[0]), dtype=np.int64)
    active_dims = np.flatnonzero(active)
    for i in range(n_points):
        factors[i, :, fixed[i]] = factors[i, 0, fixed[i]]
        z = encode(ds.sample_observations_from_factors(factors[i], rng))
        local = np.var(z, axis=0, ddof=1)
        votes[fixed[i], active_dims[np.argmin(local[active_dims] / variance[active_dims])]] += 1
    return votes


def loop_factor_vae(ds, batch_size, n_train, n_eval, n_variance, seed, encode=encode):
    rng = np.random.default_rng(seed)
    factors = ds.sample_factors(n_variance, rng)
    codes = np.vstack([encode(ds.sample_observations_from_factors(factors[i:i + 64], rng))
                       for i in range(0, n_variance, 64)])
    variance = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(variance) >= 0.05
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train = loop_factor_vae_votes(ds, batch_size, n_train, rng, variance, active, encode)
    classifier = np.argmax(train, axis=0)
    evaluate = loop_factor_vae_votes(ds, batch_size, n_eval, rng, variance, active, encode)
    dims = np.arange(train.shape[1])
    return {"train_accuracy": float(train[classifier, dims].sum() / train.sum()),
            "eval_accuracy": float(evaluate[classifier, dims].sum() / evaluate.sum()),
            "num_active_dims": int(active.sum())}


# --- timing ----------------------------------------------------------------------------------------
def timed(fn, repeat=1):
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def same(a, b, tol=1e-9) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tol) for k in a)
    return abs(float(a) - float(b)) <= tol


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="DCI on 2,000 instead of 10,000 points")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: stable timings on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # same fits on both sides; noise here
    rng = np.random.default_rng(0)
    n, n_test = 10_000, 5_000
    f_train = factor_grid().sample_factors(n, rng)
    f_test = factor_grid().sample_factors(n_test, rng)
    c_train, c_test = make_codes(f_train, rng), make_codes(f_test, rng)
    f_big = factor_grid().sample_factors(100_000, rng)
    c_big = make_codes(f_big, rng)
    n_dci = 2_000 if args.quick else n
    ds = factor_grid()

    rows = []

    def compare(name, size, ours, loop, repeat=1):
        t_ours, v_ours = timed(ours, repeat)
        t_loop, v_loop = timed(loop, repeat)
        equal = same(v_ours, v_loop)
        rows.append((name, size, t_ours, t_loop, equal, v_ours))
        print(f"{name:34s} n={size:>7,}  ours {t_ours:9.4f} s   loop {t_loop:9.4f} s   x{t_loop / t_ours:7.1f}   "
              f"equal={equal}   {v_ours if not isinstance(v_ours, dict) else ''}", flush=True)
        assert equal, (name, v_ours, v_loop)

    compare("mig (20 bins)", n, lambda: metrics.mig(c_train, f_train), lambda: loop_mig(c_train, f_train)[0], repeat=3)
    compare("mig (20 bins)", 100_000, lambda: metrics.mig(c_big, f_big), lambda: loop_mig(c_big, f_big)[0], repeat=3)
    compare("sap (continuous_factors=True)", n, lambda: metrics.sap(c_train, f_train, c_test, f_test, continuous_factors=True),
            lambda: loop_sap_continuous(c_train, f_train), repeat=3)
    compare("sap (discrete, LinearSVC)", n, lambda: metrics.sap(c_train, f_train, c_test, f_test),
            lambda: loop_sap_discrete(c_train, f_train, c_test, f_test))
    compare("modularity_explicitness", n, lambda: metrics.modularity_explicitness(c_train, f_train, c_test, f_test),
            lambda: loop_modularity_explicitness(c_train, f_train, c_test, f_test))
    compare("beta_vae_score (64 x 10,000/5,000)", n, lambda: metrics.beta_vae_score(ds, encode, seed=0),
            lambda: loop_beta_vae(ds, 64, 10_000, 5_000, seed=0), repeat=3)
    compare("factor_vae_score (64 x 10,000/5,000)", n, lambda: metrics.factor_vae_score(ds, encode, seed=0),
            lambda: loop_factor_vae(ds, 64, 10_000, 5_000, 10_000, seed=0), repeat=3)
    from dvae_tutorial import data

    sprites, conv = data.DSprites.small(progress=False), image_encoder()
    compare("beta_vae_score, dSprites + conv net", 1_000,
            lambda: metrics.beta_vae_score(sprites, conv, n_train=1_000, n_eval=500, seed=0),
            lambda: loop_beta_vae(sprites, 64, 1_000, 500, seed=0, encode=conv), repeat=2)
    compare("factor_vae_score, dSprites + conv net", 1_000,
            lambda: metrics.factor_vae_score(sprites, conv, n_train=1_000, n_eval=500, seed=0),
            lambda: loop_factor_vae(sprites, 64, 1_000, 500, 10_000, seed=0, encode=conv), repeat=2)
    compare("dci (GradientBoostingClassifier)", n_dci,
            lambda: metrics.dci(c_train[:n_dci], f_train[:n_dci], c_test[:n_dci // 2], f_test[:n_dci // 2]),
            lambda: loop_dci(c_train[:n_dci], f_train[:n_dci], c_test[:n_dci // 2], f_test[:n_dci // 2]))

    # Chen et al.'s estimator: no plain loop (it is a different estimator); its cost on a CPU
    f_grid = np.array(np.meshgrid(*[np.arange(s) for s in (3, 6, 10, 16, 16)], indexing="ij")).reshape(5, -1).T
    mu = make_codes(np.minimum(f_grid, np.asarray(SIZES) - 1), rng)
    logvar = np.full_like(mu, -4.0)
    t_chen, v_chen = timed(lambda: metrics.mig(mu, f_grid, protocol="chen", logvar=logvar, n_samples=1000, exclude=(0,)))
    print(f"{'mig protocol=chen (S=1,000)':34s} n={len(f_grid):>7,}  ours {t_chen:9.4f} s   (no loop)   {v_chen:.4f}")

    print("\n| metric | n | ours (s) | plain loop (s) | speed-up | same values |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, size, t_ours, t_loop, equal, _ in rows:
        print(f"| {name} | {size:,} | {t_ours:.4f} | {t_loop:.4f} | {t_loop / t_ours:.1f}x | {equal} |")
    print(f"| mig, protocol='chen', n_samples=1,000, 10 dims | {len(f_grid):,} | {t_chen:.2f} | - | - | - |")
    print("\nbest of 3 runs for the fast rows, 2 for the dSprites rows, 1 for the classifier-bound rows")
    print("\nversions:", metrics.versions(), " torch threads:", torch.get_num_threads())


if __name__ == "__main__":
    main()
