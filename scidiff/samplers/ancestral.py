"""DDPM ancestral sampling and DDIM(eta), for any Gaussian process.

With alpha_ts = alpha_t / alpha_s and sigma_ts^2 = sigma_t^2 - alpha_ts^2 sigma_s^2 (the forward
transition s -> t), the posterior q(x_s | x_t, x0) is Gaussian with

    mean = alpha_ts sigma_s^2 / sigma_t^2 x_t + alpha_s sigma_ts^2 / sigma_t^2 x0,
    var  = sigma_ts^2 sigma_s^2 / sigma_t^2.

DDPM samples it with x0 = D(x_t); DDIM(eta) keeps the marginals with noise eta * sqrt(var):
eta = 0 is deterministic, eta = 1 is DDPM again.
"""
from __future__ import annotations

import math


def _posterior_var(a_t, s_t, a_s, s_s):
    a_ts = a_t / a_s
    return a_ts, max(s_t**2 - a_ts**2 * s_s**2, 0.0)


def ddpm_step(den, x, t, s, state, noise):
    """One ancestral step t -> s: a draw from q(x_s | x_t, x0 = D(x_t, t))."""
    (a_t, s_t, _, _), (a_s, s_s, _, _) = den.coefs(t), den.coefs(s)
    a_ts, var_ts = _posterior_var(a_t, s_t, a_s, s_s)
    x0 = den(x, t)
    mean = (a_ts * s_s**2 / s_t**2) * x + (a_s * var_ts / s_t**2) * x0
    return mean + math.sqrt(var_ts * s_s**2) / s_t * noise(), state


def ddim_step(den, x, t, s, state, noise, eta: float = 0.0):
    """One DDIM step t -> s: ``x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps + c z``."""
    (a_t, s_t, _, _), (a_s, s_s, _, _) = den.coefs(t), den.coefs(s)
    x0 = den(x, t)
    eps = (x - a_t * x0) / s_t
    c = 0.0
    if eta:
        _, var_ts = _posterior_var(a_t, s_t, a_s, s_s)
        c = eta * math.sqrt(var_ts) * s_s / s_t
    x_s = a_s * x0 + math.sqrt(max(s_s**2 - c**2, 0.0)) * eps
    return (x_s + c * noise() if c else x_s), state
