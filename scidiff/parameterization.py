"""One conversion between what a network may predict, at fixed ``x_t = alpha x0 + sigma eps``.

    eps       the noise                      x0        the clean sample
    v         alpha eps - sigma x0           score     grad log p_t(x_t) = -eps / sigma
    velocity  dx_t/dt = alpha' x0 + sigma' eps   (flow matching's target)

Every prediction is affine in (x0, eps) given x_t, so we go through (x0, eps).
"""
from __future__ import annotations

import torch

PREDICTIONS = ("eps", "x0", "v", "score", "velocity")


def check_prediction(prediction: str) -> str:
    """Return ``prediction`` or raise ``ValueError`` naming the valid options."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}; valid: {', '.join(map(repr, PREDICTIONS))}")
    return prediction


def to_x0_eps(pred, prediction, x_t, alpha, sigma, dalpha=None, dsigma=None):
    """``(x0, eps)`` implied by ``pred`` of kind ``prediction`` at ``x_t``.

    Coefficients are floats, 0-d tensors or per-sample tensors ``(n,)``; shapes as ``x_t``.
    """
    check_prediction(prediction)
    a, s = per_sample(alpha, x_t), per_sample(sigma, x_t)
    if prediction == "x0":
        return pred, (x_t - a * pred) / s
    if prediction == "eps":
        return (x_t - s * pred) / a, pred
    if prediction == "score":
        eps = -s * pred
        return (x_t - s * eps) / a, eps
    if prediction == "v":
        n = a**2 + s**2
        return (a * x_t - s * pred) / n, (s * x_t + a * pred) / n
    da, ds = _need(dalpha, "dalpha", x_t), _need(dsigma, "dsigma", x_t)
    det = a * ds - s * da
    return (ds * x_t - s * pred) / det, (a * pred - da * x_t) / det


def from_x0_eps(x0, eps, prediction, x_t, alpha, sigma, dalpha=None, dsigma=None):
    """The prediction of kind ``prediction`` for given ``(x0, eps)``."""
    check_prediction(prediction)
    a, s = per_sample(alpha, x_t), per_sample(sigma, x_t)
    if prediction == "x0":
        return x0
    if prediction == "eps":
        return eps
    if prediction == "score":
        return -eps / s
    if prediction == "v":
        return a * eps - s * x0
    return _need(dalpha, "dalpha", x_t) * x0 + _need(dsigma, "dsigma", x_t) * eps


def convert(pred, source: str, target: str, x_t, alpha, sigma, dalpha=None, dsigma=None):
    """Map a prediction of kind ``source`` to kind ``target`` (both in ``PREDICTIONS``).

    ``dalpha, dsigma`` (time derivatives) are needed only when either side is ``"velocity"``.
    """
    check_prediction(source), check_prediction(target)
    if source == target:
        return pred
    x0, eps = to_x0_eps(pred, source, x_t, alpha, sigma, dalpha, dsigma)
    return from_x0_eps(x0, eps, target, x_t, alpha, sigma, dalpha, dsigma)


def x0_error_scale2(prediction: str, alpha, sigma, dalpha=None, dsigma=None):
    """c^2 such that an x0 error delta shows as an error c * delta in ``prediction`` space."""
    check_prediction(prediction)
    if prediction == "x0":
        return torch.ones_like(torch.as_tensor(alpha))
    if prediction == "eps":
        return (alpha / sigma) ** 2
    if prediction == "score":
        return (alpha / sigma**2) ** 2
    if prediction == "v":
        return ((alpha**2 + sigma**2) / sigma) ** 2
    return (dalpha - dsigma * alpha / sigma) ** 2


def _need(c, name, x):
    if c is None:
        raise ValueError(f"the 'velocity' prediction needs {name} (the time derivative of the schedule)")
    return per_sample(c, x)


def per_sample(c, x):
    """Broadcast a float, 0-d or per-sample ``(n,)`` coefficient against ``x (n, ...)`` (tensors
    take x's dtype and device)."""
    if not torch.is_tensor(c):
        return c
    c = c.to(device=x.device, dtype=x.dtype)
    return c if c.dim() == 0 else c.reshape(c.shape + (1,) * (x.dim() - c.dim()))
