"""The Gaussian probability path every Euclidean process shares.

    x_t = alpha(t) * x0 + sigma(t) * eps,   t in [0, 1],  t = 0 data, t = 1 prior.

A subclass only defines ``_alpha, _sigma, _dalpha, _dsigma`` (closed forms); the SDE drift and
diffusion, the probability-flow velocity, the prior and the log-SNR inverse follow from them.
The forward SDE with these marginals is ``dx = f(t) x dt + g(t) dW`` with

    f = alpha' / alpha,      g^2 = d(sigma^2)/dt - 2 f sigma^2,

so its reverse is ``dx = [f x - g^2 score] dt + g dW`` (time running 1 -> 0) and the
probability-flow ODE is ``dx/dt = f x - g^2 score / 2 = alpha' x0 + sigma' eps``.
"""
from __future__ import annotations

import math

import torch

from ..parameterization import per_sample

Time = torch.Tensor | float


def check_range(name: str, value: float, lo: float | None = None, hi: float | None = None,
                open_lo: bool = True) -> float:
    """``value`` as a float, or ``ValueError`` naming ``name`` when it is not finite or lies outside
    (lo, hi] (``open_lo``) or [lo, hi]."""
    value = float(value)
    low_bad = lo is not None and (value <= lo if open_lo else value < lo)
    if not math.isfinite(value) or low_bad or (hi is not None and value > hi):
        bounds = f"{'(' if open_lo else '['}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise ValueError(f"{name} must be a finite number in {bounds}, got {value}")
    return value


def check_increasing(names: tuple[str, str], lo: float, hi: float) -> None:
    """``ValueError`` unless ``lo < hi`` (two schedule ends, named)."""
    if not lo < hi:
        raise ValueError(f"need {names[0]} < {names[1]}, got {names[0]}={lo}, {names[1]}={hi}")


def as_time(t: Time) -> torch.Tensor:
    """Tensor view of ``t`` (Python numbers become float64); raises ``ValueError`` when any value lies outside [0, 1]."""
    t = t if torch.is_tensor(t) else torch.as_tensor(t, dtype=torch.float64)
    if not t.is_floating_point():
        t = t.to(torch.float64)
    if t.numel() and bool(((t < 0) | (t > 1) | torch.isnan(t)).any()):
        raise ValueError(f"time must lie in [0, 1] (t = 0 is data, t = 1 is noise); got min {t.min().item():.4g}, max {t.max().item():.4g}")
    return t


class GaussianProcess:
    """Base class: ``alpha(t)``, ``sigma(t)`` and their derivatives; everything else is derived.

    ``t_min`` is the smallest time samplers, losses and likelihoods evaluate a model at (the last
    step of a sampler goes from ``t_min``-ish to exactly 0 by returning the denoised output);
    ``t_max`` is where the prior lives (1, except where the schedule is singular at 1).
    """

    t_min: float = 1e-5
    t_max: float = 1.0
    default_grid: str = "uniform"

    # --- closed forms, defined by subclasses on a validated time tensor -------------------------
    def _alpha(self, t: torch.Tensor) -> torch.Tensor: raise NotImplementedError
    def _sigma(self, t: torch.Tensor) -> torch.Tensor: raise NotImplementedError
    def _dalpha(self, t: torch.Tensor) -> torch.Tensor: raise NotImplementedError
    def _dsigma(self, t: torch.Tensor) -> torch.Tensor: raise NotImplementedError

    # --- public coefficients ---------------------------------------------------------------------
    def alpha(self, t: Time) -> torch.Tensor:
        """Signal scale alpha(t), same shape as ``t``."""
        return self._alpha(as_time(t))

    def sigma(self, t: Time) -> torch.Tensor:
        """Noise scale sigma(t), same shape as ``t``."""
        return self._sigma(as_time(t))

    def dalpha(self, t: Time) -> torch.Tensor:
        """d alpha / dt."""
        return self._dalpha(as_time(t))

    def dsigma(self, t: Time) -> torch.Tensor:
        """d sigma / dt."""
        return self._dsigma(as_time(t))

    def coefficients(self, t: Time) -> tuple[torch.Tensor, ...]:
        """``(alpha, sigma, dalpha, dsigma)`` at ``t`` in one call."""
        t = as_time(t)
        return self._alpha(t), self._sigma(t), self._dalpha(t), self._dsigma(t)

    def log_snr(self, t: Time) -> torch.Tensor:
        """lambda(t) = log(alpha^2 / sigma^2); +inf at t = 0, decreasing in t."""
        t = as_time(t)
        return 2 * (torch.log(self._alpha(t)) - torch.log(self._sigma(t)))

    def drift_coef(self, t: Time) -> torch.Tensor:
        """f(t) = alpha'/alpha of the forward SDE ``dx = f x dt + g dW``."""
        t = as_time(t)
        return self._dalpha(t) / self._alpha(t)

    def diffusion2(self, t: Time) -> torch.Tensor:
        """g(t)^2 = 2 sigma sigma' - 2 f sigma^2 of the forward SDE."""
        t = as_time(t)
        s = self._sigma(t)
        return 2 * s * self._dsigma(t) - 2 * self._dalpha(t) / self._alpha(t) * s**2

    # --- marginals, SDE, ODE, prior ---------------------------------------------------------------
    def marginal(self, x0: torch.Tensor, t: Time, noise: torch.Tensor) -> torch.Tensor:
        """x_t = alpha(t) x0 + sigma(t) noise; ``t`` is a scalar or has shape ``(n,)``."""
        t = as_time(t)
        a, s = per_sample(self._alpha(t), x0), per_sample(self._sigma(t), x0)
        return a * x0 + s * noise

    def reverse_sde(self, x: torch.Tensor, t: Time, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse-time SDE ``dx = drift dt + g dW`` (dt < 0): returns ``(drift, g)``."""
        t = as_time(t)
        f, g2 = per_sample(self.drift_coef(t), x), per_sample(self.diffusion2(t), x)
        return f * x - g2 * score, g2.sqrt()

    def pf_velocity(self, x: torch.Tensor, t: Time, score: torch.Tensor) -> torch.Tensor:
        """Probability-flow ODE velocity ``dx/dt = f x - g^2 score / 2``."""
        t = as_time(t)
        f, g2 = per_sample(self.drift_coef(t), x), per_sample(self.diffusion2(t), x)
        return f * x - 0.5 * g2 * score

    def prior_std(self) -> float:
        """Standard deviation of the prior N(0, sigma(t_max)^2 I) (alpha(t_max) x0 is neglected)."""
        return float(self.sigma(self.t_max))

    def prior_sample(self, shape, *, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
        """A draw from the prior, shape ``shape``."""
        device = device if device is not None else (generator.device if generator is not None else None)
        return self.prior_std() * torch.randn(shape, generator=generator, dtype=dtype, device=device)

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-density of the prior per sample (summed over all but the first dim), nats."""
        s = self.prior_std()
        d = x[0].numel()
        return -0.5 * (x.flatten(1) ** 2).sum(1) / s**2 - d * (math.log(s) + 0.5 * math.log(2 * math.pi))

    def t_of_log_snr(self, lam: torch.Tensor, iters: int = 80) -> torch.Tensor:
        """Inverse of ``log_snr`` on [t_min_search, t_max] by bisection (float64, any shape)."""
        lam = torch.as_tensor(lam, dtype=torch.float64)
        lo = torch.zeros_like(lam)
        hi = torch.full_like(lam, self.t_max)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            above = self.log_snr(mid) > lam          # log-SNR decreases with t
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

