"""InfoGAN: the MI lower bounds, the non-saturating generator loss, the two optimisers inside train.fit,
shapes, seeds, checkpoints and the command line."""
import math

import numpy as np
import pytest
import torch

from dvae_tutorial import __main__ as cli
from dvae_tutorial import infogan, losses, train

FAST = dict(architecture="small", batch_size=32, progress=False, latent_dim=3)


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    return train.TensorImages((torch.rand(256, 1, 32, 32, generator=g) < 0.15).float())


def make(seed=0, **kwargs):
    objective = losses.make_objective("infogan", **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = objective.build_model(latent_dim=3, image_size=32)
    objective.prepare(model, 1000, "cpu")
    return model, objective


def discriminator_step(model, objective, optimizer, out, batch):
    """What train.Trainer.auxiliary_step does: one Adam step of D and Q on the objective's auxiliary loss."""
    terms = objective.auxiliary_terms(model, out, step=0, next_batch=lambda: batch)
    optimizer.zero_grad(set_to_none=True)
    terms[objective.auxiliary_loss].backward()
    optimizer.step()
    return {k: v.detach() for k, v in terms.items()}


# --- the mutual-information lower bound ------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 10])
def test_categorical_bound_is_at_most_the_entropy_and_reaches_it_when_q_sees_the_code(k):
    g = torch.Generator().manual_seed(k)
    category = torch.randint(k, (500,), generator=g)
    for scale in (0.1, 1.0, 10.0):
        random_q = scale * torch.randn(500, k, generator=g)
        assert float(infogan.mi_lower_bound_categorical(random_q, category)) <= math.log(k) + 1e-6
    uniform_q = torch.zeros(500, k)                                   # Q that ignores the image: bound 0
    assert float(infogan.mi_lower_bound_categorical(uniform_q, category)) == pytest.approx(0.0, abs=1e-6)
    seeing_q = 50.0 * torch.nn.functional.one_hot(category, k).float()
    assert float(infogan.mi_lower_bound_categorical(seeing_q, category)) == pytest.approx(math.log(k), abs=1e-6)


def test_continuous_bound_is_at_most_zero_for_a_blind_q_and_grows_when_q_sees_the_code():
    g = torch.Generator().manual_seed(0)
    c = torch.rand(200_000, 2, generator=g, dtype=torch.float64) * 2 - 1
    # a Q that ignores the image can do no better than I(c; x) = 0 (Gibbs: E log q(c) <= -H(c))
    for mean, var in ((0.0, 1 / 3), (0.0, 1.0), (0.3, 0.2)):
        blind = infogan.mi_lower_bound_continuous(torch.full_like(c, mean), torch.full_like(c, math.log(var)), c)
        assert (blind <= 1e-3).all(), blind
    # a Q whose mean is the code: log 2 - log(2 pi sigma^2) / 2, growing without bound as sigma shrinks
    for sigma in (0.5, 0.1, 0.01):
        seeing = infogan.mi_lower_bound_continuous(c, torch.full_like(c, 2 * math.log(sigma)), c)
        expected = math.log(2) - 0.5 * math.log(2 * math.pi * sigma ** 2)
        assert torch.allclose(seeing, torch.full((2,), expected, dtype=torch.float64))


# --- the GAN game ----------------------------------------------------------------------------------------------
def test_generator_loss_goes_down_against_a_fixed_discriminator():
    model, objective = make(disc_lr=1e-2)
    x = torch.zeros(16, 1, 32, 32)                                   # "real" = blank images
    d_optimizer = train.auxiliary_optimizer(objective)
    assert d_optimizer.param_groups[0]["betas"] == (0.5, 0.999)      # Chen et al. 2016 / Radford et al. 2015
    for step in range(6):                                            # D learns to reject G's images
        out = model(x, generator=torch.Generator().manual_seed(100 + step))
        discriminator_step(model, objective, d_optimizer, out, x)
    optimizer = torch.optim.Adam(model.generator_parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.discriminator_parameters()]
    losses_g = []
    for step in range(12):
        terms = objective(model(x, generator=torch.Generator().manual_seed(step)), x, step)
        optimizer.zero_grad()
        terms["g_loss"].backward()
        optimizer.step()
        losses_g.append(float(terms["g_loss"].detach()))
    assert losses_g[0] > math.log(2), losses_g                       # D was winning: -log D(G(z)) > log 2
    assert np.mean(losses_g[-3:]) < 0.7 * np.mean(losses_g[:3]), losses_g
    assert all(torch.equal(a, b) for a, b in zip(before, model.discriminator_parameters()))   # D stayed fixed


def test_generator_step_leaves_d_alone_and_discriminator_step_leaves_g_alone(tiny):
    model, objective = make()
    x = tiny.images(range(32))
    out = model(x, generator=torch.Generator().manual_seed(0))
    objective(out, x, 0)["loss"].backward()
    assert all(p.grad is None for p in model.discriminator_parameters())
    assert all(p.grad is not None for p in model.generator_parameters())
    g_before = [p.detach().clone() for p in model.generator_parameters()]
    d_before = [p.detach().clone() for p in model.discriminator_parameters()]
    for p in model.parameters():
        p.grad = None                                                 # train.Trainer's optimisers set them to None
    extra = discriminator_step(model, objective, train.auxiliary_optimizer(objective), out,
                               tiny.images(range(32, 64)))
    assert {"d_loss", "d_real", "d_fake"} <= set(extra) and 0 < float(extra["d_real"]) < 1
    assert all(p.grad is None for p in model.generator_parameters())     # the generated batch was detached
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.generator_parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator_parameters()))
    model(x, generator=torch.Generator().manual_seed(1))
    assert not any(p.requires_grad for p in model.discriminator_parameters())   # frozen again for G's step


