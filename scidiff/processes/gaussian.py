"""The Gaussian processes, each one (alpha, sigma) pair with closed-form derivatives.

| process        | alpha(t)                          | sigma(t)                               |
|----------------|-----------------------------------|----------------------------------------|
| VP linear      | exp(-(b0 t + (b1-b0) t^2 / 2) / 2)| sqrt(1 - alpha^2)                      |
| VP cosine      | cos(theta(t)) / cos(theta(0))     | sqrt(1 - alpha^2)                      |
| SubVP          | as VP linear                      | 1 - alpha^2                            |
| VE             | 1                                 | s_min sqrt((s_max/s_min)^(2t) - 1)     |
| EDM            | 1                                 | s_max t  (Karras rho-spacing = grid)   |
| RectifiedFlow  | 1 - t                             | t                                      |

VE is the score-SDE variance-exploding SDE measured from its start, so sigma(0) = 0 exactly.
EDM puts sigma = time (EDM's own choice, scaled to [0, 1]); its rho-spaced sigmas come from the
``"karras"`` time grid, which is EDM's default.
"""
from __future__ import annotations

import math

import torch

from .base import GaussianProcess, check_increasing, check_range


class VP(GaussianProcess):
    """Variance-preserving diffusion; ``schedule="linear"`` (beta 0.1 -> 20) or ``"cosine"``.

    The cosine schedule (Nichol & Dhariwal, offset ``s``) reaches alpha = 0 at t = 1 where its
    SDE drift is singular, so its prior sits at ``t_max = 0.9946`` (DPM-Solver's choice).
    ``t_min`` (linear 1e-3: sigma ~ 0.01, as score-SDE and DPM-Solver sample) can be lowered for
    likelihoods of finely resolved data.
    """

    def __init__(self, schedule: str = "linear", beta_min: float = 0.1, beta_max: float = 20.0,
                 s: float = 0.008, t_min: float | None = None, t_max: float | None = None):
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"unknown VP schedule {schedule!r}; valid: 'linear', 'cosine'")
        beta_min, s = check_range("beta_min", beta_min, 0.0, open_lo=False), check_range("s", s, 0.0)
        check_increasing(("beta_min", "beta_max"), beta_min, check_range("beta_max", beta_max, 0.0))
        self.schedule, self.beta_min, self.beta_max, self.s = schedule, beta_min, float(beta_max), s
        self.t_min = check_range("t_min", t_min if t_min is not None else (1e-3 if schedule == "linear" else 1e-4), 0.0, 1.0)
        self.t_max = check_range("t_max", t_max if t_max is not None else (1.0 if schedule == "linear" else 0.9946), 0.0, 1.0)
        check_increasing(("t_min", "t_max"), self.t_min, self.t_max)

    # log alpha and its derivative; sigma follows from alpha^2 + sigma^2 = 1
    def _log_alpha(self, t):
        t = t.to(torch.float64)
        if self.schedule == "linear":
            return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min
        theta, theta0 = self._theta(t), self._theta(torch.zeros_like(t))
        # both cosines from torch (math.cos may differ by an ulp, making alpha(0) > 1 and sigma(0)
        # NaN); alpha <= 1 holds exactly for t >= 0, so clamp the rounding away
        return (torch.log(torch.cos(theta).clamp_min(0)) - torch.log(torch.cos(theta0))).clamp_max(0.0)

    def _dlog_alpha(self, t):
        t = t.to(torch.float64)
        if self.schedule == "linear":
            return -0.5 * (self.beta_min + t * (self.beta_max - self.beta_min))
        return -torch.tan(self._theta(t)) * (math.pi / 2) / (1 + self.s)

    def _theta(self, t):
        return (torch.as_tensor(t, dtype=torch.float64) + self.s) / (1 + self.s) * (math.pi / 2)

    def _alpha(self, t):
        return torch.exp(self._log_alpha(t)).to(t.dtype)

    def _sigma(self, t):
        return torch.sqrt(-torch.expm1(2 * self._log_alpha(t))).to(t.dtype)

    def _dalpha(self, t):
        return (torch.exp(self._log_alpha(t)) * self._dlog_alpha(t)).to(t.dtype)

    def _dsigma(self, t):  # sigma' = -alpha alpha' / sigma
        la = self._log_alpha(t)
        return (-torch.exp(2 * la) * self._dlog_alpha(t) / torch.sqrt(-torch.expm1(2 * la))).to(t.dtype)


class SubVP(VP):
    """Sub-variance-preserving SDE of score-SDE: alpha as VP linear, sigma = 1 - alpha^2."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-3):
        super().__init__("linear", beta_min, beta_max, t_min=t_min)
        del self.s

    def _sigma(self, t):
        return (-torch.expm1(2 * self._log_alpha(t))).to(t.dtype)

    def _dsigma(self, t):  # -2 alpha alpha'
        return (-2 * torch.exp(2 * self._log_alpha(t)) * self._dlog_alpha(t)).to(t.dtype)


class VE(GaussianProcess):
    """Variance-exploding SDE, sigma(t)^2 = s_min^2 ((s_max/s_min)^(2t) - 1) from the data at t=0."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, t_min: float = 1e-5):
        check_increasing(("sigma_min", "sigma_max"), check_range("sigma_min", sigma_min, 0.0),
                         check_range("sigma_max", sigma_max, 0.0))
        self.sigma_min, self.sigma_max, self.t_min = float(sigma_min), float(sigma_max), check_range("t_min", t_min, 0.0, 1.0)

    def _alpha(self, t):
        return torch.ones_like(t)

    def _dalpha(self, t):
        return torch.zeros_like(t)

    def _sigma(self, t):
        r = math.log(self.sigma_max / self.sigma_min)
        return self.sigma_min * torch.sqrt(torch.expm1(2 * r * t))

    def _dsigma(self, t):
        r = math.log(self.sigma_max / self.sigma_min)
        return self.sigma_min * r * torch.exp(2 * r * t) / torch.sqrt(torch.expm1(2 * r * t))


class EDM(GaussianProcess):
    """Karras et al. (EDM): alpha = 1, sigma = sigma_max * t. Default grid "karras" with ``rho``.

    ``t_min = sigma_min / sigma_max``; ``sigma_data`` feeds the EDM preconditioning and weighting.
    """

    default_grid = "karras"

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                 sigma_data: float = 0.5):
        check_increasing(("sigma_min", "sigma_max"), check_range("sigma_min", sigma_min, 0.0),
                         check_range("sigma_max", sigma_max, 0.0))
        check_range("rho", rho, 0.0), check_range("sigma_data", sigma_data, 0.0)
        self.sigma_min, self.sigma_max, self.rho, self.sigma_data = sigma_min, sigma_max, rho, sigma_data
        self.t_min = sigma_min / sigma_max

    def _alpha(self, t):
        return torch.ones_like(t)

    def _dalpha(self, t):
        return torch.zeros_like(t)

    def _sigma(self, t):
        return self.sigma_max * t

    def _dsigma(self, t):
        return torch.full_like(t, self.sigma_max)


class RectifiedFlow(GaussianProcess):
    """Flow matching on the straight path: alpha = 1 - t, sigma = t (velocity eps - x0)."""

    def __init__(self, t_min: float = 1e-3):
        self.t_min = check_range("t_min", t_min, 0.0, 1.0)

    def _alpha(self, t):
        return 1 - t

    def _dalpha(self, t):
        return -torch.ones_like(t)

    def _sigma(self, t):
        return t.clone()

    def _dsigma(self, t):
        return torch.ones_like(t)
