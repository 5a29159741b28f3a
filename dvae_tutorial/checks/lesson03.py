"""Checks for lesson 03 (capacity-annealed beta-VAE, Burgess et al. 2018)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ._base import ExerciseError
from ._base import passed as _passed

# --- lesson 03: the capacity schedule and the capacity loss ---------------------------------------

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
