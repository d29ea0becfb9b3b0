"""Training objectives: denoising regression in any prediction space, and flow matching.

A weighting is an x0-space weight w(t) (an error delta in x0 costs w delta^2); in the network's
own prediction space the error is c delta (``x0_error_scale2`` gives c^2), so the loss applied
there is ``w / c^2 * ||pred - target||^2``:

    uniform   plain MSE in the prediction's own space (L_simple for eps)
    snr       w = SNR              (equals L_simple for eps)
    min_snr   w = min(SNR, gamma)  (Hang et al. 2023; gamma = 5)
    edm       w = SNR + 1/sd^2     (= (sigma~^2 + sd^2) / (sigma~ sd)^2, Karras et al. 2022)
"""
from __future__ import annotations

import torch

from .parameterization import check_prediction, from_x0_eps, x0_error_scale2
from .processes.base import GaussianProcess, as_time
from .processes.gaussian import RectifiedFlow

WEIGHTINGS = ("uniform", "snr", "min_snr", "edm")
TIME_DISTRIBUTIONS = ("uniform", "lognormal")


def sample_time(proc: GaussianProcess, n: int, *, distribution: str = "uniform", p_mean: float = -1.2,
                p_std: float = 1.2, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Training times ``(n,)`` float32 in [t_min, t_max]: uniform, or EDM's log-normal sigma~
    (log sigma~ ~ N(p_mean, p_std^2), mapped to t through the process's log-SNR)."""
    if distribution not in TIME_DISTRIBUTIONS:
        raise ValueError(f"unknown time distribution {distribution!r}; valid: {', '.join(TIME_DISTRIBUTIONS)}")
    if distribution == "uniform":
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        t = proc.t_min + (proc.t_max - proc.t_min) * u
    else:
        log_sig = p_mean + p_std * torch.randn(n, generator=generator, device=device, dtype=torch.float64)
        t = proc.t_of_log_snr(-2 * log_sig).clamp(proc.t_min, proc.t_max)
    return t.float()


def diffusion_loss(model, proc: GaussianProcess, x0: torch.Tensor, *, prediction: str | None = None,
                   weighting: str = "uniform", t: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, min_snr_gamma: float = 5.0,
                   sigma_data: float = 0.5, reduction: str = "mean") -> torch.Tensor:
    """Weighted regression of ``model(x_t, t)`` on the true ``prediction`` at random ``t``.

    ``x0 (n, ...)``; ``t (n,)`` and ``noise`` like x0 are drawn when not given. Returns the mean
    (or per-sample ``(n,)`` with ``reduction="none"``) of the weighted squared error.
    """
    prediction = check_prediction(prediction or getattr(model, "prediction", None) or "")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; valid: {', '.join(map(repr, WEIGHTINGS))}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; valid: 'mean', 'none'")
    n = x0.shape[0]
    t = sample_time(proc, n, generator=generator, device=x0.device) if t is None else as_time(t)
    if t.shape != (n,):
        raise ValueError(f"t must have shape ({n},), got {tuple(t.shape)}")
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    elif noise.shape != x0.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, x0 {tuple(x0.shape)}")
    a, s, da, ds = (c.to(x0.device, torch.float64) for c in proc.coefficients(t.to(torch.float64)))
    x_t = proc.marginal(x0, t.to(x0.dtype), noise)
    target = from_x0_eps(x0, noise, prediction, x_t, a, s, da, ds)
    pred = model(x_t, t.to(x0.dtype))
    if pred.shape != x0.shape:
        raise ValueError(f"model output has shape {tuple(pred.shape)}, expected {tuple(x0.shape)}")
    err = ((pred - target) ** 2).flatten(1).mean(1)
    weight = _weight(weighting, prediction, a, s, da, ds, min_snr_gamma, sigma_data)
    loss = weight.to(err.dtype) * err
    return loss.mean() if reduction == "mean" else loss


def flow_matching_loss(model, x0: torch.Tensor, *, proc: GaussianProcess | None = None, ot_pairing: bool = False,
                       t: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                       generator: torch.Generator | None = None, reduction: str = "mean") -> torch.Tensor:
    """Velocity regression on the straight path (``RectifiedFlow``) or any Gaussian path.

    ``ot_pairing`` re-pairs noise and data within the batch by an exact assignment that
    minimises the total squared distance (minibatch optimal transport, Tong et al. 2023).
    """
    proc = proc or RectifiedFlow()
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    if ot_pairing:
        noise = ot_pair(x0, noise)
    return diffusion_loss(model, proc, x0, prediction="velocity", t=t, noise=noise, generator=generator,
                          reduction=reduction)


def ot_pair(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Permute ``noise (n, ...)`` so that ``noise[i]`` is matched to ``x0[i]`` by the exact
    minimum-cost assignment under squared Euclidean cost (Hungarian algorithm, scipy)."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(x0.detach().flatten(1).double(), noise.detach().flatten(1).double()) ** 2
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    return noise[torch.as_tensor(cols[rows.argsort()], device=noise.device)]


def _weight(weighting, prediction, a, s, da, ds, gamma, sigma_data):
    if weighting == "uniform":
        return torch.ones_like(a)
    snr = (a / s) ** 2
    w = {"snr": snr, "min_snr": snr.clamp(max=gamma), "edm": snr + 1 / sigma_data**2}[weighting]
    return w / x0_error_scale2(prediction, a, s, da, ds)


def manifold_loss(model, proc, x0, *, t: torch.Tensor | None = None, generator: torch.Generator | None = None,
                  reduction: str = "mean") -> torch.Tensor:
    """Regression of ``model(x_t, t)`` on the target of a ``ManifoldProcess`` (score for heat
    diffusion, velocity for geodesic flows; tuples for products), squared in the metric and
    weighted by ``proc.loss_weight(t)``. ``x0``: points (n, ...) or a tuple of them."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; valid: 'mean', 'none'")
    proc.manifold.check(x0, "x0")
    first = x0[0] if isinstance(x0, tuple) else x0
    n = first.shape[0]
    if t is None:
        lo, hi = max(proc.t_min, 1e-5), proc.t_max
        t = lo + (hi - lo) * torch.rand(n, generator=generator, dtype=first.dtype, device=first.device)
    path = proc.sample_path(x0, t, generator=generator)
    pred = model(path.x, t)
    diff = _sub(pred, path.target)
    err = proc.manifold.inner(path.x, diff, diff)
    err = err.flatten(1).sum(1) if err.dim() > 1 else err
    loss = proc.loss_weight(t).to(err.dtype) * err
    return loss.mean() if reduction == "mean" else loss


def _sub(a, b):
    return tuple(x - y for x, y in zip(a, b)) if isinstance(a, tuple) else a - b
