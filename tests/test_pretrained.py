"""The shipped checkpoints: present for every main recipe, intact (sha256), and their scores reproducible."""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dvae_tutorial import __main__ as cli
from dvae_tutorial import evaluation, files, pretrained, recipes
from dvae_tutorial.models import VAE
from dvae_tutorial.pretrained import export as export_mod
from dvae_tutorial.pretrained import report

SHIPPED = pretrained.available()


def test_every_main_recipe_is_shipped():
    assert SHIPPED == list(recipes.MAIN), f"shipped: {SHIPPED}; run `python -m dvae_tutorial pretrained build`"


@pytest.mark.parametrize("name", list(recipes.MAIN))
def test_load_works_offline_and_matches_its_sha256(name):
    pretrained.verify(name)                              # raises when the file differs from the shipped sha256
    model = pretrained.load(name)
    meta = pretrained.info(name)
    assert isinstance(model, VAE) and not model.training
    assert model.config == meta["config"]["model"]
    assert meta["recipe"]["seed"] in recipes.seeds(name) and meta["config"]["seed"] == meta["recipe"]["seed"]
    assert meta["recipe"] == replace(recipes.get(name), seed=meta["recipe"]["seed"]).as_dict()
    assert meta["training"]["steps"] == recipes.get(name).steps
    with torch.no_grad():
        mu, logvar = model.encode(torch.rand(3, 1, 64, 64))
    assert mu.shape == logvar.shape == (3, 10) and mu.dtype == torch.float32


