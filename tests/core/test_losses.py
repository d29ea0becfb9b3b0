import itertools

import pytest
import torch
from torch import nn

import scidiff
from scidiff.metrics import SlicedW2
from scidiff.parameterization import convert

f64 = torch.float64


def perturbed_models(mixture, proc):
    """A deliberately wrong denoiser, exposed in every prediction space."""
    exact = mixture.model(proc, "x0")

    def x0_model(x, t):
        return 0.8 * exact(x, t) + 0.1 * torch.sin(3 * x)

    def in_space(p):
        def m(x, t):
            a, s, da, ds = proc.coefficients(t)
            return convert(x0_model(x, t), "x0", p, x, a, s, da, ds)
        return m
    return {p: in_space(p) for p in scidiff.PREDICTIONS}


@pytest.mark.parametrize("weighting", ["snr", "min_snr", "edm"])
def test_weightings_are_parameterization_invariant(weighting, mixture):
    proc = scidiff.VP()
    models = perturbed_models(mixture, proc)
    g = torch.Generator().manual_seed(0)
    x0 = mixture.sample(64, generator=g)
    t = torch.rand(64, generator=g, dtype=f64) * 0.98 + 0.01
    noise = torch.randn(64, 2, generator=g, dtype=f64)
    losses = {p: scidiff.diffusion_loss(models[p], proc, x0, prediction=p, weighting=weighting, t=t,
                                        noise=noise, reduction="none") for p in models}
    for p in models:
        torch.testing.assert_close(losses[p], losses["x0"], rtol=1e-8, atol=1e-10)


def test_uniform_eps_loss_is_snr_weighted_x0_loss(mixture):
    proc = scidiff.VP("cosine")
    models = perturbed_models(mixture, proc)
    g = torch.Generator().manual_seed(1)
    x0 = mixture.sample(32, generator=g)
    t, noise = torch.rand(32, generator=g, dtype=f64) * 0.9 + 0.05, torch.randn(32, 2, generator=g, dtype=f64)
    kw = dict(t=t, noise=noise, reduction="none")
    l_eps = scidiff.diffusion_loss(models["eps"], proc, x0, prediction="eps", **kw)
    l_x0 = scidiff.diffusion_loss(models["x0"], proc, x0, prediction="x0", **kw)
    torch.testing.assert_close(l_eps, l_x0 * torch.exp(proc.log_snr(t)))
    gamma = 5.0
    l_min = scidiff.diffusion_loss(models["eps"], proc, x0, prediction="eps", weighting="min_snr", **kw)
    torch.testing.assert_close(l_min, l_eps * torch.exp(proc.log_snr(t)).clamp(max=gamma) / torch.exp(proc.log_snr(t)))


def test_exact_denoiser_minimises_the_loss(mixture):
    proc = scidiff.EDM()
    g = torch.Generator().manual_seed(2)
    x0 = mixture.sample(20000, generator=g)
    t = scidiff.sample_time(proc, 20000, distribution="lognormal", generator=g).double()
    noise = torch.randn(20000, 2, generator=g, dtype=f64)
    exact = mixture.model(proc, "x0")
    kw = dict(prediction="x0", weighting="edm", t=t, noise=noise)
    best = scidiff.diffusion_loss(exact, proc, x0, **kw)
    for wrong in (lambda x, t: 1.05 * exact(x, t), lambda x, t: exact(x, t) + 0.05):
        assert float(scidiff.diffusion_loss(wrong, proc, x0, **kw)) > float(best)


def test_flow_matching_target_is_eps_minus_x0():
    g = torch.Generator().manual_seed(3)
    x0, noise, t = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g), torch.rand(16, generator=g)
    assert float(scidiff.flow_matching_loss(lambda x, t: noise - x0, x0, t=t, noise=noise)) < 1e-12
    assert float(scidiff.flow_matching_loss(lambda x, t: x0 - noise, x0, t=t, noise=noise)) > 1.0


