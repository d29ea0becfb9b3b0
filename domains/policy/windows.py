"""Training windows as Diffusion Policy cuts them.

A window is ``horizon`` consecutive steps of one episode; its start runs from
``-(n_obs - 1)`` to ``length - horizon + (n_action - 1)``, and frames outside the episode
repeat its first or last frame (DP's ``SequenceSampler`` with pad_before = n_obs - 1 and
pad_after = n_action - 1). The network sees the first ``n_obs`` observations and predicts all
``horizon`` actions; ``n_action`` of them are executed from index ``n_obs - 1``.
"""
from __future__ import annotations

import numpy as np
import torch

from .episodes import Episodes


def window_frames(episodes: Episodes, horizon: int, n_obs: int, n_action: int) -> np.ndarray:
    """Global frame indices ``(W, horizon)`` of every window, edge-padded."""
    if not 1 <= n_obs <= horizon or not 1 <= n_action <= horizon:
        raise ValueError(f"need 1 <= n_obs, n_action <= horizon; got n_obs={n_obs}, n_action={n_action}, "
                         f"horizon={horizon}")
    out = []
    for start, length in zip(episodes.starts, episodes.lengths):
        first = np.arange(-(n_obs - 1), length - horizon + (n_action - 1) + 1)
        frames = np.clip(first[:, None] + np.arange(horizon), 0, length - 1)
        out.append(frames + start)
    return np.concatenate(out)


class WindowDataset:
    """Windows of ``obs`` (first ``n_obs`` steps) and ``action`` (all ``horizon`` steps).

    ``obs_fn(data, frames) -> (..., obs_dim)`` builds observations from the raw arrays (default:
    the array named ``obs_key``, flattened per step). ``get_batch(indices)`` returns float32
    tensors ``{"obs": (B, n_obs, obs_dim), "action": (B, horizon, act_dim)}`` for the Trainer.
    """

    def __init__(self, episodes: Episodes, horizon: int = 16, n_obs: int = 2, n_action: int = 8,
                 obs_key: str = "state", action_key: str = "action", obs_fn=None):
        for key in ([obs_key] if obs_fn is None else []) + [action_key]:
            if key not in episodes.data:
                raise ValueError(f"episodes have no {key!r} array; they have {sorted(episodes.data)}")
        self.episodes, self.horizon, self.n_obs, self.n_action = episodes, horizon, n_obs, n_action
        self.frames = window_frames(episodes, horizon, n_obs, n_action)
        self.obs_fn = obs_fn or (lambda data, f: data[obs_key][f].reshape(f.shape + (-1,)))
        self.action_key = action_key

    def __len__(self) -> int:
        return len(self.frames)

    def get_batch(self, indices) -> dict[str, torch.Tensor]:
        f = self.frames[np.asarray(indices)]
        obs = self.obs_fn(self.episodes.data, f[:, : self.n_obs])
        act = self.episodes.data[self.action_key][f]
        return {"obs": torch.as_tensor(obs, dtype=torch.float32),
                "action": torch.as_tensor(act.reshape(act.shape[:2] + (-1,)), dtype=torch.float32)}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.get_batch([i]).items()}

    def all_obs(self) -> np.ndarray:
        """Every step's observation ``(N, obs_dim)`` (for fitting the normalizer)."""
        n = len(self.episodes.data[self.action_key])
        return self.obs_fn(self.episodes.data, np.arange(n)[:, None])[:, 0]
