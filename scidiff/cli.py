"""``scidiff`` command line. Sub-commands come from the ``scidiff.commands`` entry points, so the
core never imports a domain: each registers ``register(subparsers)`` in its package metadata."""
from __future__ import annotations

import argparse
import sys
import warnings
from importlib.metadata import entry_points

EXAMPLES = """examples:
  scidiff demo                      sample a 2-D mixture with every sampler, table + PNG
  scidiff demo --out results/ --seed 1
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scidiff", description="Diffusion and flow-matching models for science.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="scidiff.commands"), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except ImportError as e:   # a domain whose optional dependency is missing must not break the rest
            warnings.warn(f"scidiff: command {ep.name!r} unavailable: {e}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:       # argparse stops collecting positionals at an option: `train CFG --out D a.b=1`
        if getattr(args, "overrides", None) is None or not all("=" in e and not e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        print(f"scidiff {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
