"""Checks for lesson 04 (FactorVAE, Kim & Mnih 2018)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._base import ExerciseError
from ._base import passed as _passed

# --- lesson 04: permute_dims and the density-ratio trick ------------------------------------------

def check_permute_dims(permute_fn) -> bool:
    """``permute_fn(z (B, D)) -> (B, D)``: shuffle each column independently (Kim & Mnih 2018, Algorithm 1).

    Checked properties: same shape and dtype; every column holds exactly the values of the same
    column of ``z`` (a permutation of it); the columns are shuffled with different permutations, so
    two perfectly correlated columns become (nearly) uncorrelated; the result is not ``z`` itself.
    """
    torch.manual_seed(0)
    batch = 512
    base = torch.randn(batch)
    z = torch.stack([base, 2 * base + 1, torch.randn(batch), -base], dim=1)   # columns 0, 1, 3 fully dependent
    got = permute_fn(z.clone())
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"permute_fn must return a torch tensor, got {type(got).__name__}")
    if got.shape != z.shape:
        raise ExerciseError(f"the output must have the input's shape {tuple(z.shape)} (batch, latent_dim), "
                            f"got {tuple(got.shape)}")
    for j in range(z.shape[1]):
        if not torch.equal(got[:, j].sort().values, z[:, j].sort().values):
            same_set_elsewhere = any(torch.equal(got[:, j].sort().values, z[:, k].sort().values)
                                     for k in range(z.shape[1]) if k != j)
            hint = ("values moved between columns: shuffle along the batch axis (dim 0) only, each column keeps "
                    "its own values" if same_set_elsewhere else
                    "column j of the output must be a reordering of column j of z (only the order of rows changes)")
            raise ExerciseError(f"column {j}: {hint}")
    if torch.equal(got, z):
        raise ExerciseError("nothing moved: the output equals z; shuffle every column along the batch axis")
    row_match = (got.unsqueeze(1) == z.unsqueeze(0)).all(dim=2).any(dim=1).float().mean()
    if row_match > 0.9:
        raise ExerciseError("the rows were shuffled as wholes (one permutation for all columns): the codes of a row "
                            "still belong together, so their dependence survives. Use a different random "
                            "permutation for every column")
    corr = float(np.corrcoef(got[:, 0].numpy(), got[:, 1].numpy())[0, 1])
    if abs(corr) > 0.2:
        raise ExerciseError(f"columns 0 and 1 of the test batch are perfectly correlated in z; after your shuffle "
                            f"their correlation is still {corr:.2f}. Permute the columns independently")
    return _passed(f"every column shuffled on its own: a perfectly correlated pair now has correlation {corr:+.2f}; "
                   "the rows are samples of prod_j q(z_j)")


def check_density_ratio_tc(tc_fn, discriminator=None) -> bool:
    """``tc_fn(logits (B, 2)) -> scalar``: the TC estimate mean_i log D(z_i) / (1 - D(z_i)) (Kim & Mnih 2018, section 3).

    ``logits[:, 0]`` is the logit of "z comes from q(z)", ``logits[:, 1]`` of "z comes from the
    permuted batch", and D = softmax(logits)[:, 0].  Compared with ``Discriminator.tc_estimate``.
    """
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(256, 2, generator=gen) * 3 + torch.tensor([1.0, -0.5])
    expected = float((logits[:, 0] - logits[:, 1]).mean())
    if discriminator is not None:
        z = torch.randn(64, discriminator.latent_dim, generator=gen)
        with torch.no_grad():
            reference = discriminator.tc_estimate(z).mean()
            got_disc = tc_fn(discriminator(z))
        if not math.isclose(float(got_disc), float(reference), rel_tol=2e-3, abs_tol=1e-3):
            raise ExerciseError(f"on the discriminator's logits the TC estimate is {float(reference):.4f}, "
                                f"you gave {float(got_disc):.4f}")
    got = tc_fn(logits)
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"tc_fn must return a torch tensor (so that gamma * TC can be back-propagated), "
                            f"got {type(got).__name__}")
    if got.ndim != 0:
        raise ExerciseError(f"tc_fn must return one number, the batch MEAN of log D/(1-D); got shape "
                            f"{tuple(got.shape)}")
    value = float(got)
    if math.isclose(value, expected, rel_tol=2e-3, abs_tol=1e-3):   # the probability form loses float32 digits
        return _passed("TC ~= mean_i [logit_0(z_i) - logit_1(z_i)] = mean_i log D(z_i) / (1 - D(z_i))")
    d = torch.softmax(logits, dim=1)[:, 0]
    if math.isclose(value, -expected, rel_tol=1e-4):
        hint = "the sign is flipped: class 0 is 'from q(z)', so log D/(1-D) = logits[:, 0] - logits[:, 1]"
    elif math.isclose(value, float(d.mean()), rel_tol=1e-4):
        hint = "that is the mean of D itself; the density-ratio trick needs the log odds log D / (1 - D)"
    elif math.isclose(value, float(torch.log(d).mean()), rel_tol=1e-4):
        hint = "that is mean log D; the ratio is log D - log(1 - D)"
    elif math.isclose(value, float((torch.sigmoid(logits[:, 0]) / torch.sigmoid(-logits[:, 0])).log().mean()),
                      rel_tol=1e-4):
        hint = "D is the softmax over BOTH logits, not a sigmoid of the first one"
    else:
        hint = "log D/(1-D) with D = softmax(logits)[:, 0] simplifies to logits[:, 0] - logits[:, 1]; average over the batch"
    raise ExerciseError(f"expected {expected:.4f} on a test batch of logits, got {value:.4f}. {hint}")


def check_chance_accuracy(accuracy: float) -> bool:
    """The discriminator's accuracy on a code whose dimensions are independent (TC = 0)."""
    try:
        accuracy = float(accuracy)
    except (TypeError, ValueError):
        raise ExerciseError(f"give the accuracy as a number in [0, 1], got {accuracy!r}") from None
    if not 0 <= accuracy <= 1:
        raise ExerciseError(f"an accuracy lies in [0, 1]; got {accuracy} (a percentage? divide by 100)")
    if math.isclose(accuracy, 0.5, abs_tol=0.02):
        return _passed("with independent dimensions q(z) = prod_j q(z_j): both classes have the same density, "
                       "the best D says 1/2 everywhere, accuracy 0.5 and log D/(1-D) = 0 = TC")
    if accuracy > 0.5:
        hint = ("if the dimensions are independent, a permuted code has the same distribution as an unpermuted one: "
                "nothing tells them apart")
    else:
        hint = "below chance would mean D systematically swaps the classes; a balanced guess already gets 1/2"
    raise ExerciseError(f"you said {accuracy:.2f}. {hint}")
