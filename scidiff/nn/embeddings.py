"""Time embeddings for networks conditioned on diffusion time t in [0, 1]."""
from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """Transformer-style sinusoids of ``scale * t``: ``(n,) -> (n, dim)``, dim even.

    ``scale = 1000`` spreads t in [0, 1] over the frequencies a 1000-step model would see.
    """

    def __init__(self, dim: int, scale: float = 1000.0, max_period: float = 10000.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"embedding dim must be even, got {dim}")
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(max_period) * torch.arange(half) / half), persistent=False)
        self.scale = scale

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        arg = self.scale * t.to(self.freqs.dtype)[:, None] * self.freqs
        return torch.cat([arg.sin(), arg.cos()], dim=-1)
