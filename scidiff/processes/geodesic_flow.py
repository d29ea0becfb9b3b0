"""Geodesic flow matching on any manifold whose geodesics are one-parameter subgroups."""
from __future__ import annotations

import math

import torch

from ..manifolds import Manifold
from ..parameterization import per_sample
from .base import check_range
from .manifold import ManifoldProcess, PathSample


class GeodesicFlow(ManifoldProcess):
    """Geodesic flow matching from a prior to the data; the network predicts the velocity.

    ``prior``: ``"uniform"`` (torus, SO(3)), ``"normal"`` (Euclidean), or an ``IGSO3`` /
    ``WrappedNormal`` centred at the identity / zero. ``schedule``: ``"linear"`` or ``"exp"``
    with ``rate`` (FrameFlow uses 10 for rotations).
    """

    def __init__(self, manifold: Manifold, prior="uniform", schedule: str = "linear", rate: float = 10.0):
        if schedule not in ("linear", "exp"):
            raise ValueError(f"unknown schedule {schedule!r}; valid: 'linear', 'exp'")
        if isinstance(prior, str) and prior not in ("uniform", "normal"):
            raise ValueError(f"unknown prior {prior!r}; valid: 'uniform', 'normal' or an IGSO3 / WrappedNormal")
        rate = check_range("rate", rate, 0.0)
        self.manifold, self.prior, self.schedule, self.rate = manifold, prior, schedule, rate

    def data_fraction(self, t):
        """d(t): 1 at t = 0 (data), 0 at t = 1 (prior)."""
        if self.schedule == "linear":
            return 1 - t
        c = self.rate
        return (1 - torch.exp(-c * (1 - t)) if torch.is_tensor(t) else 1 - math.exp(-c * (1 - t))) / (1 - math.exp(-c))

    def data_fraction_rate(self, t):
        if self.schedule == "linear":
            return -torch.ones_like(t) if torch.is_tensor(t) else -1.0
        c = self.rate
        e = torch.exp(-c * (1 - t)) if torch.is_tensor(t) else math.exp(-c * (1 - t))
        return -c * e / (1 - math.exp(-c))

    def sample_path(self, x0, t, *, generator=None) -> PathSample:
        """x_t on the geodesic from a prior draw x1 to x0 at data fraction d(t); the target is the
        velocity d'(t) log(x1, x0), the tangent at x0 (d(t) - 1) log(x1, x0)."""
        m = self.manifold
        x1 = self.prior_sample(x0.shape[0], generator=generator, dtype=x0.dtype, device=x0.device)
        v = m.log(x1, x0)
        d = per_sample(self.data_fraction(t), v)
        return PathSample(m.exp(x1, d * v), per_sample(self.data_fraction_rate(t), v) * v, (d - 1) * v, t)

    def velocity(self, x, t, out):
        return out

    def prior_sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        if self.prior in ("uniform", "normal"):
            return self.manifold.random(n, generator=generator, dtype=dtype, device=device)
        x = self.prior.sample(n, generator=generator).to(dtype)
        return x if device is None else x.to(device)

    def prior_log_prob(self, x):
        m = self.manifold
        if self.prior == "uniform":
            batch = x.shape[: x.dim() - len(m.point_shape)]
            return torch.full(batch, -math.log(m.volume()), dtype=torch.float64, device=x.device)
        if self.prior == "normal":
            return -0.5 * (x.to(torch.float64) ** 2).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)
        return self.prior.log_prob(x)

