"""The wrapped normal on the torus: the heat kernel of T^d, accurate for every sigma.

    p(x) = prod_i sum_k N(x_i - mu_i + 2 pi k; 0, sigma^2)   (density on [-pi, pi)^d, radians)

The image sum runs over |k| <= ceil(7 sigma / 2 pi) + 1, so the neglected mass is below e^-24
whatever sigma is; it is evaluated in log space (no underflow for tiny sigma).
"""
from __future__ import annotations

import math

import torch

from .torus import wrap


class WrappedNormal:
    """``mean (..., d)`` angles; ``sigma`` a float or a tensor broadcasting against samples ``(n, d)``."""

    def __init__(self, mean, sigma):
        self.mean = torch.as_tensor(mean, dtype=torch.float64)
        self.sigma = torch.as_tensor(sigma, dtype=torch.float64)
        if bool((self.sigma <= 0).any()):
            raise ValueError("sigma must be positive")

    def _images(self, x):
        k_max = int(math.ceil(7 * float(self.sigma.max()) / (2 * math.pi))) + 1
        k = torch.arange(-k_max, k_max + 1, dtype=x.dtype, device=x.device)
        d = wrap(x - self.mean.to(x))[..., None] + 2 * math.pi * k        # (..., d, K)
        return d, self.sigma.to(x)[..., None] if self.sigma.dim() else self.sigma.to(x)

    def sample(self, n: int, *, generator=None) -> torch.Tensor:
        """``(n, d)`` angles in [-pi, pi)."""
        where = generator.device if generator is not None else self.mean.device
        z = torch.randn((n,) + tuple(self.mean.shape[-1:]), generator=generator, dtype=torch.float64, device=where)
        return wrap(self.mean + self.sigma.to(self.mean.device) * z.to(self.mean.device))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density on the torus (Lebesgue measure on [-pi, pi)^d), summed over the last dim."""
        d, s = self._images(x)
        logn = -0.5 * (d / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
        return torch.logsumexp(logn, dim=-1).sum(-1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """grad_x log p, same shape as ``x``."""
        d, s = self._images(x)
        w = torch.softmax(-0.5 * (d / s) ** 2, dim=-1)
        return -(w * d).sum(-1) / (s[..., 0] if s.dim() else s) ** 2
