"""Guidance and conditioning that compose with any model and sampler.

- ``classifier_free``: wrap a conditional model into ``model(x_t, t)`` with scale w
  (w = 0 unconditional, w = 1 conditional, w > 1 guided), optional CFG-rescale.
- ``dynamic_threshold``: Imagen's percentile clipping of x0 predictions.
- ``Inpaint``: replacement conditioning with known values and optional RePaint resampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def classifier_free(model, cond, null_cond, scale: float, rescale: float = 0.0):
    """``f(x_t, t) = u + w (c - u)`` with ``c = model(x_t, t, cond)``, ``u = model(x_t, t, null_cond)``.

    Both branches run as one batch of 2n. ``rescale`` in [0, 1] (Lin et al. 2023) matches the
    per-sample standard deviation of the guided prediction to the conditional one and blends.
    The result keeps the model's prediction type (``.prediction`` is copied when present).
    """
    def guided(x, t):
        n = x.shape[0]
        null = null_cond.expand_as(cond) if torch.is_tensor(null_cond) else null_cond
        both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null]))
        c, u = both[:n], both[n:]
        out = u + scale * (c - u)
        if rescale:
            dims = tuple(range(1, x.dim()))
            ratio = c.std(dim=dims, keepdim=True) / out.std(dim=dims, keepdim=True).clamp_min(1e-12)
            out = rescale * out * ratio + (1 - rescale) * out
        return out
    if hasattr(model, "prediction"):
        guided.prediction = model.prediction
    return guided


def dynamic_threshold(percentile: float = 0.995, max_value: float = 1.0):
    """Return ``x0 -> x0'``: s = max(quantile(|x0|, p), max_value) per sample, then clip to
    [-s, s] and divide by s / max_value (Saharia et al. 2022). Use as ``denoised_transform``."""
    def threshold(x0):
        s = torch.quantile(x0.flatten(1).abs(), percentile, dim=1).clamp_min(max_value)
        s = s.reshape((-1,) + (1,) * (x0.dim() - 1))
        return torch.maximum(torch.minimum(x0, s), -s) * (max_value / s)
    return threshold


@dataclass
class Inpaint:
    """Keep ``values`` where ``mask`` is true; generate the rest.

    ``mask`` (bool) and ``values`` broadcast against the samples ``(n, ...)``. At each grid time
    the known part is replaced by ``alpha values + sigma z`` (one draw z per sampling run, so it
    follows a forward path that deterministic solvers can integrate) and every x0 prediction by
    ``values``; the output holds ``values`` exactly. ``resample > 1`` repeats each
    step after jumping back through the forward transition (RePaint, Lugmayr et al. 2022).
    Plain replacement is biased for deterministic solvers (the unknown part ignores the known one
    early on); with them use ``resample >= 3`` (measured in ``tests/core/test_guidance.py``).
    """

    mask: torch.Tensor
    values: torch.Tensor
    resample: int = 1

    def __post_init__(self):
        if self.resample < 1:
            raise ValueError(f"resample must be >= 1, got {self.resample}")
        self.mask = torch.as_tensor(self.mask, dtype=torch.bool)

    def x0(self, x0: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask.to(x0.device), self.values.to(x0), x0)

    def noised(self, x: torch.Tensor, t: float, proc, eps: torch.Tensor) -> torch.Tensor:
        """Replace the known part of ``x`` by ``alpha(t) values + sigma(t) eps``."""
        a, s = float(proc.alpha(t)), float(proc.sigma(t))
        return torch.where(self.mask.to(x.device), a * self.values.to(x) + s * eps, x)

    @staticmethod
    def renoise(x: torch.Tensor, s: float, t: float, proc, noise) -> torch.Tensor:
        """A draw of x_t given x_s (s < t) from the forward transition."""
        a_s, s_s, a_t, s_t = (float(c) for c in (proc.alpha(s), proc.sigma(s), proc.alpha(t), proc.sigma(t)))
        a_ts = a_t / a_s
        return a_ts * x + math.sqrt(max(s_t**2 - a_ts**2 * s_s**2, 0.0)) * noise()
