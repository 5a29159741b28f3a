"""One module for files: atomic writes, the three weight formats (loaded weights_only), the machine record."""
import numpy as np
import pytest
import torch

from dvae_tutorial import files, models


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "sub" / "x.json"
    files.atomic_write_json(path, {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        files.atomic_write(path, broken)
    assert path.read_text().startswith("{") and [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_atomic_write_h5_round_trip(tmp_path):
    import h5py

    files.atomic_write_h5(tmp_path / "d.h5", lambda f: f.create_dataset("v", data=np.arange(5)))
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert f["v"][:].tolist() == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_live_run_round_trip_is_weights_only(tmp_path):
    model = models.VAE(image_size=32, architecture="small").eval()
    history = {"loss": np.linspace(3, 1, 7), "step": np.arange(7), "kl_per_dim": np.ones((7, 10))}
    files.save_live_run(tmp_path / "r.pt", model, history, {"method": "vae", "steps": 7}, 1.5)
    raw = torch.load(tmp_path / "r.pt", weights_only=True)       # tensors and plain containers only
    assert raw["format"] == files.LIVE_RUN_FORMAT
    again, hist, settings, wall = files.load_live_run(tmp_path / "r.pt")
    assert settings == {"method": "vae", "steps": 7} and wall == 1.5
    for k, v in history.items():
        assert np.array_equal(hist[k], v) and hist[k].dtype == v.dtype, k
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


def test_each_loader_refuses_the_other_formats_and_damaged_files(tmp_path):
    model = models.VAE(image_size=32, architecture="small")
    files.save_weights(model, tmp_path / "w.pt", "w")
    assert isinstance(files.load_weights(tmp_path / "w.pt"), models.VAE)
    (tmp_path / "run").mkdir()
    (tmp_path / "w.pt").rename(tmp_path / "run" / files.CHECKPOINT_NAME)
    with pytest.raises(files.WeightFileError, match="not a dvae_tutorial checkpoint .*'dvae_tutorial.pretrained/1'"):
        files.load_checkpoint(tmp_path / "run")
    with pytest.raises(files.WeightFileError, match="not a dvae_tutorial live run"):
        files.load_live_run(tmp_path / "run" / files.CHECKPOINT_NAME)
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    with pytest.raises(files.WeightFileError, match="cannot be read by torch as a pretrained weights file"):
        files.load_weights(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        files.load_checkpoint(tmp_path / "nothing")


def test_machine_record():
    record = files.machine()
    assert record["cores"] >= 1 and record["torch"] == str(torch.__version__) and record["cpu"]
