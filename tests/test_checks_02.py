"""Lesson 02's exercise checks: right answers pass, typical mistakes raise with the matching hint."""
import numpy as np
import pytest

from dvae_tutorial import checks
from dvae_tutorial.checks import ExerciseError


def test_equivalent_beta():
    assert checks.check_equivalent_beta(1.0)                       # 4 * 10 / 4096 = 1 * 10 / 1024
    assert checks.check_equivalent_beta(2.0, beta_64=8.0)
    for answer, hint in ((16.0, "divide by 4"), (4 * 10 / 4096, "beta_norm itself"), (2.0, "four times"),
                         (3.0, "keep beta")):
        with pytest.raises(ExerciseError, match=hint):
            checks.check_equivalent_beta(answer)


def test_active_latents():
    assert checks.check_active_latents(lambda kl, t: int((kl > t).sum()))
    with pytest.raises(ExerciseError, match="counted the collapsed"):
        checks.check_active_latents(lambda kl, t: int((kl <= t).sum()))
    with pytest.raises(ExerciseError, match="use >, not >="):
        checks.check_active_latents(lambda kl, t: int((kl >= t).sum()))
    with pytest.raises(ExerciseError, match="one number"):
        checks.check_active_latents(lambda kl, t: kl > t)


class _Run:                      # the two attributes the check reads from a runs.LiveRun
    def __init__(self, kl, recon):
        self.last = {"kl": kl, "recon": recon}
        self.kl_per_dim = np.full(10, kl / 10)


def test_rate_distortion_direction_reads_the_runs():
    sweep = {1: _Run(20.0, 40.0), 4: _Run(12.0, 60.0), 16: _Run(5.0, 120.0)}
    assert checks.check_rate_distortion_direction(True, True, sweep)
    with pytest.raises(ExerciseError, match="KL 20.00 nats at beta = 1"):
        checks.check_rate_distortion_direction(False, True, sweep)
    with pytest.raises(ExerciseError, match="recon 40.0 at beta = 1"):
        checks.check_rate_distortion_direction(True, False, sweep)
    with pytest.raises(ExerciseError, match="True or False"):
        checks.check_rate_distortion_direction("yes", True, sweep)
    inverted = {1: _Run(5.0, 120.0), 16: _Run(20.0, 40.0)}        # the check follows the runs, not a fixed answer
    assert checks.check_rate_distortion_direction(False, False, inverted)
