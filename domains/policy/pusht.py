"""PushT (``gym_pusht/PushT-v0``): observation features identical in training and evaluation.

The demonstrations record the simulator state ``[agent_x, agent_y, block_x, block_y,
block_angle]`` before each step. Placing the block reproduces them only when the angle is set
before the position (setting the angle rotates the body about its centre of mass); gym-pusht's
own ``reset_to_state`` sets them the other way round "for legacy data", which puts the block up
to ~250 px away from the recorded pose on these demos. ``set_state`` places it angle-first on a
fresh simulator; with it, replaying an episode's recorded actions from its first state
reproduces every recorded state exactly (tested). ``features_from_states`` then reads the
environment's own ``get_obs``, so training features come from the code evaluation uses.
"""
from __future__ import annotations

import numpy as np

OBS_TYPES = ("state", "environment_state_agent_pos")


def make_env(obs_type: str = "environment_state_agent_pos", **kwargs):
    """``gym.make("gym_pusht/PushT-v0", obs_type=...)``, reset once; ``obs_type`` in ``OBS_TYPES``."""
    if obs_type not in OBS_TYPES:
        raise ValueError(f"unknown PushT obs_type {obs_type!r}; valid: {', '.join(map(repr, OBS_TYPES))}")
    import gym_pusht  # noqa: F401  (registers the environment)
    import gymnasium as gym

    env = gym.make("gym_pusht/PushT-v0", obs_type=obs_type, **kwargs)
    env.reset(seed=0)
    return env


def set_state(env, state) -> object:
    """Put ``env`` into the recorded ``state`` (angle before position, fresh simulator); returns
    its observation."""
    base = env.unwrapped
    s = np.asarray(state, dtype=np.float64)
    base._setup()
    base.agent.position = list(s[:2])
    base.block.angle = float(s[4])
    base.block.position = list(s[2:4])
    base.space.step(base.dt)
    return base.get_obs()


def flatten_obs(obs) -> np.ndarray:
    """A flat float32 vector: ``environment_state`` (16 keypoint coordinates) then ``agent_pos``."""
    if isinstance(obs, dict):
        return np.concatenate([np.asarray(obs["environment_state"]).ravel(),
                               np.asarray(obs["agent_pos"]).ravel()]).astype(np.float32)
    return np.asarray(obs, dtype=np.float32).ravel()


def features_from_states(states: np.ndarray, obs_type: str = "environment_state_agent_pos", env=None) -> np.ndarray:
    """Observation features ``(N, obs_dim)`` of recorded states ``(N, 5)`` via the env's own functions."""
    env = env or make_env(obs_type)
    return np.stack([flatten_obs(set_state(env, s)) for s in np.asarray(states, dtype=np.float64)])


class PushT:
    """The PushT task as the policy tools see it: observations, resets, demo features, scores.

    ``score`` of a step is Diffusion Policy's clip(coverage / 0.95, 0, 1); an episode succeeds
    when the coverage exceeds 0.95 at any step (the env then terminates).
    """

    name = "pusht"
    max_steps = 300
    state_dim = 5                                  # [agent_x, agent_y, block_x, block_y, block_angle]

    def __init__(self, obs_type: str = "environment_state_agent_pos"):
        if obs_type not in OBS_TYPES:
            raise ValueError(f"unknown PushT obs_type {obs_type!r}; valid: {', '.join(map(repr, OBS_TYPES))}")
        self.obs_type = obs_type

    def make(self, render: bool = False, size: int = 256):
        """A PushT env; ``render`` makes ``env.render()`` return ``size`` x ``size`` RGB frames."""
        return make_env(self.obs_type, **({"visualization_width": size, "visualization_height": size} if render else {}))

    def reset(self, env, seed: int | None = None, state=None) -> np.ndarray:
        """Reset to ``state`` (placed angle-first, see ``set_state``) or draw one from ``seed``."""
        if state is not None:
            env.reset()
            return flatten_obs(set_state(env, state))
        return flatten_obs(env.reset(seed=seed)[0])

    def observe(self, obs) -> np.ndarray:
        return flatten_obs(obs)

    def features(self, episodes) -> np.ndarray:
        """Per-step observations ``(N, obs_dim)`` of demonstrations with a recorded ``state``."""
        if "state" not in episodes.data:
            raise ValueError(f"PushT demonstrations need a 'state' array (N, 5); these have {sorted(episodes.data)}")
        return features_from_states(episodes.data["state"], self.obs_type)

    @staticmethod
    def score(obs: np.ndarray, info: dict) -> float:
        return float(np.clip(info["coverage"] / 0.95, 0.0, 1.0))

    @staticmethod
    def success(obs: np.ndarray, info: dict) -> bool:
        return bool(info["coverage"] > 0.95)
