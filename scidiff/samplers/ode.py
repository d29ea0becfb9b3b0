"""Probability-flow ODE solvers in the process's own time: Euler and Heun (EDM, with churn).

dx/dt = alpha' x0 + sigma' eps. For the EDM process (sigma = sigma_max t) ``heun`` is exactly
Algorithm 2 of Karras et al.; for rectified flow ``euler`` is the usual flow-matching Euler.
"""
from __future__ import annotations

import math


def velocity(den, x, t):
    """The probability-flow velocity at ``(x, t)``."""
    a, s, da, ds = den.coefs(t)
    x0 = den(x, t)
    return da * x0 + ds * (x - a * x0) / s


def euler_step(den, x, t, s, state, noise):
    """x_s = x + (s - t) v(x, t)."""
    return x + (s - t) * velocity(den, x, t), state


def heun_step(den, x, t, s, state, noise, s_churn: float = 0.0, s_tmin: float = 0.0,
              s_tmax: float = math.inf, s_noise: float = 1.0):
    """Heun's method t -> s, after optional churn (EDM's stochasticity, in sigma~ = sigma/alpha).

    gamma = min(s_churn / steps, sqrt 2 - 1) when s_tmin <= sigma~(t) <= s_tmax: noise is added
    to raise sigma~ to (1 + gamma) sigma~ before the deterministic step.
    """
    a, sig, _, _ = den.coefs(t)
    sig_tilde = sig / a if a > 0 else math.inf
    gamma = min(s_churn / state["steps"], math.sqrt(2) - 1) if s_tmin <= sig_tilde <= s_tmax else 0.0
    if gamma > 0 and math.isfinite(sig_tilde):
        proc = den.proc
        t_hat = float(proc.t_of_log_snr(-2 * math.log(sig_tilde * (1 + gamma))).clamp(max=proc.t_max))
        a_hat, sig_hat, _, _ = den.coefs(t_hat)
        extra = max((sig_hat / a_hat) ** 2 - sig_tilde**2, 0.0)
        x = (a_hat / a) * x + a_hat * math.sqrt(extra) * s_noise * noise()
        t = t_hat
    d = velocity(den, x, t)
    x_e = x + (s - t) * d
    return x + (s - t) * 0.5 * (d + velocity(den, x_e, s)), state
