"""Sweeps on Ray Tune: the grid expansion, and a tiny sweep on a local Ray instance (needs the 'sweep' extra)."""
import dataclasses
import json
import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_study import FAST_METRICS, TINY_PROTOCOL, tiny

from dvae_tutorial import study, sweep


def test_the_grid_crosses_recipes_values_and_seeds():
    recipe = study.select(["btcvae-beta6-small32"])[0]
    trials = sweep.expand([recipe], {"beta": [2.0, 4.0], "alpha": [1.0]}, seeds=(0, 1, 2))
    assert len(trials) == 2 * 1 * 3
    names = {t["recipe"]["name"] for t in trials}
    assert names == {"btcvae-beta6-small32[beta=2,alpha=1]", "btcvae-beta6-small32[beta=4,alpha=1]"}
    assert {t["recipe"]["hparams"]["beta"] for t in trials} == {2.0, 4.0}
    assert sorted({t["seed"] for t in trials}) == [0, 1, 2]
    assert sweep.expand([recipe], None, seeds=(5,)) == [{"recipe": recipe.as_dict(), "seed": 5}]
    with pytest.raises(ValueError, match="takes no c_max"):
        sweep.expand([recipe], {"c_max": [5]})
    assert sweep.parse_grid(["beta=2,4", "gamma=10"]) == {"beta": [2.0, 4.0], "gamma": [10.0]}
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        sweep.parse_grid(["beta"])
    a = sweep.experiment_name(trials, TINY_PROTOCOL, FAST_METRICS)
    assert a == sweep.experiment_name(trials, TINY_PROTOCOL, FAST_METRICS) != \
        sweep.experiment_name(trials[:1], TINY_PROTOCOL, FAST_METRICS)


class _Checkpoint:
    """Stands in for ``tune.Checkpoint``: a copy of the folder, made when it is reported (as Tune persists it)."""

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def from_directory(cls, path):
        return cls(path)

    @contextmanager
    def as_directory(self):
        yield str(self.path)


class _Tune:
    """The four ``ray.tune`` calls a trial makes, recorded: get_checkpoint, get_context, report, Checkpoint."""

    Checkpoint = _Checkpoint

    def __init__(self, trial_dir: Path, restore=None):
        self.trial_dir, self.restore, self.reports = trial_dir, restore, []

    def get_checkpoint(self):
        return self.restore

    def get_context(self):
        return SimpleNamespace(get_trial_dir=lambda: str(self.trial_dir))

    def report(self, metrics, checkpoint=None):
        kept = None
        if checkpoint is not None:
            kept = _Checkpoint(self.trial_dir.parent / f"{self.trial_dir.name}-checkpoint-{len(self.reports)}")
            shutil.copytree(checkpoint.path, kept.path)
        self.reports.append((metrics, kept))


@pytest.mark.slow
def test_a_trial_reports_its_checkpoints_and_resumes_from_one_to_the_same_numbers(tmp_path, monkeypatch):
    config = {"trial": {"recipe": tiny(study.VAE_SMALL, steps=6).as_dict(), "seed": 0}, "protocol": TINY_PROTOCOL,
              "metrics": list(FAST_METRICS), "checkpoint_every": 2, "threads": 1}
    first = _Tune(tmp_path / "trial-a")
    monkeypatch.setattr(sweep, "require_ray", lambda: first)
    sweep.trial(config)
    assert [m["step"] for m, _ in first.reports] == [2, 4, 6]
    assert all(c is not None and (c.path / "checkpoint.pt").exists() for _, c in first.reports)
    row = json.loads(first.reports[-1][0]["row"])
    assert row["steps"] == 6 and first.reports[-1][0]["mig"] == row["mig"]

    # a retried trial (a fresh folder) gets Tune's checkpoint at step 2 and trains only the rest
    second = _Tune(tmp_path / "trial-b", restore=first.reports[0][1])
    monkeypatch.setattr(sweep, "require_ray", lambda: second)
    sweep.trial(config)
    assert [m["step"] for m, _ in second.reports] == [4, 6]
    resumed = json.loads(second.reports[-1][0]["row"])
    assert {k: v for k, v in resumed.items() if k != "wall_time_s"} == \
           {k: v for k, v in row.items() if k != "wall_time_s"}


