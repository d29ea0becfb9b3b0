"""The rotation group SO(3): conversions and the manifold.

Points are 3x3 rotation matrices; tangent vectors are rotation vectors (axis * angle, radians)
in the body frame: ``exp(R, v) = R Exp(v)``, ``log(R, S) = Log(R^T S)``. The metric makes the
geodesic distance the rotation angle of ``R^T S`` (total volume 8 pi^2). Conversions go through
quaternions (w, x, y, z) with Shepperd's method and series near angle 0, so they are stable at
0 and at pi.
"""
from __future__ import annotations

import math

import torch

from .base import Manifold

_SMALL = 1e-4


def _safe_norm(sq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(small, norm)`` from a squared norm; where small the norm is replaced by 1 so that
    neither the value nor its gradient is NaN (the series branches take over there)."""
    small = sq < _SMALL**2
    return small, torch.where(small, torch.ones_like(sq), sq).sqrt()


def hat(v: torch.Tensor) -> torch.Tensor:
    """Skew-symmetric matrix ``(..., 3, 3)`` of ``v (..., 3)``: ``hat(v) @ u = v x u``."""
    z = torch.zeros_like(v[..., 0])
    x, y, w = v.unbind(-1)
    return torch.stack([z, -w, y, w, z, -x, -y, x, z], -1).reshape(v.shape[:-1] + (3, 3))


def vee(m: torch.Tensor) -> torch.Tensor:
    """Inverse of ``hat`` (uses the antisymmetric part)."""
    return 0.5 * torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)


def rotvec_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, ``(..., 3) -> (..., 3, 3)``, with Taylor series below 1e-4 rad."""
    th2 = (v * v).sum(-1, keepdim=True)[..., None]
    small, safe = _safe_norm(th2)
    a = torch.where(small, 1 - th2 / 6 + th2**2 / 120, torch.sin(safe) / safe)
    b = torch.where(small, 0.5 - th2 / 24 + th2**2 / 720, (1 - torch.cos(safe)) / safe**2)
    k = hat(v)
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand(k.shape)
    return eye + a * k + b * (k @ k)


def matrix_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """Shepperd's method: the best-conditioned of four formulas per matrix; output w >= 0."""
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    cand = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    root = cand.clamp_min(1e-30).sqrt()                    # 2 |q_i| for each choice
    d21, d02, d10 = r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]
    s21, s02, s10 = r[..., 2, 1] + r[..., 1, 2], r[..., 0, 2] + r[..., 2, 0], r[..., 1, 0] + r[..., 0, 1]
    q = torch.stack([
        torch.stack([root[..., 0] ** 2, d21, d02, d10], -1) / (2 * root[..., 0:1]),
        torch.stack([d21, root[..., 1] ** 2, s10, s02], -1) / (2 * root[..., 1:2]),
        torch.stack([d02, s10, root[..., 2] ** 2, s21], -1) / (2 * root[..., 2:3]),
        torch.stack([d10, s02, s21, root[..., 3] ** 2], -1) / (2 * root[..., 3:4]),
    ], -2)                                                  # (..., 4 choices, 4)
    best = cand.argmax(-1)
    q = torch.gather(q, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion (w, x, y, z) ``(..., 4)`` -> rotation matrix (normalises first)."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(q.shape[:-1] + (3, 3))


def quaternion_to_rotvec(q: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) -> rotation vector with angle in [0, pi]."""
    q = q / q.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, xyz = q[..., :1], q[..., 1:]
    n2 = (xyz * xyz).sum(-1, keepdim=True)
    small, safe_n = _safe_norm(n2)
    scale = torch.where(small, 2 / w - (2.0 / 3.0) * n2 / w**3, 2 * torch.atan2(safe_n, w) / safe_n)
    return xyz * scale


def rotvec_to_quaternion(v: torch.Tensor) -> torch.Tensor:
    th2 = (v * v).sum(-1, keepdim=True)
    small, safe = _safe_norm(th2)
    s = torch.where(small, 0.5 - th2 / 48, torch.sin(safe / 2) / safe)
    c = torch.where(small, 1 - th2 / 8 + th2**2 / 384, torch.cos(safe / 2))
    return torch.cat([c, v * s], -1)


def matrix_to_rotvec(r: torch.Tensor) -> torch.Tensor:
    """Log of a rotation matrix as a rotation vector, stable near 0 and near pi."""
    return quaternion_to_rotvec(matrix_to_quaternion(r))


def rotation_angle(r: torch.Tensor) -> torch.Tensor:
    """The rotation angle in [0, pi] of ``r (..., 3, 3)``."""
    return matrix_to_rotvec(r).norm(dim=-1)


class SO3(Manifold):
    point_shape = (3, 3)
    tangent_shape = (3,)

    def exp(self, x, v):
        return x @ rotvec_to_matrix(v)

    def log(self, x, y):
        return matrix_to_rotvec(x.transpose(-1, -2) @ y)

    def inner(self, x, u, v):
        return (u * v).sum(-1)

    def random(self, n, *, generator=None, dtype=torch.float64, device=None):
        """Haar-uniform rotations (normalised Gaussian quaternions)."""
        q = torch.randn(n, 4, generator=generator, dtype=dtype, device=device)
        return quaternion_to_matrix(q)

    def volume(self):
        return 8 * math.pi**2

    def check(self, x, what: str = "points", tol: float = 1e-3):
        """Also: every matrix a rotation, ``R^T R = I`` and ``det R = +1`` within ``tol`` (a
        reflection or a general matrix is not a point of SO(3))."""
        super().check(x, what)
        eye = torch.eye(3, dtype=x.dtype, device=x.device)
        err = (x.transpose(-1, -2) @ x - eye).abs().amax((-1, -2))
        det = torch.linalg.det(x)
        bad = (err > tol) | ((det - 1).abs() > tol)
        if bool(bad.any()):
            i = int(bad.flatten().nonzero()[0])
            raise ValueError(f"{what} hold matrices that are not rotations (first: index {i}, |R^T R - I| = "
                             f"{float(err.flatten()[i]):.3g}, det = {float(det.flatten()[i]):.3g}); reflections "
                             "and general matrices are not points of SO(3)")
        return x

    def __repr__(self):
        return "SO3()"
