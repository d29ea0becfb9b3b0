"""Small networks trained for a CPU minute on manifold mixtures reach a low MMD to the target."""
import pytest
import torch

import scidiff
from scidiff.manifolds import IGSO3, SO3, Torus, WrappedNormal
from scidiff.nn import MLPConfig, TimeMLP

f64 = torch.float64


def mmd(x, y, dist, h=0.5):
    """Biased MMD^2 with a Gaussian kernel on the geodesic distance (bandwidth h radians)."""
    def k(a, b):
        n, m = a.shape[0], b.shape[0]
        d = dist(a[:, None].expand(n, m, *a.shape[1:]), b[None].expand(n, m, *b.shape[1:]))
        return torch.exp(-d**2 / (2 * h**2)).mean()
    return float(k(x, x) + k(y, y) - 2 * k(x, y))


def torus_target():
    comps = [WrappedNormal([1.0, 2.5], 0.25), WrappedNormal([-2.0, -1.0], 0.35), WrappedNormal([2.8, -2.8], 0.2)]

    def sample(n, g):
        k = torch.randint(0, 3, (n,), generator=g)
        draws = torch.stack([c.sample(n, generator=g) for c in comps])
        return draws[k, torch.arange(n)]
    return sample


def so3_target():
    g = torch.Generator().manual_seed(0)
    means = SO3().random(3, generator=g)
    comps = [IGSO3(0.2, mean=means[0]), IGSO3(0.35, mean=means[1]), IGSO3(0.25, mean=means[2])]

    def sample(n, gen):
        k = torch.randint(0, 3, (n,), generator=gen)
        draws = torch.stack([c.sample(n, generator=gen) for c in comps])
        return draws[k, torch.arange(n)]
    return sample


CASES = {
    "torus": (Torus(2), torus_target, lambda x: torch.cat([x.cos(), x.sin()], -1), 4, 2),
    "so3": (SO3(), so3_target, lambda x: x.flatten(-2), 9, 3),
}


@pytest.mark.parametrize("name", CASES)
def test_geodesic_flow_network_learns_a_manifold_mixture(name):
    manifold, make_target, features, d_in, d_out = CASES[name]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    target = make_target()
    proc = scidiff.GeodesicFlow(manifold)
    net = TimeMLP(MLPConfig(dim=d_in, out_dim=d_out, width=128, depth=3, prediction="velocity")).double()
    model = lambda x, t: net(features(x), t)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for step in range(1500):
        loss = scidiff.manifold_loss(model, proc, target(256, g), generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = scidiff.sample(model, proc, (600,), steps=50, method="heun", generator=torch.Generator().manual_seed(2))
    ref, ref2 = target(600, torch.Generator().manual_seed(3)), target(600, torch.Generator().manual_seed(4))
    uniform = manifold.random(600, generator=torch.Generator().manual_seed(5))
    ours, floor, base = mmd(x, ref, manifold.dist), mmd(ref2, ref, manifold.dist), mmd(uniform, ref, manifold.dist)
    assert ours < 0.1 * base and ours < floor + 0.01, (ours, floor, base)
