"""scidiff policy train | eval | collect | export: train a Diffusion Policy on demonstrations,
evaluate it in its environment, record scripted demonstrations, export a checkpoint."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

from scidiff.train.config import apply_overrides

EXAMPLES = """examples:
  scidiff policy train --demos ../shared/data/policy/pusht/pusht_lowdim_dev.npz --out runs/pusht
  scidiff policy train --demos demos.npz --out runs/pusht --resume          (continue a stopped run)
  scidiff policy eval runs/pusht --episodes 50 --video rollout.gif
  scidiff policy eval pusht --episodes 100 --steps 5                        (the bundled weights)
  scidiff policy collect --env mountaincar --episodes 100 --out mc.npz
  scidiff policy train --demos mc.npz --out runs/mc env=mountaincar
"""


def _train(args: argparse.Namespace) -> int:
    from .train import run

    data = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
    apply_overrides(data, args.overrides)
    data["demos"] = str(args.demos)
    data.setdefault("train", {})
    for key in ("steps", "seed"):
        if getattr(args, key) is not None:
            data["train"][key] = getattr(args, key)
    last = run(data, Path(args.out), resume=args.resume)
    if last.get("interrupted"):
        print(f"interrupted at step {last.get('step')}; checkpoint saved, continue with --resume", file=sys.stderr)
        return 130
    print(f"trained to step {last.get('step')}; policy in {Path(args.out) / 'model'}")
    return 0


def load_policy(name_or_dir: str, checkpoint: str | None = None):
    """A bundled name, a model folder, or a run folder holding ``model/`` (or, with
    ``checkpoint``, the EMA weights of that checkpoint of the run)."""
    from .policy import DiffusionPolicy

    if checkpoint is not None:
        from .train import policy_from_checkpoint

        return policy_from_checkpoint(Path(name_or_dir), checkpoint)
    if name_or_dir in DiffusionPolicy.bundled:
        return DiffusionPolicy.from_pretrained(name_or_dir)
    path = Path(name_or_dir)
    return DiffusionPolicy.from_pretrained(path / "model" if (path / "model" / "config.json").exists() else path)


def _read_states(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"initial-state file {p} does not exist")
    states = np.load(p) if p.suffix == ".npy" else np.loadtxt(p, delimiter="," if p.suffix == ".csv" else None, ndmin=2)
    if states.ndim != 2:
        raise ValueError(f"{p}: initial states must be a table (episodes x state), got shape {states.shape}")
    return states


def _eval(args: argparse.Namespace) -> int:
    from .envs import get_task
    from .evaluate import evaluate

    policy = load_policy(args.policy, args.checkpoint).to(args.device)
    if args.n_action is not None:
        c = policy.config
        if not 1 <= args.n_action <= c.horizon - c.n_obs + 1:
            raise ValueError(f"--n-action must lie in 1..{c.horizon - c.n_obs + 1} for this policy")
        c.n_action = args.n_action
        policy.reset()
    if args.ensemble is not None:
        policy.config.ensemble = args.ensemble
        policy.reset()
    env = args.env or policy.config.env
    if not env:
        raise ValueError(f"{args.policy} does not record its environment; pass --env")
    task = get_task(env, obs_type=policy.config.obs_type)
    task.make().close()                  # a missing environment library fails here, before any episode
    if args.states:
        states = _read_states(args.states)[: args.episodes]
        if states.shape[1] != task.state_dim:
            raise ValueError(f"{args.states}: {env} states have {task.state_dim} numbers per row, got {states.shape[1]}")
        kw = {"states": states}
    else:
        kw = {"seeds": range(args.seed_start, args.seed_start + args.episodes)}
    result = evaluate(policy, task, max_steps=args.max_steps, steps=args.steps, method=args.method,
                      batch=args.batch, seed=args.seed, video=args.video, progress=not args.quiet, **kw)
    c = policy.config
    print(f"{args.policy}: {env}, sampler {args.method or c.method} x {args.steps or c.steps} steps, "
          f"{'ensembled every step' if c.ensemble is not None else f'{c.n_action} actions per plan'}, "
          f"{'initial states from ' + args.states if args.states else f'seeds {args.seed_start}..'}")
    print(result.table())
    if args.video:
        print(f"first episode written to {args.video}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.summary(), indent=1))
    return 0


def _collect(args: argparse.Namespace) -> int:
    from .envs import get_task

    task = get_task(args.env)
    if not hasattr(task, "collect"):
        raise ValueError(f"{args.env} has no scripted demonstrator; its demonstrations come from elsewhere")
    episodes = task.collect(args.episodes, seed=args.seed)
    path = episodes.to_npz(args.out)
    print(f"{episodes.n_episodes} {args.env} demonstrations ({len(episodes.data['action'])} steps, "
          f"lengths {episodes.lengths.min()}-{episodes.lengths.max()}) written to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import torch

    policy = load_policy(args.policy, args.checkpoint)
    if args.env:
        policy.config.env = args.env
    out = policy.save_pretrained(args.out, weights_dtype=torch.float16 if args.half else None)
    print(f"policy written to {out} (load with DiffusionPolicy.from_pretrained({str(out)!r}))")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("policy", help="Diffusion Policy: train on demonstrations, evaluate in the env",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="train on demonstrations (.zarr replay buffer or .npz)")
    t.add_argument("--demos", required=True, help="demonstrations: DP replay-buffer .zarr or .npz")
    t.add_argument("--out", required=True, help="run folder: checkpoints, metrics.jsonl, model/")
    t.add_argument("--steps", type=int, help="optimiser steps (default 10000)")
    t.add_argument("--seed", type=int, help="training seed (default 0)")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    t.add_argument("--config", help="YAML with any PolicyTask fields (env, obs_type, policy, train)")
    t.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.optim.lr=3e-4 policy.recipe=flow")
    t.set_defaults(func=_train)

    c = sub.add_parser("collect", help="record demonstrations from the project's scripted controller")
    c.add_argument("--env", required=True, help="environment with a scripted demonstrator (mountaincar)")
    c.add_argument("--episodes", type=int, default=100, help="episodes (default 100)")
    c.add_argument("--seed", type=int, default=0, help="first env seed (default 0)")
    c.add_argument("--out", required=True, help="output .npz (obs, action, episode_ends)")
    c.set_defaults(func=_collect)

    x = sub.add_parser("export", help="write a run's (or checkpoint's) EMA policy as model.safetensors + config.json")
    x.add_argument("policy", help="run folder or model folder")
    x.add_argument("--checkpoint", help="a checkpoint of the run (e.g. step_00004000, best)")
    x.add_argument("--out", required=True, help="output folder")
    x.add_argument("--half", action="store_true", help="store the network's weights in float16 (half the size)")
    x.add_argument("--env", help="record this environment name in the config")
    x.set_defaults(func=_export)

    e = sub.add_parser("eval", help="roll a trained policy out and report DP score and success rate")
    e.add_argument("policy", help="run folder, model folder, or bundled name (pusht)")
    e.add_argument("--checkpoint", help="evaluate this checkpoint of a run folder (e.g. step_00004000, best)")
    e.add_argument("--episodes", type=int, default=50, help="episodes (default 50)")
    e.add_argument("--seed-start", type=int, default=100_000, help="first env seed (default 100000, DP's test seeds)")
    e.add_argument("--states", help="initial states instead of seeds: .npy, .csv or whitespace table, one row each")
    e.add_argument("--steps", type=int, help="denoising steps (default: the policy's)")
    e.add_argument("--method", help="sampler: ddim, dpm++2m, euler, ... (default: the policy's)")
    e.add_argument("--n-action", type=int, help="actions executed per plan before re-planning (default: the policy's)")
    e.add_argument("--ensemble", type=float, help="temporal ensembling: re-plan every step, weights exp(-k * age)")
    e.add_argument("--max-steps", type=int, help="env steps per episode (default: the env's, PushT 300)")
    e.add_argument("--batch", type=int, default=50, help="episodes run in lockstep (default 50)")
    e.add_argument("--seed", type=int, default=0, help="seed of the policy's sampling noise")
    e.add_argument("--device", default="cpu", help="torch device of the policy, e.g. cuda (default cpu)")
    e.add_argument("--env", help="environment name (default: the one the policy was trained for)")
    e.add_argument("--video", help="write the first episode to this .gif or .mp4")
    e.add_argument("--json", help="also write the summary to this JSON file")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_eval)
