"""Recipes are the one home of every run a lesson trains; `pretrained lessons` trains them all."""
import ast
import json
from pathlib import Path

import pytest
import torch

from dvae_tutorial import __main__ as cli
from dvae_tutorial import losses, models, recipes, runs

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING_CALLS = {("runs", "live_run"), ("runs", "sweep"), ("train", "run"), ("train", "fit")}


def _lesson_code(path: Path) -> ast.Module:
    cells = json.loads(path.read_text())["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines), filename=path.name)


def _calls(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name):
            yield (node.func.value.id, node.func.attr), node


def test_every_run_a_lesson_trains_is_a_recipe_and_every_lesson_recipe_is_used():
    assert NOTEBOOKS, "no lessons found"
    used = set()
    for path in NOTEBOOKS:
        tree = _lesson_code(path)
        for (module, fn), node in _calls(tree):
            assert (module, fn) not in TRAINING_CALLS, \
                f"{path.name} line {node.lineno}: {module}.{fn}(...) trains a run outside the recipes; use " \
                f"runs.recipe_run / runs.recipe_sweep / runs.course_runs with a recipe name"
            if (module, fn) == ("runs", "recipe_sweep"):
                name = node.args[0].value
                assert name in recipes.LESSON_SWEEPS, f"{path.name}: unknown sweep {name!r}"
                used |= set(recipes.LESSON_SWEEPS[name][1].values())
            if (module, fn) == ("runs", "course_runs"):
                used |= set(recipes.COURSE_RUNS.values())
            if (module, fn) in (("runs", "recipe_run"), ("recipes", "lesson")) and \
                    isinstance(node.args[0], ast.Constant):
                assert node.args[0].value in recipes.LESSON_RUNS, f"{path.name}: unknown run {node.args[0].value!r}"
        # names handed to recipe_run through a variable appear as string literals in the lesson
        used |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in recipes.LESSON_RUNS}
    assert used == set(recipes.LESSON_RUNS), f"recipes no lesson trains: {set(recipes.LESSON_RUNS) - used}"


def test_fast_variants_are_derived_in_one_place_and_keep_ci_numbers():
    for name in recipes.LESSON_RUNS:
        full, fast = recipes.lesson(name, False), recipes.lesson(name, True)
        assert full is recipes.LESSON_RUNS[name]
        assert fast.steps < full.steps and fast.method == full.method and fast.seed == full.seed
    # the values CI's fast mode has always used: 150 steps (50 for the short lesson 05 runs), C over 100 steps
    assert recipes.lesson("vae-small32", True).steps == 150
    assert recipes.lesson("vae-small32-1500steps", True).steps == 50
    assert recipes.lesson("capacity-c_max20-small32", True).hparams == {"c_max": 20, "gamma": 3, "c_steps": 100}
    assert recipes.lesson("capacity-c_max20-small32", False).hparams["c_steps"] == 2500
    with pytest.raises(KeyError, match="unknown lesson run 'nope'"):
        recipes.lesson("nope", True)


def test_sweeps_and_course_runs_name_lesson_recipes_with_the_swept_value():
    for sweep, (hparam, values) in recipes.LESSON_SWEEPS.items():
        for value, name in values.items():
            run = recipes.LESSON_RUNS[name]
            if run.method == "vae":       # beta = 1 of a beta-VAE sweep loads the VAE: the same objective
                assert (hparam, value, sweep.startswith("betavae")) == ("beta", 1, True), (sweep, value)
            else:
                assert run.hparams[hparam] == value, (sweep, value)
    assert set(recipes.COURSE_RUNS.values()) <= set(recipes.LESSON_RUNS)
    assert recipes.LESSON_RUNS["factorvae-gamma40-small32"].hparams == {
        "gamma": 40, "disc_lr": recipes.FACTORVAE_DISC_LR, "disc_hidden": recipes.LESSON_DISC_HIDDEN}


@pytest.mark.parametrize("fast", [True, False])
def test_pretrained_lessons_trains_every_lesson_recipe(monkeypatch, capsys, fast):
    trained = []

    def record(**kwargs):      # stands in for the trainer: what would be trained, nothing else
        trained.append(kwargs)
        return runs.LiveRun(None, {}, {}, 0.0, from_cache=True)

    monkeypatch.setattr(runs, "live_run", record)
    assert cli.main(["pretrained", "lessons", "--no-progress"] + (["--fast"] if fast else [])) == 0
    expected = [dict(recipes.lesson(n, fast).live_run_kwargs(), progress=False,
                     keep_prefixes=recipes.prefix_steps(n, fast)) for n in recipes.LESSON_RUNS]
    assert trained == expected
    assert capsys.readouterr().out.count("already in the cache") == len(recipes.LESSON_RUNS)


def test_a_beta_vae_at_beta_1_is_the_vae_so_its_slider_position_can_load_the_vae_run():
    torch.manual_seed(0)
    model = models.VAE(latent_dim=10, image_size=32, architecture="small")
    x = (torch.rand(16, 1, 32, 32) > 0.7).float()
    output = model(x)
    vae = losses.make_objective("vae")(output, x, step=0)
    for beta, same in ((1.0, True), (2.0, False)):
        beta_vae = losses.make_objective("betavae", beta=beta)(output, x, step=0)
        assert set(beta_vae) == set(vae)
        assert torch.allclose(beta_vae["loss"], vae["loss"]) is same


@pytest.mark.parametrize("fast", [False, True])
def test_prefix_steps_finds_the_shorter_runs_with_every_other_setting_equal(fast):
    found = {name: recipes.prefix_steps(name, fast) for name in recipes.LESSON_RUNS}
    short = recipes.lesson("vae-small32-1500steps", fast).steps
    assert {name: steps for name, steps in found.items() if steps} == {"vae-small32": (short,),
                                                                      "btcvae-beta6-small32": (short,),
                                                                      "btcvae-beta10-mws-small32": (short,)}
    # the MSS beta = 10 run of the slider differs from the MWS one in its estimator only: not a prefix of it
    assert found["btcvae-beta10-small32"] == ()
    # FactorVAE's slow-discriminator run is shorter than the gamma = 40 run but learns D at another rate
    assert recipes.lesson("factorvae-gamma40-slowdisc-small32-1500steps", fast).steps < \
        recipes.lesson("factorvae-gamma40-small32", fast).steps
    assert found["factorvae-gamma40-small32"] == ()
