"""The command line every experiment's training shares: ``CONFIG [key=value ...] --out DIR [--resume]``."""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from scidiff.train import apply_overrides


def main(run, description: str, argv=None) -> int:
    """Read the YAML config, apply the overrides and call ``run(data, out, resume)``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("config", help="YAML config")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.steps=500")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    a = p.parse_args(argv)
    run(apply_overrides(yaml.safe_load(Path(a.config).read_text()) or {}, a.overrides), Path(a.out), a.resume)
    return 0
