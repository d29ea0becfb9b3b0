"""Particle guidance on a torus: sample a *set* of points that spreads out (Corso et al. 2024).

Independent samples of a multimodal density clump: with n draws, a mode of weight p is missed
with chance (1 - p)^n. Particle guidance samples the n points jointly, adding to every point's
score the repulsion of a kernel between points,

    score_i  +=  w * sum_j grad_{x_j} k(x_j, x_i),

the repulsive term of Stein variational gradient descent (Liu & Wang 2016). The kernel here is a
Gaussian in the squared chordal distance on the torus (T^d, radians),

    D_ij = sum_b 2 (1 - cos(x_ib - x_jb)),      k_ij = exp(-D_ij / h),

which equals the squared Euclidean distance for small angle differences and is 2pi-periodic.
The bandwidth follows SVGD's median rule, ``h = median_{i != j} D_ij / log(n + 1)``, read off the
current points and held fixed for the step; it keeps the sum over j of order one whatever n, so
one weight w suits sets of any size. With h fixed the added term is ``-w grad U`` for the
potential ``U = sum_{i<j} k_ij``, so the points sample (approximately) the product of the
independent densities and exp(-w U).
"""
from __future__ import annotations

import math

import torch


def torus_bandwidth(x: torch.Tensor) -> torch.Tensor:
    """SVGD's median bandwidth ``(...)`` of each set of points ``x (..., n, d)`` radians, n >= 2."""
    return _median_rule(_chordal2(_differences(x)))


def torus_repulsion(x: torch.Tensor, bandwidth: torch.Tensor | float | None = None) -> torch.Tensor:
    """Repulsive score ``(..., n, d)`` per radian of sets of points ``x (..., n, d)`` radians:
    ``sum_j (2 k_ij / h) sin(x_i - x_j)`` within each set, pushing each point away from its
    neighbours. ``bandwidth`` h ``(...)`` or a float; None for the median rule. A set of one point
    feels nothing."""
    if x.shape[-2] < 2 or x.shape[-1] == 0:
        return torch.zeros_like(x)
    diff = _differences(x)
    d2 = _chordal2(diff)
    h = _median_rule(d2) if bandwidth is None else torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device)
    h = h[..., None, None]
    k = torch.exp(-d2 / h)                                       # (..., n, n); the diagonal adds sin(0) = 0
    return (2.0 / h) * (k[..., None] * torch.sin(diff)).sum(-2)


def torus_potential(x: torch.Tensor, bandwidth: torch.Tensor | float) -> torch.Tensor:
    """``U = sum_{i<j} k_ij`` ``(...)`` of sets ``x (..., n, d)`` radians at a fixed ``bandwidth``;
    ``torus_repulsion(x, bandwidth) = -grad U``."""
    h = torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device)[..., None, None]
    k = torch.exp(-_chordal2(_differences(x)) / h)
    return (k.sum((-1, -2)) - k.diagonal(dim1=-2, dim2=-1).sum(-1)) / 2


def _differences(x: torch.Tensor) -> torch.Tensor:
    """``(..., n, n, d)``: ``x_i - x_j``."""
    return x[..., :, None, :] - x[..., None, :, :]


def _chordal2(diff: torch.Tensor) -> torch.Tensor:
    """``(..., n, n)`` squared chordal distances ``sum_b 2 (1 - cos(x_ib - x_jb))`` from the differences."""
    return (2.0 * (1.0 - torch.cos(diff))).sum(-1)


def _median_rule(d2: torch.Tensor) -> torch.Tensor:
    """``median_{i != j} D_ij / log(n + 1)`` ``(...)`` of squared distances ``d2 (..., n, n)``."""
    n = d2.shape[-1]
    off = ~torch.eye(n, dtype=torch.bool, device=d2.device)
    return d2[..., off].median(-1).values.clamp_min(1e-6) / math.log(n + 1)


__all__ = ["torus_repulsion", "torus_potential", "torus_bandwidth"]
