"""A time-conditioned MLP for low-dimensional data (points in R^d), with save/load."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..parameterization import check_prediction
from ..train.pretrained import Pretrained
from .embeddings import SinusoidalEmbedding


@dataclass
class MLPConfig:
    dim: int = 2                 # input dimension d
    out_dim: int | None = None   # output dimension (default: d)
    width: int = 256
    depth: int = 3               # hidden layers
    time_dim: int = 64
    prediction: str = "eps"      # what the network predicts (see scidiff.PREDICTIONS)


class TimeMLP(Pretrained, nn.Module):
    """``forward(x (n, d), t (n,)) -> (n, out_dim)``: residual SiLU MLP on x with the time embedding
    added before every layer."""

    config_class = MLPConfig

    def __init__(self, config: MLPConfig | None = None, **overrides):
        super().__init__()
        self.config = config or MLPConfig(**overrides)
        c = self.config
        check_prediction(c.prediction)
        self.embed = nn.Sequential(SinusoidalEmbedding(c.time_dim), nn.Linear(c.time_dim, c.width), nn.SiLU())
        self.inp = nn.Linear(c.dim, c.width)
        self.hidden = nn.ModuleList(nn.Linear(c.width, c.width) for _ in range(c.depth))
        self.film = nn.ModuleList(nn.Linear(c.width, c.width) for _ in range(c.depth))
        self.out = nn.Linear(c.width, c.out_dim or c.dim)

    @property
    def prediction(self) -> str:
        return self.config.prediction

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = self.embed(t)
        h = self.inp(x)
        for lin, film in zip(self.hidden, self.film):
            h = h + lin(nn.functional.silu(h + film(e)))
        return self.out(nn.functional.silu(h))
