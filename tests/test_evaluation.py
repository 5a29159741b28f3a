"""The one evaluation path: each metric option reaches only the metrics that take it; odd block sizes work."""
import numpy as np
import pytest
import torch

from dvae_tutorial import evaluation, metrics

SIZES = (3, 4, 5)


class FactorCode(torch.nn.Module):
    """A perfect "model": its posterior mean is the factor classes scaled, with a tiny variance."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(len(SIZES)))

    def encode(self, x):
        return x * self.scale, torch.full_like(x, -8.0)


@pytest.fixture()
def grid():
    return evaluation.FactorsAsObservations(SIZES)


def test_factor_vae_only_options_reach_factor_vae_only(grid):
    options = dict(n_train=60, n_eval=30, n_variance_estimate=300, prune_threshold=0.05)
    out = evaluation.score(FactorCode(), grid, which=("beta_vae", "factor_vae"), **options)
    assert out["factor_vae"] == 1.0 and out["beta_vae"] == 1.0
    # prune_threshold reaches factor_vae_score: above every dimension's spread, no dimension is active
    pruned = evaluation.score(FactorCode(), grid, which=("factor_vae",), **dict(options, prune_threshold=100.0))
    assert pruned["factor_vae"] == 0.0


def test_an_option_no_chosen_metric_takes_is_an_error(grid):
    with pytest.raises(TypeError, match="n_variance_estimate are taken by none of the metrics beta_vae"):
        evaluation.score(FactorCode(), grid, which=("beta_vae",), n_train=10, n_eval=5, n_variance_estimate=50)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluation.score(FactorCode(), grid, which=("nope",))


@pytest.mark.parametrize("n_variance_estimate", [257, 65])
def test_factor_vae_score_with_a_last_block_of_one_image(grid, n_variance_estimate):
    encode = evaluation.encoder_fn(FactorCode())
    block = 256 if n_variance_estimate == 257 else 64
    assert n_variance_estimate % block == 1
    out = metrics.factor_vae_score(grid, encode, n_train=40, n_eval=20, n_variance_estimate=n_variance_estimate,
                                   max_encode_batch=block)
    assert out["eval_accuracy"] == 1.0 and out["num_active_dims"] == len(SIZES)


def test_scaled_protocol_is_the_shipped_one_at_10000_codes():
    assert evaluation.scaled_protocol(10_000) == evaluation.SCORE_PROTOCOL
    assert evaluation.scaled_protocol(100, seed=3) == dict(seed=3, codes=100, codes_test=50, dci_codes=20,
                                                          dci_codes_test=10, intervention_train=20,
                                                          intervention_eval=10, elbo_images=100)


def test_decomposition_reference_terms_add_up_to_the_kl(grid):
    # the reparameterised sample comes from models.sample_gaussian: MI + TC + dim-wise KL = E[log q(z|x) - log p(z)]
    class Noisy(FactorCode):
        def encode(self, x):
            return x * self.scale, torch.full_like(x, -1.0)

    out = evaluation.decomposition_reference(Noisy(), _Images(grid), n_codes=40, n_reference=60, seed=0)
    assert out["mi"] + out["tc"] + out["dw_kl"] == pytest.approx(out["kl"], abs=1e-9)


class _Images:
    """Every factor combination of ``grid`` as an indexable data set (``images(indices, device)``)."""

    def __init__(self, grid):
        self.rows = np.stack(np.meshgrid(*[np.arange(s) for s in grid.factor_sizes], indexing="ij"), -1)
        self.rows = self.rows.reshape(-1, len(grid.factor_sizes))

    def __len__(self):
        return len(self.rows)

    def images(self, indices, device=None):
        return torch.as_tensor(self.rows[np.asarray(indices)], dtype=torch.float32)
