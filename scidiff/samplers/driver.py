"""``sample``: one driver for every step function.

A step function is pure: ``step(den, x, t, s, state, noise, **options) -> (x_s, state)`` moves
float64 samples ``x`` from time t to s < t using ``den(x, t) -> x0``; ``state`` is a dict the
driver creates (holding ``"steps"``, the number of intervals, and ``"index"``, the current one)
that multistep methods extend; ``noise()`` draws a standard
normal like ``x``. The driver walks the grid and ends with the denoised output at t = 0.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..processes.base import GaussianProcess
from ..processes.manifold import ManifoldProcess
from .ancestral import ddim_step, ddpm_step
from .denoiser import Denoiser, all_finite
from .dpm_solver import dpmpp_2m_step
from .geodesic import sample_manifold
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

    For a ``ManifoldProcess`` (torus, SO(3), products) this hands over to ``sample_manifold``:
    methods ``"euler"`` (default), ``"heun"`` (geodesic) and ``"euler_maruyama"`` (geodesic random walk,
    option ``noise_scale``), ``shape`` = ``(n,)``. Below, the Euclidean case.

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
    """
    if isinstance(proc, ManifoldProcess):
        n = shape if isinstance(shape, int) or shape is None else shape[0]
        return sample_manifold(model, proc, n, steps=steps, method=method or "euler", grid=grid,
                               generator=generator, x_init=x_init, return_trajectory=return_trajectory, **options)
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

    transform = denoised_transform
    if inpaint is not None:
        transform = inpaint.x0 if transform is None else (lambda x0, f=transform: inpaint.x0(f(x0)))
        known_eps = noise()          # one noise draw: the known part follows its own forward path
        x = inpaint.noised(x, float(times[0]), proc, known_eps)
    den = Denoiser(model, proc, prediction, dtype, transform)
    ts = times.tolist()
    state = {"steps": len(ts) - 1}
    trajectory = [x.to(dtype)] if return_trajectory else None
    for i in tqdm(range(len(ts) - 2), disable=not progress, desc=f"sampling ({method})"):
        t, s = ts[i], ts[i + 1]
        state["index"] = i
        saved = dict(state)
        for r in range(inpaint.resample if inpaint is not None else 1):
            if r:  # RePaint: jump back to t through the forward transition, then redo the step
                x, state = inpaint.renoise(x, s, t, proc, noise), dict(saved)
            x, state = _guarded(step, den, x, t, s, state, noise, options, i)
            if inpaint is not None:
                x = inpaint.noised(x, s, proc, known_eps)
        if trajectory is not None:
            trajectory.append(x.to(dtype))
    try:  # the last interval: the denoised prediction at the last evaluation time is the sample
        x = den(x, ts[-2])
    except FloatingPointError as e:
        raise FloatingPointError(f"final denoising step {len(ts) - 2} (t = {ts[-2]:.6g} -> 0): {e}") from None
    if inpaint is not None:
        x = inpaint.x0(x)
    x = x.to(dtype)
    if trajectory is not None:
        trajectory.append(x)
        return x, trajectory
    return x


def _guarded(step, den, x, t, s, state, noise, options, i):
    try:
        x, state = step(den, x, t, s, state, noise, **options)
    except FloatingPointError as e:
        raise FloatingPointError(f"step {i} (t = {t:.6g} -> {s:.6g}): {e}") from None
    if not all_finite(x):
        raise FloatingPointError(f"step {i} (t = {t:.6g} -> {s:.6g}) produced NaN or Inf samples")
    return x, state
