"""EDM's preconditioning (Karras et al. 2022, Table 1) for any Gaussian process.

In EDM's variables x~ = x_t / alpha and sigma~ = sigma / alpha the denoiser is

    D(x~; sigma~) = c_skip x~ + c_out F(c_in x~, c_noise),
    c_skip = sd^2 / (sigma~^2 + sd^2),   c_out = sigma~ sd / sqrt(sigma~^2 + sd^2),
    c_in = 1 / sqrt(sigma~^2 + sd^2),     c_noise = log(sigma~) / 4.

Written with alpha and sigma directly so it stays finite where alpha = 0; c_noise is clamped to
[-10, 10] there. The wrapper predicts x0.
"""
from __future__ import annotations

import torch
from torch import nn

from .processes.base import GaussianProcess


class EDMPrecond(nn.Module):
    """``forward(x_t, t) -> x0`` around a raw network ``net(x_in, c_noise)``; ``c_noise (n,)``."""

    prediction = "x0"

    def __init__(self, net: nn.Module, proc: GaussianProcess, sigma_data: float = 0.5):
        super().__init__()
        self.net, self.proc, self.sigma_data = net, proc, sigma_data

    def coefficients(self, t: torch.Tensor):
        """``(c_skip, c_out, c_in, c_noise)`` as ``(n,)`` tensors acting on x_t itself."""
        a, s = self.proc.alpha(t), self.proc.sigma(t)
        sd = self.sigma_data
        norm = torch.sqrt(s**2 + (a * sd) ** 2)
        c_skip = sd**2 * a / norm**2
        c_out = s * sd / norm
        c_in = 1 / norm
        c_noise = (0.25 * (torch.log(s) - torch.log(a))).clamp(-10, 10)
        return c_skip, c_out, c_in, c_noise

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in, c_noise = (c.to(x_t.dtype) for c in self.coefficients(t))
        view = (-1,) + (1,) * (x_t.dim() - 1)
        f = self.net(c_in.reshape(view) * x_t, c_noise)
        return c_skip.reshape(view) * x_t + c_out.reshape(view) * f
