"""The ground-truth data: the official dSprites grid, the renderer, files and batching."""
import zipfile

import h5py
import numpy as np
import pytest
import torch

from dvae_tutorial import data
from dvae_tutorial.data import reference
from dvae_tutorial.data.render import pack_numpy, render_packed, unpack_numpy

OFFICIAL_BASES = np.array([737280, 245760, 40960, 1024, 32, 1])


# --- the grid -------------------------------------------------------------------------------------

def test_grid_matches_the_official_specification(dsprites_full):
    ds = dsprites_full
    assert ds.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert ds.factor_sizes == (3, 6, 40, 32, 32)
    assert len(ds) == 737_280
    np.testing.assert_array_equal(ds.factor_values[0], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(ds.factor_values[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(ds.factor_values[2], np.linspace(0, 2 * np.pi, 40))
    assert ds.factor_values[2][-1] == pytest.approx(2 * np.pi)      # endpoint included
    np.testing.assert_allclose(ds.factor_values[3], np.arange(32) / 31)
    np.testing.assert_allclose(ds.factor_values[4], np.arange(32) / 31)
    # official bases without the size-1 colour column: index = classes . bases
    np.testing.assert_array_equal(ds.factor_bases, OFFICIAL_BASES[1:])


def test_index_and_factors_are_inverse_and_follow_the_official_order(dsprites_full):
    ds = dsprites_full
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(ds), 5000)
    factors = ds.factors_of(idx)
    np.testing.assert_array_equal(ds.index_of(factors), idx)
    np.testing.assert_array_equal(factors @ OFFICIAL_BASES[1:], idx)
    # pos_y is fastest, shape slowest
    np.testing.assert_array_equal(ds.factors_of([0, 1, 32, 1024, 40960, 245760]),
                                  [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0],
                                   [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0]])


def test_factor_checks_name_the_problem(dsprites_full):
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        dsprites_full.index_of(np.zeros((3, 6), dtype=int))
    with pytest.raises(ValueError, match="'orientation' class 40 is out of range 0..39"):
        dsprites_full.index_of([[0, 0, 40, 0, 0]])
    with pytest.raises(ValueError, match="integer"):
        dsprites_full.index_of(np.zeros((1, 5)))
    with pytest.raises(IndexError):
        dsprites_full.factors_of([len(dsprites_full)])


def test_sampling_protocol_is_seeded_and_consistent(dsprites_full):
    ds = dsprites_full
    f1, x1 = ds.sample(16, np.random.default_rng(7))
    f2, x2 = ds.sample(16, np.random.default_rng(7))
    np.testing.assert_array_equal(f1, f2)
    assert torch.equal(x1, x2)
    assert f1.dtype == np.int64 and f1.shape == (16, 5)
    assert x1.shape == (16, 1, 64, 64) and x1.dtype == torch.float32
    assert set(torch.unique(x1).tolist()) <= {0.0, 1.0}
    assert torch.equal(x1, ds.images(ds.index_of(f1)))
    # uniform over the grid: every class of every factor shows up in a large sample
    big = ds.sample_factors(20000, np.random.default_rng(1))
    for k, size in enumerate(ds.factor_sizes):
        assert np.bincount(big[:, k], minlength=size).min() > 0.5 * 20000 / size


# --- the renderer ---------------------------------------------------------------------------------

def test_renderer_matches_the_real_dsprites_frames(dsprites_full):
    match = reference.reference_iou(dsprites_full)
    assert match["square"] >= 0.99
    assert match["ellipse"] >= 0.99
    assert match["heart"] >= 0.95
    assert match["iou"].min() > 0.85     # no frame is badly off


def test_reference_frames_are_real_binary_images():
    frames = reference.reference_frames()
    assert frames.shape == (320, 64, 64) and frames.dtype == bool
    assert np.array_equal(reference.reference_factors()[:, 0],
                          np.r_[np.full(192, 2), np.full(64, 1), np.full(64, 0)])


def test_square_geometry_in_pixels(dsprites_full):
    img = dsprites_full.images(dsprites_full.index_of([[0, 5, 0, 0, 0]]))[0, 0].numpy()
    rows, cols = np.nonzero(img)
    # side 19.2 px about centre 16: pixel centres 6.5 .. 25.5
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (6, 25, 6, 25)
    assert img.sum() == 400
    img = dsprites_full.images(dsprites_full.index_of([[0, 5, 0, 31, 31]]))[0, 0].numpy()
    rows, cols = np.nonzero(img)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (38, 57, 38, 57)


def test_known_symmetries(dsprites_full):
    ds = dsprites_full
    f = ds.sample_factors(500, np.random.default_rng(3))
    # orientation classes 0 and 39 (0 and 2 pi) are the same image, for every shape
    a, b = f.copy(), f.copy()
    a[:, 2], b[:, 2] = 0, 39
    assert torch.equal(ds.sample_observations_from_factors(a), ds.sample_observations_from_factors(b))
    # a square is the same after a quarter turn, an ellipse after a half turn; a heart is not
    angles = np.linspace(0, 2 * np.pi, 40)[:20]
    pos = np.linspace(0, 1, 32)[::5]
    for shape, turn, same in (("square", np.pi / 2, True), ("ellipse", np.pi, True), ("ellipse", np.pi / 2, False),
                              ("heart", np.pi / 2, False), ("heart", np.pi, False)):
        before = render_packed(shape, [0.5, 1.0], angles, pos, pos)
        after = render_packed(shape, [0.5, 1.0], angles + turn, pos, pos)
        assert np.array_equal(before, after) == same, (shape, turn)
    # the grid steps by 2 pi / 39, so a quarter turn (9.75 classes) falls between classes: the data set
    # holds near-duplicates (class k vs k + 10 is 2.3 degrees off), not exact ones
    a = f[f[:, 2] < 30].copy()
    a[:, 0] = 0
    b = a.copy()
    b[:, 2] += 10
    xa, xb = ds.sample_observations_from_factors(a), ds.sample_observations_from_factors(b)
    iou = ((xa * xb).sum((1, 2, 3)) / (xa + xb).clamp(max=1).sum((1, 2, 3))).mean().item()
    assert 0.9 < iou < 1.0


def test_every_image_is_a_single_sprite_inside_the_canvas(dsprites_full):
    counts = unpack_numpy(dsprites_full.packed.numpy()[::97]).sum(axis=(1, 2))
    assert counts.min() > 20          # smallest sprites still have pixels
    assert counts.max() < 64 * 64 / 4


def test_packed_memory_is_an_eighth(dsprites_full):
    assert dsprites_full.nbytes == 737_280 * 64 * 64 // 8   # 360 MiB
    assert dsprites_full.packed.dtype == torch.uint8


def test_batches_unpack_like_numpy(dsprites_full):
    idx = np.array([5, 70000, 3, 737279, 5])
    x = dsprites_full.images(idx)
    expected = unpack_numpy(dsprites_full.packed.numpy()[idx])
    np.testing.assert_array_equal(x[:, 0].numpy(), expected)
    assert torch.equal(dsprites_full.images(torch.as_tensor(idx)), x)
    assert dsprites_full.images(idx, device="cpu").device.type == "cpu"


def test_pack_unpack_round_trip():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 2, (5, 64, 64)).astype(np.uint8)
    np.testing.assert_array_equal(unpack_numpy(pack_numpy(imgs)), imgs)
    packed = torch.from_numpy(pack_numpy(imgs))
    np.testing.assert_array_equal(data.unpack_bits(packed)[:, 0].numpy(), imgs)


