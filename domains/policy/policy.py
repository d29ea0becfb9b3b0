"""DiffusionPolicy: normalisers + temporal U-Net + a core process, acting in any gymnasium loop.

Training (``forward`` returns the loss, so the shared Trainer and DDP can drive it): actions are
normalised to [-1, 1], noised by the process, and the U-Net, conditioned on the normalised
observation history, regresses eps (``recipe="ddpm"``: squared-cosine VP as Diffusion Policy)
or the velocity (``recipe="flow"``: rectified flow). Acting: ``predict_action`` samples a
``horizon``-step plan in a few steps with any core sampler; ``act`` keeps DP's receding horizon
(execute ``n_action`` steps from index ``n_obs - 1``, then re-plan) for one env or a batch, or,
with ``ensemble`` set, re-plans every step and averages the overlapping plans (ACT's temporal
ensembling).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from scidiff.losses import diffusion_loss
from scidiff.processes import VP, RectifiedFlow
from scidiff.samplers import sample
from scidiff.train.pretrained import Pretrained

from .normalizer import MinMaxNormalizer
from .unet1d import ConditionalUnet1D, UnetConfig

def _clip(x0: torch.Tensor) -> torch.Tensor:
    return x0.clamp(-1, 1)


RECIPES = {"ddpm": ("eps", lambda: VP("cosine")), "flow": ("velocity", RectifiedFlow)}


@dataclass
class PolicyConfig:
    obs_dim: int = 20
    action_dim: int = 2
    horizon: int = 16
    n_obs: int = 2
    n_action: int = 8
    recipe: str = "ddpm"             # "ddpm" (eps, squared-cosine VP) or "flow" (rectified flow)
    method: str = "ddim"             # sampler used by predict_action / act
    steps: int = 10                  # denoising steps at inference
    clip_sample: bool = True         # clamp every denoised plan to the normalised range [-1, 1] (DP's
                                     # clip_sample): eps-prediction near pure noise is unstable without it
    ensemble: float | None = None    # temporal ensembling: re-plan every step and average the plans'
                                     # actions for now with weights exp(-ensemble * age) (ACT); None: off
    env: str = ""                    # the environment it was trained for (scidiff.policy.envs), if any
    obs_type: str = ""               # that environment's observation type, if it has several
    unet: UnetConfig = field(default_factory=UnetConfig)


class DiffusionPolicy(Pretrained, nn.Module):
    config_class = PolicyConfig
    bundled = {"pusht": "weights/pusht"}         # trained on the PushT demos; see weights/pusht/README.md

    def __init__(self, config: PolicyConfig | None = None, **overrides):
        super().__init__()
        c = replace(config) if config is not None else PolicyConfig(**overrides)
        if c.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {c.recipe!r}; valid: {', '.join(map(repr, RECIPES))}")
        if not 1 <= c.n_action <= c.horizon - c.n_obs + 1:
            raise ValueError(f"n_action must lie in 1..horizon - n_obs + 1 = {c.horizon - c.n_obs + 1}")
        prediction, make = RECIPES[c.recipe]
        c.unet = replace(c.unet, action_dim=c.action_dim, cond_dim=c.n_obs * c.obs_dim, prediction=prediction)
        self.config = c
        self.process = make()
        self.net = ConditionalUnet1D(c.unet)
        self.obs_norm, self.action_norm = MinMaxNormalizer(c.obs_dim), MinMaxNormalizer(c.action_dim)
        self.reset()

    @property
    def prediction(self) -> str:
        return self.net.prediction

    # --- training ---------------------------------------------------------------------------------
    def fit_normalizers(self, obs: np.ndarray, actions: np.ndarray) -> "DiffusionPolicy":
        """Fit both normalisers on every recorded step ``(N, obs_dim)``, ``(N, action_dim)``."""
        self.obs_norm.fit(obs)
        self.action_norm.fit(actions)
        return self

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss of a batch ``{"obs": (B, n_obs, obs_dim), "action": (B, horizon, action_dim)}``."""
        cond = self.obs_norm.normalize(batch["obs"]).flatten(1)
        actions = self.action_norm.normalize(batch["action"])
        return diffusion_loss(lambda x, t: self.net(x, t, cond), self.process, actions,
                              prediction=self.prediction, generator=generator)

    # --- acting -----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_action(self, obs_history: torch.Tensor, *, steps: int | None = None, method: str | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """A plan ``(B, horizon, action_dim)`` in action units for ``obs_history (B, n_obs, obs_dim)``."""
        c = self.config
        obs_history = torch.as_tensor(obs_history, dtype=torch.float32, device=self.obs_norm.scale.device)
        if obs_history.shape[1:] != (c.n_obs, c.obs_dim):
            raise ValueError(f"observation history must be (B, {c.n_obs}, {c.obs_dim}), got {tuple(obs_history.shape)}")
        cond = self.obs_norm.normalize(obs_history).flatten(1)
        plan = sample(lambda x, t: self.net(x, t, cond), self.process, (len(cond), c.horizon, c.action_dim),
                      steps=steps or c.steps, method=method or c.method, prediction=self.prediction,
                      generator=generator, device=cond.device, dtype=torch.float32,
                      denoised_transform=_clip if c.clip_sample else None)
        return self.action_norm.unnormalize(plan.clamp(-1, 1))

    def reset(self) -> None:
        """Forget the observation history and the queued actions (call at every env reset)."""
        self._history: deque = deque(maxlen=self.config.n_obs)
        self._queue: list = []
        self._plans: deque = deque(maxlen=self.config.horizon - self.config.n_obs + 1)   # ensembling

    def act(self, obs, *, steps: int | None = None, method: str | None = None,
            generator: torch.Generator | None = None) -> np.ndarray:
        """The next action for ``obs`` (``(obs_dim,)``, or ``(B, obs_dim)`` for a vector env);
        ``steps``/``method`` override the configured sampler for the plans made now."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        single = obs.dim() == 1
        obs = obs[None] if single else obs
        if not self._history:
            self._history.extend([obs] * self.config.n_obs)          # pad the history with the first frame
        self._history.append(obs)
        history = torch.stack(list(self._history), dim=1)
        start = self.config.n_obs - 1
        if self.config.ensemble is not None:
            action = self._ensembled(self.predict_action(history, steps=steps, method=method, generator=generator))
        else:
            if not self._queue:
                plan = self.predict_action(history, steps=steps, method=method, generator=generator)
                self._queue = list(plan[:, start:start + self.config.n_action].unbind(1))
            action = self._queue.pop(0)
        action = action.cpu().numpy()
        return action[0] if single else action

    def _ensembled(self, plan: torch.Tensor) -> torch.Tensor:
        """Weighted mean over the stored plans of each one's action for the current step; the
        oldest plan weighs most (weights exp(-ensemble * age_rank), ACT's convention)."""
        self._plans.append(plan[:, self.config.n_obs - 1:])              # its index 0 is the action for now
        actions = torch.stack([p[:, len(self._plans) - 1 - j] for j, p in enumerate(self._plans)])
        w = torch.exp(-self.config.ensemble * torch.arange(len(actions), dtype=actions.dtype))
        return (w[:, None, None] * actions).sum(0) / w.sum()
