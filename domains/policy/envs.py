"""The environments scidiff.policy knows by name: ``get_task("pusht")``.

A task adapter gives the policy tools what differs between environments: ``make(render)``,
``reset(env, seed=None, state=None) -> obs vector``, ``observe(obs) -> obs vector``,
``features(episodes) -> (N, obs_dim)`` (the observations of recorded demonstrations, through the
environment's own code), ``score(obs, info)`` in [0, 1] and ``success(obs, info)`` of a step,
``max_steps`` and ``state_dim`` (the length of an explicit initial state). Tasks whose
demonstrations the project can generate also have ``collect(n, seed) -> Episodes``.
"""
from __future__ import annotations

from .mountain_car import MountainCar
from .pusht import PushT

TASKS = {"pusht": PushT, "mountaincar": MountainCar}


def get_task(name: str, **kwargs):
    """The task adapter called ``name``; keyword arguments go to its constructor (empty ones are
    left out, so ``obs_type=""`` means the environment's default)."""
    if name not in TASKS:
        raise ValueError(f"unknown environment {name!r}; valid: {', '.join(map(repr, TASKS))}")
    return TASKS[name](**{k: v for k, v in kwargs.items() if v not in ("", None)})
