import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scidiff.manifolds import SE3, SO3, Euclidean, Product, Torus, so3, wrap

f64 = torch.float64


def rotvecs_with_angles(angles, seed=0):
    g = torch.Generator().manual_seed(seed)
    axis = torch.randn(len(angles), 3, generator=g, dtype=f64)
    axis = axis / axis.norm(dim=1, keepdim=True)
    return axis * torch.tensor(angles, dtype=f64)[:, None]


EDGE_ANGLES = [0.0, 1e-12, 1e-8, 1e-5, 1e-3, 0.5, 2.0, math.pi - 1e-3, math.pi - 1e-6, math.pi - 1e-9]


def test_rotvec_matrix_round_trip_near_zero_and_pi():
    v = rotvecs_with_angles(EDGE_ANGLES)
    r = so3.rotvec_to_matrix(v)
    eye = torch.eye(3, dtype=f64).expand(len(v), 3, 3)
    torch.testing.assert_close(r @ r.transpose(-1, -2), eye, atol=1e-14, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(len(v), dtype=f64))
    back = so3.matrix_to_rotvec(r)
    torch.testing.assert_close(so3.rotvec_to_matrix(back), r, atol=1e-12, rtol=0)
    # the vector itself comes back except at exactly pi (where v and -v are the same rotation)
    torch.testing.assert_close(back[:-1], v[:-1], atol=2e-9, rtol=0)
    torch.testing.assert_close(so3.quaternion_to_rotvec(so3.rotvec_to_quaternion(v)), v, atol=1e-12, rtol=0)
    torch.testing.assert_close(so3.quaternion_to_matrix(so3.matrix_to_quaternion(r)), r, atol=1e-12, rtol=0)


def test_matches_scipy_rotation():
    from scipy.spatial.transform import Rotation

    v = rotvecs_with_angles([0.1, 1.0, 2.5, 3.1], seed=1)
    ref = torch.from_numpy(Rotation.from_rotvec(v.numpy()).as_matrix())
    torch.testing.assert_close(so3.rotvec_to_matrix(v), ref)
    q = torch.from_numpy(Rotation.from_rotvec(v.numpy()).as_quat())       # scipy: (x, y, z, w)
    ours = so3.rotvec_to_quaternion(v)
    torch.testing.assert_close(ours, torch.cat([q[:, 3:], q[:, :3]], 1) * torch.sign(q[:, 3:]))
    assert bool((so3.hat(v) @ v[..., None]).abs().max() < 1e-15)
    torch.testing.assert_close(so3.vee(so3.hat(v)), v)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), scale=st.floats(0.0, 3.1))
def test_so3_exp_log_round_trip(seed, scale):
    m = SO3()
    g = torch.Generator().manual_seed(seed)
    x = m.random(8, generator=g)
    v = rotvecs_with_angles([scale] * 8, seed=seed)
    y = m.exp(x, v)
    torch.testing.assert_close(m.log(x, y), v, atol=1e-8, rtol=0)
    torch.testing.assert_close(m.dist(x, y), torch.full((8,), scale, dtype=f64), atol=1e-8, rtol=0)
    mid = m.geodesic(x, y, 0.5)
    torch.testing.assert_close(m.dist(x, mid), torch.full((8,), scale / 2, dtype=f64), atol=1e-8, rtol=0)


def test_so3_distance_is_bi_invariant_and_random_is_haar():
    m = SO3()
    g = torch.Generator().manual_seed(0)
    x, y, q = m.random(100, generator=g), m.random(100, generator=g), m.random(100, generator=g)
    torch.testing.assert_close(m.dist(q @ x, q @ y), m.dist(x, y))
    torch.testing.assert_close(m.dist(x @ q, y @ q), m.dist(x, y))
    # Haar: the rotation angle has density (1 - cos w) / pi, so E[w] = pi/2 + 2/pi
    w = so3.rotation_angle(m.random(200_000, generator=g))
    assert float(w.mean()) == pytest.approx(math.pi / 2 + 2 / math.pi, abs=5e-3)


def test_torus_wraps_and_takes_the_short_way():
    t = Torus(2)
    x = torch.tensor([[3.0, -3.0]], dtype=f64)
    y = torch.tensor([[-3.0, 3.0]], dtype=f64)
    torch.testing.assert_close(t.log(x, y), torch.tensor([[2 * math.pi - 6, 6 - 2 * math.pi]], dtype=f64))
    assert float(t.dist(x, y)) == pytest.approx(math.sqrt(2) * (2 * math.pi - 6))
    z = t.exp(x, torch.tensor([[1.0, -1.0]], dtype=f64))
    assert bool(((z >= -math.pi) & (z < math.pi)).all())
    assert float(wrap(torch.tensor(math.pi, dtype=f64))) == -math.pi
    r = t.random(1000, generator=torch.Generator().manual_seed(0))
    assert bool(((r >= -math.pi) & (r < math.pi)).all()) and t.volume() == pytest.approx(4 * math.pi**2)


def test_products_and_se3_act_factorwise():
    m = SE3()
    g = torch.Generator().manual_seed(0)
    x, y = m.random(5, generator=g), m.random(5, generator=g)
    v = m.log(x, y)
    for a, b in zip(m.exp(x, v), y):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    d2 = Euclidean(3).dist(x[0], y[0]) ** 2 + SO3().dist(x[1], y[1]) ** 2
    torch.testing.assert_close(m.dist(x, y), d2.sqrt())
    p = Product([Torus(3), Euclidean(2)])
    pts = p.random(4, generator=g)
    assert pts[0].shape == (4, 3) and pts[1].shape == (4, 2)
    mid = p.geodesic(pts, p.random(4, generator=g), 0.0)
    for a, b in zip(mid, pts):
        torch.testing.assert_close(a, b)
