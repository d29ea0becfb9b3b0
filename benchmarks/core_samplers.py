"""Our samplers against diffusers' schedulers on one exact-mixture problem, side by side.

Every sampler integrates the same 2-D Gaussian mixture (``scidiff.demo.ring_mixture``) through
its exact closed-form denoiser, starting from the same standard-normal draws. The table gives the
sliced-W2 distance of the samples to the exact distribution (exact projected quantiles) at
NFE 5/10/20/50, with the noise floor of exact samples of the same size, and the wall time per
model evaluation (total, and the sampler's own overhead with the model's time taken out).

    python benchmarks/core_samplers.py [--samples 20000] [--markdown]
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import scidiff
from scidiff.demo import ring_mixture
from scidiff.metrics import SlicedW2

f64 = torch.float64
NFES = (5, 10, 20, 50)


class Timed:
    """Wrap a model, counting calls and the seconds spent inside it."""

    def __init__(self, fn):
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, *a):
        start = time.perf_counter()
        out = self.fn(*a)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


# --- ours ------------------------------------------------------------------------------------------
def ours(target, z, nfe, proc, method, grid=None, **opts):
    steps = (nfe + 1) // 2 if method == "heun" else nfe
    model = Timed(target.model(proc, "x0"))
    x = scidiff.sample(model, proc, steps=steps, method=method, grid=grid, prediction="x0",
                       x_init=z * proc.prior_std(), **opts)
    return x, model


OURS = {
    "scidiff dpm++2m VP logsnr": lambda t, z, n: ours(t, z, n, scidiff.VP(), "dpm++2m", "logsnr"),
    "scidiff dpm++2m VP karras": lambda t, z, n: ours(t, z, n, scidiff.VP(), "dpm++2m", "karras"),
    "scidiff dpm++2m EDM karras": lambda t, z, n: ours(t, z, n, scidiff.EDM(), "dpm++2m", "karras"),
    "scidiff dpm++2m RF uniform": lambda t, z, n: ours(t, z, n, scidiff.RectifiedFlow(), "dpm++2m", "uniform"),
    "scidiff heun EDM karras": lambda t, z, n: ours(t, z, n, scidiff.EDM(), "heun"),
    "scidiff heun RF uniform": lambda t, z, n: ours(t, z, n, scidiff.RectifiedFlow(), "heun", "uniform"),
    "scidiff ddim VP uniform": lambda t, z, n: ours(t, z, n, scidiff.VP(), "ddim", "uniform"),
    "scidiff euler RF uniform": lambda t, z, n: ours(t, z, n, scidiff.RectifiedFlow(), "euler", "uniform"),
}


# --- diffusers ---------------------------------------------------------------------------------------
def diffusers_run(target, z, nfe, make, space):
    """Drive a diffusers scheduler; the exact denoiser is evaluated at the noise level its update uses."""
    sched = make()
    steps = (nfe + 1) // 2 if space == "ve-heun" else nfe
    sched.set_timesteps(steps)
    x = z.clone() * float(getattr(sched, "init_noise_sigma", 1.0))
    rf_velocity = target.model(scidiff.RectifiedFlow(), "velocity")

    def exact(x, t_index, t):
        if space == "vp-ddim":
            abar = float(sched.alphas_cumprod[int(t)])
            a, s = math.sqrt(abar), math.sqrt(1 - abar)
        elif space == "flow":
            sig = float(sched.sigmas[t_index])
            return rf_velocity(x, torch.full((len(x),), sig, dtype=f64))
        else:
            st = float(sched.sigmas[t_index if space == "vp" else sched.step_index])
            if space.startswith("ve"):           # x is x0 + sigma eps; eps-prediction
                return (x - target.denoise(x, 1.0, st)) / st
            a = 1 / math.sqrt(1 + st**2)
            s = st * a
        return (x - a * target.denoise(x, a, s)) / s

    model = Timed(exact)
    for i, t in enumerate(sched.timesteps):
        x_in = sched.scale_model_input(x, t) if space.startswith("ve") else x
        out = model(x, i, t) if space.startswith("ve") else model(x_in, i, t)
        x = sched.step(out, t, x).prev_sample
    return x, model


def diffusers_table():
    import diffusers as d

    vp = dict(num_train_timesteps=1000, beta_schedule="linear")
    return {
        # clip_sample defaults to True (images in [-1, 1]); our data are not images
        "diffusers DDIM": (lambda: d.DDIMScheduler(**vp, clip_sample=False), "vp-ddim"),
        "diffusers DPM++2M": (lambda: d.DPMSolverMultistepScheduler(**vp, solver_order=2), "vp"),
        "diffusers DPM++2M karras": (lambda: d.DPMSolverMultistepScheduler(**vp, solver_order=2, use_karras_sigmas=True), "vp"),
        "diffusers UniPC": (lambda: d.UniPCMultistepScheduler(**vp), "vp"),
        "diffusers Euler karras": (lambda: d.EulerDiscreteScheduler(**vp, use_karras_sigmas=True), "ve"),
        "diffusers Heun karras": (lambda: d.HeunDiscreteScheduler(**vp, use_karras_sigmas=True), "ve-heun"),
        "diffusers FlowMatchEuler": (lambda: d.FlowMatchEulerDiscreteScheduler(), "flow"),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=20000, help="samples per run (default %(default)s)")
    p.add_argument("--seeds", type=int, default=3, help="independent prior draws averaged (default %(default)s)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    target = ring_mixture()
    n = args.samples
    sw = SlicedW2(target, n, n_projections=128, generator=torch.Generator().manual_seed(0))
    floors = torch.tensor([sw(target.sample(n, generator=torch.Generator().manual_seed(1000 + r))) for r in range(10)])
    zs = [torch.randn(n, 2, generator=torch.Generator().manual_seed(s), dtype=f64) for s in range(args.seeds)]

    runners = dict(OURS)
    for name, (make, space) in diffusers_table().items():
        runners[name] = lambda t, z, nfe, make=make, space=space: diffusers_run(t, z, nfe, make, space)
    # the converged ODE solution from the same prior draws: what a perfect deterministic solver scores
    converged = sum(sw(ours(target, z.clone(), 500, scidiff.EDM(), "dpm++2m", "karras")[0]) for z in zs) / len(zs)
    rows = {}
    for name, run in runners.items():
        cells = []
        for nfe in NFES:
            dist, calls, total, model_s = 0.0, 0, 0.0, 0.0
            for z in zs:
                start = time.perf_counter()
                x, model = run(target, z.clone(), nfe)
                total += time.perf_counter() - start
                dist += sw(x.to(f64)) / len(zs)
                calls, model_s = calls + model.calls, model_s + model.seconds
            cells.append((dist, calls // len(zs), 1e3 * total / calls, 1e3 * (total - model_s) / calls))
        rows[name] = cells

    print(f"exact ring mixture, {n} samples x {len(zs)} prior draws, sliced W2 (128 directions, mean over draws)")
    print(f"noise floor of exact samples: {floors.mean():.4f} ± {floors.std():.4f}; "
          f"converged ODE from the same draws (scidiff dpm++2m, NFE 500): {converged:.4f}")
    head = ["sampler"] + [f"NFE {k}" for k in NFES] + ["ms/NFE", "overhead ms/NFE"]
    lines = []
    for name, cells in rows.items():
        sws = [f"{c[0]:.4f}" + ("" if c[1] == k else f" ({c[1]})") for c, k in zip(cells, NFES)]
        lines.append([name] + sws + [f"{cells[-1][2]:.2f}", f"{cells[-1][3]:.3f}"])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        w = max(len(r[0]) for r in lines) + 2
        print(f"{head[0]:<{w}}" + "".join(f"{h:>12}" for h in head[1:]))
        for line in lines:
            print(f"{line[0]:<{w}}" + "".join(f"{c:>12}" for c in line[1:]))
    for i, nfe in enumerate(NFES):
        best = {side: min((v[i][0], k) for k, v in rows.items() if k.startswith(side)) for side in ("scidiff", "diffusers")}
        print(f"NFE {nfe:>2}: best scidiff {best['scidiff'][0]:.4f} ({best['scidiff'][1][8:]}), "
              f"best diffusers {best['diffusers'][0]:.4f} ({best['diffusers'][1][10:]}); converged {converged:.4f}")


if __name__ == "__main__":
    main()
