"""Diffusion Policy on PushT: our samplers against Diffusion Policy's recipe driven by diffusers.

The reference is DP's inference and training recipe as DP writes it: the same ConditionalUnet1D
driven by diffusers' ``DDPMScheduler`` (100 training steps, squared-cosine ``squaredcos_cap_v2``,
eps-prediction, ``clip_sample=True`` — DP's PushT config; 100 denoising steps by default) or
``DDIMScheduler``, and DP's training step (integer timesteps, ``add_noise``, MSE on eps). The
network is the same module in every row, so the differences are sampler and loop overhead and
the number of steps. Each diffusers step k is fed to the network at the continuous time with the
same log-SNR as diffusers' alpha_bar[k].

Three tables:
1. per-chunk inference latency (one observation, batch 1) at DP's full size (65.8 M) and at the
   shipped size;
2. training-step time (batch 256) at both sizes;
3. PushT score and success rate of the shipped (or given) weights with each sampler, from the
   same unseen initial states (env seeds 100000...).

    python benchmarks/policy.py [--model pusht] [--episodes 50] [--threads 2] [--markdown]
"""
from __future__ import annotations

import argparse
import copy
import time
import types

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from scidiff.policy import DiffusionPolicy, PolicyConfig, UnetConfig
from scidiff.policy.cli import load_policy
from scidiff.policy.envs import get_task
from scidiff.policy.evaluate import evaluate

DP_SCHEDULER = dict(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                    prediction_type="epsilon")


def diffusers_time(policy: DiffusionPolicy, scheduler) -> torch.Tensor:
    """Continuous time of each of the scheduler's training steps (equal log-SNR)."""
    ab = scheduler.alphas_cumprod.double()
    return policy.process.t_of_log_snr(torch.log(ab / (1 - ab))).float()


def reference_policy(policy: DiffusionPolicy, kind: str, steps: int) -> DiffusionPolicy:
    """A copy of ``policy`` whose ``predict_action`` is DP's loop over a diffusers scheduler."""
    scheduler = (DDPMScheduler if kind == "ddpm" else DDIMScheduler)(**DP_SCHEDULER)
    times = diffusers_time(policy, scheduler)
    ref = copy.deepcopy(policy)

    @torch.no_grad()
    def predict_action(self, obs_history, *, steps=None, method=None, generator=None):
        c = self.config
        cond = self.obs_norm.normalize(torch.as_tensor(obs_history, dtype=torch.float32)).flatten(1)
        x = torch.randn((len(cond), c.horizon, c.action_dim), generator=generator)
        scheduler.set_timesteps(n)
        for k in scheduler.timesteps:
            eps = self.net(x, times[k].expand(len(x)), cond)
            x = scheduler.step(eps, k, x, generator=generator).prev_sample
        return self.action_norm.unnormalize(x.clamp(-1, 1))

    n = steps
    ref.predict_action = types.MethodType(predict_action, ref)
    return ref


def ours_policy(policy: DiffusionPolicy, method: str, steps: int) -> DiffusionPolicy:
    ours = copy.deepcopy(policy)
    ours.config.method, ours.config.steps = method, steps
    return ours


SAMPLERS = {   # name -> (builder, method/kind, steps)
    "DP reference: diffusers DDPM x100": (reference_policy, "ddpm", 100),
    "DP reference: diffusers DDIM x10": (reference_policy, "ddim", 10),
    "scidiff DDPM (ancestral) x10": (ours_policy, "ddpm", 10),
    "scidiff DDIM x10": (ours_policy, "ddim", 10),
    "scidiff DPM-Solver++(2M) x10": (ours_policy, "dpm++2m", 10),
    "scidiff DDIM x5": (ours_policy, "ddim", 5),
    "scidiff DPM-Solver++(2M) x5": (ours_policy, "dpm++2m", 5),
}


