"""Processes on manifolds and their products; every one speaks in tangent vectors.

A ``ManifoldProcess`` says how to draw ``x_t`` from data, what the network should regress
(``target``), the probability-flow velocity its output implies (``velocity``), and, where one
exists, the reverse SDE (``reverse_sde``). Time: t = 0 data, t = 1 prior.

- ``HeatDiffusion``: Brownian motion on the manifold (variance-exploding), x_t ~ heat kernel
  around x0 with sigma(t); the network predicts the score. sigma(t)^2 = s(t)^2 - s(0)^2 for
  s(t) geometric (torsional diffusion) or FrameDiff's logarithmic schedule, so sigma(0) = 0.
- ``GeodesicFlow``: x_t on the geodesic from a prior draw x1 to x0 at data fraction d(t)
  (linear: 1 - t; "exp": FrameFlow's exponential rate); the network predicts the velocity
  d'(t) log(x1, x0), exact on tori, Euclidean spaces and SO(3) (geodesics are one-parameter
  subgroups, so the body-frame velocity is constant along them).
- ``GaussianFactor``: a Euclidean ``GaussianProcess`` (VP, RectifiedFlow, ...) in this language,
  optionally centre-of-mass free, for the translations of a product.
- ``ProductProcess``: one process per factor; points, outputs and targets are tuples.
"""
from __future__ import annotations

import math

import torch

from ..manifolds import IGSO3, SO3, Euclidean, Manifold, Product, Torus, WrappedNormal
from ..parameterization import check_prediction, from_x0_eps, to_x0_eps
from .base import GaussianProcess

f64 = torch.float64


class ManifoldProcess:
    manifold: Manifold
    t_min: float = 0.0
    t_max: float = 1.0
    prediction: str = "velocity"
    has_sde: bool = False

    def sample_xt(self, x0, t: torch.Tensor, *, generator=None):
        """``(x_t, target)`` for data ``x0`` at per-sample times ``t (n,)``."""
        raise NotImplementedError

    def velocity(self, x, t: float, out):
        """Probability-flow velocity (tangent at x) implied by the network output ``out``."""
        raise NotImplementedError

    def reverse_sde(self, x, t: float, out):
        """``(drift, g)``: reverse-time SDE dx = drift dt + g dW (dt < 0), drift a tangent."""
        raise ValueError(f"{type(self).__name__} has no SDE; sample it with 'euler' or 'heun'")

    def prior_sample(self, n: int, *, generator=None, dtype=f64, device=None):
        raise NotImplementedError

    def prior_log_prob(self, x) -> torch.Tensor:
        """Log-density of the prior w.r.t. the Riemannian volume, ``(n,)``."""
        raise NotImplementedError

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)


# --- schedules -------------------------------------------------------------------------------------
def geometric(sigma_min: float, sigma_max: float):
    """s(t) = s_min (s_max / s_min)^t and ds/dt (torsional diffusion: 0.01 pi .. pi); t a float64 tensor."""
    r = math.log(sigma_max / sigma_min)
    return (lambda t: sigma_min * torch.exp(r * t)), (lambda t: sigma_min * r * torch.exp(r * t))


def logarithmic(sigma_min: float, sigma_max: float):
    """FrameDiff's s(t) = log(t e^s_max + (1 - t) e^s_min) and ds/dt (0.1 .. 1.5 on SO(3))."""
    a, b = math.exp(sigma_min), math.exp(sigma_max)
    return (lambda t: torch.log(t * b + (1 - t) * a)), (lambda t: (b - a) / (t * b + (1 - t) * a))


SCHEDULES = {"geometric": geometric, "logarithmic": logarithmic}


class HeatDiffusion(ManifoldProcess):
    """Brownian motion on a ``Torus`` or ``SO3``; the network predicts the score of x_t."""

    prediction = "score"
    has_sde = True

    def __init__(self, manifold: Manifold, schedule: str = "geometric", sigma_min: float = 0.01 * math.pi,
                 sigma_max: float = math.pi, t_min: float = 1e-3):
        if not isinstance(manifold, (Torus, SO3)):
            raise ValueError(f"HeatDiffusion runs on Torus or SO3, not {manifold!r}")
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
        self.manifold, self.schedule, self.t_min = manifold, schedule, t_min
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self._s, self._ds = SCHEDULES[schedule](sigma_min, sigma_max)

    def sigma(self, t) -> torch.Tensor:
        """Heat-kernel scale from the data at t (radians, float64, shape of t); sigma(0) = 0."""
        s = self._s(torch.as_tensor(t, dtype=f64))
        return (s**2 - self.sigma_min**2).clamp_min(0).sqrt()

    def g2(self, t: float) -> float:
        """d sigma^2 / dt."""
        t = torch.as_tensor(t, dtype=f64)
        return float(2 * self._s(t) * self._ds(t))

    def kernel(self, x0, sigma):
        if isinstance(self.manifold, Torus):
            return WrappedNormal(x0, sigma[:, None])
        return IGSO3(sigma, mean=x0)

    def sample_xt(self, x0, t, *, generator=None):
        sig = self.sigma(t.to(f64).cpu()).to(x0.device)
        k = self.kernel(x0.to(f64), sig)
        if isinstance(self.manifold, Torus):
            xt = self.manifold.exp(x0.to(f64), sig[:, None] * torch.randn(x0.shape, generator=generator, dtype=f64))
        else:
            xt = x0.to(f64) @ IGSO3(sig).sample(x0.shape[0], generator=generator)
        return xt.to(x0.dtype), k.score(xt).to(x0.dtype)

    def loss_weight(self, t):
        return self.sigma(t.to(f64).cpu()).to(t.device, t.dtype) ** 2

    def velocity(self, x, t, out):
        return -0.5 * self.g2(t) * out

    def reverse_sde(self, x, t, out):
        return -self.g2(t) * out, math.sqrt(self.g2(t))

    def prior_sample(self, n, *, generator=None, dtype=f64, device=None):
        return self.manifold.random(n, generator=generator, dtype=dtype, device=device)

    def prior_log_prob(self, x):
        batch = x.shape[: x.dim() - len(self.manifold.point_shape)]
        return torch.full(batch, -math.log(self.manifold.volume()), dtype=f64, device=x.device)


