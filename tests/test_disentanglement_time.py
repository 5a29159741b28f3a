"""The time-to-disentanglement data lesson 05 reads: recorded runs merge by setting and seed, curves line up the
marks, and a mixed or missing record fails with a message that says what to run."""
import json

import numpy as np
import pytest

from dvae_tutorial import disentanglement_time as ttd

MACHINE = {"cpu": "test CPU", "cores": 2, "torch_threads": 2, "torch": "x"}


def run(setting, seed, mig, marks=(60.0, 120.0), minutes=3.0):
    return {"setting": setting, "method": "btcvae", "net": ["small", 64, 64, 1e-3], "seed": seed,
            "minutes": minutes, "steps": 100, "wall_time": 60 * minutes, "mig": mig, "precision": "fp32",
            "curve": [{"seconds": t, "step": int(t), "mig": mig * t / 180} for t in marks]}


def test_record_merges_by_setting_and_seed_and_curves_read_it_back(tmp_path):
    path = tmp_path / "ttd.json"
    ttd.record([run("A", 1, 0.3), run("A", 0, 0.2), run("B", 0, 0.1)], MACHINE, path)
    ttd.record([run("A", 1, 0.4)], dict(MACHINE, cpu="other CPU"), path)      # seed 1 of A measured again
    runs = ttd.load(path)
    assert [(r["setting"], r["seed"]) for r in runs] == [("A", 0), ("A", 1), ("B", 0)]
    assert runs[1]["mig"] == 0.4 and runs[1]["machine"]["cpu"] == "other CPU" and runs[0]["machine"] == MACHINE
    minutes, mig, seeds = ttd.curves(runs, "A")
    assert seeds == [0, 1] and minutes.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(mig, [[0.2 / 3, 0.4 / 3, 0.2], [0.4 / 3, 0.8 / 3, 0.4]])
    assert ttd.curves(runs, "A", seeds=[1])[1].shape == (1, 3)


def test_missing_or_mixed_records_say_what_to_do(tmp_path):
    path = tmp_path / "ttd.json"
    with pytest.raises(FileNotFoundError, match="--record"):
        ttd.load(path)
    path.write_text(json.dumps({"format": "something else", "runs": []}))
    with pytest.raises(ValueError, match="not a dvae_tutorial.time_to_disentanglement/1 file"):
        ttd.load(path)
    path.unlink()
    runs = ttd.record([run("A", 0, 0.2), run("A", 1, 0.3, marks=(60.0,))], MACHINE, path)
    with pytest.raises(ValueError, match="scored at different times.*one --score-at"):
        ttd.curves(runs, "A")
    with pytest.raises(KeyError, match="no recorded runs of 'C'; recorded settings: A"):
        ttd.curves(runs, "C")
    with pytest.raises(KeyError, match=r"no recorded seed\(s\) \[5\]"):
        ttd.curves(runs, "A", seeds=[5])


def test_the_shipped_record_is_complete_and_paired():
    """What lesson 05 plots: the VAE and the beta-TCVAE on the same seeds, scored at the same marks."""
    runs = ttd.load()
    vae_minutes, vae, seeds = ttd.curves(runs, "VAE small/64")
    tc_minutes, tc, _ = ttd.curves(runs, "beta-TCVAE 6 small/64", seeds=seeds)
    assert len(seeds) >= 5 and vae_minutes.tolist() == tc_minutes.tolist()
    assert np.all((0 <= vae) & (vae <= 1)) and np.all((0 <= tc) & (tc <= 1))
    assert all(r["precision"] == "fp32" and r["machine"]["cores"] >= 1 for r in runs)
