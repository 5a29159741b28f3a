"""VQ-VAE (van den Oord et al. 2017, "Neural discrete representation learning"): a discrete code.

The encoder maps an image to ``n_codes`` vectors z_e of ``embedding_dim`` numbers; each is replaced
by its nearest entry of a learned codebook of ``codebook_size`` vectors e_1 ... e_K (section 3.1):

    k_i = argmin_k || z_e,i - e_k ||^2            z_q,i = e_{k_i}

The argmin has no gradient, so the decoder's gradient is copied to the encoder unchanged (the
"straight-through" estimator, section 3.2): z = z_e + sg[z_q - z_e] equals z_q in the forward pass
and has the gradient of z_e.  The loss (eq. (3)), sg = stop-gradient:

    L = -log p(x | z_q) + || sg[z_e] - e ||^2 + beta || z_e - sg[e] ||^2
        reconstruction    codebook loss        commitment loss (beta = 0.25 in the paper)

The objective is ``losses.VQVAELoss`` (``make_objective("vqvae")``).  With ``ema_decay`` > 0 the codebook
is not trained by the optimiser but moved (``VQVAELoss.after_step``) to the running mean of the encoder
outputs assigned to each entry (appendix A.1, decay gamma = 0.99), and the codebook
loss is dropped.  The posterior is a one-hot q(k|x) and the prior uniform, so KL = log K per
position, a constant (section 3.1): ``kl`` reports it and it is not part of the loss.

The net is the course's (``models.Encoder`` / ``models.Decoder``): the encoder's last layer emits
``n_codes * embedding_dim`` numbers instead of a mean and a variance, and the decoder reads the
``n_codes * embedding_dim`` quantised numbers.  ``n_codes`` plays the role of the VAE's
``latent_dim``: a VQ-VAE with ``n_codes = 10`` has "one discrete latent per VAE latent".

Shapes: x ``(B, C, H, W)``; z_e, z_q ``(B, n_codes, embedding_dim)``; indices ``(B, n_codes)`` (long);
codebook ``(K, embedding_dim)``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .models import ARCHITECTURES, Decoder, Encoder

__all__ = ["quantize", "straight_through", "codebook_usage", "usage_collapse_message", "VectorQuantizer",
           "VQVAE", "VQOutput", "DeadCodebookWarning"]


class DeadCodebookWarning(UserWarning):
    """Most codebook entries are never chosen: the discrete code has collapsed onto a few entries."""


def quantize(z_e: torch.Tensor, codebook: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-neighbour quantisation (van den Oord et al. 2017, eq. (1)-(2)).

    ``z_e`` ``(..., D)``, ``codebook`` ``(K, D)`` -> ``(indices (...,) long, z_q (..., D))`` with
    z_q = codebook[indices], indices = argmin_k ||z_e - e_k||^2 (ties: the lowest k).  No gradient
    flows through the argmin; z_q is differentiable with respect to the codebook only.
    """
    if z_e.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"z_e's last axis ({z_e.shape[-1]}) must equal the codebook's embedding size "
                         f"({codebook.shape[-1]}); the codebook is (K, embedding_dim)")
    flat = z_e.reshape(-1, z_e.shape[-1])
    # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, one matrix product for all pairs
    distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)
    indices = distances.argmin(dim=1).reshape(z_e.shape[:-1])
    return indices, codebook[indices]


