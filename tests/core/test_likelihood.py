import math

import pytest
import torch

import scidiff
from tests.conftest import ALL_PROCESSES

f64 = torch.float64


@pytest.mark.parametrize("name,prediction", [("vp-linear", "eps"), ("vp-cosine", "v"), ("subvp", "score"),
                                             ("ve", "x0"), ("edm", "x0"), ("rf", "velocity")])
def test_log_prob_equals_exact_mixture_density(name, prediction, mixture):
    proc = ALL_PROCESSES[name]()
    x = mixture.sample(16, generator=torch.Generator().manual_seed(0))
    x = torch.cat([x, torch.tensor([[2.5, -2.0], [-3.0, 1.0]], dtype=f64)])   # two points in the tails
    ll = scidiff.log_prob(mixture.model(proc, prediction), proc, x, steps=48)
    exact = mixture.log_prob(x)
    assert ll.dtype == f64
    torch.testing.assert_close(ll, exact, rtol=1e-2, atol=0)


def test_hutchinson_is_unbiased(mixture):
    proc = scidiff.RectifiedFlow()
    x = mixture.sample(400, generator=torch.Generator().manual_seed(1))
    model = mixture.model(proc, "velocity")
    est = scidiff.log_prob(model, proc, x, steps=24, divergence="hutchinson", generator=torch.Generator().manual_seed(2))
    exact = mixture.log_prob(x)
    diff = est - exact
    assert float(diff.abs().max()) > 1e-3                  # an estimate, not the exact trace
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / len(diff) ** 0.5   # but unbiased


def test_float32_model(mixture):
    proc = scidiff.VP()
    x = mixture.sample(8, generator=torch.Generator().manual_seed(3))
    seen = []
    exact = mixture.model(proc, "eps")

    def model(x, t):
        seen.append(x.dtype)
        return exact(x, t)

    ll = scidiff.log_prob(model, proc, x.float(), prediction="eps", steps=32)
    assert set(seen) == {torch.float32} and ll.dtype == f64
    torch.testing.assert_close(ll, mixture.log_prob(x), rtol=1e-2, atol=0)


def test_eps_prediction_where_alpha_vanishes_is_named(mixture):
    proc = scidiff.RectifiedFlow()
    with pytest.raises(FloatingPointError, match="'eps' prediction does not determine x0 at t = 1"):
        scidiff.log_prob(mixture.model(proc, "eps"), proc, mixture.sample(2), steps=4)


def test_bits_per_dim():
    lp = torch.tensor([-2 * math.log(2) * 3])
    assert float(scidiff.bits_per_dim(lp, 3)) == pytest.approx(2.0)


def test_bad_inputs(mixture):
    proc = scidiff.VP()
    with pytest.raises(ValueError, match="'exact', 'hutchinson'"):
        scidiff.log_prob(mixture.model(proc), proc, torch.zeros(2, 2), divergence="skilling")
    with pytest.raises(ValueError, match="prediction="):
        scidiff.log_prob(lambda x, t: x, proc, torch.zeros(2, 2))
