"""InfoGAN (Chen et al. 2016, "InfoGAN: interpretable representation learning by information maximizing
generative adversarial nets"): the generator, the discriminator with its Q-head, the latent and the
mutual-information lower bound.

The generator G reads a latent made of three parts (section 4):

    noise z ~ N(0, I) (``noise_dim``)   a categorical code c_cat ~ Uniform{0..K-1}   continuous codes c_j ~ U(-1, 1)

and InfoGAN adds to the GAN game a lower bound on the mutual information I(c; G(z, c)) (eq. (4)-(5)):

    L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)} [ log Q(c | x) ] + H(c)  <=  I(c; G(z, c))

Q(c|x) is a softmax over K classes for the categorical code and, for the continuous codes, a factored
Gaussian whose means and log variances the Q-head predicts (section 6 and appendix C: "we simply
treat the continuous code as a factored Gaussian").  H(c) = log K for the categorical code and
log 2 for each U(-1, 1) code (a differential entropy).  For a discrete code the bound is at most
H(c) = log K and reaches it when Q reads the code off the image without error; for a continuous code
the bound grows without limit as Q's variance shrinks (differential entropies can be negative).

Q shares the discriminator's conv body (one extra linear head), as in the paper: the bound costs
almost nothing on top of a GAN.  The nets are small, for 32 x 32 (or 64 x 64) images:

    generator      Chen et al.'s MNIST generator (appendix C.1), narrowed: fully connected ``hidden``,
                   then 32 x 8 x 8, each with batch norm and ReLU, then transposed convs 4x4 stride 2
                   (16 channels, batch norm, ReLU; the last to C channels) up to the image size; its
                   logits through a sigmoid are the image
    discriminator  conv 4x4 stride 2 (16 then 32 channels) with LeakyReLU(0.2) down to 8 x 8, a
                   linear layer of ``hidden`` units, then two heads: 1 logit (real vs fake) and Q's
                   K logits + n_continuous means + n_continuous log variances (no batch norm in D,
                   so a batch of real and generated images can share one pass)

Shapes: images ``(B, C, H, W)`` in [0, 1]; noise ``(B, noise_dim)``; category ``(B,)`` long;
continuous ``(B, n_continuous)``.  ``model.encode(x)`` gives Q's ``(mean, logvar)`` of the continuous
codes, ``(B, n_continuous)`` each, so the VAE metrics score InfoGAN like an encoder.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .models import FINAL_SIZE, _check_architecture, _n_strided_layers

__all__ = ["Latent", "InfoGAN", "GANOutput", "QOutput", "CodeView", "sample_latent", "mi_lower_bound_categorical",
           "mi_lower_bound_continuous", "UNIFORM_ENTROPY", "DISCRIMINATOR_CHANNELS"]

UNIFORM_ENTROPY = math.log(2.0)          # differential entropy of U(-1, 1), nats
DISCRIMINATOR_CHANNELS = (16, 32)   # conv widths, one per stride-2 layer (the last repeated at 64 x 64)
LOGVAR_RANGE = (-10.0, 4.0)             # Q's log variances are clamped to this range (numerical safety)


class Latent(NamedTuple):
    """One batch of generator inputs."""

    noise: torch.Tensor        # (B, noise_dim) ~ N(0, I)
    category: torch.Tensor     # (B,) long, uniform over K
    continuous: torch.Tensor   # (B, n_continuous) ~ U(-1, 1)


class QOutput(NamedTuple):
    """What the Q-head says about an image: its guesses of the codes."""

    category_logits: torch.Tensor   # (B, K)
    mean: torch.Tensor              # (B, n_continuous)
    logvar: torch.Tensor            # (B, n_continuous)


def sample_latent(batch_size: int, noise_dim: int, n_categories: int, n_continuous: int,
                  generator: torch.Generator | None = None, device=None, dtype=None) -> Latent:
    """Draw the generator's latent: noise ~ N(0, I), category ~ Uniform{0..K-1}, codes ~ U(-1, 1) (``dtype``:
    of the noise and codes, torch's default if None)."""
    device = torch.device("cpu") if device is None else torch.device(device)
    noise = torch.randn(batch_size, noise_dim, generator=generator, device=device, dtype=dtype)
    category = torch.randint(n_categories, (batch_size,), generator=generator, device=device)
    continuous = torch.rand(batch_size, n_continuous, generator=generator, device=device, dtype=dtype) * 2 - 1
    return Latent(noise, category, continuous)


