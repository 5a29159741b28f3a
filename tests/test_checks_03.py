"""The exercise checks of lesson 03 accept the reference answers and explain the typical mistakes."""
import pytest
import torch

from dvae_tutorial import checks, losses
from dvae_tutorial.checks import ExerciseError


def test_linear_capacity_accepts_the_package_schedule(capsys):
    assert checks.check_linear_capacity(lambda step, c_min, c_max, c_steps: c_min + (c_max - c_min) * min(step / c_steps, 1))
    with pytest.raises(ExerciseError, match="write it yourself"):
        checks.check_linear_capacity(losses.linear_capacity)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, message", [
    (lambda s, lo, hi, n: lo + (hi - lo) * s / n, "stop at c_max"),                       # never clipped
    (lambda s, lo, hi, n: hi * min(s / n, 1.0), "starts at c_min"),                        # ramp from 0
    (lambda s, lo, hi, n: lo + (hi - lo) * min(s // n, 1), "integer division"),            # s // n
])
def test_linear_capacity_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_linear_capacity(wrong)


def test_capacity_loss_accepts_the_reference_and_matches_the_package():
    def reference(recon, kl, capacity, gamma):
        return recon + gamma * (kl - capacity).abs()

    assert checks.check_capacity_loss(reference)
    # the same formula as losses.CapacityLoss on a real model output
    from dvae_tutorial.models import VAE

    torch.manual_seed(0)
    model = VAE(latent_dim=4, image_size=32, architecture="small")
    x = (torch.rand(8, 1, 32, 32) > 0.5).float()
    objective = losses.CapacityLoss(gamma=100.0, c_max=5.0, c_steps=10)
    terms = objective(model(x), x, step=4)
    assert torch.isclose(terms["loss"], reference(terms["recon"], terms["kl"], terms["capacity"], 100.0))
    assert float(terms["capacity"]) == pytest.approx(2.0)


@pytest.mark.parametrize("wrong, message", [
    (lambda r, kl, c, g: r + g * (kl - c), "absolute value"),
    (lambda r, kl, c, g: r + g * (kl - c) ** 2, "not its square"),
    (lambda r, kl, c, g: g * r + (kl - c).abs(), "gamma weighs the capacity term"),
    (lambda r, kl, c, g: r + g * kl, "capacity C is missing"),
    (lambda r, kl, c, g: float(r.detach() + g * abs(float(kl.detach()) - c)), "scalar torch tensor"),
])
def test_capacity_loss_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_capacity_loss(wrong)


def test_final_kl_prediction(capsys):
    class FakeRun:                       # what the check reads from a runs.LiveRun
        last = {"kl": 9.93}

    assert checks.check_final_kl(20.0, c_max=20, gamma=1000)
    assert checks.check_final_kl(10.5, c_max=10, gamma=3, run=FakeRun())
    assert "measured KL = 9.93" in capsys.readouterr().out
    with pytest.raises(ExerciseError, match="pushes it UP"):
        checks.check_final_kl(2.0, c_max=20, gamma=1000)
    with pytest.raises(ExerciseError, match="sits at C"):
        checks.check_final_kl(30.0, c_max=20, gamma=1000)
    with pytest.raises(ExerciseError, match="number of nats"):
        checks.check_final_kl("ten", c_max=10, gamma=3)


def test_final_kl_accepts_every_right_answer():
    class AboveC:                        # gamma = 3 is small: the model bought a few nats above C
        last = {"kl": 12.4}

    for right in (10.0, 9.2, 11.0, 12.4, 13.5):       # C_max, the measured KL, and anything between (10%)
        assert checks.check_final_kl(right, c_max=10, gamma=3, run=AboveC())
    for wrong, message in ((5.0, "pushes it UP"), (16.0, "sits at C")):
        with pytest.raises(ExerciseError, match=message):
            checks.check_final_kl(wrong, c_max=10, gamma=3, run=AboveC())
    with pytest.raises(ExerciseError, match="sits at C"):   # without a run, only C_max (within 10%)
        checks.check_final_kl(12.4, c_max=10, gamma=3)
