"""The policy part of ``scidiff demo``: one PushT episode with the bundled weights, as a GIF."""
from __future__ import annotations

import time
from pathlib import Path


def run(out: Path, seed: int = 0, device: str = "cpu") -> None:
    from .envs import get_task
    from .evaluate import evaluate
    from .policy import DiffusionPolicy

    policy = DiffusionPolicy.from_pretrained("pusht", device=device)
    c = policy.config
    task = get_task(c.env, obs_type=c.obs_type)
    gif = Path(out) / "pusht_episode.gif"
    start = time.perf_counter()
    result = evaluate(policy, task, seeds=[100_000 + seed], seed=seed, video=gif)
    print(f"PushT, bundled policy ({sum(p.numel() for p in policy.parameters()) / 1e6:.1f} M parameters, "
          f"{c.method} x {c.steps} steps), env seed {100_000 + seed}:")
    print(f"  DP score {result.score:.3f}, success {bool(result.successes[0])}, {int(result.lengths[0])} steps, "
          f"{time.perf_counter() - start:.1f} s")
    print(f"  rollout written to {gif}")
    print("  (50 episodes: scidiff policy eval pusht --episodes 50)")
