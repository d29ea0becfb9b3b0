"""``scidiff demo``: the main job, end to end, on what ships with the package.

Core part: a 2-D Gaussian mixture (eight anisotropic modes on a ring) is sampled with every
sampler through its exact denoiser; a table gives each sampler's sliced-W2 distance to the exact
distribution next to the noise floor of exact samples, and a PNG shows the samples. Domains add
their parts through the ``scidiff.demos`` entry points; each gets the output folder and options.
"""
from __future__ import annotations

import argparse
import math
import time
from importlib.metadata import entry_points
from pathlib import Path

import torch

from .cli import extra_of, missing_extra
from .metrics import SlicedW2
from .mixture import GaussianMixture
from .processes import EDM, VP, RectifiedFlow
from .samplers import sample

# (label, process, method, steps, options): the samplers the table compares
SAMPLERS = [
    ("DDPM, VP linear", VP, "ddpm", 100, {}),
    ("DDIM, VP cosine", lambda: VP("cosine"), "ddim", 25, {}),
    ("Euler-Maruyama, VP", VP, "euler_maruyama", 250, {}),
    ("Predictor-corrector, VP", VP, "pc", 100, {}),
    ("Euler, rectified flow", RectifiedFlow, "euler", 25, {}),
    ("Heun, EDM", EDM, "heun", 10, {}),
    ("Heun + churn, EDM", EDM, "heun", 10, {"s_churn": 10.0}),
    ("DPM-Solver++ 2M, VP", VP, "dpm++2m", 10, {}),
    ("DPM-Solver++ 2M, rect. flow", RectifiedFlow, "dpm++2m", 10, {}),
]


def ring_mixture(modes: int = 8, radius: float = 2.0) -> GaussianMixture:
    """``modes`` elongated Gaussians on a circle, each stretched along the tangent."""
    ang = torch.arange(modes, dtype=torch.float64) * 2 * math.pi / modes
    means = radius * torch.stack([ang.cos(), ang.sin()], 1)
    tangent = torch.stack([-ang.sin(), ang.cos()], 1)
    normal = torch.stack([ang.cos(), ang.sin()], 1)
    covs = 0.25**2 * tangent[:, :, None] * tangent[:, None, :] + 0.06**2 * normal[:, :, None] * normal[:, None, :]
    return GaussianMixture(means, covs)


def mixture_demo(out: Path, n: int = 4000, seed: int = 0, device: str = "cpu") -> list[dict]:
    """Run the core demo; returns the table rows and writes ``out/mixture_samplers.png``."""
    target = ring_mixture()
    sw = SlicedW2(target, n, generator=torch.Generator().manual_seed(seed))
    floors = torch.tensor([sw(target.sample(n, generator=torch.Generator().manual_seed(seed + 1 + r))) for r in range(5)])
    rows, shown = [], {"exact samples": target.sample(n, generator=torch.Generator().manual_seed(seed))}
    for label, make, method, steps, opts in SAMPLERS:
        proc = make()
        gen = torch.Generator(device).manual_seed(seed)
        start = time.perf_counter()
        x = sample(target.model(proc, "x0"), proc, (n, 2), steps=steps, method=method, generator=gen,
                   dtype=torch.float64, device=device, **opts)
        secs = time.perf_counter() - start
        nfe = steps * 2 - 1 if method in ("heun", "pc") else steps
        rows.append({"sampler": label, "nfe": nfe, "sw2": sw(x), "seconds": secs})
        shown[f"{label} ({nfe} NFE)"] = x.cpu()
    print(f"\n2-D mixture, {n} samples; sliced W2 to the exact distribution "
          f"(noise floor of exact samples: {floors.mean():.4f} ± {floors.std():.4f})")
    print(f"{'sampler':<30} {'NFE':>4} {'sliced W2':>10} {'time s':>7}")
    for r in rows:
        print(f"{r['sampler']:<30} {r['nfe']:>4} {r['sw2']:>10.4f} {r['seconds']:>7.2f}")
    png = out / "mixture_samplers.png"
    _plot(shown, png)
    print(f"samples plotted in {png}")
    return rows


def _plot(panels: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 5
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows))
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (title, x) in zip(axes.flat, panels.items()):
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, color="C0" if title == "exact samples" else "C1")
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-3.2, 3.2)
        ax.set_ylim(-3.2, 3.2)
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    mixture_demo(out, n=args.samples, seed=args.seed, device=args.device)
    for ep in sorted(entry_points(group="scidiff.demos"), key=lambda e: e.name):
        print(f"\n== {ep.name} ==")
        try:
            ep.load()(out, seed=args.seed, device=args.device)
        except ImportError as e:               # an extra that is not installed: the other parts still run
            print(f"skipped: {missing_extra(extra_of(ep.value), e)}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the bundled demonstrations (table + plots)",
                              description="Sample a 2-D mixture with every sampler and print how close each gets "
                                          "to the exact distribution; domain demos follow as they ship.",
                              epilog="example:\n  scidiff demo --out scidiff-demo --seed 0",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="scidiff-demo", help="output folder (default: %(default)s)")
    p.add_argument("--samples", type=_positive, default=4000, help="samples per sampler (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: %(default)s)")
    p.set_defaults(func=run)


def _positive(s: str) -> int:
    v = int(s)
    if v < 2:
        raise argparse.ArgumentTypeError(f"need an integer >= 2, got {s}")
    return v