def test_shapes_at_32_and_64():
    for size in (32, 64):
        model = losses.make_objective("infogan", n_categories=4, noise_dim=5).build_model(latent_dim=2,
                                                                                          image_size=size)
        model.eval()
        latent = model.sample_latent(6, torch.Generator().manual_seed(0))
        assert latent.noise.shape == (6, 5) and latent.category.shape == (6,) and latent.continuous.shape == (6, 2)
        assert latent.category.max() < 4 and latent.continuous.abs().max() <= 1
        images = model.generate(latent)
        assert images.shape == (6, 1, size, size) and images.min() >= 0 and images.max() <= 1
        logit, q = model.discriminate(images)
        assert logit.shape == (6,) and q.category_logits.shape == (6, 4) and q.mean.shape == q.logvar.shape == (6, 2)
        mean, logvar = model.encode(images)
        assert torch.equal(mean, q.mean)
        view = model.code_view(latent.noise[0], category=1)
        assert view.decode(torch.zeros(3, 2)).shape == (3, 1, size, size)
    with pytest.raises(ValueError, match="expects images"):
        model.discriminate(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="n_categories"):
        infogan.InfoGAN(n_categories=1)


# --- training through train.fit: seeds, history, checkpoints, command line -------------------------------------
def test_same_seed_same_numbers_and_every_term_in_the_history(tiny):
    a = train.run("infogan", tiny, steps=4, seed=1, **FAST)
    b = train.run("infogan", tiny, steps=4, seed=1, **FAST)
    c = train.run("infogan", tiny, steps=4, seed=2, **FAST)
    for term in ("loss", "g_loss", "d_loss", "mi_cat", "mi_cont", "mi_c0", "mi_c2", "d_real", "d_fake"):
        assert a.history[term].shape == (4,), term
    assert all(np.array_equal(a.history[k], b.history[k]) for k in a.history)
    assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert not np.array_equal(a.history["loss"], c.history["loss"])
    assert (a.history["mi_cat"] <= math.log(3) + 1e-6).all()
    assert np.allclose(a.history["mi_c0"] + a.history["mi_c1"] + a.history["mi_c2"], a.history["mi_cont"], atol=1e-5)


