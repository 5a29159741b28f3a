"""The interactive panels build and react without a browser; runs.sweep trains once, then loads."""
import numpy as np
import pytest
import torch

from dvae_tutorial import data, runs, widgets

STEPS = 8


@pytest.fixture(scope="module")
def ds32():
    return data.DSprites.small(image_size=32, progress=False)   # 46,080 images at 32x32


@pytest.fixture(scope="module")
def sweep_runs(ds32, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path_factory.mktemp("runs_cache")))
    try:
        yield runs.sweep("betavae", "beta", (1, 8), steps=STEPS, dataset=ds32, progress=False)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def x(ds32):
    return ds32.images([12_345])    # (1, 1, 32, 32)


def test_sweep_returns_one_trained_run_per_value(sweep_runs):
    assert list(sweep_runs) == [1, 8]
    for beta, run in sweep_runs.items():
        assert run.settings["hparams"] == {"beta": beta}
        assert len(run.history["loss"]) == STEPS and not run.from_cache
    # the two runs differ only in beta, so the same seed gives the same initial weights and batches but
    # different losses: loss = recon + beta * KL at the first step
    h1, h8 = sweep_runs[1].history, sweep_runs[8].history
    assert h1["recon"][0] == pytest.approx(h8["recon"][0], rel=1e-5)
    assert h8["loss"][0] == pytest.approx(h8["recon"][0] + 8 * h8["kl"][0], rel=1e-5)


def test_sweep_second_call_loads_from_cache(ds32, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path))
    first = runs.sweep("betavae", "beta", (2,), steps=5, dataset=ds32, progress=False)
    second = runs.sweep("betavae", "beta", (2,), steps=5, dataset=ds32, progress=False)
    out = capsys.readouterr().out
    assert not first[2].from_cache and second[2].from_cache
    assert "trained 5 steps" in out and "loaded from the cache" in out
    for a, b in zip(first[2].model.state_dict().values(), second[2].model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("method, hparams", [("btcvae", {"beta": 6}), ("factorvae", {"gamma": 10, "disc_hidden": 32})])
def test_a_run_keeps_its_first_steps_as_the_shorter_run_with_the_same_numbers(ds32, tmp_path, monkeypatch, method,
                                                                              hparams):
    monkeypatch.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path))
    kwargs = dict(hparams=hparams, dataset=ds32, progress=False)
    long = runs.live_run(method, steps=12, keep_prefixes=(4, 8), **kwargs)
    kept = {s: runs.live_run(method, steps=s, **kwargs) for s in (4, 8)}
    assert not long.from_cache and all(run.from_cache for run in kept.values())
    for s, run in kept.items():
        alone = runs.live_run(method, steps=s, cache=False, **kwargs)      # trained from scratch for s steps
        assert run.settings == alone.settings and 0 < run.wall_time < long.wall_time
        for (name, a), b in zip(run.model.state_dict().items(), alone.model.state_dict().values()):
            assert torch.equal(a, b), name
        assert set(run.history) == set(alone.history)
        for term in alone.history:
            np.testing.assert_array_equal(run.history[term], alone.history[term], err_msg=term)
            np.testing.assert_array_equal(run.history[term], long.history[term][:s], err_msg=term)
    assert not np.array_equal(long.history["loss"][:4], long.history["loss"][4:8])   # not a constant history


def test_keep_prefixes_must_be_shorter_than_the_run():
    with pytest.raises(ValueError, match="between 0 and steps = 5"):
        runs.live_run("vae", steps=5, keep_prefixes=(5,))


@pytest.mark.parametrize("kwargs, message", [
    (dict(values=()), "non-empty"),
    (dict(values=(1, 1)), "distinct"),
    (dict(values=(1,), fixed={"beta": 2}), "swept hyper-parameter"),
    (dict(values=(1,), hparams={"beta": 2}), "fixed="),
])
def test_sweep_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        runs.sweep("betavae", "beta", steps=5, **kwargs)


def test_traversal_explorer_starts_at_the_code_and_slider_changes_image(sweep_runs, x):
    run = sweep_runs[1]
    explorer = widgets.TraversalExplorer(run.model, x, kl_per_dim=run.kl_per_dim)
    with torch.no_grad():
        mu = run.model.encode(x)[0][0].numpy()
        expected = torch.sigmoid(run.model.decode(torch.as_tensor(explorer.values(), dtype=torch.float32)[None]))
    np.testing.assert_allclose(explorer.values(), np.clip(mu, -3, 3), atol=1e-6)
    np.testing.assert_allclose(explorer.image(), expected[0, 0].numpy(), atol=1e-6)
    assert explorer.image().shape == (32, 32) and len(explorer.sliders) == run.model.latent_dim
    before_png, before = explorer.picture.value, explorer.image()
    explorer.set(z3=3.0 if mu[3] < 0 else -3.0)
    assert explorer.picture.value != before_png
    assert not np.allclose(explorer.image(), before)
    explorer.reset()
    np.testing.assert_allclose(explorer.image(), before, atol=1e-6)
    assert explorer.picture.value == before_png


