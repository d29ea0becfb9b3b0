"""Min-max normalisation to [-1, 1] per feature, fitted on data and saved with the model."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class MinMaxNormalizer(nn.Module):
    """``normalize(x) = scale * x + offset`` maps each feature's [min, max] onto [-1, 1].

    A feature with range below ``eps`` is only shifted, its value mapped to 0 (as Diffusion
    Policy's limits normaliser). The buffers travel in the model's safetensors file.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("offset", torch.zeros(dim))

    @torch.no_grad()
    def fit(self, x, eps: float = 1e-4) -> "MinMaxNormalizer":
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64).reshape(-1, self.scale.numel())
        lo, hi = x.min(0).values, x.max(0).values
        span = hi - lo
        flat = span < eps
        scale = torch.where(flat, torch.ones_like(span), 2 / span.clamp_min(eps))
        offset = torch.where(flat, -lo, -1 - scale * lo)
        self.scale.copy_(scale.float())
        self.offset.copy_(offset.float())
        return self

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset

    def unnormalize(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.offset) / self.scale
