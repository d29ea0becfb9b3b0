"""Samplers for manifold processes: geodesic Euler and Heun for the probability-flow ODE and the
geodesic random walk (Euler-Maruyama through the exponential map) for the reverse SDE.

Steps are pure like the Euclidean ones: ``step(proc, model, x, t, s, noise) -> x_s``. Tangent
vectors are compared in the manifold's trivialisation (body frame on SO(3), flat coordinates on
tori and R^d), so Heun averages the two velocities directly.
"""
from __future__ import annotations

import math

import torch

from ..processes.manifold import ManifoldProcess
from .options import check_options


def tmap(f, *trees):
    """Apply ``f`` leaf-wise over tensors or tuples of tensors (product manifolds)."""
    if isinstance(trees[0], tuple):
        return tuple(tmap(f, *leaves) for leaves in zip(*trees))
    return f(*trees)


def _call(model, x, t):
    n = (x[0] if isinstance(x, tuple) else x).shape[0]
    dtype = (x[0] if isinstance(x, tuple) else x).dtype
    tt = torch.full((n,), float(t), dtype=dtype)
    out = model(x, tt)
    bad = any(not bool(torch.isfinite(o.sum())) for o in (out if isinstance(out, tuple) else (out,)))
    if bad:
        raise FloatingPointError(f"the model returned NaN or Inf at t = {float(t):.6g}")
    return out


def geodesic_euler_step(proc: ManifoldProcess, model, x, t, s, noise):
    u = proc.velocity(x, t, _call(model, x, t))
    return proc.manifold.exp(x, tmap(lambda a: (s - t) * a, u))


def geodesic_heun_step(proc: ManifoldProcess, model, x, t, s, noise):
    """Heun's method; the step into t = 0 is Euler (the score may be singular there)."""
    u1 = proc.velocity(x, t, _call(model, x, t))
    x_e = proc.manifold.exp(x, tmap(lambda a: (s - t) * a, u1))
    if s <= 0:
        return x_e
    u2 = proc.velocity(x_e, s, _call(model, x_e, s))
    return proc.manifold.exp(x, tmap(lambda a, b: (s - t) * 0.5 * (a + b), u1, u2))


def geodesic_random_walk_step(proc: ManifoldProcess, model, x, t, s, noise, noise_scale: float = 1.0):
    """x_s = exp(x, drift (s - t) + noise_scale g sqrt(t - s) z), z standard normal in the tangent
    space. ``noise_scale`` < 1 shrinks only the injected noise, not the score term (FrameDiff
    samples at 0.1): a colder, no longer exact sampler that trades diversity for sharper samples."""
    drift, g = proc.reverse_sde(x, t, _call(model, x, t))
    z = noise(x)
    dt = s - t
    scale = noise_scale * math.sqrt(-dt)
    return proc.manifold.exp(x, tmap(lambda d, gg, zz: d * dt + gg * scale * zz, drift,
                                     g if isinstance(g, tuple) else _like(g, drift), z))


def _like(g, tree):
    return tmap(lambda _: g, tree)


GEODESIC_METHODS = {"euler": geodesic_euler_step, "heun": geodesic_heun_step,
                    "euler_maruyama": geodesic_random_walk_step}


def manifold_grid(proc: ManifoldProcess, steps: int) -> torch.Tensor:
    """``steps`` evaluation times uniform on [t_min, t_max] (t_min > 0) or [1/steps, t_max], then 0."""
    if proc.t_min > 0:
        return torch.cat([torch.linspace(proc.t_max, proc.t_min, steps, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
    return torch.linspace(proc.t_max, 0.0, steps + 1, dtype=torch.float64)


def sample_manifold(model, proc: ManifoldProcess, n: int | None = None, *, steps: int = 100, method: str = "euler",
                    grid=None, generator=None, x_init=None, return_trajectory: bool = False, **options):
    """Integrate ``proc`` from its prior at t_max to t = 0 on ``manifold_grid`` (or ``grid``).

    ``model(x_t, t)`` takes points (a tensor, or a tuple for products) and ``t (n,)`` and returns
    what ``proc.prediction`` names, as tangent vectors of the same structure. ``options`` go to the
    step (``noise_scale`` for ``"euler_maruyama"``).
    """
    if method not in GEODESIC_METHODS:
        raise ValueError(f"unknown method {method!r} for a manifold process; valid: "
                         f"{', '.join(map(repr, GEODESIC_METHODS))}")
    check_options(GEODESIC_METHODS[method], options, method)
    if method == "euler_maruyama" and not proc.has_sde:
        raise ValueError(f"{type(proc).__name__} has no SDE; sample it with 'euler' or 'heun'")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    times = manifold_grid(proc, steps) if grid is None else torch.as_tensor(grid, dtype=torch.float64)
    if x_init is None:
        if n is None:
            raise ValueError("give the number of samples n or an initial x_init")
        x_init = proc.prior_sample(n, generator=generator)
    x = x_init
    step = GEODESIC_METHODS[method]

    def noise(like):
        return proc.manifold.random_tangent(like, generator=generator)

    ts = times.tolist()
    traj = [x] if return_trajectory else None
    for i in range(len(ts) - 1):
        t, s = ts[i], ts[i + 1]
        try:
            x = step(proc, model, x, t, s, noise, **options)
        except FloatingPointError as e:
            raise FloatingPointError(f"step {i} (t = {t:.6g} -> {s:.6g}): {e}") from None
        if traj is not None:
            traj.append(x)
    return (x, traj) if return_trajectory else x
