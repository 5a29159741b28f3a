"""VQ-VAE: nearest-neighbour quantisation, the straight-through gradient, eq. (3), EMA codebook, usage and
the dead-codebook warning, training through train.run and the command line."""
import math
import warnings

import numpy as np
import pytest
import torch

from dvae_tutorial import __main__ as cli
from dvae_tutorial import losses, train, vqvae

FAST = dict(architecture="small", batch_size=32, progress=False)


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    return train.TensorImages((torch.rand(256, 1, 32, 32, generator=g) < 0.15).float())


def small_model(**kwargs):
    torch.manual_seed(0)
    return vqvae.VQVAE(latent_dim=5, image_size=32, architecture="small", **kwargs)


def test_quantisation_returns_the_nearest_codebook_entries():
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(16, 3, generator=g)
    z_e = torch.randn(4, 7, 3, generator=g)
    indices, z_q = vqvae.quantize(z_e, codebook)
    assert indices.shape == (4, 7) and z_q.shape == (4, 7, 3) and indices.dtype == torch.long
    assert torch.equal(z_q, codebook[indices])                          # every output is a codebook row
    brute = torch.cdist(z_e.reshape(-1, 3), codebook).argmin(1).reshape(4, 7)
    assert torch.equal(indices, brute)
    # an input that already is an entry maps to itself
    idx, same = vqvae.quantize(codebook[[3, 9]], codebook)
    assert idx.tolist() == [3, 9] and torch.equal(same, codebook[[3, 9]])
    with pytest.raises(ValueError, match="embedding size"):
        vqvae.quantize(torch.zeros(2, 4), codebook)


def test_straight_through_gradient_reaches_the_encoder():
    model = small_model()
    x = (torch.rand(8, 1, 32, 32) < 0.2).float()
    out = model(x)
    assert torch.allclose(out.z, out.z_q.flatten(1), atol=1e-6)         # forward: the quantised value
    losses.reconstruction_loss(x, out.logits).backward()                # the reconstruction term only
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    # without the straight-through copy the argmin would cut the encoder off
    model.zero_grad()
    losses.reconstruction_loss(x, model.decode(out.z_q.detach().flatten(1))).backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.encoder.parameters())


def test_loss_is_equation_3_with_its_stop_gradients():
    model = small_model()
    x = (torch.rand(8, 1, 32, 32) < 0.2).float()
    out = model(x)
    objective = losses.make_objective("vqvae", beta=0.4, codebook_size=32, embedding_dim=4)
    t = objective(out, x, 0)
    squared = (out.z_e - out.z_q).pow(2).sum() / 8
    assert torch.allclose(t["codebook"], squared) and torch.allclose(t["commitment"], squared)
    assert torch.allclose(t["loss"], t["recon"] + t["codebook"] + 0.4 * t["commitment"])
    assert torch.allclose(t["kl"], torch.tensor(5 * math.log(32))) and t["kl_per_dim"].shape == (5,)
    # the codebook term moves only the codebook, the commitment term only the encoder
    t["codebook"].backward(retain_graph=True)
    assert model.quantizer.codebook.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.encoder.parameters())
    model.zero_grad()
    t["commitment"].backward()
    assert model.quantizer.codebook.grad is None or float(model.quantizer.codebook.grad.abs().sum()) == 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_codebook_usage_and_perplexity():
    k = 8
    all_used = vqvae.codebook_usage(torch.arange(k).repeat(5), k)
    assert float(all_used["perplexity"]) == pytest.approx(k) and float(all_used["used"]) == 1.0
    one = vqvae.codebook_usage(torch.full((40,), 3), k)
    assert float(one["perplexity"]) == pytest.approx(1.0) and float(one["used"]) == pytest.approx(1 / k)
    assert one["counts"].tolist() == [0, 0, 0, 40, 0, 0, 0, 0]
    assert vqvae.usage_collapse_message(all_used["counts"], 0.5) is None
    assert "only 1 of its 8 entries" in vqvae.usage_collapse_message(one["counts"], 0.5)


def test_ema_update_moves_an_entry_to_the_mean_of_its_codes():
    quantizer = vqvae.VectorQuantizer(4, 2, ema=True)
    assert not quantizer.codebook.requires_grad
    z_e = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    indices = torch.tensor([1, 1])
    for _ in range(600):
        quantizer.ema_update(z_e, indices, decay=0.99)
    assert torch.allclose(quantizer.codebook[1], torch.tensor([2.0, 3.0]), atol=1e-2)


