"""Encoders, decoders, the VAE, and the FactorVAE discriminator.

Shapes (B = batch, C = image channels, H = W = image size, D = latent dimensions):

    x       (B, C, H, W)  floats in [0, 1]
    mu      (B, D)        mean of q(z|x)
    logvar  (B, D)        log variance of q(z|x)
    z       (B, D)        a sample of q(z|x), or mu
    logits  (B, C, H, W)  the decoder's output; p(x|z) = Bernoulli(sigmoid(logits)) or, for the
                          Gaussian / Laplace likelihoods, a density with mean sigmoid(logits)

The default network is the one of Burgess et al. 2018 ("Understanding disentangling in beta-VAE",
appendix A.1); the papers of the other methods used other nets, this course trains every method with
this one so that only the objective changes:

    encoder  4 x [conv 4x4, stride 2, 32 channels, ReLU]  64 -> 32 -> 16 -> 8 -> 4
             2 x [fully connected 256, ReLU]
             fully connected 2 * D  (mean and log variance of D Gaussians)
    decoder  the transpose: fully connected 256, 256, 32*4*4 (ReLU), then
             4 x [transposed conv 4x4, stride 2], the last one to C channels, no activation

At 32 x 32 the same net has one conv layer fewer (32 -> 16 -> 8 -> 4).  ``architecture="small"``
halves the widths (16 channels, 128 hidden units) for quick live runs in a notebook.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .precision import full_precision

__all__ = ["ARCHITECTURES", "Encoder", "Decoder", "VAE", "VAEOutput", "Discriminator", "permute_dims",
           "sample_gaussian"]

# name -> (conv channels, hidden units of each of the 2 fully connected layers)
ARCHITECTURES = {
    "burgess": dict(channels=32, hidden=256),   # Burgess et al. 2018, appendix A.1
    "small": dict(channels=16, hidden=128),     # this course's fast net (not from a paper)
}
IMAGE_SIZES = (32, 64)
FINAL_SIZE = 4   # every conv stack stops at a 4 x 4 feature map


def _check_architecture(architecture: str, image_size: int, in_channels: int, latent_dim: int):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}")
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES} (square images), got {image_size}")
    if not (isinstance(in_channels, int) and in_channels >= 1):
        raise ValueError(f"in_channels must be a positive int (1 for dSprites, 3 for 3D Shapes), got {in_channels!r}")
    if not (isinstance(latent_dim, int) and latent_dim >= 1):
        raise ValueError(f"latent_dim must be a positive int, got {latent_dim!r}")


def _n_strided_layers(image_size: int) -> int:
    """Stride-2 layers from ``image_size`` down to 4 x 4: 4 at 64, 3 at 32."""
    return int(math.log2(image_size // FINAL_SIZE))


class Encoder(nn.Module):
    """x ``(B, C, H, W)`` -> (mu, logvar), each ``(B, latent_dim)``."""

    def __init__(self, in_channels: int = 1, latent_dim: int = 10, image_size: int = 64,
                 architecture: str = "burgess"):
        super().__init__()
        _check_architecture(architecture, image_size, in_channels, latent_dim)
        width, hidden = ARCHITECTURES[architecture]["channels"], ARCHITECTURES[architecture]["hidden"]
        layers, channels = [], in_channels
        for _ in range(_n_strided_layers(image_size)):
            layers += [nn.Conv2d(channels, width, kernel_size=4, stride=2, padding=1), nn.ReLU()]
            channels = width
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * FINAL_SIZE * FINAL_SIZE, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent_dim),          # [mu, logvar]
        )
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x)
        with full_precision(h):          # under autocast only the convolutions run in bfloat16 (see precision)
            mu, logvar = self.fc(h.to(self.fc[1].weight.dtype)).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z ``(B, latent_dim)`` -> logits ``(B, C, H, W)`` (apply a sigmoid for pixel means)."""

    def __init__(self, in_channels: int = 1, latent_dim: int = 10, image_size: int = 64,
                 architecture: str = "burgess"):
        super().__init__()
        _check_architecture(architecture, image_size, in_channels, latent_dim)
        width, hidden = ARCHITECTURES[architecture]["channels"], ARCHITECTURES[architecture]["hidden"]
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, width * FINAL_SIZE * FINAL_SIZE), nn.ReLU(),
            nn.Unflatten(1, (width, FINAL_SIZE, FINAL_SIZE)),
        )
        n = _n_strided_layers(image_size)
        layers = []
        for i in range(n):
            last = i == n - 1
            layers.append(nn.ConvTranspose2d(width, in_channels if last else width, kernel_size=4, stride=2,
                                             padding=1))
            if not last:
                layers.append(nn.ReLU())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        with full_precision(z):          # under autocast only the convolutions run in bfloat16 (see precision)
            h = self.fc(z)
        if self.deconv[0].weight.is_contiguous(memory_format=torch.channels_last):
            h = h.contiguous(memory_format=torch.channels_last)   # match a channels_last model (faster on CPU)
        return self.deconv(h).to(self.deconv[-1].weight.dtype)     # float32 logits from a bfloat16 conv


class VAEOutput(NamedTuple):
    """What ``VAE.forward`` returns: every tensor an objective needs."""

    logits: torch.Tensor   # (B, C, H, W) decoder output for z
    mu: torch.Tensor       # (B, D)
    logvar: torch.Tensor   # (B, D)
    z: torch.Tensor        # (B, D) the code that was decoded: a sample of q(z|x), or mu


