"""What a manifold offers the engine: the exponential and logarithm maps and a metric.

Points and tangent vectors are tensors batched over any leading dimensions; ``point_shape`` and
``tangent_shape`` give the trailing shapes. A geodesic path works on any manifold through
``exp`` and ``log`` (the flow_matching library's idea).
"""
from __future__ import annotations

import torch


class Manifold:
    point_shape: tuple = ()
    tangent_shape: tuple = ()

    def exp(self, x, v):
        """Follow the geodesic from ``x`` with initial velocity ``v`` for unit time."""
        raise NotImplementedError

    def log(self, x, y):
        """The tangent vector at ``x`` whose geodesic reaches ``y`` at unit time (shortest one)."""
        raise NotImplementedError

    def inner(self, x, u, v) -> torch.Tensor:
        """Riemannian inner product of tangents at ``x``; shape: the batch dimensions."""
        raise NotImplementedError

    def proj_tangent(self, x, v):
        """Project an ambient vector onto the tangent space at ``x``."""
        return v

    def random(self, n: int, *, generator=None, dtype=torch.float64, device=None):
        """``n`` draws from the uniform (base) measure."""
        raise NotImplementedError

    def random_tangent(self, x, *, generator=None):
        """A standard normal tangent vector at ``x`` (orthonormal coordinates of the metric)."""
        return torch.randn(x.shape[: x.dim() - len(self.point_shape)] + self.tangent_shape,
                           generator=generator, dtype=x.dtype, device=x.device)

    def check(self, x, what: str = "points"):
        """``x`` itself, or ``ValueError`` in one sentence when it is not a batch of points of this
        manifold (trailing shape ``point_shape``, finite values; subclasses add their own rule).
        Meant for public entry points, not for every step of a sampler."""
        if not torch.is_tensor(x):
            raise ValueError(f"{what} must be a tensor of {self!r} points, got {type(x).__name__}")
        shape = tuple(self.point_shape)
        if x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape):]) != shape:
            raise ValueError(f"{what} of {self!r} must have shape (..., {', '.join(map(str, shape))}), "
                             f"got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{what} hold NaN or Inf")
        return x

    def dist(self, x, y) -> torch.Tensor:
        """Geodesic distance."""
        v = self.log(x, y)
        return self.inner(x, v, v).clamp_min(0).sqrt()

    def geodesic(self, x, y, s):
        """The point a fraction ``s`` (scalar or batch-shaped) along the geodesic from x to y."""
        v = self.log(x, y)
        return self.exp(x, _scale(s, v, len(self.tangent_shape)))

    def volume(self) -> float:
        """Total Riemannian volume (inf where unbounded)."""
        return float("inf")


def _scale(s, v, trailing: int):
    s = torch.as_tensor(s, dtype=v.dtype, device=v.device)
    return s.reshape(s.shape + (1,) * trailing) * v if s.dim() else s * v
