"""``scidiff`` command line. Sub-commands come from the ``scidiff.commands`` entry points, so the
core never imports a domain: each registers ``register(subparsers)`` in its package metadata.

A domain whose optional dependencies are missing still gets its sub-command; running it says in
one line which extra to install. Warnings reach the user as one plain line each."""
from __future__ import annotations

import argparse
import sys
import warnings
from importlib.metadata import entry_points

EXAMPLES = """examples:
  scidiff demo                      sample a 2-D mixture with every sampler, then the bundled models
  scidiff demo --out results/ --seed 1
"""
DOMAINS = ("molecules", "proteins", "policy")


def extra_of(entry_point_value: str) -> str | None:
    """The extra a ``scidiff.<domain>...`` entry point needs (``"molecules"`` ...), None for the core."""
    parts = entry_point_value.split(":")[0].split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "scidiff" and parts[1] in DOMAINS else None


def missing_extra(extra: str | None, error: ImportError) -> str:
    """One sentence naming the extra (or the module) that a failed import needs."""
    module = getattr(error, "name", None) or str(error)
    if extra is None:
        return f"the Python module {module!r} is missing ({error})"
    return f"this needs the {extra} extra (the Python module {module!r} is missing): pip install 'scidiff[{extra}]'"


def _unavailable(name: str, extra: str | None, error: ImportError):
    """A sub-command standing in for a domain that cannot be imported: it takes any arguments and
    fails with ``missing_extra``."""
    def register(subparsers):
        p = subparsers.add_parser(name, help=f"(needs scidiff[{extra}])", add_help=False, prefix_chars="\0")
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def run(args):
            raise error
        p.set_defaults(func=run)
    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scidiff", description="Diffusion and flow-matching models for science.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group="scidiff.commands"), key=lambda e: e.name):
        extra = extra_of(ep.value)
        before = set(sub.choices)
        try:
            register = ep.load()
        except ImportError as e:          # a domain whose optional dependency is missing must not break the rest
            register = _unavailable(ep.name, extra, e)
        register(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(extra=extra)
    return parser


def plain_warning(message, category, filename, lineno, line=None) -> str:
    """``warning: message``: what the user needs, without the source file and line."""
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = plain_warning
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
    except ImportError as e:
        print(f"scidiff {args.command}: error: {missing_extra(getattr(args, 'extra', None), e)}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as e:
        print(f"scidiff {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
