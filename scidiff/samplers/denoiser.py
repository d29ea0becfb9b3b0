"""The model as samplers see it: ``x_t, t -> x0`` in float64, whatever the network predicts."""
from __future__ import annotations

import math

import torch

from ..parameterization import check_prediction, to_x0_eps
from ..processes.base import GaussianProcess


class Denoiser:
    """Wrap ``model(x_t, t) -> prediction`` (t of shape ``(n,)``) into ``x0 = D(x, t)``.

    The model runs in ``dtype``; sampler arithmetic stays float64. ``transform`` (optional) maps
    every x0 prediction (dynamic thresholding, inpainting). ``nfe`` counts model calls.
    """

    def __init__(self, model, proc: GaussianProcess, prediction: str, dtype: torch.dtype = torch.float32,
                 transform=None):
        self.model, self.proc, self.prediction = model, proc, check_prediction(prediction)
        self.dtype, self.transform, self.nfe = dtype, transform, 0
        self._coefs: dict[float, tuple[float, float, float, float]] = {}

    def coefs(self, t: float) -> tuple[float, float, float, float]:
        """``(alpha, sigma, dalpha, dsigma)`` at time ``t`` as Python floats (memoised per time)."""
        t = float(t)
        if t not in self._coefs:
            self._coefs[t] = tuple(float(c) for c in self.proc.coefficients(torch.tensor(t, dtype=torch.float64)))
        return self._coefs[t]

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        tt = torch.full((x.shape[0],), float(t), dtype=self.dtype, device=x.device)
        out = self.model(x.to(self.dtype), tt)
        self.nfe += 1
        if out.shape != x.shape:
            raise ValueError(f"model output has shape {tuple(out.shape)}, expected {tuple(x.shape)} (same as x_t)")
        if not all_finite(out):
            raise FloatingPointError(f"the model returned NaN or Inf at t = {float(t):.6g}")
        a, s, da, ds = self.coefs(t)
        out = out.to(torch.float64)
        x0 = out if self.prediction == "x0" else to_x0_eps(out, self.prediction, x.to(torch.float64), a, s, da, ds)[0]
        if self.prediction != "x0" and not all_finite(x0):
            raise FloatingPointError(f"the model's {self.prediction!r} prediction does not determine x0 at "
                                     f"t = {float(t):.6g} (alpha = {a:.3g}, sigma = {s:.3g}); predict 'x0', 'v' "
                                     f"or 'velocity' there, or sample from a t_max where alpha > 0")
        return x0 if self.transform is None else self.transform(x0)

    def eps(self, x: torch.Tensor, x0: torch.Tensor, t: float) -> torch.Tensor:
        """The noise implied by ``x0`` at ``(x, t)``."""
        a, s, _, _ = self.coefs(t)
        return (x - a * x0) / s


def all_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or Inf (one reduction: a non-finite entry makes the sum non-finite)."""
    return bool(torch.isfinite(x.sum()))


def log_alpha_over_sigma(a: float, s: float) -> float:
    """lambda/2 = log(alpha / sigma), -inf where alpha = 0."""
    return math.log(a / s) if a > 0 else -math.inf
