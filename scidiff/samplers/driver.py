"""``sample``: one driver for every step function and every space.

A step function is pure: ``step(den, x, t, s, state, noise, **options) -> (x_s, state)`` moves
samples ``x`` from time t to s < t. ``den`` is the model as the step sees it: a ``Denoiser``
(``den(x, t) -> x0`` in float64) for Gaussian processes, a ``Field`` (the network's output, its
velocity and reverse SDE) for manifold processes, whose points and tangents are tensors or tuples
of them (products). ``state`` is a dict the driver creates (holding ``"steps"``, the number of
intervals, and ``"index"``, the current one) that multistep methods extend; ``noise()`` draws a
standard normal like ``x`` (a tangent for manifolds). The driver walks the grid; a Gaussian run
ends with the denoised output at t = 0, a manifold run steps into t = 0. Prior draws, times and
noise are made on the device of ``x_init`` (else ``device``, else the generator's).
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..manifolds.product import tree_leaves
from ..processes.base import GaussianProcess
from ..processes.manifold import ManifoldProcess
from .ancestral import ddim_step, ddpm_step
from .denoiser import Denoiser, all_finite
from .dpm_solver import dpmpp_2m_step
from .geodesic import MANIFOLD_METHODS, Field, manifold_grid
from .grids import check_grid, time_grid
from .ode import euler_step, heun_step
from .options import check_options
from .sde import euler_maruyama_step, pc_step

METHODS = {
    "ddpm": ddpm_step,
    "ddim": ddim_step,
    "euler_maruyama": euler_maruyama_step,
    "pc": pc_step,
    "euler": euler_step,
    "heun": heun_step,
    "dpm++2m": dpmpp_2m_step,
}
DEFAULT_GRID = {"dpm++2m": "logsnr"}
SDE_METHODS = ("euler_maruyama", "pc")


def sample(model, proc: GaussianProcess | ManifoldProcess, shape=None, *, steps: int = 50, method: str | None = None,
           prediction: str | None = None, grid=None, generator: torch.Generator | None = None,
           x_init: torch.Tensor | None = None, dtype: torch.dtype | None = None, device=None,
           t_min: float | None = None, t_max: float | None = None, denoised_transform=None, inpaint=None,
           progress: bool = False, return_trajectory: bool = False, **options):
    """Draw samples by integrating ``proc`` backwards from its prior to t = 0.

    model       ``model(x_t, t) -> prediction``, ``x_t (n, ...)``, ``t (n,)``
    shape       ``(n, ...)`` of the samples (or give ``x_init``, a prior draw at ``t_max``)
    steps       number of model-evaluation times (Heun and PC evaluate twice per interval)
    method      one of ``METHODS`` (default ``"dpm++2m"``); ``options`` go to its step (``eta``,
                ``s_churn``, ``snr`` ...)
    prediction  what the model predicts (``"eps" | "x0" | "v" | "score" | "velocity"``); defaults
                to ``model.prediction`` where the model declares one
    grid        ``"uniform" | "karras" | "logsnr"`` or a decreasing tensor of times ending at 0
    t_min/max   override the process's evaluation range for the named grids
    inpaint     an ``Inpaint`` (known values kept exactly, optional RePaint resampling)

    Returns samples ``(n, ...)`` in ``dtype`` (that of ``x_init``, else the default dtype);
    with ``return_trajectory`` also the list of states at every grid time.

    A ``ManifoldProcess`` (torus, SO(3), products) takes ``shape = (n,)`` and the methods of
    ``MANIFOLD_METHODS``: ``"euler"`` (default) and ``"heun"`` (geodesic probability-flow ODE),
    ``"euler_maruyama"`` (geodesic random walk, option ``noise_scale``); the model returns what
    ``proc.prediction`` names, as tangents; samples keep the dtype of the prior (float64) or of
    ``x_init``. The Gaussian-only options (``prediction``, ``t_min``/``t_max``, ``dtype``,
    ``denoised_transform``, ``inpaint``) do not apply there.
    """
    if isinstance(proc, ManifoldProcess):
        unsupported = {k: v for k, v in (("prediction", prediction), ("t_min", t_min), ("t_max", t_max), ("dtype", dtype),
                                         ("denoised_transform", denoised_transform), ("inpaint", inpaint)) if v is not None}
        if unsupported:
            raise ValueError(f"{', '.join(unsupported)} do not apply to a manifold process ({type(proc).__name__})")
        method = method or "euler"
        step, field, x, ts, noise = _manifold_run(model, proc, shape, steps, method, grid, generator, x_init,
                                                  device, options)
        return _walk(step, field, x, ts, noise, options, len(ts) - 1, method=method, progress=progress,
                     trajectory=return_trajectory)
    method = method or "dpm++2m"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(map(repr, METHODS))}")
    step = METHODS[method]
    check_options(step, options, method)
    prediction = prediction or getattr(model, "prediction", None)
    if prediction is None:
        raise ValueError("say what the model predicts: prediction='eps' | 'x0' | 'v' | 'score' | 'velocity'")
    if isinstance(grid, str) or grid is None:
        times = time_grid(proc, steps, grid or DEFAULT_GRID.get(method), t_min=t_min, t_max=t_max)
    else:
        times = check_grid(grid)
    if method in SDE_METHODS and float(proc.alpha(times[0])) == 0:
        raise ValueError(f"the reverse SDE of {type(proc).__name__} is singular at t = {float(times[0]):g} "
                         f"(alpha = 0); pass t_max < 1 or use 'ddpm', 'ddim', 'euler', 'heun' or 'dpm++2m'")
    if x_init is not None:
        if shape is not None and tuple(shape) != tuple(x_init.shape):
            raise ValueError(f"shape {tuple(shape)} does not match x_init {tuple(x_init.shape)}")
        dtype = dtype or x_init.dtype
        x = x_init.to(torch.float64)
    else:
        if shape is None:
            raise ValueError("give the sample shape (n, ...) or an initial x_init")
        dtype = dtype or torch.get_default_dtype()
        dev = device if device is not None else (generator.device if generator is not None else None)
        x = proc.prior_sample(tuple(shape), generator=generator, dtype=torch.float64, device=dev)
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"samples need a leading batch dimension, got shape {tuple(x.shape)}")

    def noise():
        return torch.randn(x.shape, generator=generator, dtype=torch.float64, device=x.device)

    transform, repaint = denoised_transform, None
    if inpaint is not None:
        transform = inpaint.x0 if transform is None else (lambda x0, f=transform: inpaint.x0(f(x0)))
        known_eps = noise()          # one noise draw: the known part follows its own forward path
        x = inpaint.noised(x, float(times[0]), proc, known_eps)
        repaint = (inpaint.resample, lambda x, s, t: inpaint.renoise(x, s, t, proc, noise),
                   lambda x, s: inpaint.noised(x, s, proc, known_eps))
    den = Denoiser(model, proc, prediction, dtype, transform)
    ts = times.tolist()

    def finish(x):           # the last interval: the denoised prediction at the last evaluation time is the sample
        try:
            x = den(x, ts[-2])
        except FloatingPointError as e:
            raise FloatingPointError(f"final denoising step {len(ts) - 2} (t = {ts[-2]:.6g} -> 0): {e}") from None
        return (inpaint.x0(x) if inpaint is not None else x).to(dtype)

    return _walk(step, den, x, ts, noise, options, len(ts) - 2, finish=finish, record=lambda x: x.to(dtype),
                 repaint=repaint, method=method, progress=progress, trajectory=return_trajectory)


def _manifold_run(model, proc: ManifoldProcess, shape, steps, method, grid, generator, x_init, device, options):
    """``(step, field, x, times, noise)`` of a manifold run."""
    if method not in MANIFOLD_METHODS:
        raise ValueError(f"unknown method {method!r} for a manifold process; valid: "
                         f"{', '.join(map(repr, MANIFOLD_METHODS))}")
    step = MANIFOLD_METHODS[method]
    check_options(step, options, method)
    if method == "euler_maruyama" and not proc.has_sde:
        raise ValueError(f"{type(proc).__name__} has no SDE; sample it with 'euler' or 'heun'")
    times = manifold_grid(proc, steps) if grid is None else check_grid(grid)
    if x_init is None:
        n = shape if isinstance(shape, int) or shape is None else shape[0]
        if n is None:
            raise ValueError("give the number of samples (shape (n,)) or an initial x_init")
        dev = device if device is not None else (generator.device if generator is not None else None)
        x_init = proc.prior_sample(n, generator=generator, device=dev)
    else:
        proc.manifold.check(x_init, "x_init")
    if shape is not None and (shape if isinstance(shape, int) else shape[0]) != tree_leaves(x_init)[0].shape[0]:
        raise ValueError(f"shape {shape} does not match x_init's {tree_leaves(x_init)[0].shape[0]} samples")
    like = x_init

    def noise():
        return proc.manifold.random_tangent(like, generator=generator)

    return step, Field(model, proc), x_init, times.tolist(), noise


def _walk(step, den, x, ts, noise, options, n_steps, *, finish=None, record=None, repaint=None, method="",
          progress=False, trajectory=False):
    """Run ``step`` over the first ``n_steps`` intervals of the times ``ts``, then ``finish`` (a
    Gaussian run's final denoising); ``record`` turns a state into a trajectory entry.
    ``repaint = (resample, renoise(x, s, t), keep(x, s))`` (inpainting) puts the known values back
    on their forward path after every step and repeats each step ``resample`` times (RePaint)."""
    record = record or (lambda x: x)
    resample, renoise, keep = repaint or (1, None, None)
    state = {"steps": len(ts) - 1}
    path = [record(x)] if trajectory else None
    for i in tqdm(range(n_steps), disable=not progress, desc=f"sampling ({method})"):
        t, s = ts[i], ts[i + 1]
        state["index"] = i
        saved = dict(state)
        for r in range(resample):
            if r:  # RePaint: jump back to t through the forward transition, then redo the step
                x, state = renoise(x, s, t), dict(saved)
            x, state = _guarded(step, den, x, t, s, state, noise, options, i)
            if keep is not None:
                x = keep(x, s)
        if path is not None:
            path.append(record(x))
    if finish is not None:
        x = finish(x)
        if path is not None:
            path.append(x)
    return (x, path) if trajectory else x


def _guarded(step, den, x, t, s, state, noise, options, i):
    try:
        x, state = step(den, x, t, s, state, noise, **options)
    except FloatingPointError as e:
        raise FloatingPointError(f"step {i} (t = {t:.6g} -> {s:.6g}): {e}") from None
    if not all(all_finite(leaf) for leaf in tree_leaves(x)):
        raise FloatingPointError(f"step {i} (t = {t:.6g} -> {s:.6g}) produced NaN or Inf samples")
    return x, state
