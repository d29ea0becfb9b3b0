"""A Euclidean Gaussian process as a factor of a product (translations of frames, point clouds)."""
from __future__ import annotations

import math

import torch

from ..manifolds import Euclidean
from ..parameterization import check_prediction, from_x0_eps, to_x0_eps
from .base import GaussianProcess
from .manifold import ManifoldProcess, PathSample


class GaussianFactor(ManifoldProcess):
    """A Euclidean ``GaussianProcess`` on samples ``(n, *shape)``; the network predicts
    ``prediction``. ``center`` removes the mean over the point axis (-2) from every noise draw
    (the centre-of-mass-free Gaussian of point clouds)."""

    def __init__(self, proc: GaussianProcess, prediction: str = "velocity", shape: tuple = (3,),
                 center: bool = False):
        self.proc, self.prediction, self.center, self.shape = proc, check_prediction(prediction), center, tuple(shape)
        self.manifold, self.t_min, self.t_max = Euclidean(self.shape[-1]), proc.t_min, proc.t_max
        self.has_sde = True

    def _noise(self, shape, generator, dtype, device):
        z = torch.randn(shape, generator=generator, dtype=dtype, device=device)
        return z - z.mean(-2, keepdim=True) if self.center else z

    def sample_path(self, x0, t, *, generator=None, noise=None) -> PathSample:
        """x_t = alpha x0 + sigma eps, eps a (centred) standard normal draw unless ``noise`` gives
        it (a domain with padding centres its own); the target is ``prediction`` of (x0, eps)."""
        eps = self._noise(x0.shape, generator, x0.dtype, x0.device) if noise is None else noise
        a, s, da, ds = (c.to(x0.device, x0.dtype) for c in self.proc.coefficients(t))
        xt = self.proc.marginal(x0, t, eps)
        return PathSample(xt, from_x0_eps(x0, eps, self.prediction, xt, a, s, da, ds), xt - x0, t)

    def _x0_eps(self, x, t, out):
        a, s, da, ds = (float(c) for c in self.proc.coefficients(t))
        return to_x0_eps(out, self.prediction, x, a, s, da, ds), (a, s, da, ds)

    def velocity(self, x, t, out):
        (x0, eps), (a, s, da, ds) = self._x0_eps(x, t, out)
        return da * x0 + ds * eps

    def reverse_sde(self, x, t, out):
        (x0, eps), (a, s, da, ds) = self._x0_eps(x, t, out)
        f = da / a
        g2 = 2 * s * ds - 2 * f * s**2
        return f * x + g2 * eps / s, math.sqrt(g2)

    def prior_sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        """``(n, *shape)``; pass ``x_init`` to sample point clouds of other sizes."""
        return self.proc.prior_std() * self._noise((n,) + self.shape, generator, dtype, device)

    def prior_log_prob(self, x):
        return self.proc.prior_log_prob(x)