def test_unknown_damaged_and_missing_files_give_clear_errors(tmp_path):
    name = SHIPPED[0]
    with pytest.raises(KeyError, match=r"no shipped model called 'nope'; available: .*" + name):
        pretrained.load("nope")
    for suffix in (".pt", ".json"):
        shutil.copy(pretrained.FOLDER / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    pretrained.load(name, folder=tmp_path)               # an intact copy loads
    data = bytearray((tmp_path / f"{name}.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF                         # one flipped byte
    (tmp_path / f"{name}.pt").write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match=r"is damaged: its sha256 .* pretrained build " + name):
        pretrained.load(name, folder=tmp_path)
    (tmp_path / f"{name}.pt").unlink()
    with pytest.raises(pretrained.PretrainedError, match="are missing"):
        pretrained.load(name, folder=tmp_path)
    (tmp_path / f"{name}.pt").write_bytes(b"not a torch file")
    with pytest.raises(pretrained.PretrainedError, match="cannot be read by torch"):
        pretrained.load(name, folder=tmp_path, check=False)


@pytest.mark.parametrize("name", list(recipes.MAIN))
def test_scores_recomputed_from_the_shipped_weights_match_the_shipped_ones(name, dsprites_full):
    meta = pretrained.info(name)
    again = evaluation.protocol_scores(pretrained.load(name), dsprites_full, which=("mig", "sap"),
                                       protocol=meta["score_protocol"])
    for metric, value in again.items():
        assert value == pytest.approx(meta["scores"][metric], abs=2e-3), metric


def _shipped_seed(name):
    try:
        return pretrained.info(name)["recipe"]["seed"]
    except (KeyError, pretrained.PretrainedError):   # not shipped: the tests above say so
        return None


# the seeds besides the shipped one (that one is the shipped file, byte for byte: its scores are recomputed above)
OTHER_SEEDS = [(name, seed) for name in recipes.SEEDS for seed in recipes.seeds(name) if seed != _shipped_seed(name)]


@pytest.mark.parametrize("name", list(recipes.SEEDS))
def test_every_seed_ships_and_the_shipped_model_is_the_rules_pick(name):
    assert pretrained.seeds(name) == list(recipes.seeds(name)), f"run `python -m dvae_tutorial pretrained build {name}`"
    metas = {}
    for seed in recipes.seeds(name):
        pretrained.verify(name, seed=seed)
        metas[seed] = pretrained.info(name, seed=seed)
        assert metas[seed]["config"]["seed"] == metas[seed]["recipe"]["seed"] == seed
        assert metas[seed]["recipe"] == replace(recipes.get(name), seed=seed).as_dict()
        assert metas[seed]["training"]["steps"] == recipes.get(name).steps
    assert len({m["sha256"] for m in metas.values()}) == len(metas)       # different seeds, different weights
    shipped = pretrained.info(name)
    migs = {s: m["scores"]["mig"] for s, m in metas.items()}
    best = max(migs.values())
    assert shipped["seeds"]["shipped"] == min(s for s, v in migs.items() if v == best) == shipped["recipe"]["seed"]
    seed_file = pretrained.FOLDER / pretrained.SEEDS_DIR / f"{pretrained.seed_name(name, shipped['recipe']['seed'])}.pt"
    assert (pretrained.FOLDER / f"{name}.pt").read_bytes() == seed_file.read_bytes()
    assert shipped["scores"] == metas[shipped["recipe"]["seed"]]["scores"]
    for metric in ("mig", "factor_vae", "dci_disentanglement"):
        values = [m["scores"][metric] for m in metas.values()]
        assert shipped["seeds"]["mean"][f"scores.{metric}"] == pytest.approx(np.mean(values), abs=1e-6)
        assert shipped["seeds"]["sd"][f"scores.{metric}"] == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert [r["seed"] for r in shipped["seeds"]["runs"]] == list(recipes.seeds(name))


@pytest.mark.parametrize("name, seed", OTHER_SEEDS)
def test_every_other_seeds_scores_recomputed_from_its_weights_match(name, seed, dsprites_full):
    meta = pretrained.info(name, seed=seed)
    again = evaluation.protocol_scores(pretrained.load(name, seed=seed), dsprites_full, which=("mig", "sap"),
                                       protocol=meta["score_protocol"])
    for metric, value in again.items():
        assert value == pytest.approx(meta["scores"][metric], abs=2e-3), metric


def test_ship_seed_picks_the_highest_mig_and_the_lowest_seed_on_a_tie(tmp_path):
    name = "btcvae"
    (tmp_path / pretrained.SEEDS_DIR).mkdir()
    weights = {0: pretrained.FOLDER / "vae.pt", 1: pretrained.FOLDER / "btcvae.pt", 2: pretrained.FOLDER / "betavae.pt"}
    for seed, mig in ((0, 0.30), (1, 0.50), (2, 0.50)):
        stem = tmp_path / pretrained.SEEDS_DIR / pretrained.seed_name(name, seed)
        shutil.copy(weights[seed], f"{stem}.pt")
        meta = pretrained.info("btcvae")
        meta.update(recipe=dict(meta["recipe"], seed=seed), sha256=pretrained.sha256(f"{stem}.pt"),
                    scores=dict(meta["scores"], mig=mig), config=dict(meta["config"], seed=seed))
        meta.pop("seeds", None)
        (tmp_path / pretrained.SEEDS_DIR / f"{stem.name}.json").write_text(json.dumps(meta))
    shipped = export_mod.ship_seed(name, tmp_path)
    assert shipped["seeds"]["shipped"] == 1 and shipped["recipe"]["seed"] == 1
    assert (tmp_path / f"{name}.pt").read_bytes() == weights[1].read_bytes()
    assert pretrained.info(name, tmp_path)["seeds"]["mean"]["scores.mig"] == pytest.approx(1.3 / 3, abs=1e-6)
    assert pretrained.info(name, tmp_path)["seeds"]["rule"] == recipes.SHIPPING_RULE
    pretrained.load(name, folder=tmp_path)                         # the copy passes its sha256 check
    table, seeds = report.results_table([name], tmp_path), report.seed_table([name], tmp_path).splitlines()
    assert "| 3 (mean ± sd) |" in table and f"| {0.43333:.2f} ± {np.std([0.3, 0.5, 0.5], ddof=1):.2f} |" in table
    assert [("**shipped**" in row) for row in seeds[2:]] == [False, True, False]
    assert export_mod.pick_seed({3: 0.2, 1: 0.2, 2: 0.1}) == 1
    # a seed scored with another protocol, or missing, stops the shipping with a message that says what to run
    path = tmp_path / pretrained.SEEDS_DIR / f"{pretrained.seed_name(name, 2)}.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(dict(meta, score_protocol=dict(meta["score_protocol"], codes=10))))
    with pytest.raises(ValueError, match="not all scored with one protocol; re-export"):
        export_mod.ship_seed(name, tmp_path)
    path.unlink()
    with pytest.raises(ValueError, match=r"seed\(s\) 2 not exported .* pretrained build btcvae"):
        export_mod.ship_seed(name, tmp_path)
    with pytest.raises(KeyError, match=r"'btcvae' has no shipped seed 2; its seeds: \[0, 1\]"):
        pretrained.load(name, folder=tmp_path, seed=2)
    assert cli.main(["pretrained", "ship", "betavae"]) == 2      # one seed only: a usage error, nothing written


def test_the_tables_report_how_much_of_x_y_and_scale_the_best_latent_holds():
    """A code that rotates the position by 30 degrees (x, y mixed in two latents) still gives x and y different
    best latents; the table shows the shares, which drop, rather than a yes for distinct best latents."""
    rng = np.random.default_rng(0)
    names, sizes = ("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32)   # dSprites' grid
    factors = np.column_stack([rng.integers(0, k, 5000) for k in sizes])
    x, y, scale = (factors[:, names.index(f)].astype(float) for f in ("pos_x", "pos_y", "scale"))
    noise = rng.normal(size=(5000, 7)) * 0.01
    aligned = np.column_stack([x, y, scale, noise])
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rotated = np.column_stack([c * x + s * y, c * y - s * x, scale, noise])
    good, mixed = (export_mod.best_shares(export_mod.codes_factor_summary(codes, factors, names))
                   for codes in (aligned, rotated))
    assert good["distinct"] and mixed["distinct"]          # both give x, y and scale a latent each ...
    assert min(good["best_share"].values()) > 0.8            # ... but only the aligned code holds them
    assert mixed["best_share"]["pos_x"] < 0.4 and mixed["best_share"]["pos_y"] < 0.4
    assert mixed["best_share"]["scale"] == pytest.approx(good["best_share"]["scale"])
    assert report._shares(mixed) == " / ".join(f"{mixed['best_share'][f]:.2f}" for f in ("pos_x", "pos_y", "scale"))
    same = export_mod.best_shares({"best_latent": {"pos_x": 0, "pos_y": 0, "scale": 1},
                                   "best_share": {"pos_x": 0.4, "pos_y": 0.3, "scale": 0.6}})
    assert not same["distinct"] and report._shares(same) == "0.40 / 0.30 / 0.60 (one latent for two)"
    assert report._shares(None) == "–"


def test_readme_shows_the_tables_the_shipped_metadata_gives():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [report.results_table(), report.seed_table(), report.seed_note()]
    for recipe_name, shipped_name in report.ALTERNATIVE_RECIPES.items():
        blocks += [report.alternative_lead(recipe_name, shipped_name),
                   report.alternative_table(recipe_name, shipped_name)]
    for table in blocks:
        assert table in readme, "README is out of date: run `python -m dvae_tutorial pretrained table`"


@pytest.mark.parametrize("recipe_name", list(report.ALTERNATIVE_RECIPES))
def test_a_measured_alternative_recipe_is_what_its_seeds_were_trained_with(recipe_name, tmp_path):
    folder = report.ALTERNATIVES / recipe_name
    recipe = recipes.get(recipe_name)
    for path in sorted(folder.glob("*.json")):
        meta = json.loads(path.read_text())
        seed = meta["recipe"]["seed"]
        assert export_mod.recipe_mismatches(replace(recipe, seed=seed), meta["config"]) == [], path.name
        assert meta["training"]["steps"] == recipe.steps and meta["score_protocol"] == pretrained.info(
            report.ALTERNATIVE_RECIPES[recipe_name])["score_protocol"]
    assert len(list(folder.glob("*.json"))) >= 3
    meta["recipe"]["hparams"] = {k: v * 2 for k, v in meta["recipe"]["hparams"].items()}
    (tmp_path / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=f"holds runs of other hyper-parameters than the recipe '{recipe_name}'"):
        report.alternative_table(recipe_name, report.ALTERNATIVE_RECIPES[recipe_name], folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="no seed metadata"):
        report.alternative_table(recipe_name, report.ALTERNATIVE_RECIPES[recipe_name], folder=tmp_path / "none")


def test_elbo_terms_recomputed_match(dsprites_full):
    meta = pretrained.info("btcvae")
    p = meta["score_protocol"]
    again = evaluation.elbo_terms(pretrained.load("btcvae"), dsprites_full, p["elbo_images"], p["seed"])
    assert again["recon"] == pytest.approx(meta["elbo"]["recon"], rel=1e-3)
    assert again["kl"] == pytest.approx(meta["elbo"]["kl"], rel=1e-3)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_seed_was_trained_with_its_recipe_and_a_changed_setting_is_named(name):
    for seed in pretrained.seeds(name) or [recipes.get(name).seed]:
        config = pretrained.info(name, seed=seed if pretrained.seeds(name) else None)["config"]
        recipe = replace(recipes.get(name), seed=seed)
        assert export_mod.recipe_mismatches(recipe, config) == []
        assert export_mod.recipe_mismatches(replace(recipe, lr=recipe.lr / 2, image_size=32), config) == [
            f"lr: run {recipe.lr!r}, recipe {recipe.lr / 2!r}", "image_size: run 64, recipe 32"]
        for key, value in recipe.hparams.items():
            changed = replace(recipe, hparams={**recipe.hparams, key: value * 2})
            assert export_mod.recipe_mismatches(changed, config) == [f"{key}: run {value!r}, recipe {value * 2!r}"]


def test_recipe_sets_every_train_option_and_flags_still_win():
    args = cli.build_parser().parse_args(["train", "--recipe", "btcvae", "--out", "unused"])
    args, hparams = cli.resolve_train_args(args)
    r = recipes.get("btcvae")
    assert (args.method, args.steps, args.batch_size, args.lr, args.image_size, args.architecture, args.holdout) == \
        (r.method, r.steps, r.batch_size, r.lr, r.image_size, r.architecture, r.holdout)
    assert hparams == r.hparams
    args = cli.build_parser().parse_args(["train", "--recipe", "factorvae", "--steps", "7", "--gamma", "10",
                                          "--out", "unused"])
    args, hparams = cli.resolve_train_args(args)
    assert args.steps == 7 and hparams == {"gamma": 10.0, "disc_lr": 1e-3}
    with pytest.raises(KeyError, match="unknown recipe 'nope'; known: vae, betavae"):
        recipes.get("nope")


def test_lesson_recipes_are_the_runs_the_lessons_train():
    # runs.recipe_run trains exactly the recipe's settings, so `pretrained lessons` fills the lessons' cache
    r = recipes.get("btcvae-beta6-small32")
    assert r.live_run_kwargs() == dict(method="btcvae", steps=3000, hparams={"beta": 6}, seed=0, image_size=32,
                                       architecture="small", latent_dim=10, batch_size=128, lr=1e-3)
    # lesson 04's gamma sweep and the course's FactorVAE are one run, with one discriminator rate
    assert recipes.COURSE_RUNS["FactorVAE (10)"] == recipes.LESSON_SWEEPS["factorvae-gamma"][1][10]
    assert recipes.get("factorvae-gamma10-small32").hparams == {"gamma": 10, "disc_lr": recipes.FACTORVAE_DISC_LR,
                                                                "disc_hidden": recipes.LESSON_DISC_HIDDEN}


@pytest.mark.slow
def test_export_round_trip_on_a_tiny_run_and_evaluate_agrees_with_the_shipped_scores(tmp_path, monkeypatch):
    tiny = recipes.Recipe("tiny", "btcvae", {"beta": 6.0}, steps=4, batch_size=16, image_size=32,
                          architecture="small")
    monkeypatch.setitem(recipes.RECIPES, "tiny", tiny)
    run = tmp_path / "run"
    assert cli.main(["train", "--recipe", "tiny", "--out", str(run), "--no-progress"]) == 0
    with pytest.raises(ValueError, match="holds 4 of the recipe's 9 steps"):
        monkeypatch.setitem(recipes.RECIPES, "tiny", recipes.Recipe(**{**tiny.as_dict(), "steps": 9}))
        export_mod.export("tiny", run, tmp_path / "out", score=False)
    monkeypatch.setitem(recipes.RECIPES, "tiny", tiny)
    with pytest.raises(ValueError, match="was not trained with the recipe 'tiny' at seed 1: seed: run 0, recipe 1"):
        export_mod.export("tiny", run, tmp_path / "out", score=False, seed=1)
    with pytest.raises(ValueError, match="'tiny' at seed 0: beta: run 6.0, recipe 10.0. Train the recipe into a new folder"):
        monkeypatch.setitem(recipes.RECIPES, "tiny", replace(tiny, hparams={"beta": 10.0}))
        export_mod.export("tiny", run, tmp_path / "out", score=False)
    monkeypatch.setitem(recipes.RECIPES, "tiny", tiny)
    export_mod.export("tiny", run, tmp_path / "out", score=False, seed=0)     # a seed goes to seeds/
    assert pretrained.seeds("tiny", tmp_path / "out") == [0]
    # weights that float16 holds exactly: the shipped model is then the trained one, bit for bit
    checkpoint = files.load_checkpoint(run)
    checkpoint["model"] = {k: v.half().float() if v.is_floating_point() else v for k, v in checkpoint["model"].items()}
    files.save_checkpoint(run, checkpoint)
    small = evaluation.scaled_protocol(100)
    meta = export_mod.export("tiny", run, tmp_path / "out", protocol=small)
    saved = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert saved["sha256"] == pretrained.sha256(tmp_path / "out" / "tiny.pt") == meta["sha256"]
    assert saved["training"]["steps"] == 4 and saved["training"]["machine"]["cores"] >= 1
    assert len(saved["history"]["terms"]["loss"]) == 4 and len(saved["history"]["kl_per_dim_final"]) == 10
    assert set(saved["scores"]) >= {"mig", "sap", "dci_disentanglement", "beta_vae", "factor_vae"}
    model = pretrained.load("tiny", folder=tmp_path / "out")
    trained = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]   # CUDA runs too
    for k, v in model.state_dict().items():   # the shipped weights are the trained ones rounded to float16
        assert torch.equal(v, trained[k].to(torch.float16).float()), k
    assert np.isfinite(saved["elbo"]["recon"]) and saved["elbo"]["kl"] >= 0
    # `evaluate DIR` computes the same scores and ELBO terms as `pretrained` put into tiny.json (DCI left out
    # here only for time: its trees cost ~30 s even on 20 codes)
    assert cli.main(["evaluate", str(run), "--images", "64", "--metric-images", "100", "--device", "cpu",
                     "--metrics", "mig,sap,beta_vae,factor_vae"]) == 0
    report = json.loads((run / "evaluation.json").read_text())
    shipped = pretrained.info("tiny", tmp_path / "out")["scores"]
    assert report["metrics"] == {k: shipped[k] for k in ("mig", "sap", "beta_vae", "factor_vae")}
    assert report["elbo"] == saved["elbo"] and report["score_protocol"] == saved["score_protocol"]
