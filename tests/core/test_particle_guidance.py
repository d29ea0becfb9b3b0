"""Particle guidance on the torus: the repulsion is minus the gradient of its kernel potential,
respects the torus and the set's symmetries, and, added to an exact score, makes small sets of
samples of a two-mode density cover both modes far more often than independent draws do."""
import math

import pytest
import torch

import scidiff
from scidiff.manifolds import Torus
from scidiff.manifolds.wrapped_normal import WrappedNormal
from scidiff.particle_guidance import torus_bandwidth, torus_potential, torus_repulsion

f64 = torch.float64


def test_repulsion_is_minus_the_gradient_of_the_potential_at_fixed_bandwidth():
    x = (torch.rand(3, 7, 4, generator=torch.Generator().manual_seed(0), dtype=f64) * 2 - 1) * math.pi
    h = torus_bandwidth(x)
    assert h.shape == (3,) and bool((h > 0).all())
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torus_potential(xg, h).sum(), xg)
    torch.testing.assert_close(torus_repulsion(x), -grad)


def test_repulsion_is_periodic_shift_invariant_and_permutation_equivariant():
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 3, generator=g, dtype=f64) * 2 - 1) * math.pi
    r = torus_repulsion(x)
    torch.testing.assert_close(torus_repulsion(x + 2 * math.pi * torch.randint(-2, 3, x.shape, generator=g).to(f64)), r)
    torch.testing.assert_close(torus_repulsion(x + torch.tensor([0.3, -1.2, 2.0], dtype=f64)), r)
    perm = torch.randperm(6, generator=g)
    torch.testing.assert_close(torus_repulsion(x[perm]), r[perm])
    torch.testing.assert_close(r.sum(0), torch.zeros(3, dtype=f64))          # pairs push equal and opposite
    assert not r.abs().sum() == 0
    assert torus_repulsion(x[:1]).abs().sum() == 0 and torus_repulsion(x[:, :0]).shape == (6, 0)


def test_two_close_points_are_pushed_apart_along_the_torus():
    x = torch.tensor([[0.1], [-0.1], [3.0]], dtype=f64)
    r = torus_repulsion(x)
    assert r[0, 0] > 0 > r[1, 0]
    wrapped = torch.tensor([[math.pi - 0.05], [-math.pi + 0.05], [0.0]], dtype=f64)   # neighbours across +-pi
    r = torus_repulsion(wrapped)
    assert r[0, 0] < 0 < r[1, 0]


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_guided_sets_cover_both_modes_of_a_mixture(weight):
    """Exact score of 0.8 WN(0, 0.3) + 0.2 WN(pi, 0.3) under heat diffusion on the circle; 400
    sets of 4 samples by the reverse SDE. Independent draws hold both modes in a set with chance
    1 - 0.8^4 - 0.2^4 = 0.589; with the repulsion at weight 1 more than 80 % of sets do, and the
    samples still sit in the modes."""
    proc = scidiff.HeatDiffusion(Torus(1))
    means, weights, s0 = (0.0, math.pi), (0.8, 0.2), 0.3
    sets, n = 400, 4

    def model(x, t):
        s = (s0**2 + proc.sigma(t).to(f64) ** 2).sqrt()[:, None]
        comps = [WrappedNormal(torch.tensor([m], dtype=f64), s) for m in means]
        resp = torch.softmax(torch.stack([math.log(w) + c.log_prob(x) for w, c in zip(weights, comps)], -1), -1)
        score = sum(resp[:, i:i + 1] * c.score(x) for i, c in enumerate(comps))
        return score + weight * torus_repulsion(x.reshape(sets, n, 1)).reshape(sets * n, 1)

    gen = torch.Generator().manual_seed(0)
    x = scidiff.sample(model, proc, x_init=proc.prior_sample(sets * n, generator=gen), steps=50,
                       method="euler_maruyama", generator=gen).reshape(sets, n)
    near_0, near_pi = torch.cos(x) > math.cos(1.0), torch.cos(x - math.pi) > math.cos(1.0)
    both = float((near_0.any(1) & near_pi.any(1)).double().mean())
    assert float((near_0 | near_pi).double().mean()) > 0.98
    if weight == 0:
        assert abs(both - (1 - 0.8**4 - 0.2**4)) < 0.08, both       # 3 binomial standard errors
    else:
        assert both > 0.8, both
