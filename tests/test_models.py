"""Encoder / decoder shapes, the Burgess et al. 2018 net, the VAE's explicit sampling, the discriminator."""
import pytest
import torch
from torch import nn

from dvae_tutorial import models


@pytest.mark.parametrize("architecture", ["burgess", "small"])
@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(architecture, image_size, channels):
    model = models.VAE(latent_dim=7, in_channels=channels, image_size=image_size, architecture=architecture)
    x = torch.rand(5, channels, image_size, image_size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 7)
    out = model(x, sample=True, generator=torch.Generator().manual_seed(0))
    assert isinstance(out, models.VAEOutput)
    assert out.logits.shape == x.shape and out.z.shape == (5, 7)
    assert model.decode(out.z).shape == x.shape
    assert models.VAE(**model.config).config == model.config


def test_burgess_net_is_the_published_one():
    model = models.VAE()                  # 64 x 64, 1 channel, 10 latents
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (4, 4), (2, 2))] * 4
    fcs = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(512, 256), (256, 256), (256, 20)]
    deconvs = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(32, 32)] * 3 + [(32, 1)]
    dec_fcs = [m for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    assert [(f.in_features, f.out_features) for f in dec_fcs] == [(10, 256), (256, 256), (256, 512)]
    assert len([c for c in models.VAE(image_size=32).encoder.modules() if isinstance(c, nn.Conv2d)]) == 3
    small = sum(p.numel() for p in models.VAE(architecture="small").parameters())
    assert small < sum(p.numel() for p in model.parameters()) / 2


def test_decoder_returns_logits_not_probabilities():
    torch.manual_seed(0)
    model = models.VAE(image_size=32, architecture="small")
    with torch.no_grad():
        model.decoder.deconv[-1].bias.fill_(-20.0)
        logits = model.decode(torch.zeros(2, 10))
    assert logits.max() < 0          # a sigmoid output could never be negative
    x = torch.zeros(2, 1, 32, 32)
    assert torch.allclose(model.reconstruct(x), torch.sigmoid(model(x, sample=False).logits))


def test_sampling_is_an_explicit_argument_not_a_mode():
    torch.manual_seed(0)
    model = models.VAE(image_size=32, architecture="small")
    x = torch.rand(4, 1, 32, 32)
    mean_out = model(x, sample=False)
    assert torch.equal(mean_out.z, mean_out.mu)
    a = model.train()(x, sample=True, generator=torch.Generator().manual_seed(1))
    b = model.eval()(x, sample=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.z, b.z) and not torch.equal(a.z, a.mu)         # same in train and eval mode
    assert torch.equal(model.train()(x, sample=False).z, model.eval()(x, sample=False).z)


def test_reparameterisation_passes_gradients_to_mu_and_logvar():
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    z = models.sample_gaussian(mu, logvar, torch.Generator().manual_seed(0))
    (z ** 2).sum().backward()
    assert mu.grad.abs().sum() > 0 and logvar.grad.abs().sum() > 0


def test_sample_gaussian_has_the_right_moments():
    mu, logvar = torch.full((200_000, 1), 2.0), torch.full((200_000, 1), 2 * torch.log(torch.tensor(0.5)))
    z = models.sample_gaussian(mu, logvar, torch.Generator().manual_seed(0))
    assert abs(float(z.mean()) - 2.0) < 0.01 and abs(float(z.std()) - 0.5) < 0.01


def test_bad_inputs_are_explained():
    model = models.VAE()
    with pytest.raises(ValueError, match=r"shape \(batch, 1, 64, 64\)"):
        model.encode(torch.rand(2, 64, 64))
    with pytest.raises(ValueError, match="floats in"):
        model.encode(torch.zeros(2, 1, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"codes must have shape \(batch, 10\)"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="image_size must be one of"):
        models.VAE(image_size=48)
    with pytest.raises(ValueError, match="unknown architecture"):
        models.VAE(architecture="resnet")


def test_discriminator_is_kim_and_mnih():
    d = models.Discriminator(latent_dim=10)
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 1000)] + [(1000, 1000)] * 5 + [(1000, 2)]
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 6 and all(a.negative_slope == 0.2 for a in acts)
    z = torch.randn(4, 10)
    logits = d(z)
    assert logits.shape == (4, 2)
    # log D/(1-D) with D = softmax(logits)[:, 0]
    p = torch.softmax(logits, 1)[:, 0]
    assert torch.allclose(d.tc_estimate(z), torch.log(p / (1 - p)), atol=1e-5)


def test_permute_dims_permutes_each_dimension_independently():
    z = torch.arange(200.0).reshape(50, 4)
    p = models.permute_dims(z, torch.Generator().manual_seed(0))
    assert p.shape == z.shape
    for j in range(4):
        assert torch.equal(p[:, j].sort().values, z[:, j])                 # a permutation of column j
    orders = [tuple(((p[:, j] - j) / 4).long().tolist()) for j in range(4)]
    assert len(set(orders)) == 4                                           # a different permutation per column
    assert torch.equal(p, models.permute_dims(z, torch.Generator().manual_seed(0)))   # seeded
    with pytest.raises(ValueError, match="batch, latent_dim"):
        models.permute_dims(torch.zeros(3))