class GeodesicFlow(ManifoldProcess):
    """Geodesic flow matching from a prior to the data; the network predicts the velocity.

    ``prior``: ``"uniform"`` (torus, SO(3)), ``"normal"`` (Euclidean), or an ``IGSO3`` /
    ``WrappedNormal`` centred at the identity / zero. ``schedule``: ``"linear"`` or ``"exp"``
    with ``rate`` (FrameFlow uses 10 for rotations).
    """

    def __init__(self, manifold: Manifold, prior="uniform", schedule: str = "linear", rate: float = 10.0):
        if schedule not in ("linear", "exp"):
            raise ValueError(f"unknown schedule {schedule!r}; valid: 'linear', 'exp'")
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

    def sample_xt(self, x0, t, *, generator=None):
        m = self.manifold
        x1 = self.prior_sample(x0.shape[0], generator=generator, dtype=x0.dtype, device=x0.device)
        v = m.log(x1, x0)
        xt = m.exp(x1, _bt(self.data_fraction(t), v) * v)
        return xt, _bt(self.data_fraction_rate(t), v) * v

    def velocity(self, x, t, out):
        return out

    def prior_sample(self, n, *, generator=None, dtype=f64, device=None):
        if self.prior in ("uniform", "normal"):
            return self.manifold.random(n, generator=generator, dtype=dtype, device=device)
        return self.prior.sample(n, generator=generator).to(dtype)

    def prior_log_prob(self, x):
        m = self.manifold
        if self.prior == "uniform":
            batch = x.shape[: x.dim() - len(m.point_shape)]
            return torch.full(batch, -math.log(m.volume()), dtype=f64, device=x.device)
        if self.prior == "normal":
            return -0.5 * (x.to(f64) ** 2).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)
        return self.prior.log_prob(x)


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

    def sample_xt(self, x0, t, *, generator=None):
        eps = self._noise(x0.shape, generator, x0.dtype, x0.device)
        a, s, da, ds = (c.to(x0.device, x0.dtype) for c in self.proc.coefficients(t))
        xt = self.proc.marginal(x0, t, eps)
        return xt, from_x0_eps(x0, eps, self.prediction, xt, a, s, da, ds)

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

    def prior_sample(self, n, *, generator=None, dtype=f64, device=None):
        """``(n, *shape)``; pass ``x_init`` to sample point clouds of other sizes."""
        return self.proc.prior_std() * self._noise((n,) + self.shape, generator, dtype, device)

    def prior_log_prob(self, x):
        return self.proc.prior_log_prob(x)


class ProductProcess(ManifoldProcess):
    """Each factor runs its own process and schedule; tuples everywhere."""

    def __init__(self, processes: list[ManifoldProcess]):
        self.processes = list(processes)
        self.manifold = Product([p.manifold for p in self.processes])
        self.t_min = max(p.t_min for p in self.processes)
        self.t_max = min(p.t_max for p in self.processes)
        self.has_sde = all(p.has_sde for p in self.processes)
        self.prediction = tuple(p.prediction for p in self.processes)

    def sample_xt(self, x0, t, *, generator=None):
        pairs = [p.sample_xt(a, t, generator=generator) for p, a in zip(self.processes, x0)]
        return tuple(q[0] for q in pairs), tuple(q[1] for q in pairs)

    def velocity(self, x, t, out):
        return tuple(p.velocity(a, t, o) for p, a, o in zip(self.processes, x, out))

    def reverse_sde(self, x, t, out):
        parts = [p.reverse_sde(a, t, o) for p, a, o in zip(self.processes, x, out)]
        return tuple(d for d, _ in parts), tuple(g for _, g in parts)

    def prior_sample(self, n, *, generator=None, dtype=f64, device=None):
        return tuple(p.prior_sample(n, generator=generator, dtype=dtype, device=device) for p in self.processes)

    def prior_log_prob(self, x):
        return sum(p.prior_log_prob(a) for p, a in zip(self.processes, x))


def _bt(c, v):
    """Broadcast a per-sample coefficient ``(n,)`` (or scalar) against a tangent ``(n, ...)``."""
    if not torch.is_tensor(c) or c.dim() == 0:
        return c
    return c.to(v.dtype).reshape(c.shape + (1,) * (v.dim() - 1))
