"""``scidiff`` command line. Sub-commands come from the ``scidiff.commands`` entry points, so the
core never imports a domain: each registers ``register(subparsers)`` in its package metadata.

A domain whose optional dependencies are missing still gets its sub-command; running it says in
one line which extra to install. Warnings reach the user as one plain line each."""
from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also SCIDIFF_DEBUG=1); may go anywhere on the line")
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


# what a user can act on: the exception's own sentence is the message
EXPECTED = (ValueError, OSError, FloatingPointError, RuntimeError)


def check_device(name: str) -> None:
    """``ValueError`` in one sentence when ``--device`` names no device this machine has."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {name!r} is not a torch device (cpu, cuda, cuda:1, mps ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: this machine has no CUDA device (torch {torch.__version__}); use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS is not available here; use --device cpu")


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command. Exit codes: 0 done, 1 an error (one line on stderr naming the input and
    what to do), 2 a usage error, 130 interrupted (Ctrl-C). ``--debug`` anywhere on the line, or
    ``SCIDIFF_DEBUG=1``, shows the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("SCIDIFF_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
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
    where = f"scidiff {args.command}"
    try:
        if getattr(args, "device", None):
            check_device(args.device)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{where}: interrupted; files written so far are complete", file=sys.stderr)
        return 130
    except ImportError as e:
        if debug:
            raise
        print(f"{where}: error: {missing_extra(getattr(args, 'extra', None), e)}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  (the boundary: every failure ends in one sentence)
        if debug:
            raise
        if isinstance(e, EXPECTED):
            print(f"{where}: error: {e}", file=sys.stderr)
        else:
            print(f"{where}: error: {type(e).__name__}: {e} (unexpected; run again with --debug for the "
                  f"traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