# A latent is "active" (used by the decoder) when its KL(q(z_j|x) || N(0, 1)), averaged over images, is above
# this many nats; one comparison everywhere: active = KL > ACTIVE_KL (a KL exactly at the threshold is off).
ACTIVE_KL = 0.01


def active_latents(kl_per_dim, threshold: float = ACTIVE_KL) -> np.ndarray:
    """Boolean mask ``(latent_dim,)``: True where the latent's average KL (nats) is above ``threshold``."""
    return np.asarray(kl_per_dim, dtype=float) > threshold


def sample_gaussian(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Reparameterisation trick (Kingma & Welling 2013, section 2.4): z = mu + sigma * eps, eps ~ N(0, I).

    ``mu``, ``logvar``: ``(B, D)``; returns ``(B, D)``.  ``generator`` (on ``mu``'s device) makes the
    noise reproducible without touching torch's global random state.
    """
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """A VAE with a diagonal Gaussian posterior q(z|x) and a N(0, I) prior (Kingma & Welling 2013).

    ``model(x, sample=True)`` encodes, draws z ~ q(z|x) with the reparameterisation trick and decodes;
    ``sample=False`` decodes the mean instead.  The choice is always this explicit argument: nothing
    depends on ``model.train()`` / ``model.eval()``.  ``model.encode(x)`` gives ``(mu, logvar)``;
    ``mu`` is the representation the disentanglement metrics use.

    ``low_precision_convs``: under ``torch.autocast`` only the conv stacks run in low precision; mu,
    logvar, z and the logits are float32 (``precision``).
    """

    low_precision_convs = True

    def __init__(self, latent_dim: int = 10, in_channels: int = 1, image_size: int = 64,
                 architecture: str = "burgess"):
        super().__init__()
        self.encoder = Encoder(in_channels, latent_dim, image_size, architecture)
        self.decoder = Decoder(in_channels, latent_dim, image_size, architecture)
        self.latent_dim, self.in_channels, self.image_size = latent_dim, in_channels, image_size
        self.architecture = architecture

    @property
    def config(self) -> dict:
        """The constructor's arguments: ``VAE(**model.config)`` builds the same net."""
        return dict(latent_dim=self.latent_dim, in_channels=self.in_channels, image_size=self.image_size,
                    architecture=self.architecture)

    def _check_input(self, x: torch.Tensor) -> None:
        expected = (self.in_channels, self.image_size, self.image_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the VAE expects images of shape (batch, {expected[0]}, {expected[1]}, {expected[2]}), "
                             f"got {got}; add a channel axis with x[:, None] or build the VAE with the "
                             f"matching in_channels / image_size")
        if not x.is_floating_point():
            raise ValueError(f"images must be floats in [0, 1], got dtype {x.dtype}; use x.float() (and / 255 for uint8)")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x ``(B, C, H, W)`` in [0, 1] -> (mu, logvar), each ``(B, latent_dim)``."""
        self._check_input(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z ``(B, latent_dim)`` -> logits ``(B, C, H, W)``; ``torch.sigmoid(logits)`` are the pixel means."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"codes must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> VAEOutput:
        """Encode, take z (a reparameterised sample if ``sample`` else the mean), decode."""
        mu, logvar = self.encode(x)
        z = sample_gaussian(mu, logvar, generator) if sample else mu
        return VAEOutput(self.decoder(z), mu, logvar, z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel means ``(B, C, H, W)`` decoded from the posterior mean: sigmoid(decode(mu))."""
        return torch.sigmoid(self(x, sample=False).logits)


class Discriminator(nn.Module):
    """FactorVAE's discriminator (Kim & Mnih 2018, section 3 and the architecture table of the appendix).

    An MLP with 6 hidden layers of 1000 units and LeakyReLU(0.2), then 2 logits:
    class 0 = "a code from q(z)", class 1 = "a code from prod_j q(z_j)" (a dimension-wise permuted
    batch).  With D(z) = softmax(logits)[0], the density-ratio trick gives
    TC(z) ~= E_q(z)[log D(z) / (1 - D(z))], the density-ratio trick of Kim & Mnih 2018 (section 3),
    and log D / (1 - D) = logits[:, 0] - logits[:, 1].

    ``z`` ``(B, latent_dim)`` -> logits ``(B, 2)``.
    """

    def __init__(self, latent_dim: int = 10, hidden: int = 1000, n_layers: int = 6, negative_slope: float = 0.2):
        super().__init__()
        layers, width = [], latent_dim
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(negative_slope)]
            width = hidden
        layers.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"the discriminator expects codes of shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z)

    def tc_estimate(self, z: torch.Tensor) -> torch.Tensor:
        """Per-sample log D(z) / (1 - D(z)) ``(B,)``; its batch mean estimates TC (Kim & Mnih 2018, section 3)."""
        logits = self(z)
        return logits[:, 0] - logits[:, 1]


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle every latent dimension independently across the batch (Kim & Mnih 2018, Algorithm 1).

    ``z`` ``(B, D)`` -> ``(B, D)``: column j is a random permutation of ``z[:, j]``.  If the rows of
    ``z`` are samples of q(z), the rows of the result are (approximately) samples of prod_j q(z_j).
    One vectorised gather: the argsort of i.i.d. uniforms is a uniform random permutation per column.
    """
    if z.ndim != 2:
        raise ValueError(f"permute_dims expects codes of shape (batch, latent_dim), got {tuple(z.shape)}")
    order = torch.rand(z.shape, generator=generator, device=z.device).argsort(dim=0)
    return z.gather(0, order)
