"""The environments scidiff.policy knows by name: ``get_task("pusht")``.

A task adapter gives the policy tools what differs between environments: ``make(render)``,
``reset(env, seed=None, state=None) -> obs vector``, ``observe(obs) -> obs vector``,
``features(episodes) -> (N, obs_dim)`` (the observations of recorded demonstrations, through the
environment's own code), ``score(obs, info)`` in [0, 1] and ``success(obs, info)`` of a step,
``max_steps`` and ``state_dim`` (the length of an explicit initial state). Tasks whose
demonstrations the project can generate also have ``collect(n, seed) -> Episodes``.
"""
from __future__ import annotations

import numpy as np

from .mountain_car import MountainCar
from .pusht import PushT

TASKS = {"pusht": PushT, "mountaincar": MountainCar}


def get_task(name: str, **kwargs):
    """The task adapter called ``name``; keyword arguments go to its constructor (empty ones are
    left out, so ``obs_type=""`` means the environment's default)."""
    if name not in TASKS:
        raise ValueError(f"unknown environment {name!r}; valid: {', '.join(map(repr, TASKS))}")
    return TASKS[name](**{k: v for k, v in kwargs.items() if v not in ("", None)})


def flatten_space(space, keys: list[str] | None = None):
    """A function ``obs -> (obs_dim,) float32`` for a gymnasium ``Box`` or ``Dict`` of ``Box``es
    (concatenated in ``keys`` order, default: the Dict's own order), and its ``obs_dim``."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        dim = int(np.prod(space.shape))
        return (lambda obs: np.asarray(obs, dtype=np.float32).reshape(-1)), dim
    if isinstance(space, spaces.Dict):
        keys = list(space.spaces) if keys is None else list(keys)
        missing = [k for k in keys if k not in space.spaces]
        if missing:
            raise ValueError(f"observation Dict has no key(s) {missing}; it has {list(space.spaces)}")
        bad = {k: type(space.spaces[k]).__name__ for k in keys if not isinstance(space.spaces[k], spaces.Box)}
        if bad:
            raise ValueError(f"only Box entries can be flattened; {bad} are not (pass keys= to leave them out)")
        dim = sum(int(np.prod(space.spaces[k].shape)) for k in keys)
        return (lambda obs: np.concatenate([np.asarray(obs[k], dtype=np.float32).reshape(-1) for k in keys])), dim
    raise ValueError(f"cannot flatten a {type(space).__name__} observation space; Box or Dict of Boxes expected")
