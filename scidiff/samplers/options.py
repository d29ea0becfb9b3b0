"""Checking the keyword options a sampler step takes (``eta``, ``s_churn``, ``snr``, ``noise_scale``)."""
from __future__ import annotations

import inspect


def check_options(step, options: dict, method: str) -> None:
    """``ValueError`` naming the options that ``step`` does not take; a step's first six parameters
    (the model, state and times it is handed) are not options."""
    allowed = [p for p in inspect.signature(step).parameters][6:]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid: {allowed or 'none'}")
