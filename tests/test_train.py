"""The training loop: learning happens for every method, FactorVAE's two optimisers, reproducibility,
checkpoints and resumption, interrupts, non-finite losses, the command line."""
import json

import numpy as np
import pytest
import torch

from dvae_tutorial import __main__ as cli
from dvae_tutorial import data, losses, models, train

FAST = dict(architecture="small", batch_size=32, progress=False)


@pytest.fixture(scope="module")
def dsprites32():
    return data.DSprites.small(image_size=32, progress=False)   # 46,080 images, rendered once and cached


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    return train.TensorImages((torch.rand(256, 1, 32, 32, generator=g) < 0.15).float())


# --- learning --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(n for n, c in losses.OBJECTIVES.items() if c.decomposable))   # VAEs
def test_every_methods_loss_goes_down_on_a_small_dsprites_subset(method, dsprites32):
    subset = np.arange(0, len(dsprites32), 9)                        # 5,120 images
    hparams = {"c_max": 5.0, "c_steps": 100} if method == "capacity" else {}
    result = train.run(method, dsprites32, steps=120, hparams=hparams, indices=subset, seed=0, **FAST)
    h = result.history
    assert len(h["loss"]) == 120 and not result.interrupted
    assert h["loss"][-10:].mean() < 0.5 * h["loss"][:10].mean(), (h["loss"][:10].mean(), h["loss"][-10:].mean())
    assert h["recon"][-10:].mean() < 0.5 * h["recon"][:10].mean()
    for term in ("recon", "kl", "mi", "tc", "dw_kl"):               # every method logs the decomposition
        assert np.isfinite(h[term]).all()
    assert h["kl_per_dim"].shape == (120, 10)
    assert np.allclose(h["kl_per_dim"].sum(1), h["kl"], atol=1e-4)


def test_capacity_objective_kl_tracks_c(dsprites32):
    result = train.run("capacity", dsprites32, steps=300, seed=0, architecture="small", batch_size=64, progress=False,
                       hparams={"gamma": 1000.0, "c_max": 8.0, "c_steps": 200})
    h = result.history
    assert np.allclose(h["capacity"][[0, 100, 200, 299]], [0.0, 4.0, 8.0, 8.0])
    gap = np.abs(h["kl"] - h["capacity"])[50:]
    assert gap.mean() < 1.0, gap.mean()
    assert abs(h["kl"][-50:].mean() - 8.0) < 1.0


# --- FactorVAE ---------------------------------------------------------------------------------------------
def correlated_codes(n, rho, g):
    return rho ** 0.5 * torch.randn(n, 1, generator=g) + (1 - rho) ** 0.5 * torch.randn(n, 4, generator=g)


@pytest.mark.parametrize("rho", [0.9, 0.0])
def test_factorvae_discriminator_beats_chance_only_on_correlated_codes(rho):
    objective = losses.make_objective("factorvae")                  # Kim & Mnih's D, lr 1e-4, betas (0.5, 0.9)
    objective.prepare(models.VAE(latent_dim=4, image_size=32, architecture="small"), 1000, "cpu", seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        objective.train_discriminator(correlated_codes(64, rho, g), correlated_codes(64, rho, g), g)
    with torch.no_grad():
        _, accuracy = objective.discriminator_loss(correlated_codes(2000, rho, g),
                                                   models.permute_dims(correlated_codes(2000, rho, g), g))
    if rho > 0:
        assert accuracy > 0.75, float(accuracy)      # chance is 0.5
    else:
        assert accuracy < 0.6, float(accuracy)       # independent codes: permuting changes nothing


def test_discriminator_update_leaves_the_encoders_gradients_unchanged(tiny):
    torch.manual_seed(0)
    model = models.VAE(image_size=32, architecture="small")
    objective = losses.make_objective("factorvae", gamma=10.0)
    objective.prepare(model, len(tiny), "cpu", seed=0)
    x = tiny.images(np.arange(32))
    out = model(x, generator=torch.Generator().manual_seed(0))
    objective(out, x, 0)["loss"].backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())   # the VAE step does not train D
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    params = {k: p.detach().clone() for k, p in model.named_parameters()}
    d_before = [p.detach().clone() for p in objective.discriminator.parameters()]
    assert grads["encoder.conv.0.weight"].abs().sum() > 0                       # gamma * TC reached the encoder

    info = objective.auxiliary_update(model, out, step=0, next_batch=lambda: tiny.images(np.arange(32, 64)),
                                      generator=torch.Generator().manual_seed(1))
    assert {"disc_loss", "disc_accuracy"} <= set(info)
    for k, p in model.named_parameters():
        assert torch.equal(p.grad, grads[k]), k
        assert torch.equal(p.detach(), params[k]), k
    assert any(not torch.equal(a, b.detach()) for a, b in zip(d_before, objective.discriminator.parameters()))