def mi_lower_bound_categorical(category_logits: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """L_I for a uniform categorical code: E[log Q(c|x)] + log K (Chen et al. 2016, eq. (5)); a scalar <= log K.

    ``category_logits`` ``(B, K)`` (Q's logits for the images made with ``category`` ``(B,)``).
    """
    n_categories = category_logits.shape[1]
    return -F.cross_entropy(category_logits, category) + math.log(n_categories)


def mi_lower_bound_continuous(mean: torch.Tensor, logvar: torch.Tensor, continuous: torch.Tensor) -> torch.Tensor:
    """L_I per continuous code ``(n_continuous,)``: E[log N(c_j; mean_j, exp(logvar_j))] + log 2.

    Chen et al. 2016, eq. (5), with Q a factored Gaussian and c_j ~ U(-1, 1) (entropy log 2).
    ``mean``, ``logvar``, ``continuous``: ``(B, n_continuous)``.
    """
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + (continuous - mean).pow(2) / logvar.exp())
    return log_q.mean(dim=0) + UNIFORM_ENTROPY


GENERATOR_CHANNELS = 32   # channels of the generator's 8 x 8 feature map


def _upsampling_layers(image_size: int) -> int:
    """Stride-2 layers between the 8 x 8 feature map and the image: 2 at 32, 3 at 64."""
    return _n_strided_layers(image_size) - 1


