import math

import pytest
import torch

import scidiff
from tests.conftest import ALL_PROCESSES

f64 = torch.float64
T = torch.linspace(0.02, 0.98, 25, dtype=f64)


@pytest.mark.parametrize("name", ALL_PROCESSES)
def test_derivatives_match_finite_differences(name):
    proc = ALL_PROCESSES[name]()
    t, h = T * proc.t_max, 1e-6
    for fn, dfn in [(proc.alpha, proc.dalpha), (proc.sigma, proc.dsigma)]:
        fd = (fn(t + h) - fn(t - h)) / (2 * h)
        torch.testing.assert_close(dfn(t), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ALL_PROCESSES)
def test_data_at_zero_and_valid_sde(name):
    proc = ALL_PROCESSES[name]()
    assert float(proc.alpha(0.0)) == 1.0 and float(proc.sigma(0.0)) == 0.0
    t = T * proc.t_max
    assert bool((proc.diffusion2(t) > 0).all())                  # the forward SDE exists
    assert bool((proc.log_snr(t)[1:] < proc.log_snr(t)[:-1]).all())  # SNR strictly decreasing
    # d(sigma^2)/dt = 2 f sigma^2 + g^2 (the SDE reproduces the marginal variance)
    lhs = 2 * proc.sigma(t) * proc.dsigma(t)
    torch.testing.assert_close(lhs, 2 * proc.drift_coef(t) * proc.sigma(t) ** 2 + proc.diffusion2(t))


@pytest.mark.parametrize("name", ALL_PROCESSES)
def test_log_snr_inverse(name):
    proc = ALL_PROCESSES[name]()
    t = torch.linspace(proc.t_min, proc.t_max * 0.999, 50, dtype=f64)
    torch.testing.assert_close(proc.t_of_log_snr(proc.log_snr(t)), t, rtol=1e-9, atol=1e-12)


def test_known_closed_forms():
    t = torch.tensor(0.5, dtype=f64)
    vp = scidiff.VP()
    assert float(vp.alpha(t)) == pytest.approx(math.exp(-0.25 * 0.25 * 19.9 - 0.5 * 0.5 * 0.1), rel=1e-12)
    torch.testing.assert_close(vp.alpha(t) ** 2 + vp.sigma(t) ** 2, torch.tensor(1.0, dtype=f64))
    rf = scidiff.RectifiedFlow()
    assert float(rf.alpha(t)) == 0.5 and float(rf.sigma(t)) == 0.5
    edm = scidiff.EDM()
    assert float(edm.sigma(edm.t_min)) == pytest.approx(0.002)
    assert float(edm.sigma(1.0)) == pytest.approx(80.0)
    ve = scidiff.VE()
    assert float(ve.sigma(1.0)) == pytest.approx(math.sqrt(50.0**2 - 0.01**2))
    cos = scidiff.VP("cosine")
    assert float(cos.alpha(1.0)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", ALL_PROCESSES)
def test_pf_velocity_equals_path_derivative(name, mixture):
    proc = ALL_PROCESSES[name]()
    g = torch.Generator().manual_seed(0)
    x0, eps = mixture.sample(64, generator=g), torch.randn(64, 2, generator=g, dtype=f64)
    t = 0.37 * proc.t_max
    x = proc.marginal(x0, t, eps)
    score = -eps / proc.sigma(t)                                   # conditional score
    v = proc.pf_velocity(x, t, score)
    torch.testing.assert_close(v, proc.dalpha(t) * x0 + proc.dsigma(t) * eps)
    drift, g_ = proc.reverse_sde(x, t, score)
    torch.testing.assert_close(drift, 2 * v - proc.drift_coef(t) * x)
    torch.testing.assert_close(g_**2, proc.diffusion2(t))


def test_prior_log_prob_is_normal():
    proc = scidiff.VE()
    x = torch.randn(10, 3, dtype=f64)
    s = proc.prior_std()
    expected = torch.distributions.Normal(0.0, s).log_prob(x).sum(1)
    torch.testing.assert_close(proc.prior_log_prob(x), expected)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_time_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scidiff.VP().alpha(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        scidiff.RectifiedFlow().sigma(torch.tensor([0.5, bad]))


def test_unknown_schedule():
    with pytest.raises(ValueError, match="'linear', 'cosine'"):
        scidiff.VP("quadratic")
