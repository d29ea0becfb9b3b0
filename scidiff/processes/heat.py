"""Heat-kernel (variance-exploding) diffusion on tori and SO(3): Brownian motion on the manifold."""
from __future__ import annotations

import math

import torch

from ..manifolds import IGSO3, SO3, Manifold, Torus, WrappedNormal
from ..manifolds.so3 import matrix_to_rotvec
from .base import check_increasing, check_range
from .manifold import ManifoldProcess, PathSample


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
        check_increasing(("sigma_min", "sigma_max"), check_range("sigma_min", sigma_min, 0.0),
                         check_range("sigma_max", sigma_max, 0.0))
        check_range("t_min", t_min, 0.0, 1.0)
        self.manifold, self.schedule, self.t_min = manifold, schedule, t_min
        self.sigma_min, self.sigma_max = sigma_min, sigma_max
        self._s, self._ds = SCHEDULES[schedule](sigma_min, sigma_max)

    def sigma(self, t) -> torch.Tensor:
        """Heat-kernel scale from the data at t (radians, float64, shape of t); sigma(0) = 0."""
        s = self._s(torch.as_tensor(t, dtype=torch.float64))
        return (s**2 - self.sigma_min**2).clamp_min(0).sqrt()

    def g2(self, t: float) -> float:
        """d sigma^2 / dt."""
        t = torch.as_tensor(t, dtype=torch.float64)
        return float(2 * self._s(t) * self._ds(t))

    def kernel(self, x0, sigma):
        if isinstance(self.manifold, Torus):
            return WrappedNormal(x0, sigma[:, None])
        return IGSO3(sigma, mean=x0)

    def sample_path(self, x0, t, *, generator=None) -> PathSample:
        """x_t a heat-kernel draw around x0 at scale sigma(t); the target is its score."""
        sig = self.sigma(t).to(x0.device)
        start = x0.to(torch.float64)
        if isinstance(self.manifold, Torus):
            noise = torch.randn(x0.shape, generator=generator, dtype=torch.float64,
                                device=generator.device if generator is not None else x0.device)
            tangent = sig[:, None] * noise.to(x0.device)
            xt = self.manifold.exp(start, tangent)
        else:
            step = IGSO3(sig).sample(x0.shape[0], generator=generator).to(x0.device)
            xt, tangent = start @ step, matrix_to_rotvec(step)
        score = self.kernel(start, sig).score(xt)
        return PathSample(xt.to(x0.dtype), score.to(x0.dtype), tangent.to(x0.dtype), t)

    def loss_weight(self, t):
        return self.sigma(t).to(t.dtype) ** 2

    def velocity(self, x, t, out):
        return -0.5 * self.g2(t) * out

    def reverse_sde(self, x, t, out):
        return -self.g2(t) * out, math.sqrt(self.g2(t))

    def prior_sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        return self.manifold.random(n, generator=generator, dtype=dtype, device=device)

    def prior_log_prob(self, x):
        batch = x.shape[: x.dim() - len(self.manifold.point_shape)]
        return torch.full(batch, -math.log(self.manifold.volume()), dtype=torch.float64, device=x.device)
