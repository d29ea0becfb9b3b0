"""Time grids: ``steps`` model-evaluation times from ``t_max`` down to ``t_min``, then exactly 0.

The final interval [t_min-ish, 0] is the denoising step: every sampler ends by returning the
denoised prediction there, so samples land on t = 0 with nothing truncated.

    uniform  evenly spaced in t
    karras   evenly spaced in sigma~^(1/rho), sigma~ = sigma / alpha  (EDM, rho = 7)
    logsnr   evenly spaced in log-SNR lambda = log(alpha^2 / sigma^2)  (DPM-Solver)

Where sigma~ is infinite at t_max (alpha = 0: rectified flow, cosine VP at 1) the spacing is
computed up to ``SIGMA_CAP`` (EDM's sigma_max) and the first time is t_max itself.
"""
from __future__ import annotations

import math

import torch

from ..processes.base import GaussianProcess

GRIDS = ("uniform", "karras", "logsnr")
SIGMA_CAP = 80.0


def time_grid(proc: GaussianProcess, steps: int, kind: str | None = None, *, t_min: float | None = None,
              t_max: float | None = None, rho: float = 7.0) -> torch.Tensor:
    """Descending times ``(steps + 1,)`` float64: ``steps`` evaluation times, then 0."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    kind = kind or proc.default_grid
    if kind not in GRIDS:
        raise ValueError(f"unknown grid {kind!r}; valid: {', '.join(map(repr, GRIDS))} or a tensor of times")
    lo = proc.t_min if t_min is None else t_min
    hi = proc.t_max if t_max is None else t_max
    if not 0 < lo < hi <= 1:
        raise ValueError(f"need 0 < t_min < t_max <= 1, got t_min={lo}, t_max={hi}")
    key = (repr(proc), steps, kind, lo, hi, rho)     # a process's repr names its class and every field
    if key not in _CACHE:                            # karras/logsnr invert the log-SNR by bisection:
        if len(_CACHE) > 256:                        # worth remembering for policies that re-plan often
            _CACHE.clear()
        _CACHE[key] = _grid(proc, steps, kind, lo, hi, rho)
    return _CACHE[key].clone()


_CACHE: dict[tuple, torch.Tensor] = {}


def _grid(proc: GaussianProcess, steps: int, kind: str, lo: float, hi: float, rho: float) -> torch.Tensor:
    if steps == 1:
        t = torch.tensor([hi], dtype=torch.float64)
    elif kind == "uniform":
        t = torch.linspace(hi, lo, steps, dtype=torch.float64)
    else:
        s_hi, s_lo = _sigma_tilde(proc, hi), _sigma_tilde(proc, lo)
        s_top = min(s_hi, SIGMA_CAP) if math.isinf(s_hi) else s_hi
        u = torch.linspace(0, 1, steps, dtype=torch.float64)
        if kind == "karras":
            sig = (s_top ** (1 / rho) + u * (s_lo ** (1 / rho) - s_top ** (1 / rho))) ** rho
        else:
            sig = torch.exp(math.log(s_top) + u * (math.log(s_lo) - math.log(s_top)))
        t = proc.t_of_log_snr(-2 * torch.log(sig))
        t[0], t[-1] = hi, lo
    return torch.cat([t, torch.zeros(1, dtype=torch.float64)])


def check_grid(times: torch.Tensor) -> torch.Tensor:
    """Validate a user grid: 1-D, strictly decreasing, inside [0, 1], ending at 0."""
    times = torch.as_tensor(times, dtype=torch.float64).flatten()
    if times.numel() < 2:
        raise ValueError("a time grid needs at least two times (t_max ... 0)")
    if bool((times < 0).any() or (times > 1).any()):
        raise ValueError("grid times must lie in [0, 1] (t = 0 is data, t = 1 is noise)")
    if bool((times[1:] >= times[:-1]).any()):
        raise ValueError("grid times must be strictly decreasing")
    if times[-1] != 0:
        raise ValueError("a time grid must end at exactly t = 0 (the denoised output)")
    return times


def _sigma_tilde(proc: GaussianProcess, t: float) -> float:
    a, s = float(proc.alpha(t)), float(proc.sigma(t))
    return math.inf if a == 0 else s / a