def test_resumed_run_equals_an_uninterrupted_one(tiny, tmp_path):
    whole = train.run("infogan", tiny, steps=4, seed=0, **FAST)
    train.run("infogan", tiny, steps=2, seed=0, checkpoint_dir=tmp_path, **FAST)
    resumed = train.run("infogan", tiny, steps=4, seed=0, checkpoint_dir=tmp_path, resume=True, **FAST)
    assert np.array_equal(whole.history["loss"], resumed.history["loss"])
    assert np.array_equal(whole.history["d_loss"], resumed.history["d_loss"])
    checkpoint = train.load_checkpoint(tmp_path)
    model, objective = train.build_from_checkpoint(checkpoint)
    assert isinstance(model, infogan.InfoGAN) and checkpoint["auxiliary_optimizer"] is not None
    assert {id(p) for p in objective.auxiliary_parameters()} == {id(p) for p in model.discriminator_parameters()}
    # two optimisers over disjoint weights: the model's Adam holds G only, the auxiliary Adam D and Q
    n_generator, n_discriminator = len(list(model.generator_parameters())), len(list(model.discriminator_parameters()))
    assert len(checkpoint["optimizer"]["param_groups"][0]["params"]) == n_generator
    assert len(checkpoint["auxiliary_optimizer"]["param_groups"][0]["params"]) == n_discriminator
    assert checkpoint["auxiliary_optimizer"]["param_groups"][0]["betas"] == (0.5, 0.999)


def test_objective_errors_are_clear(tiny):
    objective = losses.make_objective("infogan")
    with pytest.raises(TypeError, match="trains an infogan.InfoGAN"):
        objective.prepare(losses.make_objective("vae").build_model(image_size=32), 100, "cpu")
    with pytest.raises(RuntimeError, match="prepare"):
        objective.auxiliary_parameters()
    with pytest.raises(ValueError, match="lambda_cat"):
        losses.make_objective("infogan", lambda_cat=-1)


def test_command_line_trains_infogan(tmp_path, capsys):
    run = tmp_path / "gan"
    code = cli.main(["train", "--method", "infogan", "--steps", "3", "--out", str(run), "--dataset", "dsprites-small",
                     "--image-size", "32", "--latent-dim", "4", "--batch-size", "16", "--no-progress"])
    assert code == 0 and (run / "checkpoint.pt").exists()
    assert "codes: 1 categorical (3 classes" in capsys.readouterr().out


def test_code_view_drives_the_course_traversal_slider():
    from dvae_tutorial import widgets

    model, _ = make()
    model.eval()
    latent = model.sample_latent(1, torch.Generator().manual_seed(0))
    view = model.code_view(latent.noise[0], category=int(latent.category[0]))
    image = model.generate(latent)
    explorer = widgets.TraversalExplorer(view, image)
    assert np.allclose(explorer.values(), np.clip(model.encode(image)[0][0].detach().numpy(), -3, 3), atol=1e-2)
    explorer.set(z0=-1.0, z1=1.0, z2=0.5)
    expected = model.generate(latent._replace(continuous=torch.tensor([[-1.0, 1.0, 0.5]])))
    assert np.allclose(explorer.image(), expected[0, 0].detach().numpy(), atol=1e-5)


def test_lesson_recipes_reach_the_objectives_through_the_command_line():
    from dvae_tutorial import recipes

    for name, expected in (("infogan-small32", {"lambda_cat": 1.0, "lambda_cont": 1.0}),
                           ("vqvae-small32-3000steps", {"beta": 0.25, "codebook_size": 32})):
        args, hparams = cli.resolve_train_args(cli.build_parser().parse_args(["train", "--recipe", name, "--out", "x"]))
        assert hparams == expected and args.method == recipes.get(name).method
        losses.make_objective(args.method, **hparams)                       # every recipe hparam is accepted