# --- variants -------------------------------------------------------------------------------------

def test_small_subgrid_is_a_subset_of_the_full_grid(dsprites_small, dsprites_full):
    small = dsprites_small
    assert small.factor_sizes == (3, 6, 10, 16, 16) and len(small) == 46_080
    np.testing.assert_allclose(small.factor_values[2], np.linspace(0, 2 * np.pi, 40)[::4])
    rng = np.random.default_rng(0)
    f = small.sample_factors(300, rng)
    official = f * np.array([1, 1, 4, 2, 2])
    assert torch.equal(small.sample_observations_from_factors(f),
                       dsprites_full.sample_observations_from_factors(official))


def test_32px_rendering_halves_every_length():
    ds = data.DSprites(image_size=32, subgrid={"pos_x": [0], "pos_y": [0]}, cache=False, progress=False)
    assert ds.observation_shape == (1, 32, 32)
    img = ds.images(ds.index_of([[0, 5, 0, 0, 0]]))[0, 0].numpy()
    rows, cols = np.nonzero(img)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 12, 3, 12)   # side 9.6 about 8


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="image_size"):
        data.DSprites(image_size=48)
    with pytest.raises(ValueError, match="unknown factor"):
        data.DSprites(subgrid={"colour": [0]})
    with pytest.raises(ValueError, match="subset of 0..5"):
        data.DSprites(subgrid={"scale": [6]})


