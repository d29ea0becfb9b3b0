"""IGSO(3): the isotropic Gaussian on SO(3), i.e. Brownian motion run to "time" sigma^2.

With the convention of DESIGN.md, its density with respect to the uniform (Haar probability)
measure depends only on the rotation angle omega:

    p(omega) = sum_l (2l+1) exp(-l(l+1) sigma^2 / 2) sin((l + 1/2) omega) / sin(omega / 2),

and the angle has density p(omega) (1 - cos omega) / pi with a uniform axis. Poisson summation
of the same series gives the image form, exact too and fast for small sigma:

    p(omega) = e^(sigma^2/8) sqrt(2 pi) sigma^-3 / sin(omega/2)
               * sum_k (-1)^k (omega + 2 pi k) exp(-(omega + 2 pi k)^2 / (2 sigma^2)).

We use the image form for sigma < 1 (|k| <= 2, in log space) and the l-series above
(l <= 60); both are exact to float64 rounding there. Sampling inverts the angle CDF tabulated on
a grid over [0, min(pi, 14 sigma)].
"""
from __future__ import annotations

import math

import torch

from .so3 import SO3, matrix_to_rotvec, rotvec_to_matrix

SWITCH = 1.0
L_MAX = 60
K_MAX = 2
LOG_VOLUME = math.log(8 * math.pi**2)     # Riemannian volume of SO(3) (metric: angle = distance)