def test_the_command_line_passes_the_grid_and_the_cluster(tmp_path, monkeypatch, capsys):
    from dvae_tutorial.__main__ import main

    calls = []
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: calls.append((a, k)) or {"recorded": [], "failed": {}})
    code = main(["sweep", "--recipes", "btcvae-beta6-small32", "--grid", "beta=2,4", "--seeds", "3", "--steps", "40",
                 "--address", "10.0.0.1:6379", "--cpus-per-trial", "2", "--data", str(tmp_path / "s.json")])
    ((recipes, grid, seeds), kwargs), = calls
    assert code == 0 and [r.name for r in recipes] == ["btcvae-beta6-small32"] and recipes[0].steps == 40
    assert grid == {"beta": [2.0, 4.0]} and list(seeds) == [0, 1, 2]
    assert kwargs["address"] == "10.0.0.1:6379" and kwargs["cpus_per_trial"] == 2
    assert "recorded 0 trials" in capsys.readouterr().out
    main(["sweep", "--recipes", "vae-small32", "--data", str(tmp_path / "s.json")])    # the study's own VAE recipe
    assert [r.name for r in calls[-1][0][0]] == ["vae-small32"]
    assert main(["sweep", "--recipes", "nope"]) == 2           # one line, exit status 2, no traceback
    err = capsys.readouterr().err
    assert "sweep: error: unknown recipe 'nope'" in err and "Traceback" not in err and len(err.splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """Where the tiny sweep runs: ``None``, i.e. Ray started by ``run_sweep`` on this machine (2 CPUs, every
    address on the loopback), the default a user gets; ``DVAE_TUTORIAL_TEST_RAY_ADDRESS`` names a running
    instance to use instead (e.g. one started by hand with ``ray start --head``)."""
    pytest.importorskip("ray.tune", reason="Ray Tune is not installed: pip install -e '.[sweep]'")
    local = dict(RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    saved = {k: os.environ.get(k) for k in local}
    os.environ.update(local)
    try:
        yield os.environ.get("DVAE_TUTORIAL_TEST_RAY_ADDRESS") or None
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.slow
def test_a_tiny_sweep_records_its_trials_and_reports_the_failed_one(ray_head, tmp_path):
    good = tiny(study.VAE_SMALL, steps=6)
    broken = dataclasses.replace(good, name="vae-broken", hparams={"beta": 2.0})   # the VAE takes no beta
    path = tmp_path / "study.json"
    out = sweep.run_sweep([good, broken], seeds=(0,), path=path, storage=tmp_path / "tune", address=ray_head,
                          num_cpus=2, checkpoint_every=4, max_failures=0, protocol=TINY_PROTOCOL, metrics=FAST_METRICS,
                          verbose=0)
    print(out)
    (error,) = out["failed"].values()
    assert list(out["failed"]) == ["vae-broken-seed0"]
    assert error.startswith("ValueError: ") and "beta" in error and "\n" not in error   # the trial's own error
    rows = study.load(path)
    assert [(r["recipe"], r["seed"]) for r in rows] == [(good.name, 0)]

    # the trial trained with the package's checkpoints in its folder, and Tune kept the last one
    trial_runs = list(Path(out["experiment"]).glob(f"*/{sweep.RUN_FOLDER}/checkpoint.pt"))
    assert len(trial_runs) == 1
    assert list(Path(out["experiment"]).glob("*/checkpoint_*/checkpoint.pt"))

    # the numbers are the seed study's: the same run trained here gives the same row
    here = study.run_one(good, 0, tmp_path / "here", protocol=TINY_PROTOCOL, metrics=FAST_METRICS)
    assert {k: v for k, v in rows[0].items() if k != "wall_time_s"} == \
           {k: v for k, v in here.items() if k != "wall_time_s"}

    # everything recorded: a second call has nothing to run (the broken trial is not recorded, so leave it out)
    again = sweep.run_sweep([good], seeds=(0,), path=path, storage=tmp_path / "tune", address=ray_head, num_cpus=2,
                            protocol=TINY_PROTOCOL, metrics=FAST_METRICS, verbose=0)
    assert again == {"recorded": [], "failed": {}, "experiment": None}
