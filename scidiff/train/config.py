"""Configs are dataclasses that round-trip through YAML, with ``key=value`` overrides.

    cfg = load_config(TrainConfig, "run.yaml", ["optim.lr=3e-4", "steps=2000"])
    save_config(cfg, "run/config.yaml")

Nested dataclasses become nested mappings; overrides use dotted paths and YAML scalars.
"""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml


def to_dict(cfg) -> dict:
    """A plain nested dict of a dataclass config."""
    return dataclasses.asdict(cfg)


def from_dict(cls, data: dict, where: str = ""):
    """Build dataclass ``cls`` from a nested dict; unknown keys raise ``ValueError`` naming them."""
    if not isinstance(data, dict):
        raise ValueError(f"config section {where or '<root>'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
                         f"valid: {', '.join(where + k for k in fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, f"{where}{name}.")
        else:
            kwargs[name] = _coerce(value, tp, where + name)
    return cls(**kwargs)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` strings (values parsed as YAML scalars) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        node = data
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return data


def load_config(cls, path: str | Path | None = None, overrides: list[str] = ()):
    """Read YAML at ``path`` (or start from defaults), apply overrides, build ``cls``."""
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = yaml.safe_load(path.read_text()) or {}
    return with_defaults(cls, apply_overrides(data, list(overrides)))


def with_defaults(cls, data: dict):
    """Build ``cls`` from a partial nested dict: missing keys keep ``cls()``'s defaults, also in
    nested sections whose defaults differ from their own class's (unknown keys still raise)."""
    base = to_dict(cls())
    _merge(base, data)
    return from_dict(cls, base)


def save_config(cfg, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def _merge(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def _coerce(value, tp, name):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    container = origin or tp
    if container in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {name} expects a list, got {value!r}")
        return container(value)
    if tp is float and not isinstance(value, bool):
        try:                      # YAML 1.1 reads "3e-4" (no dot) as a string
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"config key {name} expects a number, got {value!r}") from None
    if tp in (int, str, bool) and not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ValueError(f"config key {name} expects {tp.__name__}, got {value!r}")
    return value
