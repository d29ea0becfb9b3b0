"""The flat torus T^d = (R / 2 pi Z)^d; points are angles wrapped to [-pi, pi) (radians)."""
from __future__ import annotations

import math

import torch

from .base import Manifold


def wrap(x: torch.Tensor) -> torch.Tensor:
    """Wrap angles to [-pi, pi)."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


class Torus(Manifold):
    def __init__(self, dim: int):
        self.dim = dim
        self.point_shape = self.tangent_shape = (dim,)

    def exp(self, x, v):
        return wrap(x + v)

    def log(self, x, y):
        return wrap(y - x)

    def inner(self, x, u, v):
        return (u * v).sum(-1)

    def random(self, n, *, generator=None, dtype=torch.float64, device=None):
        u = torch.rand(n, self.dim, generator=generator, dtype=dtype, device=device)
        return (2 * u - 1) * math.pi

    def volume(self):
        return (2 * math.pi) ** self.dim

    def __repr__(self):
        return f"Torus({self.dim})"
