"""Checks for lesson 03 (capacity-annealed beta-VAE, Burgess et al. 2018)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._base import ExerciseError, binary_batch, exercise, scalar, small_vae, terms_dict
from ._base import passed as _passed

# --- lesson 03: the capacity schedule and the capacity loss ---------------------------------------

@exercise(points=1, refuses=("dvae_tutorial.losses:linear_capacity",
                              "dvae_tutorial.losses:CapacityLoss.capacity"))
def check_linear_capacity(capacity_fn) -> bool:
    """``capacity_fn(step, c_min, c_max, c_steps) -> float``: C rises linearly from c_min to c_max, then stays.

    Compared with ``losses.linear_capacity`` (Burgess et al. 2018, section 5) at steps before, during
    and after the ramp, for two schedules.
    """
    from ..losses import linear_capacity

    cases = [(step, c_min, c_max, c_steps)
             for c_min, c_max, c_steps in ((0.0, 25.0, 1000), (2.0, 10.0, 300))
             for step in (0, 1, c_steps // 3, c_steps // 2, c_steps - 1, c_steps, c_steps + 1, 5 * c_steps)]
    for step, c_min, c_max, c_steps in cases:
        expected = linear_capacity(step, c_min, c_max, c_steps)
        got = capacity_fn(step, c_min, c_max, c_steps)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise ExerciseError(f"capacity_fn must return a number, got {type(got).__name__}") from None
        if math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        where = f"at step {step} with c_min={c_min}, c_max={c_max}, c_steps={c_steps}: expected C = {expected:.4g}, got {got:.4g}"
        if step > c_steps and got > c_max + 1e-9:
            hint = "C must stop at c_max once step >= c_steps (clip the fraction step / c_steps at 1)"
        elif math.isclose(got, c_max * min(step / c_steps, 1.0)) and c_min != 0:
            hint = "the ramp starts at c_min, not at 0: C = c_min + (c_max - c_min) * fraction"
        elif step == 0 and not math.isclose(got, c_min):
            hint = "at step 0, C must be c_min"
        elif 0 < step < c_steps and math.isclose(got, c_min + (c_max - c_min) * (step // c_steps)):
            hint = "step // c_steps is integer division (always 0 during the ramp): use step / c_steps"
        else:
            hint = "C = c_min + (c_max - c_min) * min(step / c_steps, 1)"
        raise ExerciseError(f"{where}. {hint}")
    return _passed("C(step) = c_min + (c_max - c_min) * min(step / c_steps, 1)  (Burgess et al. 2018)")


@exercise(points=1, refuses=("dvae_tutorial.losses:CapacityLoss.__call__",))
def check_capacity_loss(loss_fn) -> bool:
    """``loss_fn(recon, kl, capacity, gamma) -> scalar tensor``: recon + gamma * |kl - C| (Burgess et al. 2018, eq. (8)).

    ``recon``, ``kl``: scalar tensors (batch means, nats); ``capacity``, ``gamma``: floats.  The
    check compares values on both sides of C and the gradient with respect to the KL.
    """
    for recon_value, kl_value, capacity, gamma in ((300.0, 4.0, 10.0, 1000.0), (250.0, 12.5, 10.0, 1000.0),
                                                    (120.0, 3.0, 1.0, 30.0)):
        recon = torch.tensor(recon_value, requires_grad=True)
        kl = torch.tensor(kl_value, requires_grad=True)
        got = loss_fn(recon, kl, capacity, gamma)
        if not isinstance(got, torch.Tensor) or got.ndim != 0:
            raise ExerciseError("loss_fn must return a scalar torch tensor (use torch operations, e.g. torch.abs or "
                                "(kl - capacity).abs(), so that gradients flow)")
        expected = recon_value + gamma * abs(kl_value - capacity)
        case = f"recon={recon_value}, kl={kl_value}, C={capacity}, gamma={gamma}"
        if not math.isclose(float(got.detach()), expected, rel_tol=1e-5):
            value = float(got.detach())
            if math.isclose(value, recon_value + gamma * (kl_value - capacity), rel_tol=1e-5):
                hint = ("without the absolute value a KL below C lowers the loss, so the KL is pushed to 0 instead of "
                        "up to C: use |kl - C|")
            elif math.isclose(value, recon_value + gamma * (kl_value - capacity) ** 2, rel_tol=1e-5):
                hint = "Burgess et al. use the absolute deviation |kl - C|, not its square"
            elif math.isclose(value, gamma * recon_value + abs(kl_value - capacity), rel_tol=1e-5):
                hint = "gamma weighs the capacity term, not the reconstruction"
            elif math.isclose(value, recon_value + gamma * kl_value, rel_tol=1e-5):
                hint = "the capacity C is missing: the penalty is on the distance of the KL from C"
            else:
                hint = "loss = recon + gamma * |kl - C|"
            raise ExerciseError(f"for {case} expected {expected:.6g}, got {float(got.detach()):.6g}. {hint}")
        if not got.requires_grad:
            raise ExerciseError("the loss has no gradient: build it from the tensors recon and kl with torch operations")
        got.backward()
        want = gamma * np.sign(kl_value - capacity)
        if kl.grad is None or not math.isclose(float(kl.grad), want, rel_tol=1e-5):
            raise ExerciseError(f"for {case} d loss / d kl should be gamma * sign(kl - C) = {want:g}, got "
                                f"{None if kl.grad is None else float(kl.grad)}")
    return _passed("loss = recon + gamma * |kl - C|: below C the KL is pushed up, above C pushed down "
                   "(Burgess et al. 2018, eq. (8))")


@exercise(points=1)
def check_final_kl(predicted_kl: float, c_max: float, gamma: float, run=None) -> bool:
    """Predict the KL (nats) at the end of a run whose capacity C rose to ``c_max`` and then stayed there.

    Below C both the penalty gamma * |KL - C| and the reconstruction push the KL up, so the KL does not
    end below C.  Above C each nat costs gamma nats of loss, so the KL goes above C only as far as a nat
    still buys more than gamma nats of reconstruction: at C_max, or somewhat above it when gamma is
    small.  Every answer from C_max (less 10%) up to the run's measured KL (plus 10%) is right; without
    ``run`` (a ``runs.LiveRun``, whose measured KL is printed next to the prediction) the range is
    C_max within 10%.  A run that measured less than C (e.g. one still on the mean-image plateau) also
    accepts its own value.
    """
    try:
        predicted_kl = float(predicted_kl)
    except (TypeError, ValueError):
        raise ExerciseError(f"give the predicted KL as a number of nats, got {predicted_kl!r}") from None
    measured_kl = None if run is None else float(run.last["kl"])
    measured = "" if run is None else f"; the run measured KL = {measured_kl:.2f} nats over its last 10% of steps"
    low = 0.9 * (c_max if measured_kl is None else min(c_max, measured_kl))
    high = 1.1 * (c_max if measured_kl is None else max(c_max, measured_kl))
    if low <= predicted_kl <= high:
        return _passed(f"with gamma = {gamma:g} the KL is held at C or a little above it: predicted "
                       f"{predicted_kl:.2f}, C_max = {c_max:g}{measured}")
    if predicted_kl < low:
        hint = ("the KL does not stay small: below C the penalty gamma * |KL - C| pushes it UP, and so does the "
                "reconstruction, so the model spends at least C nats")
    else:
        hint = (f"every nat of KL above C costs gamma = {gamma:g} nats of loss; once the model has learnt the "
                "easy factors, a nat of KL buys less reconstruction than that, so the KL sits at C (or a little "
                "above it)")
    raise ExerciseError(f"you predicted {predicted_kl:.2f} nats for C_max = {c_max:g}{measured}. {hint}")


# --- the real exercise: the whole capacity objective of a batch, schedule included --------------------

@exercise(points=4, refuses=("dvae_tutorial.losses:CapacityLoss.__call__", "dvae_tutorial.losses:CapacityLoss.capacity",
                              "dvae_tutorial.losses:linear_capacity", "dvae_tutorial.losses:Objective.elbo_terms",
                              "dvae_tutorial.losses:kl_normal", "dvae_tutorial.losses:reconstruction_loss",
                              "dvae_tutorial.models:sample_gaussian"))
def check_capacity_objective(objective_fn) -> bool:
    """``objective_fn(model, x, eps, step, gamma, c_max, c_steps) -> {"loss", "recon", "kl", "kl_per_dim", "capacity"}``:
    Burgess et al. 2018, eq. (8) with C rising linearly from 0 to ``c_max`` over ``c_steps`` steps, on
    z = mu + exp(logvar / 2) * eps and a Bernoulli likelihood; compared with ``losses.CapacityLoss``
    before, during and after the ramp (KL below and above C)."""
    from ..losses import CapacityLoss
    from ..models import VAEOutput

    model = small_vae(3)
    x, eps = binary_batch(3)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    output = VAEOutput(model.decode(z), mu, logvar, z)
    for step, gamma, c_max, c_steps in ((0, 1000.0, 25.0, 100), (40, 1000.0, 25.0, 100), (99, 30.0, 0.05, 100),
                                        (500, 30.0, 5.0, 100)):
        ref = CapacityLoss(gamma=gamma, c_max=c_max, c_steps=c_steps)(output, x, step)
        r = {k: float(v.detach()) for k, v in ref.items() if k in ("loss", "recon", "kl", "capacity")}
        got = terms_dict("objective_fn", objective_fn(model, x, eps.clone(), step, gamma, c_max, c_steps),
                         ("loss", "recon", "kl", "kl_per_dim", "capacity"))
        per_dim = got["kl_per_dim"]
        if not isinstance(per_dim, torch.Tensor) or tuple(per_dim.shape) != tuple(ref["kl_per_dim"].shape):
            raise ExerciseError(f"kl_per_dim must be a tensor of one KL per latent, shape {tuple(ref['kl_per_dim'].shape)}"
                                f"; got {tuple(per_dim.shape) if isinstance(per_dim, torch.Tensor) else type(per_dim).__name__}")
        if not torch.allclose(per_dim.detach(), ref["kl_per_dim"].detach(), rtol=1e-4, atol=1e-5):
            hint = ("you summed over the batch: average each latent's KL over the images"
                    if torch.allclose(per_dim.detach(), ref["kl_per_dim"].detach() * len(x), rtol=1e-4) else
                    "kl_per_dim[j] = mean over the batch of (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2) / 2")
            raise ExerciseError(f"kl_per_dim is not right: {hint}")
        g = {k: scalar(k, got[k]) for k in r}
        case = f"at step {step} (gamma = {gamma:g}, C_max = {c_max:g}, c_steps = {c_steps})"
        close = lambda a, b: math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4)   # noqa: E731
        if not close(g["recon"], r["recon"]) or not close(g["kl"], r["kl"]):
            raise ExerciseError(f"{case}: recon should be {r['recon']:.3f} and kl {r['kl']:.4f}, got {g['recon']:.3f} and "
                                f"{g['kl']:.4f}: the -ELBO terms of lesson 01 (Bernoulli NLL summed over pixels, KL summed "
                                "over latents, both averaged over the batch, z = mu + exp(logvar / 2) * eps)")
        if not close(g["capacity"], r["capacity"]):
            c = g["capacity"]
            if step > c_steps and c > c_max:
                hint = "C stops at C_max once the ramp is over: clip step / c_steps at 1"
            elif 0 < step < c_steps and c == 0:
                hint = "step // c_steps is integer division (0 during the ramp): use step / c_steps"
            else:
                hint = "C = C_max * min(step / c_steps, 1)"
            raise ExerciseError(f"{case}: C should be {r['capacity']:.4g}, got {c:.4g}. {hint}")
        if not close(g["loss"], r["loss"]):
            kl, c = r["kl"], r["capacity"]
            if close(g["loss"], r["recon"] + gamma * (kl - c)):
                hint = "without |.| a KL below C lowers the loss: use gamma * |KL - C|"
            elif close(g["loss"], r["recon"] + gamma * (kl - c) ** 2):
                hint = "Burgess et al. penalise |KL - C|, not its square"
            elif close(g["loss"], r["recon"] + kl + gamma * abs(kl - c)):
                hint = "the capacity term replaces the KL term: loss = recon + gamma * |KL - C| (no extra + KL)"
            else:
                hint = "loss = recon + gamma * |KL - C|"
            raise ExerciseError(f"{case}: loss should be {r['loss']:.4f}, got {g['loss']:.4f}. {hint}")
        if not isinstance(got["loss"], torch.Tensor) or not got["loss"].requires_grad:
            raise ExerciseError("loss has no gradient: build it with torch operations (no .item() or numpy)")
    return _passed("loss = recon + gamma * |KL - C(step)|, C = C_max * min(step / c_steps, 1), before, during and "
                   "after the ramp (Burgess et al. 2018, eq. (8))")
