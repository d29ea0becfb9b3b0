"""Wrapped normal and IGSO(3): normalisation, sampling (KS), scores, invariance."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from scidiff.manifolds import IGSO3, SO3, WrappedNormal, so3
from scidiff.manifolds.igso3 import _log_images, _log_series, log_density_haar

f64 = torch.float64
SIGMAS = [1e-3, 0.05, 0.3, 1.0, 3.0]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_wrapped_normal_integrates_to_one_and_samples_match(sigma):
    wn = WrappedNormal([0.7], sigma)
    lo = max(-math.pi, 0.7 - 12 * sigma)
    hi = min(math.pi, 0.7 + 12 * sigma)
    x = torch.linspace(-math.pi, math.pi, 400_001, dtype=f64)[:, None]
    total = torch.trapezoid(wn.log_prob(x).exp(), x[:, 0])
    assert float(total) == pytest.approx(1.0, abs=1e-6)
    s = wn.sample(4000, generator=torch.Generator().manual_seed(0))[:, 0].numpy()
    grid = torch.linspace(-math.pi, math.pi, 200_001, dtype=f64)
    cdf = torch.cumulative_trapezoid(wn.log_prob(grid[:, None]).exp(), grid)
    cdf = np.concatenate([[0.0], (cdf / cdf[-1]).numpy()])
    assert stats.kstest(s, lambda q: np.interp(q, grid.numpy(), cdf)).pvalue > 1e-3
    assert lo < float(np.median(s)) < hi


@pytest.mark.parametrize("sigma", [0.05, 0.5, 2.0])
def test_wrapped_normal_score_is_gradient(sigma):
    wn = WrappedNormal([0.3, -2.9], sigma)
    x = wn.sample(50, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    (g,) = torch.autograd.grad(wn.log_prob(x).sum(), x)
    torch.testing.assert_close(wn.score(x.detach()), g)


def test_igso3_series_and_image_forms_agree():
    w = torch.linspace(0.01, math.pi - 0.01, 50, dtype=f64)
    for s in [0.8, 1.0, 1.5]:
        sig = torch.full_like(w, s)
        torch.testing.assert_close(_log_images(w, sig), _log_series(w, sig), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_igso3_angle_density_integrates_to_one(sigma):
    w = torch.linspace(0, math.pi, 400_001, dtype=f64)
    dens = torch.exp(log_density_haar(w, torch.tensor(sigma, dtype=f64))) * (1 - torch.cos(w)) / math.pi
    assert float(torch.trapezoid(dens, w)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_igso3_samples_follow_the_angle_law(sigma):
    d = IGSO3(sigma)
    r = d.sample(4000, generator=torch.Generator().manual_seed(2))
    assert r.shape == (4000, 3, 3)
    w = so3.rotation_angle(r).numpy()
    grid = torch.linspace(0, math.pi, 400_001, dtype=f64)
    dens = torch.exp(log_density_haar(grid, torch.tensor(sigma, dtype=f64))) * (1 - torch.cos(grid)) / math.pi
    cdf = np.concatenate([[0.0], torch.cumulative_trapezoid(dens, grid).numpy()])
    assert stats.kstest(w, lambda q: np.interp(q, grid.numpy(), cdf)).pvalue > 1e-3
    # uniform axis: the mean axis is near zero
    axis = so3.matrix_to_rotvec(r)
    axis = axis / axis.norm(dim=1, keepdim=True)
    assert float(axis.mean(0).norm()) < 0.06


def test_igso3_small_sigma_is_a_3d_gaussian():
    """For sigma -> 0 the rotation vector is N(0, sigma^2 I): the angle is sigma * chi_3."""
    w = so3.rotation_angle(IGSO3(1e-3).sample(4000, generator=torch.Generator().manual_seed(3))).numpy()
    assert stats.kstest(w / 1e-3, stats.chi(3).cdf).pvalue > 1e-3


def test_igso3_large_sigma_is_uniform():
    lp = IGSO3(5.0).log_prob(SO3().random(100, generator=torch.Generator().manual_seed(4)))
    torch.testing.assert_close(lp, torch.full((100,), -math.log(8 * math.pi**2), dtype=f64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("sigma", [0.02, 0.4, 1.5])
def test_igso3_score_is_gradient_in_the_body_frame(sigma):
    mean = SO3().random(1, generator=torch.Generator().manual_seed(5))[0]
    d = IGSO3(sigma, mean=mean)
    r = d.sample(20, generator=torch.Generator().manual_seed(6))
    delta = torch.zeros(20, 3, dtype=f64, requires_grad=True)
    (g,) = torch.autograd.grad(d.log_prob(r @ so3.rotvec_to_matrix(delta)).sum(), delta)
    torch.testing.assert_close(d.score(r), g, rtol=1e-6, atol=1e-6)


def test_igso3_is_bi_invariant():
    g = torch.Generator().manual_seed(7)
    r, q = SO3().random(50, generator=g), SO3().random(50, generator=g)
    d = IGSO3(0.7)
    torch.testing.assert_close(d.log_prob(q @ r @ q.transpose(-1, -2)), d.log_prob(r))


def test_per_sample_sigma():
    sig = torch.tensor([0.01, 0.5, 2.0], dtype=f64)
    w = IGSO3(sig).sample_angle(3, generator=torch.Generator().manual_seed(8))
    assert w.shape == (3,) and float(w[0]) < 0.1
    with pytest.raises(ValueError, match="positive"):
        IGSO3(0.0)


def test_per_sample_sigma_with_repeats_follows_each_entrys_law():
    """A batch that repeats a few sigmas (one per chain, as the backbone models draw them) is
    tabulated once per distinct value; every entry still follows the law of its own sigma."""
    pattern = torch.tensor([0.1, 0.9, 0.1, 0.4], dtype=f64)
    sig = pattern.repeat(1500)
    w = IGSO3(sig).sample_angle(len(sig), generator=torch.Generator().manual_seed(9)).numpy()
    grid = torch.linspace(0, math.pi, 200_001, dtype=f64)
    for s in (0.1, 0.4, 0.9):
        dens = torch.exp(log_density_haar(grid, torch.tensor(s, dtype=f64))) * (1 - torch.cos(grid)) / math.pi
        cdf = np.concatenate([[0.0], torch.cumulative_trapezoid(dens, grid).numpy()])
        sel = (sig == s).numpy()
        assert stats.kstest(w[sel], lambda q: np.interp(q, grid.numpy(), cdf)).pvalue > 1e-3
    with pytest.raises(ValueError, match="cannot draw"):
        IGSO3(pattern).sample_angle(5)