def straight_through(z_e: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z_e + sg[z_q - z_e]: the value of z_q, the gradient of z_e (section 3.2)."""
    return z_e + (z_q - z_e).detach()


def codebook_usage(indices: torch.Tensor, codebook_size: int) -> dict[str, torch.Tensor]:
    """How many entries a batch of codes uses.

    ``indices`` ``(...)`` long in [0, K).  Returns ``counts`` ``(K,)``, ``perplexity`` = exp(entropy of
    the entries' frequencies) (K when all are used equally, 1 when one entry is used) and
    ``used`` = the fraction of the K entries chosen at least once.
    """
    counts = torch.bincount(indices.reshape(-1), minlength=codebook_size).to(torch.float32)
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return {"counts": counts, "perplexity": entropy.exp(), "used": (counts > 0).float().mean()}


def usage_collapse_message(counts: torch.Tensor, min_fraction: float) -> str | None:
    """A warning text when fewer than ``min_fraction`` of the codebook's entries were used (else None)."""
    used = int((counts > 0).sum())
    size = counts.numel()
    if used >= min_fraction * size:
        return None
    return (f"the VQ-VAE's codebook collapsed: only {used} of its {size} entries were chosen in the last "
            f"{int(counts.sum())} codes (dead codebook). Try the EMA codebook (ema_decay=0.99), a smaller "
            f"codebook_size, a lower learning rate, or a smaller commitment weight beta")


class VectorQuantizer(nn.Module):
    """A codebook ``(K, D)`` and the quantisation of z_e ``(B, n, D)``; EMA statistics when ``ema``."""

    def __init__(self, codebook_size: int, embedding_dim: int, ema: bool = False):
        super().__init__()
        # uniform in [-1/K, 1/K], a common initialisation (the paper does not state one)
        self.codebook = nn.Parameter(torch.empty(codebook_size, embedding_dim).uniform_(-1 / codebook_size,
                                                                                        1 / codebook_size))
        self.ema = ema
        if ema:   # appendix A.1: running cluster sizes N_k and sums m_k; e_k = m_k / N_k
            self.codebook.requires_grad_(False)
            self.register_buffer("cluster_size", torch.ones(codebook_size))
            self.register_buffer("embedding_sum", self.codebook.detach().clone())

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return quantize(z_e, self.codebook)

    @torch.no_grad()
    def reset_entries(self, entries: torch.Tensor, vectors: torch.Tensor) -> None:
        """Set codebook rows ``entries`` ``(m,)`` to ``vectors`` ``(m, D)`` (and restart their EMA statistics)."""
        self.codebook[entries] = vectors.to(self.codebook.dtype)
        if self.ema:
            self.cluster_size[entries] = 1.0
            self.embedding_sum[entries] = vectors.to(self.embedding_sum.dtype)

    @torch.no_grad()
    def ema_update(self, z_e: torch.Tensor, indices: torch.Tensor, decay: float, eps: float = 1e-5) -> None:
        """Appendix A.1, eq. (6)-(8): N_k <- g N_k + (1-g) n_k; m_k <- g m_k + (1-g) sum z_e; e_k = m_k / N_k.

        The cluster sizes are Laplace-smoothed (eps) so an unused entry never divides by zero (a common
        implementation detail, not in the paper).
        """
        flat, idx = z_e.reshape(-1, z_e.shape[-1]).float(), indices.reshape(-1)
        one_hot = F.one_hot(idx, self.codebook.shape[0]).to(flat.dtype)           # (N, K)
        self.cluster_size.mul_(decay).add_(one_hot.sum(0), alpha=1 - decay)
        self.embedding_sum.mul_(decay).add_(one_hot.t() @ flat, alpha=1 - decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + eps) / (total + self.codebook.shape[0] * eps) * total
        self.codebook.copy_(self.embedding_sum / smoothed.unsqueeze(1))


class VQOutput(NamedTuple):
    """What ``VQVAE.forward`` returns."""

    logits: torch.Tensor    # (B, C, H, W) decoded from the quantised code
    z_e: torch.Tensor       # (B, n_codes, embedding_dim) encoder output
    z_q: torch.Tensor       # (B, n_codes, embedding_dim) nearest codebook entries
    indices: torch.Tensor   # (B, n_codes) long, the discrete code
    z: torch.Tensor         # (B, n_codes * embedding_dim) straight-through code that was decoded


class VQVAE(nn.Module):
    """VQ-VAE with the course's conv encoder / decoder; ``latent_dim`` = number of discrete codes.

    ``model(x)`` -> ``VQOutput``; ``model.encode(x)`` -> ``(z_q, indices)`` with z_q flattened to
    ``(B, latent_dim * embedding_dim)`` (what the metrics see as a continuous code);
    ``model.decode(z)`` takes such a flat code; ``model.decode_indices(indices)`` a discrete one.
    """

    def __init__(self, latent_dim: int = 10, in_channels: int = 1, image_size: int = 64,
                 architecture: str = "burgess", codebook_size: int = 32, embedding_dim: int = 4,
                 ema: bool = False):
        super().__init__()
        for name, value in (("codebook_size", codebook_size), ("embedding_dim", embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        size = latent_dim * embedding_dim
        self.encoder = Encoder(in_channels, size, image_size, architecture)
        # the course's encoder ends in 2 * size numbers (a mean and a log variance); VQ needs size of them
        self.encoder.fc[-1] = nn.Linear(ARCHITECTURES[architecture]["hidden"], size)
        self.decoder = Decoder(in_channels, size, image_size, architecture)
        self.quantizer = VectorQuantizer(codebook_size, embedding_dim, ema)
        self.latent_dim, self.in_channels, self.image_size = latent_dim, in_channels, image_size
        self.architecture, self.codebook_size, self.embedding_dim, self.ema = (architecture, codebook_size,
                                                                               embedding_dim, ema)

    @property
    def config(self) -> dict:
        """The constructor's arguments: ``VQVAE(**model.config)`` builds the same net."""
        return dict(latent_dim=self.latent_dim, in_channels=self.in_channels, image_size=self.image_size,
                    architecture=self.architecture, codebook_size=self.codebook_size,
                    embedding_dim=self.embedding_dim, ema=self.ema)

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """z_e ``(B, latent_dim, embedding_dim)``, before quantisation."""
        expected = (self.in_channels, self.image_size, self.image_size)
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the VQ-VAE expects images of shape (batch, {', '.join(map(str, expected))}), got {got}")
        return self.encoder.fc(self.encoder.conv(x)).view(len(x), self.latent_dim, self.embedding_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> ``(z_q flat (B, latent_dim * embedding_dim), indices (B, latent_dim))``."""
        indices, z_q = self.quantizer(self.encode_continuous(x))
        return z_q.flatten(1), indices

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Flat code ``(B, latent_dim * embedding_dim)`` -> logits ``(B, C, H, W)``."""
        return self.decoder(z)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Discrete code ``(B, latent_dim)`` long -> logits: decode the codebook entries it names."""
        if indices.ndim != 2 or indices.shape[1] != self.latent_dim:
            raise ValueError(f"indices must have shape (batch, {self.latent_dim}), got {tuple(indices.shape)}")
        if indices.min() < 0 or indices.max() >= self.codebook_size:
            raise ValueError(f"indices must lie in [0, {self.codebook_size}) (the codebook's entries)")
        return self.decoder(self.quantizer.codebook[indices].flatten(1))

    def forward(self, x: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None) -> VQOutput:
        """Encode, quantise, decode the straight-through code (``sample`` / ``generator``: unused, deterministic)."""
        z_e = self.encode_continuous(x)
        indices, z_q = self.quantizer(z_e)
        z = straight_through(z_e, z_q).flatten(1)
        return VQOutput(self.decoder(z), z_e, z_q, indices, z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel means ``(B, C, H, W)`` decoded from the quantised code."""
        return torch.sigmoid(self(x).logits)
