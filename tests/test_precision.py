"""bfloat16 convolutions in training: what "auto" picks, what stays float32, that training still learns and
reproduces, and the errors for models that cannot run so."""
import numpy as np
import pytest
import torch

from dvae_tutorial import __main__ as cli
from dvae_tutorial import models, precision, train
from dvae_tutorial.vqvae import VQVAE

FAST = dict(architecture="small", batch_size=32, progress=False)


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    return train.TensorImages((torch.rand(256, 1, 32, 32, generator=g) < 0.15).float())


def _vae(seed=0, size=32):
    torch.manual_seed(seed)
    return models.VAE(image_size=size, architecture="small")


# --- what each setting means -----------------------------------------------------------------------------
@pytest.mark.parametrize("has_amx, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_picks_bf16_only_on_a_cpu_with_amx(monkeypatch, has_amx, expected):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: has_amx)
    assert precision.resolve("auto", "cpu", _vae()) == expected
    assert precision.resolve("auto", torch.device("cuda"), _vae()) == "fp32"     # not measured on a GPU
    assert precision.resolve("fp32", "cpu", _vae()) == "fp32"
    assert precision.resolve("bf16", "cpu", _vae()) == "bf16"                     # asked for: any CPU


def test_auto_keeps_models_without_a_float32_head_in_fp32_and_bf16_refuses_them(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)
    vq = VQVAE(image_size=32)
    assert precision.resolve("auto", "cpu", vq) == "fp32"
    with pytest.raises(ValueError, match="VQVAE would run whole in bfloat16.*precision='fp32'"):
        precision.resolve("bf16", "cpu", vq)
    with pytest.raises(ValueError, match=r"precision must be one of \('auto', 'fp32', 'bf16'\), got 'fp16'"):
        precision.resolve("fp16", "cpu", _vae())


def test_cpu_feature_probe_agrees_with_proc_cpuinfo():
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo")
    assert precision.cpu_has_amx() == ("amx_bf16" in flags)


# --- what runs in bfloat16 and what stays float32 ----------------------------------------------------------
def test_only_the_convolutions_run_in_bf16_and_everything_the_loss_sees_is_float32():
    model, seen = _vae(), {}
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.dtype))
    x = (torch.rand(8, 1, 32, 32) < 0.2).float()
    with precision.autocast("bf16", "cpu"):
        out = model(x, sample=True)
    convs = {n: d for n, d in seen.items() if "conv" in n}
    linears = {n: d for n, d in seen.items() if ".fc." in n}
    assert convs and set(convs.values()) == {torch.bfloat16}, convs
    assert linears and set(linears.values()) == {torch.float32}, linears
    for name in ("logits", "mu", "logvar", "z"):
        assert getattr(out, name).dtype == torch.float32, name
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_fp32_is_exactly_the_plain_forward_pass_and_bf16_is_close_to_it():
    model = _vae()
    x = (torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    plain = model(x, sample=False)
    with precision.autocast("fp32", "cpu"):
        same = model(x, sample=False)
    with precision.autocast("bf16", "cpu"):
        low = model(x, sample=False)
    for a, b in zip(plain, same):
        assert torch.equal(a, b)
    # bfloat16 keeps 8 bits of mantissa: each conv output is rounded by at most 2**-9 relative
    for name in ("logits", "mu", "logvar"):
        a, b = getattr(plain, name), getattr(low, name)
        assert (a - b).abs().max() <= 0.02 * a.abs().max() + 1e-3, name
        assert not torch.equal(a, b), name                               # it did run in another precision


# --- training ----------------------------------------------------------------------------------------------
def test_bf16_training_learns_reproduces_and_is_recorded(tiny):
    a = train.run("btcvae", tiny, steps=60, seed=2, precision="bf16", **FAST)
    b = train.run("btcvae", tiny, steps=60, seed=2, precision="bf16", **FAST)
    full = train.run("btcvae", tiny, steps=60, seed=2, precision="fp32", **FAST)
    assert a.config["precision"] == "bf16" and full.config["precision"] == "fp32"
    for k in a.history:
        assert np.array_equal(a.history[k], b.history[k]), k
    assert all(p.dtype == torch.float32 for p in a.model.parameters())
    h, f = a.history, full.history
    assert h["recon"][-10:].mean() < 0.7 * h["recon"][:10].mean()
    # the two precisions start from the same weights and batches: the first step's terms agree closely,
    # and after 60 steps the reconstruction is as good (within 5 %)
    assert abs(h["recon"][0] - f["recon"][0]) < 0.01 * f["recon"][0]
    assert abs(h["recon"][-10:].mean() - f["recon"][-10:].mean()) < 0.05 * f["recon"][-10:].mean()


def test_a_run_may_resume_in_another_precision(tiny, tmp_path):
    train.run("btcvae", tiny, steps=4, seed=0, checkpoint_dir=tmp_path, precision="fp32", **FAST)
    resumed = train.run("btcvae", tiny, steps=8, seed=0, checkpoint_dir=tmp_path, resume=True, precision="bf16",
                        **FAST)
    assert resumed.steps_done == 8 and resumed.config["precision"] == "bf16"


def test_fit_refuses_bf16_for_a_vqvae_before_training(tiny):
    with pytest.raises(ValueError, match="VQVAE would run whole in bfloat16"):
        train.run("vqvae", tiny, steps=2, seed=0, precision="bf16", **FAST)


def test_command_line_precision(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--method", "vae", "--fast", "--steps", "3", "--image-size", "32",
                     "--architecture", "small", "--precision", "bf16", "--no-progress", "--out", str(out)]) == 0
    assert "convolutions in bf16" in capsys.readouterr().out
    assert cli.main(["train", "--method", "vqvae", "--fast", "--steps", "3", "--image-size", "32",
                     "--precision", "bf16", "--no-progress", "--out", str(tmp_path / "vq")]) != 0
    assert "VQVAE of --method vqvae would run whole in bfloat16. Use --precision fp32" in capsys.readouterr().err


# --- the lessons' live runs ----------------------------------------------------------------------------------
def test_live_runs_train_in_fp32_unless_asked_and_bf16_runs_are_cached_apart(tmp_path, monkeypatch):
    from dvae_tutorial import data, runs

    monkeypatch.setenv("DVAE_TUTORIAL_CACHE", str(tmp_path))
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)          # as on an AMX CPU, where auto means bf16
    ds = data.DSprites.small(image_size=32, progress=False)
    kwargs = dict(steps=4, dataset=ds, progress=False, architecture="small")
    default = runs.live_run("btcvae", **kwargs)
    fp32 = runs.live_run("btcvae", precision="fp32", **kwargs)
    auto = runs.live_run("btcvae", precision="auto", **kwargs)
    again = runs.live_run("btcvae", precision="bf16", **kwargs)
    assert not default.from_cache and fp32.from_cache                     # the default is float32, the same run
    assert "precision" not in default.settings                            # float32 runs keep their old cache keys
    assert not auto.from_cache and auto.settings["precision"] == "bf16" and again.from_cache
    assert not np.array_equal(default.history["loss"], auto.history["loss"])
    vq = runs.live_run("vqvae", precision="auto", **kwargs)               # auto: a VQ-VAE stays float32
    assert "precision" not in vq.settings
    with pytest.raises(ValueError, match="VQVAE would run whole in bfloat16"):
        runs.live_run("vqvae", precision="bf16", **kwargs)