# --- cache and files ------------------------------------------------------------------------------

SUBGRID = {"scale": [0, 5], "orientation": [0, 7, 39], "pos_x": [0, 3, 31], "pos_y": [1, 2]}


def test_cache_round_trip_in_the_official_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path))
    first = data.DSprites(subgrid=SUBGRID, progress=False)
    path = first.cache_path()
    assert path.parent == tmp_path and path.exists()
    with h5py.File(path) as f:
        assert f["imgs"].shape == (len(first), 64, 64) and f["imgs"].dtype == np.uint8
        assert f["latents/classes"].shape == (len(first), 6)
        np.testing.assert_array_equal(f["imgs"][...], first.images(np.arange(len(first)))[:, 0].numpy())
        classes = f["latents/classes"][...]
        np.testing.assert_array_equal(classes[:, 1:], first.official_classes_of(np.arange(len(first))))
    again = data.DSprites(subgrid=SUBGRID, progress=False)
    assert torch.equal(again.packed, first.packed)
    assert not list(tmp_path.glob(".*tmp"))     # no temporary file left behind
    # the cache is an official-layout file: from_file reads it and recovers the sub-grid
    read = data.DSprites.from_file(path, progress=False)
    assert read.factor_sizes == first.factor_sizes and torch.equal(read.packed, first.packed)


def test_a_corrupt_cache_is_rendered_again(tmp_path, monkeypatch):
    monkeypatch.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path))
    good = data.DSprites(subgrid=SUBGRID, progress=False)
    path = good.cache_path()
    path.write_bytes(path.read_bytes()[:2000])           # truncated
    with pytest.warns(UserWarning, match="ignoring the dSprites cache"):
        healed = data.DSprites(subgrid=SUBGRID, progress=False)
    assert torch.equal(healed.packed, good.packed)
    assert data.DSprites.from_file(path, progress=False).factor_sizes == good.factor_sizes   # rewritten


def _official_arrays(ds):
    imgs = ds.images(np.arange(len(ds)))[:, 0].numpy().astype(np.uint8)
    classes = np.concatenate([np.zeros((len(ds), 1), np.int64), ds.official_classes_of(np.arange(len(ds)))], 1)
    values = np.stack([data.OFFICIAL_VALUES[k][classes[:, k]] for k in range(6)], axis=1)
    return imgs, classes, values


def test_official_npz_reader(tmp_path, dsprites_small):
    ds = data.DSprites(subgrid=SUBGRID, cache=False, progress=False)
    imgs, classes, values = _official_arrays(ds)
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    np.savez_compressed(path, imgs=imgs, latents_classes=classes, latents_values=values,
                        metadata=np.array({"date": "April 2017"}, dtype=object))
    read = data.DSprites.from_file(path, progress=False)
    assert read.factor_sizes == ds.factor_sizes
    assert torch.equal(read.packed, ds.packed)
    assert read.source == str(path)


def test_official_hdf5_reader(tmp_path):
    ds = data.DSprites(subgrid=SUBGRID, cache=False, progress=False)
    imgs, classes, values = _official_arrays(ds)
    path = tmp_path / "dsprites.hdf5"
    with h5py.File(path, "w") as f:          # no imgs_packed: the official file's datasets only
        f.create_dataset("imgs", data=imgs, compression="gzip")
        f.create_dataset("latents/classes", data=classes)
        f.create_dataset("latents/values", data=values)
    read = data.DSprites.from_file(path, progress=False)
    assert torch.equal(read.packed, ds.packed)
    np.testing.assert_allclose(read.factor_values[1], [0.5, 1.0])