class _Generator(nn.Module):
    """Latent ``(B, n_in)`` -> logits ``(B, C, H, W)``: two batch-normed linear layers, then transposed convs."""

    def __init__(self, n_in: int, in_channels: int, image_size: int, hidden: int):
        super().__init__()
        side, width = 2 * FINAL_SIZE, GENERATOR_CHANNELS
        layers = [nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                  nn.Linear(hidden, width * side * side), nn.BatchNorm1d(width * side * side), nn.ReLU(),
                  nn.Unflatten(1, (width, side, side))]
        n = _upsampling_layers(image_size)
        for i in range(n):
            out = in_channels if i == n - 1 else 16
            layers.append(nn.ConvTranspose2d(width, out, kernel_size=4, stride=2, padding=1))
            if i < n - 1:
                layers += [nn.BatchNorm2d(out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class _DiscriminatorBody(nn.Module):
    """x ``(B, C, H, W)`` -> features ``(B, hidden)``: strided convs with LeakyReLU(0.2), then a linear layer."""

    def __init__(self, in_channels: int, image_size: int, hidden: int):
        super().__init__()
        layers, channels = [], in_channels
        for i in range(_upsampling_layers(image_size)):
            width = DISCRIMINATOR_CHANNELS[min(i, len(DISCRIMINATOR_CHANNELS) - 1)]
            layers += [nn.Conv2d(channels, width, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            channels = width
        side = 2 * FINAL_SIZE
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, hidden),
                                 nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.net(x)


class InfoGAN(nn.Module):
    """Generator, discriminator and Q-head (sharing the discriminator's body) in one module.

    ``latent_dim`` = ``n_continuous``, the number of continuous codes: what ``encode`` returns and
    what the disentanglement metrics score.  ``n_categories`` K of the categorical code (3 for
    dSprites' shapes), ``noise_dim`` incompressible noise, ``hidden`` the width of the linear layers.
    ``architecture`` is recorded for the command line's sake; the nets are the ones above.
    The generator has batch norm: call ``model.eval()`` before generating single images.
    """

    def __init__(self, latent_dim: int = 4, in_channels: int = 1, image_size: int = 32,
                 architecture: str = "small", n_categories: int = 3, noise_dim: int = 8, hidden: int = 128):
        super().__init__()
        _check_architecture(architecture, image_size, in_channels, latent_dim)
        for name, value in (("n_categories", n_categories), ("noise_dim", noise_dim), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (2 if name == "n_categories" else 1):
                raise ValueError(f"{name} must be an int >= {2 if name == 'n_categories' else 1}, got {value!r}")
        self.latent_dim, self.in_channels, self.image_size, self.architecture = (latent_dim, in_channels, image_size,
                                                                                 architecture)
        self.n_categories, self.noise_dim, self.hidden = n_categories, noise_dim, hidden
        self.generator = _Generator(noise_dim + n_categories + latent_dim, in_channels, image_size, hidden)
        self.body = _DiscriminatorBody(in_channels, image_size, hidden)
        self.d_head = nn.Linear(hidden, 1)
        self.q_head = nn.Linear(hidden, n_categories + 2 * latent_dim)

    @property
    def config(self) -> dict:
        """The constructor's arguments: ``InfoGAN(**model.config)`` builds the same nets."""
        return dict(latent_dim=self.latent_dim, in_channels=self.in_channels, image_size=self.image_size,
                    architecture=self.architecture, n_categories=self.n_categories, noise_dim=self.noise_dim,
                    hidden=self.hidden)

    def generator_parameters(self):
        return self.generator.parameters()

    def discriminator_parameters(self):
        """The discriminator's body and both heads (D and Q are trained together)."""
        return [*self.body.parameters(), *self.d_head.parameters(), *self.q_head.parameters()]

    def sample_latent(self, batch_size: int, generator: torch.Generator | None = None, device=None) -> Latent:
        """The latent of ``batch_size`` images, in the dtype of the model's weights."""
        dtype = next(self.parameters()).dtype
        return sample_latent(batch_size, self.noise_dim, self.n_categories, self.latent_dim, generator, device, dtype)

    def generate_logits(self, latent: Latent) -> torch.Tensor:
        """G's output logits ``(B, C, H, W)``; the image is their sigmoid."""
        noise, category, continuous = latent
        one_hot = F.one_hot(category, self.n_categories).to(noise.dtype)
        return self.generator(torch.cat([noise, one_hot, continuous], dim=1))

    def generate(self, latent: Latent) -> torch.Tensor:
        """Images ``(B, C, H, W)`` in [0, 1]."""
        return torch.sigmoid(self.generate_logits(latent))

    def _check_images(self, x):
        expected = (self.in_channels, self.image_size, self.image_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"InfoGAN's discriminator expects images (batch, {', '.join(map(str, expected))}), "
                             f"got {got}")

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, QOutput]:
        """One pass of the shared body: D's logit ``(B,)`` (real vs fake) and Q's guesses of the codes."""
        self._check_images(x)
        h = self.body(x)
        q = self.q_head(h)
        k, d = self.n_categories, self.latent_dim
        logvar = q[:, k + d:].clamp(*LOGVAR_RANGE)
        return self.d_head(h).squeeze(1), QOutput(q[:, :k], q[:, k:k + d], logvar)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q's factored Gaussian over the continuous codes: ``(mean, logvar)``, each ``(B, latent_dim)``."""
        _, q = self.discriminate(x)
        return q.mean, q.logvar

    def code_view(self, noise: torch.Tensor, category: int) -> "CodeView":
        """The generator as a decoder of the continuous codes, noise and category fixed (for traversals)."""
        return CodeView(self, noise, category)

    def set_discriminator_trainable(self, trainable: bool) -> None:
        """Switch gradients of D and Q on or off (off during the generator's step)."""
        for p in self.discriminator_parameters():
            p.requires_grad_(trainable)

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> "GANOutput":
        """One generator step's forward pass: as many generated images as ``x`` has, scored by D and Q.

        ``x`` gives only the batch size and device (the real images go to the discriminator's step);
        ``generator`` draws the latent.  ``sample`` is unused (kept for ``train.fit``'s call).  D and Q are
        frozen here (the generator's step must not train them); the objective's ``auxiliary_terms``
        unfreezes them for their own step.
        """
        self.set_discriminator_trainable(False)
        latent = self.sample_latent(len(x), generator, x.device)
        fake = self.generate(latent)
        if x.is_contiguous(memory_format=torch.channels_last):
            fake = fake.contiguous(memory_format=torch.channels_last)
        fake_logit, q = self.discriminate(fake)
        return GANOutput(fake, latent, fake_logit, q)


class GANOutput(NamedTuple):
    """What ``InfoGAN.forward`` returns: a generated batch, its latent, and what D and Q make of it."""

    fake: torch.Tensor        # (B, C, H, W) in [0, 1]
    latent: Latent
    fake_logit: torch.Tensor  # (B,) D's logit of "real"
    q: QOutput


class CodeView(nn.Module):
    """InfoGAN seen as an encoder / decoder of its continuous codes, for the course's traversal tools.

    ``encode(x)`` = Q's ``(mean, logvar)``; ``decode(c)`` ``(B, latent_dim)`` -> logits of G(noise, category, c)
    with the noise ``(noise_dim,)`` (or ``(1, noise_dim)``) and the category fixed.
    """

    def __init__(self, model: InfoGAN, noise: torch.Tensor, category: int):
        super().__init__()
        if not 0 <= int(category) < model.n_categories:
            raise ValueError(f"category must lie in [0, {model.n_categories}), got {category}")
        self.model, self.category = model, int(category)
        self.register_buffer("noise", noise.reshape(1, model.noise_dim).detach().clone())
        self.latent_dim = model.latent_dim

    def encode(self, x):
        return self.model.encode(x)

    def decode(self, c: torch.Tensor) -> torch.Tensor:
        n = len(c)
        category = torch.full((n,), self.category, dtype=torch.long, device=c.device)
        return self.model.generate_logits(Latent(self.noise.to(c.device).expand(n, -1), category, c))