def chunk_latency(policy: DiffusionPolicy, repeats: int) -> float:
    """Median seconds for one plan from one observation history."""
    obs = torch.rand(1, policy.config.n_obs, policy.config.obs_dim)
    policy.predict_action(obs)                                         # warm-up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        policy.predict_action(obs, generator=torch.Generator().manual_seed(i))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def train_step_time(policy: DiffusionPolicy, batch: int, repeats: int) -> tuple[float, float]:
    """Median seconds of one optimiser step: ours (``policy.forward``) and DP's loop."""
    scheduler = DDPMScheduler(**DP_SCHEDULER)
    times = diffusers_time(policy, scheduler)
    c = policy.config
    data = {"obs": torch.rand(batch, c.n_obs, c.obs_dim), "action": torch.rand(batch, c.horizon, c.action_dim)}
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)

    def ours():
        return policy(data)

    def reference():
        cond = policy.obs_norm.normalize(data["obs"]).flatten(1)
        traj = policy.action_norm.normalize(data["action"])
        noise = torch.randn_like(traj)
        k = torch.randint(0, scheduler.config.num_train_timesteps, (batch,))
        noisy = scheduler.add_noise(traj, noise, k)
        return torch.nn.functional.mse_loss(policy.net(noisy, times[k], cond), noise)

    out = []
    for loss_fn in (ours, reference):
        seconds = []
        for i in range(repeats + 1):
            start = time.perf_counter()
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()
            seconds.append(time.perf_counter() - start)
        out.append(float(np.median(seconds[1:])))
    return out[0], out[1]


def table(rows: list[list], header: list[str], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header)] + [fmt.format(*map(str, r)) for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="pusht", help="bundled name, model folder or run folder")
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--skip-score", action="store_true", help="latency and training tables only")
    ap.add_argument("--skip-timing", action="store_true", help="score table only")
    ap.add_argument("--only", nargs="+", help="samplers whose name contains any of these words (e.g. DDPM)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    samplers = {k: v for k, v in SAMPLERS.items() if not args.only or any(w in k for w in args.only)}
    torch.set_num_threads(args.threads)
    trained = load_policy(args.model)
    torch.manual_seed(0)
    full = DiffusionPolicy(PolicyConfig(obs_dim=trained.config.obs_dim, unet=UnetConfig()))   # DP's PushT size
    full.fit_normalizers(np.random.rand(10, full.config.obs_dim), np.random.rand(10, 2))
    sizes = {"DP full (65.8 M)": full, f"shipped ({sum(p.numel() for p in trained.parameters()) / 1e6:.1f} M)": trained}

    if not args.skip_timing:
        timing_tables(sizes, samplers, args)
    if args.skip_score:
        return
    task = get_task(trained.config.env or "pusht", obs_type=trained.config.obs_type)
    seeds = range(100_000, 100_000 + args.episodes)
    print(f"\n# PushT, {args.model}, {args.episodes} episodes from env seeds 100000.., 300 steps, "
          f"n_action {trained.config.n_action}\n")
    rows = []
    for name, (build, kind, steps) in samplers.items():
        start = time.perf_counter()
        r = evaluate(build(trained, kind, steps), task, seeds=seeds, seed=0)
        s = r.summary()
        rows.append([name, f"{s['score']:.3f} ({s['score_ci95'][0]:.3f}-{s['score_ci95'][1]:.3f})",
                     f"{s['success_rate']:.2f} ({s['success_ci95'][0]:.2f}-{s['success_ci95'][1]:.2f})",
                     f"{time.perf_counter() - start:.0f}"])
        print(rows[-1], flush=True)
    print(table(rows, ["sampler", "DP score (95% CI)", "success (95% CI)", "wall s"], args.markdown))


def timing_tables(sizes: dict, samplers: dict, args) -> None:
    print(f"# per-chunk latency, batch 1, {args.threads} threads (median of {args.repeats}), ms\n")
    rows = []
    for name, (build, kind, steps) in samplers.items():
        rows.append([name] + [f"{1e3 * chunk_latency(build(net.eval(), kind, steps), args.repeats):.1f}"
                              for net in sizes.values()])
    print(table(rows, ["sampler"] + list(sizes), args.markdown))

    print(f"\n# training step, batch 256, {args.threads} threads (median of 5), s\n")
    rows = []
    for name, net in sizes.items():
        ours, ref = train_step_time(copy.deepcopy(net).train(), 256, 5)
        rows.append([name, f"{ours:.3f}", f"{ref:.3f}", f"{ours / ref:.2f}"])
    print(table(rows, ["network", "scidiff loss", "DP loop (diffusers add_noise)", "ratio"], args.markdown))


if __name__ == "__main__":
    main()