def test_file_errors_name_the_path_and_the_fix(tmp_path):
    ds = data.DSprites(subgrid=SUBGRID, cache=False, progress=False)
    imgs, classes, values = _official_arrays(ds)

    with pytest.raises(data.DataFileError, match="missing.hdf5: file not found"):
        data.DSprites.from_file(tmp_path / "missing.hdf5")
    text = tmp_path / "notes.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(data.DataFileError, match="notes.hdf5: not a readable HDF5 file.*corrupt"):
        data.DSprites.from_file(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(data.DataFileError, match=r"foreign.h5: no dataset\(s\) \['imgs'.*official layout"):
        data.DSprites.from_file(foreign)
    bad_npz = tmp_path / "bad.npz"
    bad_npz.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(data.DataFileError, match="bad.npz: not a readable .npz"):
        data.DSprites.from_file(bad_npz)
    scaled = tmp_path / "scaled.npz"
    np.savez(scaled, imgs=imgs * 255, latents_classes=classes, latents_values=values)
    with pytest.raises(data.DataFileError, match="pixel values up to 255"):
        data.DSprites.from_file(scaled)
    shuffled = tmp_path / "shuffled.npz"
    order = np.random.default_rng(0).permutation(len(imgs))
    np.savez(shuffled, imgs=imgs[order], latents_classes=classes[order], latents_values=values[order])
    with pytest.raises(data.DataFileError, match="official order"):
        data.DSprites.from_file(shuffled)
    # a truncated npz (the zip's tail cut off)
    good = tmp_path / "good.npz"
    np.savez(good, imgs=imgs, latents_classes=classes, latents_values=values)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(data.DataFileError, match="cut.npz"):
        data.DSprites.from_file(cut)
    assert zipfile.is_zipfile(good)


# --- 3D Shapes ------------------------------------------------------------------------------------

SHAPES3D_SIZES = (2, 2, 3, 2, 4, 3)   # a tiny grid with the official layout


def _write_shapes3d(path, shuffle=False, drop=False):
    grids = np.meshgrid(*[np.arange(s) for s in SHAPES3D_SIZES], indexing="ij")
    classes = np.stack([g.reshape(-1) for g in grids], axis=1)
    values = np.stack([classes[:, 0] / 10, classes[:, 1] / 10, classes[:, 2] / 10,
                       0.75 + classes[:, 3] * 0.5 / 7, classes[:, 4].astype(float),
                       -30 + classes[:, 5] * 60 / 14], axis=1)
    images = np.zeros((len(classes), 64, 64, 3), np.uint8)
    images[:, 0, 0, :] = (classes @ np.array([1, 2, 4, 8, 16, 64]))[:, None] % 256   # tag each image
    images[:, 1, 1, 2] = 255
    if shuffle:
        order = np.random.default_rng(0).permutation(len(classes))
        images, values = images[order], values[order]
    if drop:
        images, values = images[:-1], values[:-1]
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("labels", data=values)
    return classes


@pytest.mark.parametrize("shuffle", [False, True])
def test_shapes3d_reader(tmp_path, shuffle):
    classes = _write_shapes3d(tmp_path / "3dshapes.h5", shuffle=shuffle)
    for in_memory in (False, True):
        ds = data.Shapes3D(tmp_path / "3dshapes.h5", in_memory=in_memory)
        assert ds.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
        assert ds.factor_sizes == SHAPES3D_SIZES and len(ds) == len(classes)
        np.testing.assert_allclose(ds.factor_values[5], -30 + np.arange(3) * 60 / 14)
        f = ds.sample_factors(40, np.random.default_rng(0))
        x = ds.sample_observations_from_factors(f)
        assert x.shape == (40, 3, 64, 64) and x.dtype == torch.float32
        assert 0.0 <= x.min() and x.max() == 1.0
        tags = (f @ np.array([1, 2, 4, 8, 16, 64])) % 256
        np.testing.assert_allclose(x[:, 0, 0, 0].numpy() * 255, tags, atol=1e-3)
        np.testing.assert_array_equal(ds.factors_of(ds.index_of(f)), f)
        ds.close()


def test_shapes3d_errors(tmp_path):
    with pytest.raises(data.DataFileError, match="3dshapes.h5: file not found.*official 3dshapes.h5"):
        data.Shapes3D(tmp_path / "3dshapes.h5")
    _write_shapes3d(tmp_path / "short.h5", drop=True)
    with pytest.raises(data.DataFileError, match="short.h5: factor sizes"):
        data.Shapes3D(tmp_path / "short.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("imgs", data=np.zeros((1, 64, 64), np.uint8))
    with pytest.raises(data.DataFileError, match=r"no dataset\(s\) \['images', 'labels'\]"):
        data.Shapes3D(tmp_path / "other.h5")