# --- reproducibility, checkpoints, interrupts ---------------------------------------------------------------
@pytest.mark.parametrize("method", ["btcvae", "factorvae"])
def test_same_seed_same_numbers(method, tiny):
    a = train.run(method, tiny, steps=8, seed=3, **FAST)
    b = train.run(method, tiny, steps=8, seed=3, **FAST)
    c = train.run(method, tiny, steps=8, seed=4, **FAST)
    for k in a.history:
        assert np.array_equal(a.history[k], b.history[k]), k
    assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert not np.array_equal(a.history["loss"], c.history["loss"])


def test_resumed_run_equals_an_uninterrupted_one(tiny, tmp_path):
    straight = train.run("factorvae", tiny, steps=10, seed=1, **FAST)
    first = train.run("factorvae", tiny, steps=5, seed=1, checkpoint_dir=tmp_path, **FAST)
    assert first.steps_done == 5 and (tmp_path / "checkpoint.pt").exists()
    assert json.loads((tmp_path / "config.json").read_text())["method"] == "factorvae"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]            # atomic writes leave nothing behind
    resumed = train.run("factorvae", tiny, steps=10, seed=1, checkpoint_dir=tmp_path, resume=True, **FAST)
    assert resumed.steps_done == 10
    for k in straight.history:
        assert np.array_equal(straight.history[k], resumed.history[k]), k
    for (k, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), k
    model, objective = train.build_from_checkpoint(train.load_checkpoint(tmp_path))
    assert torch.equal(model.state_dict()["encoder.fc.1.weight"], resumed.model.state_dict()["encoder.fc.1.weight"])
    assert objective.discriminator is not None


def test_resume_refuses_a_checkpoint_made_with_other_settings(tiny, tmp_path):
    train.run("btcvae", tiny, steps=2, seed=0, checkpoint_dir=tmp_path, **FAST)
    with pytest.raises(ValueError, match="cannot resume.*beta"):
        train.run("btcvae", tiny, steps=4, seed=0, hparams={"beta": 2.0}, checkpoint_dir=tmp_path, resume=True, **FAST)


def test_keyboard_interrupt_keeps_the_model_and_the_history(tiny, tmp_path):
    def stop_at_six(state):
        if state.step == 6:
            raise KeyboardInterrupt
        return {"kl_now": state.history["kl"][-1]}

    result = train.run("betavae", tiny, steps=50, seed=0, eval_every=3, hooks=[stop_at_six],
                       checkpoint_dir=tmp_path, **FAST)
    assert result.interrupted and result.steps_done == 6 and len(result.history["loss"]) == 6
    assert [e["step"] for e in result.evaluations] == [3]
    assert isinstance(result.model, models.VAE)
    assert train.load_checkpoint(tmp_path)["step"] == 6


