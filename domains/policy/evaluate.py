"""Roll a policy out in its environment and score it as Diffusion Policy does.

Episodes run in lockstep batches (one ``policy.act`` call per control step for the whole batch),
from seeds or from explicit initial states, for at most ``max_steps`` steps. Per episode we keep
the maximum step score (PushT: clip(coverage / 0.95, 0, 1)) and whether it ever succeeded; the
result reports DP's score (the mean of those maxima) with a bootstrap interval and the success
rate with a Wilson interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .video import write_video


@dataclass
class EvalResult:
    scores: np.ndarray           # (E,) max step score per episode, in [0, 1]
    successes: np.ndarray        # (E,) bool: succeeded at some step
    lengths: np.ndarray          # (E,) steps run (until the env ended the episode, or max_steps)

    @property
    def score(self) -> float:
        return float(self.scores.mean())

    @property
    def success_rate(self) -> float:
        return float(self.successes.mean())

    def score_ci(self, level: float = 0.95, resamples: int = 10_000) -> tuple[float, float]:
        """Percentile bootstrap interval of the mean score (fixed resampling seed)."""
        rng = np.random.default_rng(0)
        means = self.scores[rng.integers(0, len(self.scores), (resamples, len(self.scores)))].mean(1)
        a = (1 - level) / 2
        return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))

    def success_ci(self, level: float = 0.95) -> tuple[float, float]:
        """Wilson score interval of the success rate."""
        return wilson_interval(int(self.successes.sum()), len(self.successes), level)

    def summary(self) -> dict:
        lo, hi = self.score_ci()
        slo, shi = self.success_ci()
        return {"episodes": len(self.scores), "score": self.score, "score_ci95": [lo, hi],
                "success_rate": self.success_rate, "success_ci95": [slo, shi],
                "mean_length": float(self.lengths.mean())}

    def table(self) -> str:
        s = self.summary()
        return (f"episodes {s['episodes']}\n"
                f"DP score      {s['score']:.3f}  (95% CI {s['score_ci95'][0]:.3f}-{s['score_ci95'][1]:.3f})\n"
                f"success rate  {s['success_rate']:.3f}  (95% CI {s['success_ci95'][0]:.3f}-{s['success_ci95'][1]:.3f})\n"
                f"mean length   {s['mean_length']:.1f} steps")


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes out of ``n``."""
    from scipy.stats import norm

    if n == 0:
        raise ValueError("no episodes")
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def evaluate(policy, task, *, seeds=None, states=None, max_steps: int | None = None, batch: int = 50,
             steps: int | None = None, method: str | None = None, seed: int = 0,
             video: str | Path | None = None, progress: bool = False) -> EvalResult:
    """Run one episode per seed (or per initial state ``(E, state_dim)``) and score them.

    ``steps``/``method`` override the policy's sampler; ``seed`` seeds the policy's noise (drawn
    on the policy's device); ``video`` writes the first episode as a GIF or MP4.
    """
    if (seeds is None) == (states is None):
        raise ValueError("give exactly one of seeds or states")
    starts = [("seed", int(s)) for s in seeds] if seeds is not None else \
        [("state", np.asarray(s, dtype=np.float64)) for s in np.asarray(states)]
    if not starts:
        raise ValueError("no episodes to run")
    max_steps = max_steps or task.max_steps
    scores, successes, lengths, frames = [], [], [], []
    gen = torch.Generator(_device_of(policy)).manual_seed(seed)
    chunks = range(0, len(starts), batch)
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, desc="episodes", unit=f"x{batch}")
    for lo in chunks:
        group = starts[lo:lo + batch]
        record = video is not None and lo == 0
        envs = [task.make(render=record and i == 0) for i in range(len(group))]
        obs = np.stack([task.reset(env, **{kind: value}) for env, (kind, value) in zip(envs, group)])
        best = np.zeros(len(group))
        won = np.zeros(len(group), dtype=bool)
        done = np.zeros(len(group), dtype=bool)       # terminated (success or failure) or truncated
        length = np.zeros(len(group), dtype=int)
        if record:
            frames.append(envs[0].render())
        policy.reset()
        for t in range(max_steps):
            actions = policy.act(obs, steps=steps, method=method, generator=gen)
            for i, env in enumerate(envs):
                if done[i]:
                    continue
                o, _, terminated, truncated, info = env.step(actions[i])
                obs[i] = task.observe(o)
                best[i] = max(best[i], task.score(obs[i], info))
                won[i] |= task.success(obs[i], info)
                done[i] = terminated or truncated
                length[i] = t + 1
                if record and i == 0:
                    frames.append(env.render())
            if done.all():
                break
        for env in envs:
            env.close()
        scores.append(best)
        successes.append(won)
        lengths.append(length)
    if video is not None:
        write_video(frames, video)
    return EvalResult(np.concatenate(scores), np.concatenate(successes), np.concatenate(lengths))


def _device_of(policy) -> torch.device:
    """The device of a policy's parameters (the CPU for one without any, e.g. a scripted policy)."""
    params = getattr(policy, "parameters", None)
    first = next(params(), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")
