"""Training a DiffusionPolicy on demonstrations: ``scidiff policy train`` and ``scidiff train``
with ``domain: policy``.

The demonstrations (zarr replay buffer or npz) are turned into observations by the
environment's adapter (PushT: the env's own ``get_obs`` at every recorded state), cut into
Diffusion Policy's windows, normalised, and fitted by the shared Trainer; the EMA weights go to
``OUT/model`` (``DiffusionPolicy.from_pretrained(OUT / "model")``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scidiff.train import OptimConfig, TrainConfig, fit, with_defaults

from .envs import get_task
from .episodes import Episodes
from .policy import DiffusionPolicy, PolicyConfig
from .unet1d import UnetConfig
from .windows import WindowDataset


def _small_unet() -> UnetConfig:
    return UnetConfig(time_dim=128, down_dims=[64, 128, 256])


@dataclass
class PolicyTask:
    domain: str = "policy"
    env: str = "pusht"
    obs_type: str = ""                   # "" is the environment's default (PushT: environment_state_agent_pos)
    demos: str = ""                      # .zarr replay buffer or .npz
    policy: PolicyConfig = field(default_factory=lambda: PolicyConfig(unet=_small_unet()))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=10_000, batch_size=256, checkpoint_every=1000, keep_last=20, optim=OptimConfig(lr=5e-4, warmup=500)))


def load_windows(task: PolicyTask) -> tuple[WindowDataset, np.ndarray, np.ndarray]:
    """Windows of the task's demonstrations, and every step's observation and action; resolves
    ``task.obs_type`` to the environment's own name for it."""
    episodes = Episodes.load(task.demos)
    env = get_task(task.env, obs_type=task.obs_type)
    task.obs_type = env.obs_type
    episodes.data["obs"] = env.features(episodes)
    c = task.policy
    ds = WindowDataset(episodes, horizon=c.horizon, n_obs=c.n_obs, n_action=c.n_action, obs_key="obs")
    return ds, episodes.data["obs"], episodes.data["action"]


def run(data: dict, out: Path, resume: bool = False) -> dict:
    """Train as configured by the nested dict ``data``; writes ``out/model`` (EMA weights)."""
    task = with_defaults(PolicyTask, data)
    if not task.demos:
        raise ValueError("no demonstrations given: set 'demos' (a .zarr replay buffer or an .npz file)")
    if not Path(task.demos).exists():
        raise FileNotFoundError(f"demonstrations {task.demos} do not exist")
    ds, obs, actions = load_windows(task)
    task.policy.obs_dim, task.policy.action_dim = obs.shape[1], actions.shape[1]
    task.policy.env, task.policy.obs_type = task.env, task.obs_type
    return fit(task, lambda: DiffusionPolicy(task.policy).fit_normalizers(obs, actions),
               lambda net, batch, g: net(batch, g), ds, out, resume=resume)


def policy_from_checkpoint(run: str | Path, checkpoint: str | None = None) -> DiffusionPolicy:
    """The EMA policy stored in a run's checkpoint (``step_00004000``, ``best``; default newest)."""
    from scidiff.train import checkpoint as ckpt
    from scidiff.train.config import load_config

    run = Path(run)
    task = load_config(PolicyTask, run / "config.yaml")
    root = run / "checkpoints"
    if checkpoint is None:
        found = ckpt.latest_valid(root)
        if found is None:
            raise ValueError(f"{root} holds no valid checkpoint")
        tensors = found[1]
    else:
        if not (root / checkpoint).is_dir():
            names = ", ".join(p.name for p in ckpt.list_checkpoints(root)) or "none"
            raise ValueError(f"{run} has no checkpoint {checkpoint!r}; it has: {names}")
        tensors = ckpt.load_checkpoint(root / checkpoint)[0]
    policy = DiffusionPolicy(task.policy)
    policy.load_state_dict({k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")})
    return policy.eval()
