"""The environments scidiff.policy knows by name: ``get_task("pusht")``.

A task adapter gives the policy tools what differs between environments: ``make(render)``,
``reset(env, seed=None, state=None) -> obs vector``, ``observe(obs) -> obs vector``,
``features(episodes) -> (N, obs_dim)`` (the observations of recorded demonstrations, through the
environment's own code), ``score(info)`` in [0, 1], ``success(info)`` and ``max_steps``.
"""
from __future__ import annotations

from .pusht import PushT

TASKS = {"pusht": PushT}


def get_task(name: str, **kwargs):
    """The task adapter called ``name`` (keyword arguments go to its constructor)."""
    if name not in TASKS:
        raise ValueError(f"unknown environment {name!r}; valid: {', '.join(map(repr, TASKS))}")
    return TASKS[name](**kwargs)
