"""The two SE(3) recipes of :class:`BackboneGenerator`, as paths between data and prior frames.

One network predicts clean frames ``(R^_0, x^_0)`` from noisy ones in both; a path says how frames
are noised in training, how the loss is normalised at time t, which product process the sampler
integrates, and what that process wants from a clean-frame prediction. Translations are in the
network's unit (nm) and always handed to the sampler as x^_0 (``GaussianFactor(..., "x0")``).

* :class:`FlowPath` (FrameFlow): straight translations from a centred Gaussian
  (``RectifiedFlow``, ``x_t = (1 - t) x_0 + t eps``) and rotations on the geodesic from uniform
  SO(3) (``GeodesicFlow``); training with the linear rotation schedule, sampling with the
  exponential one (rotation velocity ``c Log(R_t^T R^_0)``, c = ``sample_rate``, by default the
  training ``rot_rate``), geodesic Euler.
* :class:`DiffusionPath` (FrameDiff): VP translations (linear beta 0.1..20) and IGSO(3) Brownian
  motion on rotations (``HeatDiffusion(SO3(), "logarithmic", 0.1, 1.5)``); the rotation score is
  the IGSO(3) score of R_t around R^_0 at the current scale (FrameDiff's), sampled with the
  geodesic random walk (Euler-Maruyama).

Loss normalisers ``scales(t) -> (s_x, s_R)`` divide the squared errors (clamped below at
``t_clip``): t and t for the flow (FrameFlow's 1 / max(t, 0.1)), the VP sigma and the IGSO(3)
scale (radians) for diffusion.
"""
from __future__ import annotations

import torch

from scidiff.manifolds import IGSO3, SO3
from scidiff.processes import VP, GaussianFactor, GeodesicFlow, HeatDiffusion, ProductProcess, RectifiedFlow


def _as(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(like.device, like.dtype)


class FramePath:
    """Shared pieces: the Gaussian translation process ``trans`` and rotation process ``rot``
    (training), ``sample_rot`` (sampling), the sampler ``method``."""

    trans: object
    rot: object
    sample_rot: object
    method: str

    def noise(self, r0: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, generator=None):
        """Noisy frames ``(R_t (B, L, 3, 3), x_t (B, L, 3))`` at per-chain times ``t (B,)``; ``eps``
        the (centred) translation noise."""
        B, L = x0.shape[:2]
        a, s = (_as(c, x0)[:, None, None] for c in self.trans.coefficients(t.to(torch.float64).cpu())[:2])
        rt = self.noisy_rotations(r0.reshape(B * L, 3, 3), t.repeat_interleave(L), generator)
        return rt.reshape(B, L, 3, 3), a * x0 + s * eps

    def noisy_rotations(self, r0: torch.Tensor, t: torch.Tensor, generator=None) -> torch.Tensor:
        """``R_t (N, 3, 3)`` from ``R_0 (N, 3, 3)`` at times ``t (N,)``."""
        return self.rot.sample_path(r0, t.to(r0.dtype), generator=generator).x

    def process(self, length: int) -> ProductProcess:
        """The SE(3)^L product the sampler integrates (translations in nm, given as x^_0)."""
        return ProductProcess([GaussianFactor(self.trans, "x0", shape=(length, 3), center=True), self.sample_rot])


class FlowPath(FramePath):
    method = "euler"

    def __init__(self, rot_rate: float = 10.0, train_schedule: str = "linear", sample_schedule: str = "exp",
                 sample_rate: float | None = None):
        for k, v in (("rot_train_schedule", train_schedule), ("rot_sample_schedule", sample_schedule)):
            if v not in ("linear", "exp"):
                raise ValueError(f"{k} must be 'linear' or 'exp', got {v!r}")
        sample_rate = rot_rate if sample_rate is None else sample_rate
        if min(rot_rate, sample_rate) <= 0:
            raise ValueError(f"rotation rates must be positive, got rot_rate {rot_rate}, sample rate {sample_rate}")
        self.trans = RectifiedFlow()
        self.rot = GeodesicFlow(SO3(), prior="uniform", schedule=train_schedule, rate=rot_rate)
        self.sample_rot = GeodesicFlow(SO3(), prior="uniform", schedule=sample_schedule, rate=sample_rate)

    def with_sample_rate(self, rate: float) -> "FlowPath":
        """The same path sampled with the exponential rotation rate ``rate`` (c)."""
        return FlowPath(self.rot.rate, self.rot.schedule, self.sample_rot.schedule, rate)

    def scales(self, t: torch.Tensor):
        return t, t

    def rotation_output(self, rt: torch.Tensor, r_hat: torch.Tensor, t: float) -> torch.Tensor:
        """The rotation velocity toward ``R^_0``: ``-c Log(R_t^T R^_0)`` ("exp") or the exact
        velocity ``d'(t) / (1 - d(t)) Log(...)`` of the sampling schedule."""
        rot = self.sample_rot
        if rot.schedule == "exp":
            rate = -rot.rate
        else:
            rate = rot.data_fraction_rate(t) / max(1 - rot.data_fraction(t), 1e-12)
        return rate * SO3().log(rt, r_hat)


class DiffusionPath(FramePath):
    method = "euler_maruyama"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, rot_sigma_min: float = 0.1,
                 rot_sigma_max: float = 1.5):
        self.trans = VP("linear", beta_min, beta_max)
        self.rot = self.sample_rot = HeatDiffusion(SO3(), "logarithmic", rot_sigma_min, rot_sigma_max)

    def noisy_rotations(self, r0, t, generator=None):
        """``R_0`` times an IGSO(3) draw at scale sigma(t) (``HeatDiffusion.sample_path`` would also
        compute the score, which the clean-frame loss does not use)."""
        sigma = self.rot.sigma(t.detach().to(torch.float64).cpu())
        return (r0.to(torch.float64) @ IGSO3(sigma).sample(len(r0), generator=generator).to(r0.device)).to(r0.dtype)

    def scales(self, t: torch.Tensor):
        tt = t.detach().to(torch.float64).cpu()
        return _as(self.trans.coefficients(tt)[1], t), _as(self.rot.sigma(tt), t)

    def rotation_output(self, rt: torch.Tensor, r_hat: torch.Tensor, t: float) -> torch.Tensor:
        """The IGSO(3) score at ``R_t`` of the kernel around ``R^_0`` at scale sigma(t)."""
        sigma = float(self.rot.sigma(torch.tensor(t, dtype=torch.float64)))
        return IGSO3(max(sigma, 1e-4), mean=r_hat).score(rt)


def make_path(config) -> FramePath:
    """The path a :class:`FrameFlowConfig` names in ``recipe`` (``"flow"`` or ``"diffusion"``)."""
    if config.recipe == "flow":
        return FlowPath(config.rot_rate, config.rot_train_schedule, config.rot_sample_schedule,
                        config.sample_rot_rate)
    if config.recipe == "diffusion":
        return DiffusionPath(config.beta_min, config.beta_max, config.rot_sigma_min, config.rot_sigma_max)
    raise ValueError(f"recipe must be 'flow' or 'diffusion', got {config.recipe!r}")


__all__ = ["FramePath", "FlowPath", "DiffusionPath", "make_path"]
