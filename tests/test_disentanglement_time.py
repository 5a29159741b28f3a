"""The time-to-disentanglement data lesson 05 reads: recorded runs merge by setting and seed, curves line up the
marks, and a mixed or missing record fails with a message that says what to run."""
import json

import numpy as np
import pytest
import torch

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
    for suffix in ("", " d5"):                 # 10 latents (the course's) and 5 (as many as dSprites' factors)
        vae_minutes, vae, seeds = ttd.curves(runs, "VAE small/64" + suffix)
        tc_minutes, tc, _ = ttd.curves(runs, "beta-TCVAE 6 small/64" + suffix, seeds=seeds)
        assert len(seeds) >= 5 and vae_minutes.tolist() == tc_minutes.tolist()
        assert np.all((0 <= vae) & (vae <= 1)) and np.all((0 <= tc) & (tc <= 1))
    assert {tuple(r["net"]) for r in runs if r["setting"].endswith(" d5")} == {("small", 64, 64, 1e-3, 5)}
    assert all(r["precision"] == "fp32" and r["machine"]["cores"] >= 1 for r in runs)


class _State:
    def __init__(self, step):
        self.step, self.model = step, None


def test_time_budget_scores_at_its_marks_without_counting_the_scoring_and_then_stops(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(ttd.time, "perf_counter", lambda: clock[0])

    def slow_score(model):
        clock[0] += 50.0                       # scoring takes 50 s of wall time: not training time
        return 0.5

    budget = ttd.TimeBudget(10.0, marks=(4.0, 8.0, 30.0), score=slow_score)
    assert budget.marks == [4.0, 8.0]          # a mark past the budget is never reached
    clock[0] += 5.0
    budget(_State(10))                         # 5 s of training: the 4 s mark is scored
    assert budget.curve == [(4.0, 10, 0.5)] and budget.training_seconds() == 5.0 and not budget.expired
    clock[0] += 4.0
    budget(_State(20))                         # 9 s: the 8 s mark
    assert budget.curve[-1] == (8.0, 20, 0.5) and budget.training_seconds() == 9.0
    clock[0] += 2.0
    with pytest.raises(KeyboardInterrupt):     # 11 s > 10 s: stops as the stop button does
        budget(_State(30))
    assert budget.expired and len(budget.curve) == 2


def test_time_budget_and_timed_fit_reject_what_cannot_be_a_budget(dsprites_small):
    with pytest.raises(ValueError, match="positive number of seconds"):
        ttd.TimeBudget(0)
    with pytest.raises(ValueError, match="marks need score"):
        ttd.TimeBudget(5, marks=(1,))
    with pytest.raises(ValueError, match="minutes must be a positive number"):
        ttd.timed_fit("vae", dsprites_small, minutes=-1)
    with pytest.raises(ValueError, match="score_at must be minutes of training between 0 and minutes = 1"):
        ttd.timed_fit("vae", dsprites_small, minutes=1, score_at=(2,))


def test_a_timed_run_spends_its_budget_is_cached_and_loads_back(dsprites_small, tmp_path, monkeypatch):
    """runs.timed_run trains until the budget is spent (however many steps that takes), scores MIG at the marks
    and at the end, caches the run, and a second call loads it instead of training."""
    from dvae_tutorial import runs

    monkeypatch.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path))
    kwargs = dict(minutes=0.04, hparams={"beta": 6}, latent_dim=5, image_size=64, batch_size=32, score_at=(0.02,),
                  codes=300, dataset=dsprites_small, progress=False)
    run = runs.timed_run("btcvae", **kwargs)
    result = run.settings["result"]
    assert not run.from_cache and "stopped" not in result
    assert result["steps"] > 0 and result["net"][-1] == 5
    # the clock is read every 50 steps (timed_fit's check_every): a run ends at most one such interval past its budget
    assert 0 < result["wall_time"] <= 0.04 * 60 + 50 * result["wall_time"] / result["steps"]
    assert [p["seconds"] for p in result["curve"]] == [0.02 * 60] and 0 < result["curve"][0]["step"] < result["steps"]
    assert 0 <= result["mig"] <= 1 and len(run.history["loss"]) == result["steps"]
    again = runs.timed_run("btcvae", **kwargs)
    assert again.from_cache and again.settings["result"] == result
    for (name, a), b in zip(run.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_that_ends_before_its_budget_says_so(dsprites_small):
    """max_steps (or the stop button) ending a run early: the run is marked stopped, not taken for a spent budget."""
    result, run = ttd.timed_fit("vae", dsprites_small, minutes=1.0, max_steps=5, batch_size=16, codes=200)
    assert run["stopped"] and run["steps"] == result.steps_done == 5 and run["wall_time"] < 60
