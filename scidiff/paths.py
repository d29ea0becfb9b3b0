"""Where data and caches live. Nothing is found through a path of one machine: data come from an
argument, from ``$SCIDIFF_DATA`` (a folder laid out like the development data, with
``molecules/``, ``proteins/`` and ``policy/``), and what scidiff builds once (dataset caches)
goes to the user cache, ``$SCIDIFF_CACHE`` or ``~/.cache/scidiff``."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$SCIDIFF_CACHE/parts`` (default ``~/.cache/scidiff/parts``); not created here."""
    root = os.environ.get("SCIDIFF_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "scidiff").joinpath(*parts)


def data_dir(*parts: str, fallback: str | Path | None = None) -> Path:
    """``$SCIDIFF_DATA/parts``, else ``fallback/parts``; ``ValueError`` in one sentence when
    neither is given."""
    root = os.environ.get("SCIDIFF_DATA") or fallback
    if not root:
        raise ValueError(f"no data folder for {'/'.join(parts) or 'the data'}: pass its path or set SCIDIFF_DATA "
                         "to a folder holding molecules/, proteins/ and policy/")
    return Path(root).expanduser().joinpath(*parts)


__all__ = ["cache_dir", "data_dir"]