def test_evaluation_hooks_run_every_n_steps_and_at_the_end(tiny):
    seen = []
    result = train.run("vae", tiny, steps=12, eval_every=5, hooks=[lambda s: seen.append(s.model.training) or
                                                                   {"n": len(s.history["loss"])}], **FAST)
    assert [e["step"] for e in result.evaluations] == [5, 10, 12]
    assert [e["n"] for e in result.evaluations] == [5, 10, 12]
    assert seen == [False, False, False]                   # hooks see the model in eval mode


class NaNAtStep(losses.VAELoss):
    def __call__(self, output, x, step):
        terms = super().__call__(output, x, step)
        if step == 4:
            terms["kl"] = terms["kl"] * float("nan")
            terms["loss"] = terms["recon"] + terms["kl"]
        return terms


def test_non_finite_loss_stops_naming_the_term_and_the_step(tiny):
    torch.manual_seed(0)
    model = models.VAE(image_size=32, architecture="small")
    with pytest.raises(train.NonFiniteLossError, match=r"'kl' became nan at step 4") as info:
        train.fit(model, NaNAtStep(), tiny, steps=10, batch_size=32, progress=False)
    assert info.value.step == 4 and len(info.value.history["loss"]) == 4
    assert all(torch.isfinite(p).all() for p in model.parameters())     # the bad step changed nothing


def test_fit_refuses_bad_arguments(tiny):
    model = models.VAE(image_size=32, architecture="small")
    vae = losses.make_objective("vae")
    with pytest.raises(ValueError, match="fewer than the batch size"):
        train.fit(model, vae, tiny, steps=1, batch_size=64, indices=np.arange(10), progress=False)
    with pytest.raises(ValueError, match=r"model expects \(1, 64, 64\)"):
        train.fit(models.VAE(), vae, tiny, steps=1, progress=False)
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint_dir"):
        train.fit(model, vae, tiny, steps=1, checkpoint_every=1, progress=False)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        train.fit(model, vae, tiny, steps=1, resume=True, progress=False)
    with pytest.raises(ValueError, match="indices must lie"):
        train.fit(model, vae, tiny, steps=1, indices=[0, 1000], batch_size=2, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            train.fit(model, vae, tiny, steps=1, device="cuda", progress=False)


def test_epoch_sampler_visits_every_image_once_per_epoch_and_resumes_exactly():
    pool = torch.arange(100, 110)
    sampler = train.EpochSampler(pool, 3, torch.Generator().manual_seed(0))
    first_epoch = torch.cat([sampler.next() for _ in range(3)])
    assert len(set(first_epoch.tolist())) == 9                     # no image twice within an epoch
    state = sampler.state()
    ahead = [sampler.next().tolist() for _ in range(4)]
    again = train.EpochSampler(pool, 3, torch.Generator())
    again.load_state(state)
    assert [again.next().tolist() for _ in range(4)] == ahead


# --- command line ----------------------------------------------------------------------------------------------
def test_command_line_train_then_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    code = cli.main(["train", "--method", "btcvae", "--beta", "6", "--steps", "6", "--out", str(run),
                     "--dataset", "dsprites-small", "--image-size", "32", "--architecture", "small",
                     "--batch-size", "32", "--no-progress"])
    assert code == 0 and (run / "checkpoint.pt").exists()
    assert "beta = 6" in capsys.readouterr().out
    assert cli.main(["evaluate", str(run), "--images", "128", "--batch-size", "64", "--metrics", "none"]) == 0
    report = json.loads((run / "evaluation.json").read_text())
    assert report["which"] == "held-out" and report["images"] == 128
    t = report["terms"]
    assert abs(t["mi"] + t["tc"] + t["dw_kl"] - t["kl"]) < 0.5 * max(1.0, t["kl"]) and len(report["kl_per_dim"]) == 10


def test_command_line_help_and_errors(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    assert "btcvae" in text and "--c-steps" in text and "examples:" in text
    with pytest.raises(SystemExit, match="--alpha does not apply to --method betavae"):
        cli.main(["train", "--method", "betavae", "--alpha", "1", "--out", "unused"])
