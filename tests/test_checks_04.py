"""The exercise checks of lesson 04 accept the reference answers and explain the typical mistakes."""
import pytest
import torch

from dvae_tutorial import checks, models
from dvae_tutorial.checks import ExerciseError


def test_permute_dims_accepts_the_package_function():
    assert checks.check_permute_dims(lambda z: torch.stack([z[torch.randperm(len(z)), j] for j in range(z.shape[1])], 1))
    with pytest.raises(ExerciseError, match="write it yourself"):
        checks.check_permute_dims(models.permute_dims)


def _rows_together(z):
    return z[torch.randperm(len(z))]


def _columns_swapped(z):
    return z.flip(dims=[1])


def _flattened(z):
    return z.flatten()[torch.randperm(z.numel())].view_as(z)


@pytest.mark.parametrize("wrong, message", [
    (lambda z: z, "nothing moved"),
    (_rows_together, "one permutation for all columns"),
    (_columns_swapped, "values moved between columns|reordering of column"),
    (_flattened, "reordering of column|values moved"),
    (lambda z: z[:10], "shape"),
])
def test_permute_dims_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_permute_dims(wrong)


def test_density_ratio_tc_accepts_the_reference_and_the_probability_form():
    torch.manual_seed(0)
    disc = models.Discriminator(latent_dim=3, hidden=16, n_layers=2)
    assert checks.check_density_ratio_tc(lambda logits: (logits[:, 0] - logits[:, 1]).mean(), disc)

    def via_probabilities(logits):
        d = torch.softmax(logits, dim=1)[:, 0]
        return (torch.log(d) - torch.log1p(-d)).mean()

    assert checks.check_density_ratio_tc(via_probabilities)


@pytest.mark.parametrize("wrong, message", [
    (lambda lg: (lg[:, 1] - lg[:, 0]).mean(), "sign is flipped"),
    (lambda lg: torch.softmax(lg, 1)[:, 0].mean(), "mean of D itself"),
    (lambda lg: torch.log_softmax(lg, 1)[:, 0].mean(), "mean log D"),
    (lambda lg: lg[:, 0] - lg[:, 1], "batch MEAN"),
    (lambda lg: lg[:, 0].mean(), "BOTH logits"),
    (lambda lg: lg.mean(), "simplifies to"),
])
def test_density_ratio_tc_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        checks.check_density_ratio_tc(wrong)


def test_chance_accuracy():
    assert checks.check_chance_accuracy(0.5)
    with pytest.raises(ExerciseError, match="nothing tells them apart"):
        checks.check_chance_accuracy(0.9)
    with pytest.raises(ExerciseError, match="percentage"):
        checks.check_chance_accuracy(50)
