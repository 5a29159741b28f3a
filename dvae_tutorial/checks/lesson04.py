"""Checks for lesson 04 (FactorVAE, Kim & Mnih 2018)."""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from ._base import ExerciseError, binary_batch, exercise, scalar, small_vae
from ._base import passed as _passed

# --- lesson 04: permute_dims and the density-ratio trick ------------------------------------------

@exercise(points=1, refuses=("dvae_tutorial.models:permute_dims",))
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


@exercise(points=1, refuses=("dvae_tutorial.models:Discriminator.tc_estimate",))
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


@exercise(points=1)
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


# --- the real exercise: one discriminator update of Kim & Mnih's Algorithm 2 -----------------------

def _discriminator_setup(seed: int):
    from ..models import Discriminator

    model = small_vae(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        discriminator = Discriminator(10, hidden=32, n_layers=2)
    x1, _ = binary_batch(seed, batch=32)
    x2, _ = binary_batch(seed + 100, batch=32)
    return model, discriminator, x1, x2


def _reference_disc_loss(model, discriminator, x1, x2, generator, *, permute=True, swap=False, half=True,
                         use_mean=False, permute_first=False):
    """The discriminator's loss of Algorithm 2 (lines 7-10), and its mistaken variants."""
    from ..models import permute_dims, sample_gaussian

    with torch.no_grad():
        mu1, logvar1 = model.encode(x1)
        mu2, logvar2 = model.encode(x2)
        z1 = mu1 if use_mean else sample_gaussian(mu1, logvar1, generator)
        z2 = mu2 if use_mean else sample_gaussian(mu2, logvar2, generator)
        if permute_first:
            z2 = z1
        z_perm = permute_dims(z2, generator) if permute else z2
    logits1, logits2 = discriminator(z1), discriminator(z_perm)
    labels = (1, 0) if swap else (0, 1)
    loss = (F.cross_entropy(logits1, torch.full((len(z1),), labels[0])) +
            F.cross_entropy(logits2, torch.full((len(z_perm),), labels[1])))
    return 0.5 * loss if half else loss


@exercise(points=4, refuses=("dvae_tutorial.losses:FactorVAELoss.discriminator_loss",
                              "dvae_tutorial.losses:FactorVAELoss.discriminator_terms",
                              "dvae_tutorial.losses:FactorVAELoss.auxiliary_terms",
                              "dvae_tutorial.train:Trainer.auxiliary_step"))
def check_discriminator_step(step_fn) -> bool:
    """``step_fn(model, discriminator, d_optimizer, x1, x2, generator) -> loss``: one update of D (Kim & Mnih
    2018, Algorithm 2, lines 7-10).  z1 ~ q(z|x1) and z2 ~ q(z|x2), drawn in this order with
    ``models.sample_gaussian(mu, logvar, generator)``, z2 permuted with ``models.permute_dims(z2, generator)``;
    D minimises (CE(D(z1), class 0) + CE(D(z_perm), class 1)) / 2; the encoder's gradients stay untouched.

    The check runs it on a copy of a small VAE and D (SGD, learning rate 0.05) and compares the loss, D's
    new weights and the VAE's gradients with the reference update.
    """
    model, discriminator, x1, x2 = _discriminator_setup(5)
    reference_d = copy.deepcopy(discriminator)
    expected = _reference_disc_loss(model, reference_d, x1, x2, torch.Generator().manual_seed(11))
    reference_optimizer = torch.optim.SGD(reference_d.parameters(), lr=0.05)
    reference_optimizer.zero_grad()
    expected.backward()
    reference_optimizer.step()

    sentinel = [torch.full_like(p, 0.125) for p in model.parameters()]
    for p, s in zip(model.parameters(), sentinel):
        p.grad = s.clone()
    for p in discriminator.parameters():        # stale gradients from an earlier step: must be cleared
        p.grad = torch.full_like(p, 3.0)
    d_optimizer = torch.optim.SGD(discriminator.parameters(), lr=0.05)
    start = [p.detach().clone() for p in model.parameters()]
    got = step_fn(model, discriminator, d_optimizer, x1, x2, torch.Generator().manual_seed(11))
    value = scalar("the returned loss", got)

    if any(not torch.equal(p.grad, s) if p.grad is not None else True for p, s in zip(model.parameters(), sentinel)):
        raise ExerciseError("the discriminator's loss changed the VAE's gradients: compute the codes under "
                            "torch.no_grad() (or .detach() them). In Algorithm 2 D learns from the codes as data; its "
                            "loss must not train (or disturb the gradients of) the encoder")
    if any(not torch.equal(a, p.detach()) for a, p in zip(start, model.parameters())):
        raise ExerciseError("the VAE's weights changed: this step updates D only (use d_optimizer)")
    expected_value = float(expected.detach())
    if not math.isclose(value, expected_value, rel_tol=1e-4, abs_tol=1e-5):
        gen = lambda: torch.Generator().manual_seed(11)   # noqa: E731
        variants = (
            (dict(half=False), "the loss is the MEAN of the two cross entropies: multiply their sum by 1/2"),
            (dict(swap=True), "the classes are swapped: codes of q(z) are class 0, permuted codes class 1"),
            (dict(permute=False), "z2 was not permuted: D must tell q(z) from prod_j q(z_j), whose samples are "
                                  "the dimension-wise permuted codes (permute_dims)"),
            (dict(permute_first=True), "the permuted batch must come from the SECOND batch x2 (Algorithm 2, line 8), "
                                       "not from z1"),
            (dict(use_mean=True), "Algorithm 2 samples the codes, z ~ q(z|x): draw z1, then z2 with sample_gaussian "
                                  "and the generator, in this order"),
        )
        for kwargs, hint in variants:
            with torch.no_grad():
                mistaken = float(_reference_disc_loss(model, _discriminator_setup(5)[1], x1, x2, gen(), **kwargs))
            if math.isclose(value, mistaken, rel_tol=1e-4, abs_tol=1e-5):
                raise ExerciseError(hint)
        raise ExerciseError(f"the loss should be {expected_value:.5f} on the check's batches, got {value:.5f}: sample z1 "
                            "then z2 with the generator, permute z2 with it, then "
                            "(CE(D(z1), 0) + CE(D(z_perm), 1)) / 2")
    initial = _discriminator_setup(5)[1]
    if all(torch.equal(a, b.detach()) for a, b in zip(initial.parameters(), discriminator.parameters())):
        raise ExerciseError("D's weights did not change: call d_optimizer.step() after loss.backward()")
    if not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(reference_d.parameters(), discriminator.parameters())):
        raise ExerciseError("the loss is right but D moved differently from one step on it: call "
                            "d_optimizer.zero_grad() before loss.backward() (gradients of earlier steps pile up)")
    return _passed(f"D's loss {expected_value:.4f}: one step on (CE(D(z), 0) + CE(D(perm z'), 1)) / 2, "
                   "the encoder's gradients untouched (Kim & Mnih 2018, Algorithm 2)")
