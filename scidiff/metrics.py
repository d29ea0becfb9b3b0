"""Distances between samples and distributions used to judge samplers.

``sliced_wasserstein`` compares samples with a ``GaussianMixture`` against its *exact*
projected quantiles, so the only noise in the figure is the samples' own.
"""
from __future__ import annotations

import math

import torch

from .mixture import GaussianMixture


def random_directions(n: int, d: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` uniform unit vectors in R^d, ``(n, d)`` float64."""
    u = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return u / u.norm(dim=1, keepdim=True)


def mixture_quantiles_1d(means, stds, weights, q, iters: int = 70) -> torch.Tensor:
    """Quantiles of 1-D Gaussian mixtures by bisection on the CDF.

    ``means, stds (P, K)``, ``weights (K,)``, levels ``q (Q,)`` -> ``(P, Q)``.
    """
    lo = (means - 12 * stds).min(1).values[:, None].expand(-1, len(q)).clone()
    hi = (means + 12 * stds).max(1).values[:, None].expand(-1, len(q)).clone()
    m, s = means[:, None, :], stds[:, None, :]
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        cdf = (weights * 0.5 * torch.erfc(-(mid[..., None] - m) / (s * math.sqrt(2)))).sum(-1)
        below = cdf < q
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


class SlicedW2:
    """Sliced 2-Wasserstein distance of ``n`` samples to the exact ``target`` mixture.

    The directions and the exact projected quantiles F^-1((i - 1/2)/n) are computed once, so
    scoring many sample sets of size ``n`` is cheap. Per direction W2^2 = mean_i (x_(i) - q_i)^2;
    the distance is the square root of its mean over ``n_projections`` directions (units of x).
    """

    def __init__(self, target: GaussianMixture, n: int, *, n_projections: int = 128,
                 generator: torch.Generator | None = None):
        self.target, self.n = target, n
        self.directions = random_directions(n_projections, target.dim, generator=generator)
        means, stds = target.project(self.directions)
        q = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        self.quantiles = mixture_quantiles_1d(means, stds, target.weights, q)          # (P, n)

    def __call__(self, x: torch.Tensor) -> float:
        x = x.detach().to("cpu", torch.float64).flatten(1)
        if x.shape != (self.n, self.target.dim):
            raise ValueError(f"expected samples of shape {(self.n, self.target.dim)}, got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            return math.inf
        proj = torch.sort(x @ self.directions.T, dim=0).values.T
        return float(((proj - self.quantiles) ** 2).mean().sqrt())


def sliced_wasserstein(x: torch.Tensor, target: GaussianMixture, *, n_projections: int = 128,
                       generator: torch.Generator | None = None) -> float:
    """Sliced 2-Wasserstein distance between samples ``x (n, d)`` and the exact ``target``."""
    return SlicedW2(target, x.shape[0], n_projections=n_projections, generator=generator)(x)


def sliced_wasserstein_samples(x: torch.Tensor, y: torch.Tensor, *, n_projections: int = 128,
                               generator: torch.Generator | None = None) -> float:
    """Sliced 2-Wasserstein distance between two equal-size sample sets ``(n, d)``."""
    x, y = x.detach().to("cpu", torch.float64).flatten(1), y.detach().to("cpu", torch.float64).flatten(1)
    if x.shape != y.shape:
        raise ValueError(f"sample sets must have equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    u = random_directions(n_projections, x.shape[1], generator=generator)
    px, py = torch.sort(x @ u.T, dim=0).values, torch.sort(y @ u.T, dim=0).values
    return float(((px - py) ** 2).mean().sqrt())
