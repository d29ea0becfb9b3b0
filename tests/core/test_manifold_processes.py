"""Manifold processes driven by exact fields: heat diffusion of wrapped normals / IGSO(3)s
(closed-form marginals), geodesic flow matching onto finite atoms, likelihoods, products."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

import scidiff
from scidiff.manifolds import IGSO3, SE3, SO3, Euclidean, Torus, WrappedNormal, so3, wrap

f64 = torch.float64


def exact_heat_torus(proc, mean, s0):
    """Data WrappedNormal(mean, s0): the marginal at t is WrappedNormal(mean, sqrt(s0^2 + sigma(t)^2))."""
    def model(x, t):
        s = (s0**2 + proc.sigma(t.to(f64)) ** 2).sqrt()[:, None]
        return WrappedNormal(mean, s).score(x)
    return model


def exact_heat_so3(proc, mean, s0):
    def model(x, t):
        return IGSO3((s0**2 + proc.sigma(t.to(f64)) ** 2).sqrt(), mean=mean).score(x)
    return model


def wn_cdf(mean, s):
    grid = torch.linspace(-math.pi, math.pi, 100_001, dtype=f64)
    d = WrappedNormal([mean], s).log_prob(grid[:, None]).exp()
    cdf = np.concatenate([[0.0], torch.cumulative_trapezoid(d, grid).numpy()])
    return lambda q: np.interp(q, grid.numpy(), cdf / cdf[-1])


@pytest.mark.parametrize("method,steps", [("euler_maruyama", 400), ("euler", 100), ("heun", 40)])
def test_heat_diffusion_on_the_torus_samples_the_data(method, steps):
    proc = scidiff.HeatDiffusion(Torus(2), sigma_max=2 * math.pi)
    mean, s0 = torch.tensor([1.0, -2.5], dtype=f64), 0.3
    x = scidiff.sample(exact_heat_torus(proc, mean, s0), proc, (3000,), steps=steps, method=method,
                       generator=torch.Generator().manual_seed(0))
    for i in range(2):
        assert stats.kstest(x[:, i].numpy(), wn_cdf(float(mean[i]), s0)).pvalue > 1e-3


@pytest.mark.parametrize("method,steps", [("euler_maruyama", 300), ("heun", 160)])
def test_heat_diffusion_on_so3_samples_igso3(method, steps):
    proc = scidiff.HeatDiffusion(SO3(), schedule="logarithmic", sigma_min=0.1, sigma_max=2.5)
    mean = SO3().random(1, generator=torch.Generator().manual_seed(1))[0]
    s0 = 0.4
    x = scidiff.sample(exact_heat_so3(proc, mean, s0), proc, (2000,), steps=steps, method=method,
                       generator=torch.Generator().manual_seed(2))
    w = so3.rotation_angle(mean.T @ x).numpy()
    grid = torch.linspace(0, math.pi, 100_001, dtype=f64)
    from scidiff.manifolds.igso3 import log_density_haar
    dens = log_density_haar(grid, torch.tensor(s0, dtype=f64)).exp() * (1 - torch.cos(grid)) / math.pi
    cdf = np.concatenate([[0.0], torch.cumulative_trapezoid(dens, grid).numpy()])
    assert stats.kstest(w, lambda q: np.interp(q, grid.numpy(), cdf)).pvalue > 1e-3


def atoms_flow_model(atoms, weights, manifold):
    """Exact marginal velocity of linear geodesic flow matching from the uniform prior to atoms.

    Given atom a, x_t is uniform on the geodesic ball/box of radius pi t around a; the field is
    the posterior-weighted conditional velocity. Points that discretisation pushed just outside
    every ball are given to the nearest one (a large finite penalty instead of -inf)."""
    def model(x, t):
        tt = float(t[0])
        if isinstance(manifold, Torus):
            d = wrap(x[:, None, :] - atoms[None])                                 # (n, K, D)
            excess = d.abs().max(-1).values - math.pi * tt
            logp = torch.where(excess < 0, -atoms.shape[1] * math.log(2 * math.pi * tt), -1e3 * excess)
            u = d / tt
        else:
            v = so3.matrix_to_rotvec(atoms.transpose(-1, -2)[None] @ x[:, None])   # Log(a^T x), (n, K, 3)
            r = v.norm(dim=-1)
            excess = r - math.pi * tt
            haar = lambda a: torch.log((1 - torch.cos(a)) / (4 * math.pi**2 * a**2))
            inner = haar((r / tt).clamp(1e-6, math.pi)) - 3 * math.log(tt) - haar(r.clamp_min(1e-6))
            logp = torch.where(excess < 0, inner, -1e3 * excess)
            u = v / tt                                                             # body frame at x
        w = torch.softmax(logp + torch.log(weights), dim=1)
        return (w[..., None] * u).sum(1)
    return model


@pytest.mark.parametrize("manifold", [Torus(2), SO3()], ids=["torus", "so3"])
def test_geodesic_flow_with_the_exact_field_lands_on_the_atoms(manifold):
    g = torch.Generator().manual_seed(3)
    atoms = manifold.random(3, generator=g)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=f64)
    proc = scidiff.GeodesicFlow(manifold)
    x = scidiff.sample(atoms_flow_model(atoms, weights, manifold), proc, (3000,), steps=50, method="euler",
                       generator=torch.Generator().manual_seed(4))
    dist = torch.stack([manifold.dist(x, a.expand_as(x)) for a in atoms], 1)
    nearest = dist.min(1)
    assert float(nearest.values.max()) < 1e-6
    counts = torch.bincount(nearest.indices, minlength=3).numpy()
    assert stats.chisquare(counts, 3000 * weights.numpy()).pvalue > 1e-3


def test_flow_targets_are_the_geodesic_velocity():
    """d/dt x_t (finite difference along the path) equals the regression target."""
    for m in (Torus(3), SO3(), Euclidean(2)):
        proc = scidiff.GeodesicFlow(m, prior="normal" if isinstance(m, Euclidean) else "uniform", schedule="exp", rate=5.0)
        x0 = m.random(6, generator=torch.Generator().manual_seed(5))
        t = torch.full((6,), 0.4, dtype=f64)
        h = 1e-6
        path = proc.sample_path(x0, t, generator=torch.Generator().manual_seed(6))
        xb = proc.sample_path(x0, t + h, generator=torch.Generator().manual_seed(6)).x
        torch.testing.assert_close(m.log(path.x, xb) / h, path.target, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("manifold", ["torus", "so3"])
def test_heat_targets_are_kernel_scores(manifold):
    m = Torus(2) if manifold == "torus" else SO3()
    proc = scidiff.HeatDiffusion(m)
    x0 = m.random(5, generator=torch.Generator().manual_seed(7))
    t = torch.full((5,), 0.5, dtype=f64)
    path = proc.sample_path(x0, t, generator=torch.Generator().manual_seed(8))
    kernel = proc.kernel(x0, proc.sigma(t))
    torch.testing.assert_close(path.target, kernel.score(path.x))


def test_path_tangents_carry_the_data_to_the_noisy_point():
    """``exp(x0, tangent) = x_t`` for every process and manifold, products included; on the torus
    the heat tangent is the unwrapped displacement (a torsion turned by it lands on x_t)."""
    gen = lambda: torch.Generator().manual_seed(9)
    cases = [(scidiff.HeatDiffusion(Torus(2)), Torus(2)), (scidiff.HeatDiffusion(SO3()), SO3()),
             (scidiff.GeodesicFlow(SO3(), schedule="exp", rate=5.0), SO3()), (scidiff.GeodesicFlow(Torus(3)), Torus(3)),
             (scidiff.GaussianFactor(scidiff.VP(), "eps", shape=(3,)), Euclidean(3))]
    for proc, m in cases:
        x0 = m.random(6, generator=gen())
        t = torch.linspace(0.2, 0.9, 6, dtype=f64)
        path = proc.sample_path(x0, t, generator=gen())
        torch.testing.assert_close(m.exp(x0, path.tangent), path.x, atol=1e-9, rtol=0)
        assert path.t is t
    heat = scidiff.HeatDiffusion(Torus(1), sigma_max=3 * math.pi)           # displacements beyond pi stay unwrapped
    path = heat.sample_path(torch.zeros(2000, 1, dtype=f64), torch.ones(2000, dtype=f64), generator=gen())
    assert float(path.tangent.abs().max()) > math.pi
    frames = scidiff.ProductProcess([scidiff.GaussianFactor(scidiff.RectifiedFlow(), "velocity"), scidiff.GeodesicFlow(SO3())])
    x0 = SE3().random(4, generator=gen())
    path = frames.sample_path(x0, torch.full((4,), 0.5, dtype=f64), generator=gen())
    for a, b in zip(SE3().exp(x0, path.tangent), path.x):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=0)


def test_riemannian_likelihood_matches_known_densities():
    proc = scidiff.HeatDiffusion(Torus(2), sigma_max=2 * math.pi)
    mean, s0 = torch.tensor([0.5, 2.0], dtype=f64), 0.4
    x = WrappedNormal(mean, s0).sample(6, generator=torch.Generator().manual_seed(9))
    ll = scidiff.log_prob(exact_heat_torus(proc, mean, s0), proc, x, steps=64, t_min=0.0)
    exact = WrappedNormal(mean, s0).log_prob(x)
    assert float((ll - exact).abs().max()) < 0.02
    so = scidiff.HeatDiffusion(SO3(), schedule="logarithmic", sigma_min=0.1, sigma_max=3.5)
    mean_r = SO3().random(1, generator=torch.Generator().manual_seed(10))[0]
    r = IGSO3(0.5, mean=mean_r).sample(4, generator=torch.Generator().manual_seed(11))
    ll = scidiff.log_prob(exact_heat_so3(so, mean_r, 0.5), so, r, steps=64, t_min=0.0)
    assert float((ll - IGSO3(0.5, mean=mean_r).log_prob(r)).abs().max()) < 0.02


def test_products_run_each_factor_and_se3_flow_lands_on_frames():
    """SE(3) flow: translations by rectified flow (velocity), rotations geodesic; exact fields."""
    g = torch.Generator().manual_seed(12)
    rot_atom = SO3().random(1, generator=g)
    trans = torch.tensor([[1.0, -2.0, 0.5]], dtype=f64)
    proc = scidiff.ProductProcess([scidiff.GaussianFactor(scidiff.RectifiedFlow(), "velocity", shape=(3,)),
                                   scidiff.GeodesicFlow(SO3())])
    assert isinstance(proc.manifold, SE3().__class__.__bases__[0])
    rot_model = atoms_flow_model(rot_atom, torch.ones(1, dtype=f64), SO3())

    def model(x, t):
        tt = t[:, None]
        return (x[0] - trans) / tt, rot_model(x[1], t)          # RF velocity toward the single point

    x = scidiff.sample(model, proc, (50,), steps=20, method="heun", generator=g)
    torch.testing.assert_close(x[0], trans.expand(50, 3), atol=1e-6, rtol=0)
    assert float(SO3().dist(x[1], rot_atom.expand(50, 3, 3)).max()) < 1e-6
    with pytest.raises(ValueError, match="no SDE"):
        scidiff.sample(model, proc, (5,), method="euler_maruyama")


@pytest.mark.parametrize("zeta", [1.0, 0.5, 0.1])
def test_a_scaled_down_random_walk_narrows_the_data_by_its_noise_scale(zeta):
    """Reverse SDE with the injected noise times zeta (FrameDiff's noise_scale), exact score of
    Gaussian data N(m, s0^2) under heat diffusion, started from the exact marginal N(m, v_max):
    the variance u at marginal variance v obeys du/dv = 2u/v - zeta^2, so
    u = (1 - zeta^2) v^2 / v_max + zeta^2 v, and the samples end with variance
    (1 - zeta^2) s0^4 / v_max + zeta^2 s0^2. sigma_max = 1 keeps wrapping negligible."""
    proc = scidiff.HeatDiffusion(Torus(1), sigma_max=1.0)
    mean, s0 = torch.tensor([1.0], dtype=f64), 0.3
    v_max = s0**2 + float(proc.sigma(torch.tensor(1.0, dtype=f64))) ** 2
    g = torch.Generator().manual_seed(3)
    x_init = wrap(mean + math.sqrt(v_max) * torch.randn(4000, 1, generator=g, dtype=f64))
    x = scidiff.sample(exact_heat_torus(proc, mean, s0), proc, steps=400, method="euler_maruyama",
                       x_init=x_init, generator=g, noise_scale=zeta)
    expected = math.sqrt((1 - zeta**2) * s0**4 / v_max + zeta**2 * s0**2)
    spread = float(wrap(x[:, 0] - mean).std())
    assert abs(spread - expected) < 0.04 * expected, (spread, expected)
    with pytest.raises(ValueError, match="unknown option"):
        scidiff.sample(exact_heat_torus(proc, mean, s0), proc, (3,), method="euler", noise_scale=0.5)


def test_centre_of_mass_free_noise():
    f = scidiff.GaussianFactor(scidiff.VP(), "eps", shape=(7, 3), center=True)
    z = f.prior_sample(4, generator=torch.Generator().manual_seed(13))
    torch.testing.assert_close(z.mean(-2), torch.zeros(4, 3, dtype=f64), atol=1e-12, rtol=0)
    x0 = torch.randn(4, 7, 3, dtype=f64)
    x0 = x0 - x0.mean(-2, keepdim=True)
    xt = f.sample_path(x0, torch.full((4,), 0.5, dtype=f64), generator=torch.Generator().manual_seed(14)).x
    torch.testing.assert_close(xt.mean(-2), torch.zeros(4, 3, dtype=f64), atol=1e-12, rtol=0)


def test_bad_manifold_inputs():
    with pytest.raises(ValueError, match="Torus or SO3"):
        scidiff.HeatDiffusion(Euclidean(3))
    with pytest.raises(ValueError, match="'euler', 'heun', 'euler_maruyama'"):
        scidiff.sample(lambda x, t: x, scidiff.GeodesicFlow(Torus(1)), (3,), method="dpm++2m")
    with pytest.raises(FloatingPointError, match="step 0"):
        scidiff.sample(lambda x, t: x * math.nan, scidiff.GeodesicFlow(Torus(1)), (3,), steps=4)


def test_igso3_and_wrapped_normal_priors():
    prior = IGSO3(0.8)
    proc = scidiff.GeodesicFlow(SO3(), prior=prior, schedule="exp", rate=10.0)
    x1 = proc.prior_sample(500, generator=torch.Generator().manual_seed(15))
    assert x1.shape == (500, 3, 3)
    torch.testing.assert_close(proc.prior_log_prob(x1), prior.log_prob(x1))
    assert float(proc.data_fraction(torch.tensor(0.0, dtype=f64))) == 1.0
    assert float(proc.data_fraction(torch.tensor(1.0, dtype=f64))) == 0.0
    wn = WrappedNormal([0.0, 0.0], 1.0)
    flow = scidiff.GeodesicFlow(Torus(2), prior=wn)
    z = flow.prior_sample(200, generator=torch.Generator().manual_seed(16))
    torch.testing.assert_close(flow.prior_log_prob(z), wn.log_prob(z))


def test_manifold_loss_weights_and_products():
    proc = scidiff.HeatDiffusion(Torus(2))
    x0 = Torus(2).random(8, generator=torch.Generator().manual_seed(17))
    t = torch.full((8,), 0.3, dtype=f64)
    zero = scidiff.manifold_loss(lambda x, tt: torch.zeros_like(x), proc, x0, t=t, reduction="none",
                                 generator=torch.Generator().manual_seed(18))
    target = proc.sample_path(x0, t, generator=torch.Generator().manual_seed(18)).target
    torch.testing.assert_close(zero, proc.sigma(t) ** 2 * (target**2).sum(-1))
    frames = scidiff.ProductProcess([scidiff.GaussianFactor(scidiff.RectifiedFlow(), "velocity"),
                                     scidiff.GeodesicFlow(SO3())])
    x0 = SE3().random(4, generator=torch.Generator().manual_seed(19))
    loss = scidiff.manifold_loss(lambda x, tt: (torch.zeros_like(x[0]), torch.zeros(4, 3, dtype=f64)), frames, x0)
    assert loss.shape == () and float(loss) > 0
