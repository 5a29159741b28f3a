"""The seed study's machinery at tiny size: runs recorded, resumable, reproducible from their seed."""
import dataclasses
import json
import math

import pytest

from dvae_tutorial import study

# scores on a few hundred codes: the machinery, not the numbers (the real study uses SCORE_PROTOCOL)
TINY_PROTOCOL = dict(seed=0, codes=300, codes_test=150, dci_codes=200, dci_codes_test=100,
                     intervention_train=60, intervention_eval=30, elbo_images=300)
FAST_METRICS = ("mig", "sap", "factor_vae")   # DCI's boosted trees take ~8 s even on 200 codes (tests/test_metrics.py)


def tiny(recipe, steps=12):
    return dataclasses.replace(recipe, steps=steps, batch_size=32, dataset="dsprites-small")


def test_the_grid_is_every_method_at_several_weights_at_the_lessons_settings():
    recipes = study.study_recipes()
    methods = {r.method for r in recipes}
    assert methods == set(study.MAIN_WEIGHT)
    for method, weight in study.MAIN_WEIGHT.items():
        values = {r.hparams[weight] for r in recipes if r.method == method} if weight else set()
        assert len(values) >= (2 if weight else 0), (method, values)
    assert {(r.steps, r.image_size, r.architecture, r.batch_size) for r in recipes} == {(3000, 32, "small", 128)}
    assert len({r.name for r in recipes}) == len(recipes)


@pytest.mark.slow
def test_runs_are_recorded_resumable_and_reproduce_from_their_seed(tmp_path):
    path, runs = tmp_path / "study.json", tmp_path / "runs"
    vae = tiny(study.VAE_SMALL)
    settings = dict(path=path, runs_dir=runs, protocol=TINY_PROTOCOL, metrics=FAST_METRICS, progress=False)
    out = study.run_study([vae], seeds=(0, 1), **settings)
    assert out["failed"] == {}
    rows = study.load(path)
    assert [(r["recipe"], r["seed"]) for r in rows] == [(vae.name, 0), (vae.name, 1)]
    for row in rows:
        assert row["steps"] == 12 and len(row["kl_per_dim"]) == vae.latent_dim
        for key in ("loss", "recon", "kl", "tc") + FAST_METRICS:
            assert math.isfinite(row[key]), key
        assert 0 <= row["mig"] <= 1 and 0 <= row["factor_vae"] <= 1
    assert rows[0]["recon"] != rows[1]["recon"]          # the seed matters, so the comparison below can fail
    assert json.loads(path.read_text())["protocol"] == TINY_PROTOCOL

    # a second call finds nothing left to do
    again = study.run_study([vae], seeds=(0, 1), **settings)
    assert again == {"recorded": [], "failed": {}}

    # retrained from scratch in chunks of 5 steps (as the Ray sweep trains): the recorded numbers again
    chunks = []
    retrained = study.run_one(vae, 1, tmp_path / "again", protocol=TINY_PROTOCOL, metrics=FAST_METRICS,
                             chunk_steps=5, on_chunk=chunks.append)
    assert chunks == [5, 10, 12]
    recorded = rows[1]
    assert {k: v for k, v in retrained.items() if k != "wall_time_s"} == \
           {k: v for k, v in recorded.items() if k != "wall_time_s"}


@pytest.mark.slow
def test_in_parallel_a_failed_run_is_reported_and_the_others_recorded(tmp_path):
    good = tiny(study.VAE_SMALL, steps=4)
    bad = dataclasses.replace(good, name="vae-broken", hparams={"beta": 2.0})     # the VAE takes no beta
    path = tmp_path / "study.json"
    out = study.run_study([good, bad], seeds=(0,), path=path, runs_dir=tmp_path / "runs", jobs=2,
                          protocol=TINY_PROTOCOL, metrics=FAST_METRICS, progress=False)
    assert list(out["failed"]) == ["vae-broken-seed0"] and "beta" in out["failed"]["vae-broken-seed0"]
    assert [(r["recipe"], r["seed"]) for r in study.load(path)] == [(good.name, 0)]


def test_the_command_line_runs_the_chosen_recipes_and_seeds(tmp_path, monkeypatch, capsys):
    from dvae_tutorial.__main__ import main

    calls = []

    def fake_run_study(recipes, seeds, **kwargs):
        calls.append((recipes, list(seeds), kwargs))
        study.record(kwargs["path"], [{"recipe": recipes[0].name, "seed": 0, "mig": 0.25, "factor_vae": 0.5,
                                       "sap": 0.1, "dci_disentanglement": 0.2}], TINY_PROTOCOL)
        return {"recorded": [], "failed": {"x-seed1": "boom"}}

    monkeypatch.setattr(study, "run_study", fake_run_study)
    code = main(["pretrained", "study", "betavae-beta4-small32", "--seeds", "2", "--jobs", "2", "--steps", "50",
                 "--data", str(tmp_path / "s.json"), "--runs", str(tmp_path / "runs"),
                 "--figure", str(tmp_path / "s.png")])
    (recipes, seeds, kwargs), = calls
    assert [r.name for r in recipes] == ["betavae-beta4-small32"] and recipes[0].steps == 50 and seeds == [0, 1]
    assert kwargs["jobs"] == 2 and kwargs["runs_dir"] == tmp_path / "runs" / "study"
    assert code == 1                                   # a failed run makes the command fail
    out = capsys.readouterr().out
    assert "betavae-beta4-small32" in out and "mig 0.250" in out and "failed: x-seed1: boom" in out
    assert (tmp_path / "s.png").exists()


def test_the_data_file_refuses_mixed_protocols_and_foreign_files(tmp_path):
    path = tmp_path / "study.json"
    row = {"recipe": "vae-small32", "seed": 0, "mig": 0.1}
    study.record(path, [row], TINY_PROTOCOL)
    study.record(path, [dict(row, mig=0.2)], TINY_PROTOCOL)          # same run: replaced, not duplicated
    assert study.load(path) == [dict(row, mig=0.2)]
    with pytest.raises(ValueError, match="another file"):
        study.record(path, [row], dict(TINY_PROTOCOL, codes=10))
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else", "runs": []}))
    with pytest.raises(ValueError, match="not a seed-study file"):
        study.load(tmp_path / "other.json")
    with pytest.raises(ValueError, match="not in the seed study: nope"):
        study.select(["nope"])


def test_summary_and_plot_show_every_run():
    rows = [{"recipe": "a", "seed": s, "mig": m} for s, m in enumerate((0.1, 0.3))] + \
           [{"recipe": "b", "seed": 0, "mig": 0.5}]
    (a, b) = study.summary(rows, metrics=("mig",))
    assert a["seeds"] == 2 and a["mig"][0] == pytest.approx(0.2) and a["mig"][1] == pytest.approx(0.1414, abs=1e-4)
    assert b["seeds"] == 1 and math.isnan(b["mig"][1])
    fig = study.plot(rows, metrics=("mig",))
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections if hasattr(c, "get_offsets"))
    assert points >= 3