def test_ot_pairing_is_the_optimal_permutation():
    g = torch.Generator().manual_seed(4)
    x0, noise = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    paired = scidiff.ot_pair(x0, noise)
    cost = lambda y: float(((x0 - y) ** 2).sum())
    brute = min(cost(noise[list(p)]) for p in itertools.permutations(range(6)))
    assert cost(paired) == pytest.approx(brute)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, noise.tolist()))


def test_edm_preconditioning_matches_karras_table():
    proc = scidiff.EDM()
    pre = scidiff.EDMPrecond(lambda x, c: torch.zeros_like(x), proc, sigma_data=0.5)
    t = torch.tensor([0.01, 0.3, 1.0], dtype=f64)
    sig = proc.sigma(t)
    c_skip, c_out, c_in, c_noise = pre.coefficients(t)
    torch.testing.assert_close(c_skip, 0.25 / (sig**2 + 0.25))
    torch.testing.assert_close(c_out, sig * 0.5 / (sig**2 + 0.25).sqrt())
    torch.testing.assert_close(c_in, 1 / (sig**2 + 0.25).sqrt())
    torch.testing.assert_close(c_noise, sig.log() / 4)
    rf = scidiff.EDMPrecond(lambda x, c: x, scidiff.RectifiedFlow())
    out = rf(torch.ones(2, 2), torch.ones(2))                   # alpha = 0: still finite
    assert bool(torch.isfinite(out).all())


def test_lognormal_times_follow_edm():
    proc = scidiff.EDM(sigma_min=1e-4, sigma_max=1e4)
    t = scidiff.sample_time(proc, 50000, distribution="lognormal", generator=torch.Generator().manual_seed(5))
    log_sig = proc.sigma(t.double()).log()
    assert float(log_sig.mean()) == pytest.approx(-1.2, abs=0.03)
    assert float(log_sig.std()) == pytest.approx(1.2, abs=0.03)


def test_bad_loss_inputs(mixture):
    proc = scidiff.VP()
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="'uniform', 'snr', 'min_snr', 'edm'"):
        scidiff.diffusion_loss(lambda x, t: x, proc, x0, prediction="eps", weighting="p2")
    with pytest.raises(ValueError, match="'eps', 'x0'"):
        scidiff.diffusion_loss(lambda x, t: x, proc, x0, prediction="noise")
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        scidiff.diffusion_loss(lambda x, t: x, proc, x0, prediction="eps", t=torch.full((4,), 2.0))
    with pytest.raises(ValueError, match="model output has shape"):
        scidiff.diffusion_loss(lambda x, t: x[:, :1], proc, x0, prediction="eps")


class TinyDenoiser(nn.Module):
    """A small MLP on (x, Fourier features of t) for the end-to-end training test."""

    def __init__(self, width=128):
        super().__init__()
        self.freq = nn.Parameter(torch.randn(16) * 4, requires_grad=False)
        self.net = nn.Sequential(nn.Linear(2 + 32, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x, t):
        f = t[:, None] * self.freq
        return self.net(torch.cat([x, f.sin(), f.cos()], 1))


@pytest.mark.parametrize("recipe", ["vp-eps", "rf-ot"])
def test_training_a_small_network_learns_the_mixture(recipe, mixture):
    torch.manual_seed(0)
    net = TinyDenoiser()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    proc = scidiff.VP() if recipe == "vp-eps" else scidiff.RectifiedFlow()
    g = torch.Generator().manual_seed(6)
    sw = SlicedW2(mixture, 2000, n_projections=64, generator=torch.Generator().manual_seed(0))

    def score():
        with torch.no_grad():
            pred = "eps" if recipe == "vp-eps" else "velocity"
            x = scidiff.sample(net, proc, (2000, 2), steps=20, prediction=pred, generator=torch.Generator().manual_seed(1))
        return sw(x)

    before = score()
    for _ in range(1500):
        x0 = mixture.sample(256, generator=g).float()
        if recipe == "vp-eps":
            loss = scidiff.diffusion_loss(net, proc, x0, prediction="eps", generator=g)
        else:
            loss = scidiff.flow_matching_loss(net, x0, ot_pairing=True, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = score()
    assert after < 0.25 * before and after < 0.15, (before, after)
