"""Exact log-likelihood through the probability-flow ODE (instantaneous change of variables).

Along dx/dt = v(x, t):  d log p_t(x_t) / dt = -div v(x_t, t), hence

    log p_0(x) = log p_prior(x_T) + int_{t_min}^{T} div v(x_t, t) dt.

The ODE is integrated forward (data -> prior) with classical RK4 on the log-SNR grid, in float64;
the divergence is exact (one backward pass per dimension) or Hutchinson's estimate with a fixed
Rademacher probe per sample (FFJORD).
"""
from __future__ import annotations

import math

import torch

from .manifolds.product import tree_leaves, tree_map
from .processes.base import GaussianProcess
from .processes.manifold import ManifoldProcess
from .samplers.denoiser import Denoiser
from .samplers.grids import time_grid

DIVERGENCES = ("exact", "hutchinson")


def log_prob(model, proc: GaussianProcess | ManifoldProcess, x: torch.Tensor, *, prediction: str | None = None,
             steps: int = 64, divergence: str = "exact", t_min: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """log p(x) in nats per sample, ``(n,)`` float64, for data ``x (n, ...)``.

    ``model(x_t, t)`` runs in the dtype of ``x`` (float64 in, float64 throughout).
    ``steps`` RK4 intervals (4 model evaluations each) from ``t_min`` to ``proc.t_max``.
    """
    if isinstance(proc, ManifoldProcess):
        return _manifold_log_prob(model, proc, x, steps=steps, t_min=proc.t_min if t_min is None else t_min)
    if divergence not in DIVERGENCES:
        raise ValueError(f"unknown divergence {divergence!r}; valid: {', '.join(map(repr, DIVERGENCES))}")
    prediction = prediction or getattr(model, "prediction", None)
    if prediction is None:
        raise ValueError("say what the model predicts: prediction='eps' | 'x0' | 'v' | 'score' | 'velocity'")
    if not x.is_floating_point() or x.dim() < 2:
        raise ValueError(f"x must be a floating tensor (n, ...), got {x.dtype} of shape {tuple(x.shape)}")
    den = Denoiser(model, proc, prediction, x.dtype)
    probe = None
    if divergence == "hutchinson":
        probe = torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(torch.float64) * 2 - 1

    def field(y, t):
        """Velocity and its divergence at (y, t); y float64 ``(n, ...)``."""
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            a, s, da, ds = den.coefs(t)
            x0 = den(y, t)
            v = da * x0 + ds * (y - a * x0) / s
            return v.detach(), _divergence(v, y, probe)

    times = time_grid(proc, steps, "logsnr", t_min=t_min).flip(0)[1:].tolist()   # t_min ... t_max
    y, delta = x.detach().to(torch.float64), torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for t0, t1 in zip(times[:-1], times[1:]):
        h, tm = t1 - t0, 0.5 * (t0 + t1)
        k1, d1 = field(y, t0)
        k2, d2 = field(y + 0.5 * h * k1, tm)
        k3, d3 = field(y + 0.5 * h * k2, tm)
        k4, d4 = field(y + h * k3, t1)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        delta = delta + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
    return proc.prior_log_prob(y) + delta


def bits_per_dim(log_prob_nats: torch.Tensor, num_dims: int) -> torch.Tensor:
    """-log p / (D ln 2). Add the log-Jacobian of any preprocessing to ``log_prob_nats`` first
    (for 8-bit images scaled to [-1, 1]: subtract D log(127.5))."""
    return -log_prob_nats / (num_dims * math.log(2))


def _divergence(v, y, probe):
    if probe is not None:
        (g,) = torch.autograd.grad(v, y, probe)
        return (g * probe).flatten(1).sum(1)
    vf = v.flatten(1)
    div = torch.zeros(v.shape[0], dtype=torch.float64, device=v.device)
    for j in range(vf.shape[1]):
        (g,) = torch.autograd.grad(vf[:, j].sum(), y, retain_graph=True)
        div = div + g.flatten(1)[:, j]
    return div


def _manifold_log_prob(model, proc: ManifoldProcess, x, steps: int, t_min: float):
    """The Riemannian continuity equation, d log p / dt = -div v, with the exact divergence
    sum_i d/d delta_i <v(exp(x, delta)), e_i> at delta = 0 (orthonormal, divergence-free frame:
    flat coordinates on tori and R^d, the body frame on SO(3)). Integrated data -> prior by RK4
    with every stage moved through the exponential map; ``x`` a tensor or a tuple (products)."""
    m = proc.manifold
    m.check(x, "x")
    times = torch.linspace(t_min, proc.t_max, steps + 1, dtype=torch.float64).tolist()
    dev = tree_leaves(x)[0].device

    def field(y, t):
        with torch.enable_grad():
            delta = tree_map(lambda a: torch.zeros_like(a).requires_grad_(True), m.log(y, y))  # zero tangents at y
            moved = m.exp(y, delta)
            n = tree_leaves(y)[0].shape[0]
            v = proc.velocity(moved, t, model(moved, torch.full((n,), t, dtype=torch.float64, device=dev)))
            div = torch.zeros(n, dtype=torch.float64, device=dev)
            for vf, df in zip(tree_leaves(v), tree_leaves(delta)):
                flat = vf.reshape(n, -1)
                for j in range(flat.shape[1]):
                    (g,) = torch.autograd.grad(flat[:, j].sum(), df, retain_graph=True)
                    div = div + g.reshape(n, -1)[:, j]
        return tree_map(lambda a: a.detach(), v), div.detach()

    step = lambda y, h, k: m.exp(y, tree_map(lambda a: h * a, k))
    y, delta = x, torch.zeros(tree_leaves(x)[0].shape[0], dtype=torch.float64, device=dev)
    for t0, t1 in zip(times[:-1], times[1:]):
        h, tm = t1 - t0, 0.5 * (t0 + t1)
        k1, d1 = field(y, t0)
        k2, d2 = field(step(y, 0.5 * h, k1), tm)
        k3, d3 = field(step(y, 0.5 * h, k2), tm)
        k4, d4 = field(step(y, h, k3), t1)
        y = step(y, h / 6, tree_map(lambda a, b, c, d: a + 2 * b + 2 * c + d, k1, k2, k3, k4))
        delta = delta + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
    return proc.prior_log_prob(y) + delta


