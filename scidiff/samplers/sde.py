"""Reverse-SDE samplers: Euler-Maruyama and predictor-corrector (Langevin corrector).

Reverse SDE (time 1 -> 0): dx = [f x - g^2 score] dt + g dW, score = (alpha x0 - x) / sigma^2.
"""
from __future__ import annotations

import math

import torch


def _score(den, x, t):
    a, s, _, _ = den.coefs(t)
    return (a * den(x, t) - x) / s**2


def euler_maruyama_step(den, x, t, s, state, noise):
    """x_s = x + [f x - g^2 score] (s - t) + g sqrt(t - s) z."""
    a, sig, da, ds = den.coefs(t)
    f = da / a if a > 0 else -math.inf
    g2 = 2 * sig * ds - 2 * f * sig**2
    dt = s - t
    return x + (f * x - g2 * _score(den, x, t)) * dt + math.sqrt(g2 * -dt) * noise(), state


def pc_step(den, x, t, s, state, noise, snr: float = 0.16, corrector_steps: int = 1):
    """Euler-Maruyama predictor t -> s, then ``corrector_steps`` Langevin steps at s.

    The Langevin step size is 2 (snr |z| / |score|)^2 with batch-mean norms (score-SDE).
    """
    x, state = euler_maruyama_step(den, x, t, s, state, noise)
    for _ in range(corrector_steps):
        grad, z = _score(den, x, s), noise()
        g = grad.flatten(1).norm(dim=1).mean()
        zn = z.flatten(1).norm(dim=1).mean()
        step = 2 * (snr * zn / g.clamp_min(1e-30)) ** 2
        x = x + step * grad + torch.sqrt(2 * step) * z
    return x, state
