"""The path of :class:`BackboneGenerator` between data and prior frames: FrameFlow's.

Translations (in the network's unit, nm) go straight from a centred Gaussian (``RectifiedFlow``,
``x_t = (1 - t) x_0 + t eps``); rotations follow the geodesic from uniform SO(3) (``GeodesicFlow``,
linear schedule). Both are the core processes, drawn through their path samples. Sampling
integrates the product of the translation process (handed x^_0, ``GaussianFactor(..., "x0")``)
and FrameFlow's exponential rotation schedule: the rotation velocity is ``c Log(R_t^T R^_0)``,
so every step closes a fraction c dt of the way to the current prediction.
"""
from __future__ import annotations

import torch

from scidiff.manifolds import SO3
from scidiff.processes import GaussianFactor, GeodesicFlow, ProductProcess, RectifiedFlow


class FramePath:
    """Noised frames for training (``noise``) and the product process of sampling (``process``)."""

    def __init__(self):
        self.translations = GaussianFactor(RectifiedFlow(), "x0")
        self.rotations = GeodesicFlow(SO3(), prior="uniform", schedule="linear")

    def noise(self, r0: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, generator=None):
        """Noisy frames ``(R_t (B, L, 3, 3), x_t (B, L, 3))`` from clean ones at per-chain times
        ``t (B,)``; ``eps`` the translation noise (centred over each chain's real residues)."""
        B, L = x0.shape[:2]
        xt = self.translations.sample_path(x0, t, noise=eps).x
        rt = self.rotations.sample_path(r0.reshape(B * L, 3, 3), t.repeat_interleave(L).to(r0.dtype),
                                        generator=generator).x
        return rt.reshape(B, L, 3, 3), xt

    def process(self, length: int, rot_rate: float) -> ProductProcess:
        """The SE(3)^L product the sampler integrates (translations in nm, given as x^_0; rotations
        on the exponential schedule at rate ``rot_rate``)."""
        if rot_rate <= 0:
            raise ValueError(f"the rotation rate must be positive, got {rot_rate}")
        return ProductProcess([GaussianFactor(self.translations.proc, "x0", shape=(length, 3), center=True),
                               GeodesicFlow(SO3(), prior="uniform", schedule="exp", rate=rot_rate)])

    @staticmethod
    def rotation_velocity(rt: torch.Tensor, r_hat: torch.Tensor, rot_rate: float) -> torch.Tensor:
        """``-c Log(R_t^T R^_0)``: the exponential schedule's velocity toward the prediction (a step
        dt < 0 moves the fraction c |dt| of the way)."""
        return -rot_rate * SO3().log(rt, r_hat)


__all__ = ["FramePath"]
