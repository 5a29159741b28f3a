"""The seed study's machinery at tiny size: runs recorded, resumable, reproducible from their seed."""
import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from dvae_tutorial import study, study_stats

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


@pytest.mark.slow
def test_in_parallel_with_dci_the_study_returns_after_its_last_run(tmp_path):
    # A worker that had fitted DCI's trees in joblib processes waited on them when it exited, so the study hung
    # after its last run (minutes, until joblib's idle processes timed out).  The study runs in a child process
    # with a deadline: a hang fails this test instead of stalling the suite.
    path, runs = str(tmp_path / "study.json"), str(tmp_path / "runs")
    code = (
        "import dataclasses\n"
        "from dvae_tutorial import study\n"
        "vae = dataclasses.replace(study.VAE_SMALL, steps=4, batch_size=32, dataset='dsprites-small')\n"
        f"out = study.run_study([vae], seeds=(0, 1), path={path!r}, runs_dir={runs!r}, jobs=2, "
        f"protocol={TINY_PROTOCOL!r}, metrics=('mig', 'dci'), progress=False)\n"
        "assert out['failed'] == {}, out\n"
        f"print(' '.join(str(r['seed']) for r in study.load({path!r})))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "1"]
    assert all(0 <= r["dci_disentanglement"] <= 1 for r in study.load(path))


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


# --------------------------------------------------------------------------------------------------
# study_stats: reading the study
# --------------------------------------------------------------------------------------------------
def _rows(table: dict, metric="mig"):
    return [{"recipe": name, "seed": s, metric: v} for name, vs in table.items() for s, v in enumerate(vs)]


def test_expected_range_is_the_seeds_spread_widened_by_two_sd_within_the_metrics_bounds():
    rows = _rows({"a": [0.1, 0.2, 0.3], "b": [0.9, 0.95, 1.0]})
    a = study_stats.expected(rows, "a", "mig")
    assert (a.n, a.low, a.high) == (3, 0.1, 0.3) and a.mean == pytest.approx(0.2) and a.sd == pytest.approx(0.1)
    assert a.band == pytest.approx((0.0, 0.5))                 # 0.1 - 0.2 clipped at MIG's lower bound 0
    assert study_stats.expected(rows, "b", "mig").band[1] == 1.0
    a.check(0.45)
    with pytest.raises(AssertionError, match=r"a mig = 0.600 lies outside 0.000-0.500.*3 runs of a"):
        a.check(0.6)
    assert "0.100-0.300 over 3 seeds" in str(a) and a.span(".2f") == "0.10-0.30 (0.20 ± 0.10, 3 seeds)"
    kl = study_stats.expected([{"recipe": "c", "seed": s, "kl": v} for s, v in enumerate((19.9, 20.0, 20.1))], "c", "kl")
    assert kl.band == pytest.approx((17.9, 22.1))              # 10% of the mean when 2 sd is smaller; no bounds on a KL
    # a score near 0 with a tiny spread (latents that all collapsed): the band is at least SCORE_FLOOR wide each side
    flat = study_stats.expected(_rows({"d": [0.003, 0.010, 0.020]}), "d", "mig")
    assert flat.band == pytest.approx((0.0, 0.020 + study_stats.SCORE_FLOOR))
    flat.check(0.038)
    with pytest.raises(AssertionError, match="d mig = 0.200 lies outside 0.000-0.070"):
        flat.check(0.2)
    with pytest.raises(ValueError, match="holds 0 run.*rebuild it"):
        study_stats.expected(rows, "c", "mig")


def test_seed_ranks_and_winners_follow_each_seed():
    rows = _rows({"a": [0.1, 0.5, 0.3], "b": [0.2, 0.4, 0.1], "c": [0.3, 0.1, 0.2]})
    recipes, seeds, ranks = study_stats.seed_ranks(rows, "mig")
    assert recipes == ["a", "b", "c"] and seeds == [0, 1, 2]
    assert ranks.tolist() == [[3, 2, 1], [1, 2, 3], [1, 3, 2]]
    assert study_stats.winners(rows, "mig") == {0: "c", 1: "a", 2: "a"}
    rows.append({"recipe": "a", "seed": 3, "mig": 0.9})         # a seed that only one recipe has is left out
    assert study_stats.seed_ranks(rows, "mig")[1] == [0, 1, 2]


def test_variance_split_is_eta_squared():
    same_means = _rows({"a": [0.1, 0.3], "b": [0.1, 0.3]})
    assert study_stats.variance_split(same_means, "mig")["explained"] == pytest.approx(0.0)
    no_seed_noise = _rows({"a": [0.2, 0.2], "b": [0.6, 0.6]})
    assert study_stats.variance_split(no_seed_noise, "mig")["explained"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    groups = {k: rng.normal(m, 0.1, 5) for k, m in (("a", 0.2), ("b", 0.4), ("c", 0.3))}
    split = study_stats.variance_split(_rows(groups), "mig")
    allv = np.concatenate(list(groups.values()))
    assert split["total"] == pytest.approx(((allv - allv.mean()) ** 2).sum())
    within = sum(((g - g.mean()) ** 2).sum() for g in groups.values())
    assert split["explained"] == pytest.approx(1 - within / split["total"])
    with pytest.raises(ValueError, match="two or more recipes"):
        study_stats.variance_split(_rows({"a": [0.1, 0.2]}), "mig")


def test_metric_correlation_is_spearmans_rho():
    rows = [{"recipe": "a", "seed": s, "mig": m, "sap": m ** 3, "dci": -m} for s, m in enumerate((0.1, 0.5, 0.2, 0.9))]
    rho = study_stats.metric_correlation(rows, ("mig", "sap", "dci"))
    assert rho.shape == (3, 3) and rho[0, 1] == pytest.approx(1.0) and rho[0, 2] == pytest.approx(-1.0)
    two = study_stats.metric_correlation(rows, ("mig", "dci"))
    assert two.shape == (2, 2) and two[1, 0] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="three or more runs"):
        study_stats.metric_correlation(rows[:2], ("mig", "sap"))


def test_the_readme_table_is_written_between_its_markers_and_matches_the_shipped_study(tmp_path):
    rows = [{"recipe": "a", "seed": s, "steps": 3000, "mig": m, "factor_vae": 0.5, "sap": 0.1, "dci_disentanglement": 0.2,
             "recon": 30.0 + s, "kl": 10.0} for s, m in enumerate((0.1, 0.3))]
    study.record(tmp_path / "s.json", rows, TINY_PROTOCOL)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{study.README_START}\nold\n{study.README_END}\nrest\n")
    study.update_readme(readme, tmp_path / "s.json")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    assert "| `a` | 2 | 0.200 ± 0.141 | 0.50 ± 0.00 |" in text and "30.5 ± 0.7" in text and "2 runs, 3,000 steps" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- study-table:start -->"):
        study.update_readme(readme, tmp_path / "s.json")
    # the repository's README shows the shipped study file's table (regenerate: pretrained study --update-readme)
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "README.md"
    assert study.markdown_table(study.load()) in shipped.read_text()
