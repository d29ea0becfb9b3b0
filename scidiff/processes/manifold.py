"""Processes on manifolds and their products (the interface here; ``heat.py``,
``geodesic_flow.py`` and ``gaussian_factor.py`` implement it); every one speaks in tangent vectors.

A ``ManifoldProcess`` says how to draw ``x_t`` from data (``sample_path``, a :class:`PathSample`
holding the point, what the network should regress there, the tangent that carried the data
point to it, and the time), the probability-flow velocity a network output implies
(``velocity``), and, where one exists, the reverse SDE (``reverse_sde``). Time: t = 0 data,
t = 1 prior.

- ``HeatDiffusion``: Brownian motion on the manifold (variance-exploding), x_t ~ heat kernel
  around x0 with sigma(t); the network predicts the score. sigma(t)^2 = s(t)^2 - s(0)^2 for
  s(t) geometric (torsional diffusion) or FrameDiff's logarithmic schedule, so sigma(0) = 0.
- ``GeodesicFlow``: x_t on the geodesic from a prior draw x1 to x0 at data fraction d(t)
  (linear: 1 - t; "exp": FrameFlow's exponential rate); the network predicts the velocity
  d'(t) log(x1, x0), exact on tori, Euclidean spaces and SO(3) (geodesics are one-parameter
  subgroups, so the body-frame velocity is constant along them).
- ``GaussianFactor``: a Euclidean ``GaussianProcess`` (VP, RectifiedFlow, ...) in this language,
  optionally centre-of-mass free, for the translations of a product.
- ``ProductProcess``: one process per factor; points, outputs and targets are tuples.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..manifolds import Manifold, Product


@dataclass
class PathSample:
    """One draw from a process's path at per-sample times ``t (n,)``: the point ``x`` (x_t), the
    ``target`` the network regresses there (score or velocity, a tangent at x_t), and the
    ``tangent`` at the data point x0 whose exponential is x_t (what moved the data: a domain that
    acts on the data through it, such as turning a molecule's torsions, needs nothing else).
    Tuples of each for products."""

    x: torch.Tensor | tuple
    target: torch.Tensor | tuple
    tangent: torch.Tensor | tuple
    t: torch.Tensor


class ManifoldProcess:
    manifold: Manifold
    t_min: float = 0.0
    t_max: float = 1.0
    prediction: str = "velocity"
    has_sde: bool = False

    def sample_path(self, x0, t: torch.Tensor, *, generator=None) -> PathSample:
        """A :class:`PathSample` from data ``x0`` at per-sample times ``t (n,)`` (drawn on the
        device of ``generator``, returned on that of ``x0``)."""
        raise NotImplementedError

    def velocity(self, x, t: float, out):
        """Probability-flow velocity (tangent at x) implied by the network output ``out``."""
        raise NotImplementedError

    def reverse_sde(self, x, t: float, out):
        """``(drift, g)``: reverse-time SDE dx = drift dt + g dW (dt < 0), drift a tangent."""
        raise ValueError(f"{type(self).__name__} has no SDE; sample it with 'euler' or 'heun'")

    def prior_sample(self, n: int, *, generator=None, dtype=torch.float64, device=None):
        raise NotImplementedError

    def prior_log_prob(self, x) -> torch.Tensor:
        """Log-density of the prior w.r.t. the Riemannian volume, ``(n,)``."""
        raise NotImplementedError

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(t)


class ProductProcess(ManifoldProcess):
    """Each factor runs its own process and schedule; tuples everywhere."""

    def __init__(self, processes: list[ManifoldProcess]):
        self.processes = list(processes)
        self.manifold = Product([p.manifold for p in self.processes])
        self.t_min = max(p.t_min for p in self.processes)
        self.t_max = min(p.t_max for p in self.processes)
        self.has_sde = all(p.has_sde for p in self.processes)
        self.prediction = tuple(p.prediction for p in self.processes)

    def sample_path(self, x0, t, *, generator=None) -> PathSample:
        parts = [p.sample_path(a, t, generator=generator) for p, a in zip(self.processes, x0)]
        return PathSample(tuple(q.x for q in parts), tuple(q.target for q in parts),
                          tuple(q.tangent for q in parts), t)

    def velocity(self, x, t, out):
        return tuple(p.velocity(a, t, o) for p, a, o in zip(self.processes, x, out))

    def reverse_sde(self, x, t, out):
        parts = [p.reverse_sde(a, t, o) for p, a, o in zip(self.processes, x, out)]
        return tuple(d for d, _ in parts), tuple(g for _, g in parts)

    def prior_sample(self, n, *, generator=None, dtype=torch.float64, device=None):
        return tuple(p.prior_sample(n, generator=generator, dtype=dtype, device=device) for p in self.processes)

    def prior_log_prob(self, x):
        return sum(p.prior_log_prob(a) for p, a in zip(self.processes, x))