def log_density_haar(omega: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """log p(omega) with respect to the Haar probability measure; broadcasts omega and sigma."""
    omega, sigma = torch.broadcast_tensors(torch.as_tensor(omega, dtype=torch.float64),
                                           torch.as_tensor(sigma, dtype=torch.float64))
    w = omega.clamp(1e-12, math.pi)
    small = sigma < SWITCH
    s_lo = torch.where(small, sigma, torch.full_like(sigma, SWITCH))
    s_hi = torch.where(small, torch.full_like(sigma, SWITCH), sigma)
    return torch.where(small, _log_images(w, s_lo), _log_series(w, s_hi))


def _log_images(w, s):
    k = torch.arange(-K_MAX, K_MAX + 1, dtype=w.dtype, device=w.device)
    a = w[..., None] + 2 * math.pi * k
    expo = -(a**2) / (2 * s[..., None] ** 2)
    m = expo.max(-1, keepdim=True).values
    total = ((-1.0) ** k.abs() * a * torch.exp(expo - m)).sum(-1)
    return (s**2 / 8 + 0.5 * math.log(2 * math.pi) - 3 * torch.log(s) - torch.log(torch.sin(w / 2))
            + m[..., 0] + torch.log(total))


def _log_series(w, s):
    lv = torch.arange(L_MAX + 1, dtype=w.dtype, device=w.device)
    terms = (2 * lv + 1) * torch.exp(-lv * (lv + 1) * s[..., None] ** 2 / 2) * torch.sin((lv + 0.5) * w[..., None])
    return torch.log(terms.sum(-1) / torch.sin(w / 2))


class IGSO3:
    """IGSO(3) centred at ``mean`` (a rotation, identity by default) with scale ``sigma``.

    ``sigma`` is a float or a tensor broadcasting against the batch of rotations. ``log_prob`` is
    with respect to the Riemannian volume (Haar density minus log 8 pi^2); ``score`` is the
    gradient of the log-density as a body-frame rotation vector. Everything lives on the device
    of ``mean`` (else of ``sigma``); random draws are made on the generator's device.
    """

    def __init__(self, sigma, mean: torch.Tensor | None = None):
        device = mean.device if mean is not None else (sigma.device if torch.is_tensor(sigma) else None)
        self.sigma = torch.as_tensor(sigma, dtype=torch.float64, device=device)
        if bool((self.sigma <= 0).any()):
            raise ValueError("sigma must be positive")
        self.mean = torch.eye(3, dtype=torch.float64, device=device) if mean is None else \
            SO3().check(mean.to(torch.float64), "the IGSO3 mean")

    def _relative(self, r):
        return matrix_to_rotvec(self.mean.transpose(-1, -2) @ SO3().check(r, "rotations").to(torch.float64))

    def log_prob(self, r: torch.Tensor) -> torch.Tensor:
        """``r (..., 3, 3)`` -> log-density ``(...)``."""
        omega = self._relative(r).norm(dim=-1)
        return log_density_haar(omega, self.sigma) - LOG_VOLUME

    def score(self, r: torch.Tensor) -> torch.Tensor:
        """grad log p at ``r`` as a body-frame rotation vector ``(..., 3)`` (differentiable in r)."""
        v = self._relative(r)
        track = v.requires_grad
        with torch.enable_grad():
            w = v.norm(dim=-1).clamp_min(1e-9)
            if not track:
                w = w.detach().requires_grad_(True)
            (dlog,) = torch.autograd.grad(log_density_haar(w, self.sigma).sum(), w, create_graph=track)
        out = (dlog / w)[..., None] * v
        return out if track else out.detach()

    def angle_cdf_table(self, points: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """Grid ``omega (S, G)`` and normalised CDF ``(S, G)`` for each sigma in ``self.sigma.flatten()``."""
        s = self.sigma.flatten()[:, None]
        top = torch.clamp(14 * s, max=math.pi)
        omega = torch.linspace(0, 1, points, dtype=torch.float64, device=s.device) * top
        dens = torch.exp(log_density_haar(omega, s)) * (1 - torch.cos(omega)) / math.pi
        steps = omega.diff(dim=-1)
        cdf = torch.cat([torch.zeros_like(s), torch.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]) * steps, -1)], -1)
        return omega, cdf / cdf[:, -1:]

    def sample_angle(self, n: int, *, generator=None) -> torch.Tensor:
        """``n`` rotation angles (one sigma) or one per sigma entry (a tensor sigma of ``n`` entries).
        The CDF is tabulated once per distinct sigma (a batch of chains shares one per chain)."""
        sigma = self.sigma.flatten()
        if sigma.numel() not in (1, n):
            raise ValueError(f"sigma has {sigma.numel()} entries; cannot draw {n} angles")
        distinct, which = torch.unique(sigma, return_inverse=True)
        omega, cdf = IGSO3(distinct).angle_cdf_table()
        u = _draw(torch.rand, n, generator, sigma.device)
        if len(distinct) == 1:                      # one table: a view, no n-row copy
            omega, cdf = omega.expand(n, -1), cdf.expand(n, -1)
        else:
            omega, cdf = omega[which], cdf[which]
        i = torch.searchsorted(cdf.contiguous(), u[:, None]).clamp(1, cdf.shape[1] - 1)
        c0, c1 = cdf.gather(1, i - 1), cdf.gather(1, i)
        w0, w1 = omega.gather(1, i - 1), omega.gather(1, i)
        frac = ((u[:, None] - c0) / (c1 - c0).clamp_min(1e-300)).clamp(0, 1)
        return (w0 + frac * (w1 - w0))[:, 0]

    def sample(self, n: int, *, generator=None) -> torch.Tensor:
        """``n`` rotations ``(n, 3, 3)``: uniform axis, angle from the IGSO(3) angle law."""
        omega = self.sample_angle(n, generator=generator)
        axis = _draw(torch.randn, (n, 3), generator, omega.device)
        axis = axis / axis.norm(dim=-1, keepdim=True)
        return self.mean @ rotvec_to_matrix(axis * omega[:, None])


def _draw(fn, shape, generator, device) -> torch.Tensor:
    """``fn(shape)`` float64 drawn on the generator's device (so a seed gives the same numbers
    wherever the result goes), then moved to ``device``."""
    where = generator.device if generator is not None else device
    return fn(shape, generator=generator, dtype=torch.float64, device=where).to(device)