def test_traversal_explorer_clear_errors(sweep_runs, x):
    model = sweep_runs[1].model
    explorer = widgets.TraversalExplorer(model, x)
    with pytest.raises(ValueError, match="unknown latent"):
        explorer.set(z10=1.0)
    with pytest.raises(ValueError, match=r"in \[-3, 3\]"):
        explorer.set(z0=5.0)
    with pytest.raises(ValueError, match=r"shape \(1, C, H, W\)"):
        widgets.TraversalExplorer(model, x.repeat(2, 1, 1, 1))
    with pytest.raises(ValueError, match="one value per latent"):
        widgets.TraversalExplorer(model, x, kl_per_dim=np.ones(3))


def test_sweep_explorer_selects_runs_and_redraws(sweep_runs, x):
    panel = widgets.SweepExplorer(sweep_runs, name="beta", x=x, n_steps=3)
    assert panel.current is sweep_runs[1]
    pictures = (panel.traversal.value, panel.kl_bars.value)
    assert all(bytes(p).startswith(b"\x89PNG") for p in pictures)
    assert "beta = 1" in panel.numbers.value and "recon" in panel.numbers.value
    panel.select(8)
    assert panel.current is sweep_runs[8] and panel.slider.value == 8
    assert panel.traversal.value != pictures[0] and panel.kl_bars.value != pictures[1]
    assert "beta = 8" in panel.numbers.value
    with pytest.raises(ValueError, match="was not trained; choose one of"):
        panel.select(3)
    with pytest.raises(ValueError, match="non-empty dict"):
        widgets.SweepExplorer({})
    with pytest.raises(TypeError, match="LiveRun"):
        widgets.SweepExplorer({1: "not a run"})


def test_sweep_explorer_hands_over_every_runs_pictures_for_a_static_page(sweep_runs, x):
    panel = widgets.SweepExplorer(sweep_runs, name="beta", x=x, n_steps=3, static=True)
    panel.select(8)
    bundle = panel.widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle          # JupyterLab still gets the live widget
    frames = bundle[widgets.STATIC_SLIDER_MIME]
    assert frames["labels"] == ["1", "8"] and frames["index"] == 1 and frames["name"] == "beta"
    assert frames["slider"] == panel.slider.model_id
    assert len(frames["frames"]) == 2 and frames["frames"][0] != frames["frames"][1]
    for value, frame in zip((1, 8), frames["frames"]):
        traversal, bars = panel.pictures(value)
        assert widgets.png_data_uri(traversal) in frame and widgets.png_data_uri(bars) in frame
        assert f"beta = {value}</b>" in frame
    plain = widgets.SweepExplorer(sweep_runs, name="beta", x=x, n_steps=3, static=False)
    assert widgets.STATIC_SLIDER_MIME not in plain.widget._repr_mimebundle_()


def test_score_explorer_draws_the_selected_runs_scores_and_explains_bad_input():
    scores = {4: {"mig": 0.3, "sap": 0.1}, 1: {"mig": 0.1, "sap": 0.05}, 16: {"mig": 0.2, "sap": 0.02}}
    panel = widgets.ScoreExplorer(scores, name="beta", title="beta-VAE", static=True)
    assert list(panel.slider.options) == [1, 4, 16] and panel.slider.value == 1
    first = bytes(panel.picture.value)
    assert first.startswith(b"\x89PNG")
    panel.select(16)
    assert bytes(panel.picture.value) != first and bytes(panel.picture.value) == panel.picture_png(16)
    frames = panel.widget._repr_mimebundle_()[widgets.STATIC_SLIDER_MIME]
    assert frames["labels"] == ["1", "4", "16"] and frames["index"] == 2 and len(set(frames["frames"])) == 3
    with pytest.raises(ValueError, match="has no scores; choose one of"):
        panel.select(2)
    with pytest.raises(ValueError, match="non-empty dict"):
        widgets.ScoreExplorer({})
    with pytest.raises(ValueError, match="the same scores"):
        widgets.ScoreExplorer({1: {"mig": 0.1}, 2: {"sap": 0.1}})


def test_course_sweeps_are_the_sweeps_the_lessons_train(monkeypatch):
    """Lesson 06 scores the sweeps of lessons 02-05 from the cache: each must be a sweep its lesson trains."""
    from pathlib import Path

    import nbformat

    from dvae_tutorial import recipes

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    code = {p.name[:2]: "\n".join(c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code")
            for p in notebooks.glob("0[2-5]_*.ipynb")}
    for label, name in runs.COURSE_SWEEPS.items():
        lesson = label[-3:-1]
        assert name in recipes.LESSON_SWEEPS, f"{label}: {name!r} is not a lesson sweep"
        assert f'runs.recipe_sweep("{name}"' in code[lesson], f"lesson {lesson} no longer trains the sweep {name}"
    calls = []
    monkeypatch.setattr(runs, "recipe_sweep", lambda name, fast: calls.append((name, fast)) or {})
    out = runs.course_sweeps(True)
    assert list(out) == list(runs.COURSE_SWEEPS)
    assert [v[0] for v in out.values()] == [recipes.LESSON_SWEEPS[n][0] for n in runs.COURSE_SWEEPS.values()]
    assert calls == [(name, True) for name in runs.COURSE_SWEEPS.values()]
