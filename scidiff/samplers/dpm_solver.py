"""DPM-Solver++ (2M): the multistep second-order solver on the data prediction.

With lambda = log(alpha / sigma) and h = lambda_s - lambda_t,

    x_s = (sigma_s / sigma_t) x_t - alpha_s (e^-h - 1) D,
    D   = (1 + 1/(2r)) x0_t - 1/(2r) x0_prev,   r = h_prev / h   (first step: D = x0_t).

The previous denoised value travels in ``state``; nothing else is remembered between steps.
Below 15 steps the step into the last evaluation time is first order ("lower order final", as
DPM-Solver++ recommends): the log-SNR step there is long and extrapolation would amplify errors.
"""
from __future__ import annotations

import math

from .denoiser import log_alpha_over_sigma


def dpmpp_2m_step(den, x, t, s, state, noise):
    """One DPM-Solver++(2M) step t -> s."""
    (a_t, s_t, _, _), (a_s, s_s, _, _) = den.coefs(t), den.coefs(s)
    h = log_alpha_over_sigma(a_s, s_s) - log_alpha_over_sigma(a_t, s_t)
    x0 = den(x, t)
    prev = state.get("dpm++")
    d = x0
    last = state["index"] == state["steps"] - 2        # into the last evaluation time: first order
    if prev is not None and not (last and state["steps"] < 15):
        r = prev[1] / h
        d = (1 + 0.5 / r) * x0 - (0.5 / r) * prev[0]
    state["dpm++"] = (x0, h)
    return (s_s / s_t) * x - a_s * math.expm1(-h) * d, state
