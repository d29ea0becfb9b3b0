"""Gaussian mixtures with exact diffusion quantities: the closed-form oracle of the engine.

For data ``x0 ~ sum_k w_k N(mu_k, Sigma_k)`` the noised marginal is again a mixture,
``x_t ~ sum_k w_k N(alpha mu_k, alpha^2 Sigma_k + sigma^2 I)``, and the exact denoiser is

    E[x0 | x_t] = sum_k r_k(x_t) [mu_k + alpha Sigma_k (alpha^2 Sigma_k + sigma^2 I)^-1 (x_t - alpha mu_k)]

with responsibilities ``r_k``. Each Sigma_k is kept as its eigendecomposition so every quantity
is a diagonal solve. All arithmetic is float64, on the device of the points it is given.
"""
from __future__ import annotations

import math

import torch

from .parameterization import from_x0_eps
from .processes.base import GaussianProcess, as_time


class GaussianMixture:
    """A mixture of K Gaussians in d dimensions.

    ``means (K, d)``; either ``covs (K, d, d)`` or ``stds`` — ``(K,)`` isotropic or ``(K, d)``
    axis-aligned standard deviations; ``weights (K,)``, normalised here (uniform by default).
    """

    def __init__(self, means, covs=None, *, stds=None, weights=None):
        self.means = torch.as_tensor(means, dtype=torch.float64)
        K, d = self.means.shape
        if (covs is None) == (stds is None):
            raise ValueError("give exactly one of covs (K,d,d) or stds (K,) / (K,d)")
        if stds is not None:
            std = torch.as_tensor(stds, dtype=torch.float64).reshape(K, -1).expand(K, d)
            covs = torch.diag_embed(std**2)
        covs = torch.as_tensor(covs, dtype=torch.float64)
        if covs.shape != (K, d, d):
            raise ValueError(f"covs must have shape {(K, d, d)}, got {tuple(covs.shape)}")
        self.covs = covs
        self.evals, self.evecs = torch.linalg.eigh(covs)           # Sigma_k = U diag(l) U^T
        if bool((self.evals <= 0).any()):
            raise ValueError("every covariance must be positive definite")
        w = torch.ones(K, dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.weights = w / w.sum()
        self.dim = d

    # --- the data distribution -------------------------------------------------------------------
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact draws, ``(n, d)`` float64, on the generator's device (default CPU)."""
        dev = generator.device if generator is not None else torch.device("cpu")
        means, evecs, evals, weights = self._on(dev)
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64, device=dev)
        scaled = torch.einsum("nij,nj->ni", evecs[k], evals[k].sqrt() * z)
        return means[k] + scaled

    def _on(self, device) -> tuple[torch.Tensor, ...]:
        """``(means, evecs, evals, weights)`` on ``device``."""
        return tuple(a.to(device) for a in (self.means, self.evecs, self.evals, self.weights))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density of the data, nats, ``(n,)``."""
        return self.marginal_log_prob(x, 1.0, 0.0)

    # --- the noised marginal and its denoiser ----------------------------------------------------
    def _components(self, x, alpha, sigma):
        """Per-component log N(x; alpha mu, alpha^2 Sigma + sigma^2 I) ``(n, K)`` and
        x - alpha mu projected on the eigenbasis ``(n, K, d)`` with variances ``(n|1, K, d)``."""
        x = x.to(torch.float64)
        means, evecs, evals, _ = self._on(x.device)
        a, s = _col(alpha, x), _col(sigma, x)                      # (n|1, 1, 1)
        var = a**2 * evals + s**2                                    # (n|1, K, d)
        r = torch.einsum("kij,nki->nkj", evecs, x[:, None, :] - a * means)
        logn = -0.5 * ((r**2 / var).sum(-1) + var.log().sum(-1) + self.dim * math.log(2 * math.pi))
        return logn, r, var, a

    def marginal_log_prob(self, x, alpha, sigma) -> torch.Tensor:
        """log p_t(x) for the mixture noised to ``x = alpha x0 + sigma eps``; ``(n,)``."""
        logn, *_ = self._components(x, alpha, sigma)
        return torch.logsumexp(logn + self.weights.to(logn.device).log(), dim=1)

    def denoise(self, x, alpha, sigma) -> torch.Tensor:
        """E[x0 | x_t = x] in closed form, ``(n, d)`` float64; alpha, sigma scalars or ``(n,)``."""
        logn, r, var, a = self._components(x, alpha, sigma)
        means, evecs, evals, weights = self._on(logn.device)
        resp = torch.softmax(logn + weights.log(), dim=1)            # (n, K)
        gain = a * evals / var                                       # alpha l / (alpha^2 l + sigma^2)
        post = means + torch.einsum("kij,nkj->nki", evecs, gain * r)
        return (resp[..., None] * post).sum(1)

    def score(self, x, alpha, sigma) -> torch.Tensor:
        """grad log p_t(x) = (alpha E[x0|x] - x) / sigma^2 (Tweedie)."""
        a, s = _col(alpha, x)[:, :, 0], _col(sigma, x)[:, :, 0]
        return (a * self.denoise(x, alpha, sigma) - x.to(torch.float64)) / s**2

    def model(self, proc: GaussianProcess, prediction: str = "x0"):
        """The exact network ``model(x_t, t) -> prediction`` for process ``proc``.

        The output has the dtype of ``x_t``; this is what every sampler test integrates.
        """
        def exact(x_t, t):
            t = as_time(t).to(torch.float64)
            a, s, da, ds = proc.coefficients(t)
            x64 = x_t.to(torch.float64)
            x0 = self.denoise(x64, a, s)
            eps = (x64 - _col(a, x64)[:, :, 0] * x0) / _col(s, x64)[:, :, 0]
            return from_x0_eps(x0, eps, prediction, x64, a, s, da, ds).to(x_t.dtype)
        exact.prediction = prediction
        return exact

    # --- one-dimensional projections (for sliced distances) --------------------------------------
    def project(self, direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Means ``(P, K)`` and standard deviations ``(P, K)`` of the mixture projected on
        ``P`` unit directions ``(P, d)``; the weights are unchanged."""
        u = direction.to(torch.float64)
        m = u @ self.means.T
        v = torch.einsum("pi,kij,pj->pk", u, self.covs, u)
        return m, v.sqrt()


def _col(c, x):
    """Coefficient as ``(n|1, 1, 1)`` float64 for the (n, K, d) component arrays."""
    c = torch.as_tensor(c, dtype=torch.float64, device=x.device)
    return c.reshape(-1, 1, 1) if c.dim() else c.reshape(1, 1, 1)