def test_training_reports_usage_learns_and_warns_on_a_dead_codebook(tiny):
    result = train.run("vqvae", tiny, steps=60, latent_dim=5, hparams={"codebook_size": 16}, **FAST)
    h = result.history
    assert {"perplexity", "codes_used", "codebook", "commitment"} <= set(h) and "tc" not in h
    assert np.all((h["perplexity"] >= 1) & (h["perplexity"] <= 16 + 1e-4))
    assert h["recon"][-10:].mean() < 0.7 * h["recon"][:5].mean()
    assert isinstance(result.model, vqvae.VQVAE)
    # a codebook whose entries all sit far from the encoder's outputs but one: every code picks that one
    objective = losses.make_objective("vqvae", codebook_size=16, usage_window=5, restart_dead=False)
    model = objective.build_model(latent_dim=5, image_size=32, architecture="small")
    with torch.no_grad():
        model.quantizer.codebook.fill_(1e3)
        model.quantizer.codebook[0].zero_()
    x = tiny.images(range(32))
    with pytest.warns(vqvae.DeadCodebookWarning, match="only 1 of its 16 entries"):
        for step in range(5):
            out = model(x)
            objective.after_step(model, out, step=step)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                         # warned once, not every window
        for step in range(5):
            objective.after_step(model, model(x), step=step)


def test_restarts_start_from_the_data_and_revive_dead_entries(tiny):
    objective = losses.make_objective("vqvae", codebook_size=16, usage_window=3)
    model = objective.build_model(latent_dim=5, image_size=32, architecture="small")
    x = tiny.images(range(32))
    out = model(x)
    objective.after_step(model, out, step=0)          # codebook := random encoder outputs
    flat = out.z_e.detach().reshape(-1, 4)
    assert all((flat == row).all(1).any() for row in model.quantizer.codebook)
    with torch.no_grad():                                                  # now kill all entries but one
        model.quantizer.codebook.fill_(1e3)
        model.quantizer.codebook[0].zero_()
    restarted = [float(objective.after_step(model, model(x), step=s)["restarted"])
                 for s in (1, 2)]
    assert restarted[0] == 0 and restarted[1] >= 8                           # the window ended at the third call
    assert float(vqvae.codebook_usage(model(x).indices, 16)["used"]) > 1 / 16


def test_ema_training_keeps_the_codebook_out_of_the_optimiser_and_checkpoints_round_trip(tiny, tmp_path):
    result = train.run("vqvae", tiny, steps=6, latent_dim=5, hparams={"codebook_size": 16, "ema_decay": 0.99},
                       checkpoint_dir=tmp_path, **FAST)
    assert result.history["loss"].shape == (6,)
    model, objective = train.build_from_checkpoint(train.load_checkpoint(tmp_path))
    assert isinstance(model, vqvae.VQVAE) and model.ema and objective.ema_decay == 0.99
    assert torch.equal(model.quantizer.codebook, result.model.quantizer.codebook)
    with pytest.raises(ValueError, match="differs from the objective"):
        losses.make_objective("vqvae", codebook_size=8).prepare(model, 100, "cpu")


def test_same_seed_same_numbers_and_discrete_decoding(tiny):
    a = train.run("vqvae", tiny, steps=5, seed=2, latent_dim=5, **FAST)
    b = train.run("vqvae", tiny, steps=5, seed=2, latent_dim=5, **FAST)
    assert all(np.array_equal(a.history[k], b.history[k]) for k in a.history)
    x = tiny.images(range(4))
    z_q, indices = a.model.encode(x)
    assert indices.shape == (4, 5) and z_q.shape == (4, 5 * 4)
    assert torch.allclose(a.model.decode_indices(indices), a.model.decode(z_q))
    with pytest.raises(ValueError, match="must lie in"):
        a.model.decode_indices(torch.full((1, 5), 99))


def test_command_line_trains_vqvae(tmp_path, capsys):
    run = tmp_path / "vq"
    code = cli.main(["train", "--method", "vqvae", "--beta", "0.25", "--steps", "4", "--out", str(run),
                     "--dataset", "dsprites-small", "--image-size", "32", "--architecture", "small",
                     "--batch-size", "16", "--no-progress"])
    assert code == 0 and (run / "checkpoint.pt").exists()
    assert "recon + codebook + beta * commitment" in capsys.readouterr().out
    assert cli.main(["evaluate", str(run), "--metrics", "none"]) == 2           # a usage error: one line, status 2
    err = capsys.readouterr().err.strip()
    assert "no Gaussian posterior" in err and "evaluation.score" in err and len(err.splitlines()) == 1


def test_codebook_explorer_decodes_the_chosen_entries():
    from dvae_tutorial import widgets

    model = small_model(codebook_size=8)
    x = (torch.rand(1, 1, 32, 32) < 0.2).float()
    explorer = widgets.CodebookExplorer(model, x)
    _, indices = model.encode(x)
    assert explorer.values().tolist() == indices[0].tolist()
    explorer.set(c2=7)
    expected = indices.clone()
    expected[0, 2] = 7
    assert np.allclose(explorer.image(), torch.sigmoid(model.decode_indices(expected))[0, 0].detach().numpy(), atol=1e-6)
    explorer.reset()
    assert explorer.values().tolist() == indices[0].tolist()
    with pytest.raises(ValueError, match=r"entry index in \[0, 7\]"):
        explorer.set(c0=8)
    with pytest.raises(TypeError, match="TraversalExplorer"):
        widgets.CodebookExplorer(torch.nn.Linear(2, 2), x)
