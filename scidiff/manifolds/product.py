"""Products of manifolds; points and tangents are tuples with one entry per factor.

``SE3()`` is ``Product([Euclidean(3), SO3()])``: a translation in Angstrom and a rotation.
"""
from __future__ import annotations

import math

import torch

from .base import Manifold
from .euclidean import Euclidean
from .so3 import SO3


def tree_map(f, *trees):
    """Apply ``f`` leaf-wise over tensors or (nested) tuples of tensors: points and tangents of
    products."""
    if isinstance(trees[0], tuple):
        return tuple(tree_map(f, *leaves) for leaves in zip(*trees))
    return f(*trees)


def tree_leaves(tree) -> list:
    """The tensors of a tensor or (nested) tuple, in order."""
    return [leaf for part in tree for leaf in tree_leaves(part)] if isinstance(tree, tuple) else [tree]


class Product(Manifold):
    def __init__(self, factors: list[Manifold]):
        self.factors = list(factors)

    def exp(self, x, v):
        return tuple(m.exp(a, b) for m, a, b in zip(self.factors, x, v))

    def log(self, x, y):
        return tuple(m.log(a, b) for m, a, b in zip(self.factors, x, y))

    def inner(self, x, u, v):
        return sum(m.inner(a, b, c) for m, a, b, c in zip(self.factors, x, u, v))

    def proj_tangent(self, x, v):
        return tuple(m.proj_tangent(a, b) for m, a, b in zip(self.factors, x, v))

    def random(self, n, *, generator=None, dtype=torch.float64, device=None):
        return tuple(m.random(n, generator=generator, dtype=dtype, device=device) for m in self.factors)

    def random_tangent(self, x, *, generator=None):
        return tuple(m.random_tangent(a, generator=generator) for m, a in zip(self.factors, x))

    def geodesic(self, x, y, s):
        return tuple(m.geodesic(a, b, s) for m, a, b in zip(self.factors, x, y))

    def volume(self):
        return math.prod(m.volume() for m in self.factors)

    def check(self, x, what: str = "points"):
        """Each factor's check on its entry of the tuple ``x``."""
        if not isinstance(x, tuple) or len(x) != len(self.factors):
            raise ValueError(f"{what} of {self!r} must be a tuple of {len(self.factors)} tensors")
        firsts = {len(a) for a in x if torch.is_tensor(a)}
        if len(firsts) > 1:
            raise ValueError(f"{what}: the factors hold different numbers of samples {sorted(firsts)}")
        return tuple(m.check(a, f"{what} (factor {i})") for i, (m, a) in enumerate(zip(self.factors, x)))

    def __repr__(self):
        return f"Product({self.factors})"


class SE3(Product):
    """R^3 x SO(3): residue frames, rigid bodies."""

    def __init__(self):
        super().__init__([Euclidean(3), SO3()])

    def __repr__(self):
        return "SE3()"
