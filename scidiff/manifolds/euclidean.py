"""R^d with the standard metric."""
from __future__ import annotations

import torch

from .base import Manifold


class Euclidean(Manifold):
    def __init__(self, dim: int):
        self.dim = dim
        self.point_shape = self.tangent_shape = (dim,)

    def exp(self, x, v):
        return x + v

    def log(self, x, y):
        return y - x

    def inner(self, x, u, v):
        return (u * v).sum(-1)

    def random(self, n, *, generator=None, dtype=torch.float64, device=None):
        """Standard normal draws (the base measure of Euclidean processes)."""
        return torch.randn(n, self.dim, generator=generator, dtype=dtype, device=device)

    def __repr__(self):
        return f"Euclidean({self.dim})"
