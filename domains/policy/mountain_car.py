"""MountainCarContinuous (gymnasium's ``MountainCarContinuous-v0``): the second environment.

An under-powered car in a valley must rock back and forth to reach the flag at x = 0.45. The
project's own controller (``collect``) pumps energy: it pushes with full force along the
velocity, and from rest it starts left or right at random, so the demonstrations hold two
strategies for the same start (the multimodality a diffusion policy should keep). Observation
(position, velocity); action (force,) in [-1, 1]; success, and the step score, is reaching the
flag (the env then terminates).
"""
from __future__ import annotations

import numpy as np

from .episodes import Episodes


class MountainCar:
    name = "mountaincar"
    max_steps = 999
    state_dim = 2                                   # [position, velocity]
    goal = 0.45

    def __init__(self, obs_type: str = ""):
        if obs_type not in ("", "state"):
            raise ValueError(f"MountainCar has one observation type, 'state'; got {obs_type!r}")
        self.obs_type = "state"

    def make(self, render: bool = False):
        import gymnasium as gym

        return gym.make("MountainCarContinuous-v0", **({"render_mode": "rgb_array"} if render else {}))

    def reset(self, env, seed: int | None = None, state=None) -> np.ndarray:
        obs, _ = env.reset(seed=seed)
        if state is not None:
            env.unwrapped.state = np.asarray(state, dtype=np.float32).copy()
            obs = env.unwrapped.state
        return self.observe(obs)

    def observe(self, obs) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32).ravel().copy()

    def features(self, episodes: Episodes) -> np.ndarray:
        if "obs" not in episodes.data:
            raise ValueError(f"MountainCar demonstrations need an 'obs' array (N, 2); these have {sorted(episodes.data)}")
        return episodes.data["obs"].astype(np.float32)

    def score(self, obs: np.ndarray, info: dict) -> float:
        return float(self.success(obs, info))

    def success(self, obs: np.ndarray, info: dict) -> bool:
        return bool(obs[0] >= self.goal)

    def controller(self, obs: np.ndarray, first: float) -> np.ndarray:
        """Energy pumping: full force along the velocity; ``first`` (+-1) from rest."""
        v = float(obs[1])
        return np.array([np.sign(v) if abs(v) > 1e-4 else first], dtype=np.float32)

    def collect(self, n: int, seed: int = 0, noise: float = 0.1) -> Episodes:
        """``n`` controller demonstrations from env seeds ``seed..seed+n-1``; each records
        ``obs`` before every step and the ``action`` taken (with Gaussian ``noise``, clipped)."""
        rng = np.random.default_rng(seed)
        env = self.make()
        episodes = []
        for i in range(n):
            obs = self.reset(env, seed=seed + i)
            first = rng.choice([-1.0, 1.0])
            rows = {"obs": [], "action": []}
            for _ in range(self.max_steps):
                a = np.clip(self.controller(obs, first) + noise * rng.standard_normal(1), -1, 1).astype(np.float32)
                rows["obs"].append(obs)
                rows["action"].append(a)
                o, _, terminated, truncated, _ = env.step(a)
                obs = self.observe(o)
                if terminated or truncated:
                    break
            if not terminated:
                raise RuntimeError(f"the controller failed to reach the flag from seed {seed + i}")
            episodes.append({k: np.stack(v) for k, v in rows.items()})
        env.close()
        return Episodes.from_lists(episodes)
