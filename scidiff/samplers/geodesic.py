"""Steps for manifold processes: geodesic Euler and Heun for the probability-flow ODE and the
geodesic random walk (Euler-Maruyama through the exponential map) for the reverse SDE.

They take the driver's step signature, ``step(field, x, t, s, state, noise) -> (x_s, state)``,
where ``field`` (a :class:`Field`) is the model as these samplers see it. Tangent vectors are
compared in the manifold's trivialisation (body frame on SO(3), flat coordinates on tori and
R^d), so Heun averages the two velocities directly.
"""
from __future__ import annotations

import math

import torch

from ..manifolds.product import tree_leaves, tree_map
from ..processes.manifold import ManifoldProcess


class Field:
    """Wrap ``model(x_t, t) -> output`` (points and outputs: tensors, or tuples for products;
    ``t (n,)`` in the dtype and on the device of the points) for a ``ManifoldProcess``: the
    output's probability-flow velocity and reverse SDE. ``nfe`` counts model calls."""

    def __init__(self, model, proc: ManifoldProcess):
        self.model, self.proc, self.nfe = model, proc, 0

    def __call__(self, x, t: float):
        first = tree_leaves(x)[0]
        out = self.model(x, torch.full((first.shape[0],), float(t), dtype=first.dtype, device=first.device))
        self.nfe += 1
        if any(not bool(torch.isfinite(o.sum())) for o in tree_leaves(out)):
            raise FloatingPointError(f"the model returned NaN or Inf at t = {float(t):.6g}")
        return out

    def velocity(self, x, t: float):
        """The probability-flow velocity at ``(x, t)``, a tangent at x."""
        return self.proc.velocity(x, t, self(x, t))

    def reverse_sde(self, x, t: float):
        """``(drift, g)`` of the reverse SDE at ``(x, t)``."""
        return self.proc.reverse_sde(x, t, self(x, t))

    def exp(self, x, v):
        return self.proc.manifold.exp(x, v)


def geodesic_euler_step(field: Field, x, t, s, state, noise):
    """x_s = exp(x, (s - t) v(x, t))."""
    u = field.velocity(x, t)
    return field.exp(x, tree_map(lambda a: (s - t) * a, u)), state


def geodesic_heun_step(field: Field, x, t, s, state, noise):
    """Heun's method; the step into t = 0 is Euler (the score may be singular there)."""
    u1 = field.velocity(x, t)
    x_e = field.exp(x, tree_map(lambda a: (s - t) * a, u1))
    if s <= 0:
        return x_e, state
    u2 = field.velocity(x_e, s)
    return field.exp(x, tree_map(lambda a, b: (s - t) * 0.5 * (a + b), u1, u2)), state


def geodesic_random_walk_step(field: Field, x, t, s, state, noise, noise_scale: float = 1.0):
    """x_s = exp(x, drift (s - t) + noise_scale g sqrt(t - s) z), z standard normal in the tangent
    space. ``noise_scale`` < 1 shrinks only the injected noise, not the score term (FrameDiff
    samples at 0.1): a colder, no longer exact sampler that trades diversity for sharper samples."""
    drift, g = field.reverse_sde(x, t)
    z = noise()
    dt = s - t
    scale = noise_scale * math.sqrt(-dt)
    g = g if isinstance(g, tuple) else tree_map(lambda _: g, drift)
    return field.exp(x, tree_map(lambda d, gg, zz: d * dt + gg * scale * zz, drift, g, z)), state


MANIFOLD_METHODS = {"euler": geodesic_euler_step, "heun": geodesic_heun_step,
                    "euler_maruyama": geodesic_random_walk_step}


def manifold_grid(proc: ManifoldProcess, steps: int) -> torch.Tensor:
    """``steps`` evaluation times uniform on [t_min, t_max] (t_min > 0) or [1/steps, t_max], then 0."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if proc.t_min > 0:
        return torch.cat([torch.linspace(proc.t_max, proc.t_min, steps, dtype=torch.float64),
                          torch.zeros(1, dtype=torch.float64)])
    return torch.linspace(proc.t_max, 0.0, steps + 1, dtype=torch.float64)


__all__ = ["Field", "MANIFOLD_METHODS", "manifold_grid", "geodesic_euler_step", "geodesic_heun_step",
           "geodesic_random_walk_step"]
