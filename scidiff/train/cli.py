"""``scidiff train CONFIG.yaml [key=value ...] --out DIR [--resume]``: dispatch to the task the
config's ``domain`` names (entry points ``scidiff.trainers``)."""
from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from pathlib import Path

import yaml

from ..cli import extra_of, missing_extra
from .config import apply_overrides


def tasks() -> dict:
    return {ep.name: ep for ep in entry_points(group="scidiff.trainers")}


def run(args: argparse.Namespace) -> int:
    path = Path(args.config)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a YAML mapping")
    apply_overrides(data, args.overrides)
    known = tasks()
    domain = data.get("domain")
    if domain not in known:
        raise ValueError(f"{path}: 'domain' must name a training task; got {domain!r}, valid: {', '.join(sorted(known))}")
    try:
        task = known[domain].load()
    except ImportError as e:
        raise ValueError(f"{path}: domain {domain!r}: {missing_extra(extra_of(known[domain].value), e)}") from None
    last = task(data, Path(args.out), resume=args.resume)
    if last.get("interrupted"):
        print(f"interrupted at step {last.get('step')}; checkpoint saved, continue with --resume", file=sys.stderr)
        return 130
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model from a YAML config",
        description="Train the task named by the config's 'domain' key with the shared Trainer "
                    "(EMA, checkpoints that resume exactly, bf16 on GPU; launch with torchrun for DDP).",
        epilog="example:\n  scidiff train mixture.yaml train.steps=2000 train.optim.lr=3e-4 --out runs/mix\n"
               "  torchrun --nproc_per_node 2 -m scidiff.cli train mixture.yaml --out runs/ddp",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="YAML config with a 'domain' key")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=500")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, model/)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.set_defaults(func=run)
