"""scidiff.geometry: superposition, RMSD, angles, radius graphs and radial bases."""
import math

import numpy as np
import pytest
import torch

from scidiff.geometry import angle, cosine_cutoff, dihedral, gaussian_rbf, radius_graph, rmsd, superpose
from scidiff.manifolds import SO3

f64 = torch.float64


def test_superpose_recovers_a_rigid_motion_and_never_reflects_unless_asked():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 12, 3, generator=g, dtype=f64)
    rot = SO3().random(4, generator=g)
    shift = torch.randn(4, 3, generator=g, dtype=f64)
    b = a @ rot.transpose(-1, -2) + shift[:, None]
    r, s = superpose(a, b)
    assert torch.allclose(r, rot, atol=1e-10) and torch.allclose(s, shift, atol=1e-10)
    assert torch.allclose(rmsd(a, b), torch.zeros(4, dtype=f64), atol=1e-10)
    mirror = a * torch.tensor([1.0, 1.0, -1.0], dtype=f64)
    r, _ = superpose(a, mirror)                                  # best proper fit: no reflection
    assert torch.allclose(torch.linalg.det(r), torch.ones(4, dtype=f64))
    assert bool((rmsd(a, mirror) > 0.1).all())
    r, _ = superpose(a, mirror, reflection=True)                 # now the mirror fits exactly
    assert torch.allclose(torch.linalg.det(r), -torch.ones(4, dtype=f64))
    assert torch.allclose(rmsd(a, mirror, reflection=True), torch.zeros(4, dtype=f64), atol=1e-10)


def test_rmsd_is_the_minimum_over_rotations_and_matches_scipy():
    from scipy.spatial.transform import Rotation

    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 20, 3, generator=g, dtype=f64)
    ac, bc = (a - a.mean(0)).numpy(), (b - b.mean(0)).numpy()
    rot, _ = Rotation.align_vectors(bc, ac)                      # rotation taking ac onto bc
    expected = np.sqrt(((rot.apply(ac) - bc) ** 2).sum(1).mean())
    assert float(rmsd(a, b)) == pytest.approx(expected, abs=1e-10)
    others = SO3().random(200, generator=g)
    tried = (((a - a.mean(0)) @ others.transpose(-1, -2) - (b - b.mean(0))) ** 2).sum(-1).mean(-1).sqrt()
    assert float(rmsd(a, b)) <= float(tried.min()) + 1e-12
    assert float(rmsd(a, b, align=False)) == pytest.approx(float(((a - b) ** 2).sum(-1).mean().sqrt()))


def test_angle_and_dihedral_of_known_points():
    b, c = torch.zeros(3, dtype=f64), torch.tensor([1.0, 0.0, 0.0], dtype=f64)
    a = torch.tensor([0.0, 1.0, 0.0], dtype=f64)
    assert float(angle(a, b, c)) == pytest.approx(math.pi / 2)
    assert float(angle(c, b, c)) == pytest.approx(0.0, abs=1e-7)        # clamped, no NaN
    for phi in (-3.0, -1.2, 0.0, 0.4, 2.9):
        d = c + torch.tensor([0.0, math.cos(phi), math.sin(phi)], dtype=f64)
        assert float(dihedral(a, b, c, d)) == pytest.approx(phi, abs=1e-12)
    q = SO3().random(1, generator=torch.Generator().manual_seed(3))[0]      # invariant under rigid motions,
    moved = [p @ q.T + 1.5 for p in (a, b, c, d)]                           # odd under a reflection
    assert float(dihedral(*moved)) == pytest.approx(2.9, abs=1e-12)
    assert float(dihedral(*(p * torch.tensor([1.0, 1.0, -1.0], dtype=f64) for p in (a, b, c, d)))) == pytest.approx(-2.9)


def test_radius_graph_matches_brute_force_and_stays_inside_each_graph():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(30, 3, generator=g) * 2
    batch = torch.tensor([0] * 12 + [1] * 18)
    index, dist = radius_graph(pos, 2.5, batch)
    got = [tuple(e) for e in index.T.tolist()]
    d = np.linalg.norm(pos.numpy()[:, None] - pos.numpy()[None], axis=-1)
    b = batch.numpy()
    expected = [(j, i) for j in range(30) for i in range(30) if i != j and d[j, i] < 2.5 and b[i] == b[j]]
    assert got == expected and got                                           # ordered by graph, source, target
    np.testing.assert_allclose(dist.numpy(), [d[j, i] for j, i in got], rtol=1e-5)
    one, _ = radius_graph(pos[:12], 2.5)
    assert torch.equal(one, index[:, : one.shape[1]])


def test_radial_features():
    d = torch.linspace(0, 6, 61, dtype=f64)
    f = gaussian_rbf(d, 0.0, 6.0, 7, 1.0)
    assert f.shape == (61, 7)
    assert torch.equal(f.argmax(0), torch.arange(0, 61, 10))               # each Gaussian peaks on its centre
    assert float(f[10, 1]) == pytest.approx(1.0) and float(f[20, 1]) == pytest.approx(math.exp(-0.5))
    env = cosine_cutoff(d, 5.0)
    assert float(env[0]) == 1.0 and float(env[25]) == pytest.approx(0.5) and bool((env[50:] == 0).all())
    assert bool((env.diff() <= 0).all())
