"""The policy part of ``scidiff demo``: ten PushT episodes with the bundled weights (run in
lockstep, a few seconds), their DP score, and the first one as a GIF."""
from __future__ import annotations

import time
from pathlib import Path


def run(out: Path, seed: int = 0, device: str = "cpu", episodes: int = 10) -> None:
    from .envs import get_task
    from .evaluate import evaluate
    from .policy import DiffusionPolicy

    policy = DiffusionPolicy.from_pretrained("pusht", device=device)
    c = policy.config
    task = get_task(c.env, obs_type=c.obs_type)
    gif = Path(out) / "pusht_episode.gif"
    seeds = range(100_000 + seed, 100_000 + seed + episodes)
    start = time.perf_counter()
    result = evaluate(policy, task, seeds=seeds, seed=seed, video=gif)
    print(f"PushT, bundled policy ({sum(p.numel() for p in policy.parameters()) / 1e6:.1f} M parameters, "
          f"{c.method} x {c.steps} steps), {episodes} episodes in lockstep from env seeds {seeds.start}..{seeds.stop - 1}:")
    print(f"  DP score {result.score:.3f}, {int(result.successes.sum())} of {episodes} succeeded, "
          f"{time.perf_counter() - start:.1f} s")
    print(f"  first episode (score {result.scores[0]:.3f}) written to {gif}")
    print("  (more episodes and confidence intervals: scidiff policy eval pusht --episodes 200)")
