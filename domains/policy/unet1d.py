"""ConditionalUnet1D: Diffusion Policy's temporal U-Net, written here.

Action sequences ``(B, horizon, action_dim)`` are convolved along time (kernel 5, GroupNorm,
Mish); every residual block is FiLM-modulated by [time embedding, flattened observation
history]; two stride-2 downsamplings and transposed-conv upsamplings with skip connections.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from scidiff.nn.embeddings import SinusoidalEmbedding
from scidiff.parameterization import check_prediction
from scidiff.train.pretrained import Pretrained


@dataclass
class UnetConfig:
    action_dim: int = 2
    cond_dim: int = 40                         # flattened observation history (n_obs * obs_dim)
    time_dim: int = 256                        # diffusion-time embedding width
    down_dims: list = field(default_factory=lambda: [256, 512, 1024])
    kernel_size: int = 5
    n_groups: int = 8
    prediction: str = "eps"


class ConvBlock(nn.Sequential):
    """Conv1d -> GroupNorm -> Mish, length-preserving."""

    def __init__(self, cin: int, cout: int, kernel: int, groups: int):
        super().__init__(nn.Conv1d(cin, cout, kernel, padding=kernel // 2), nn.GroupNorm(groups, cout), nn.Mish())


class FiLMResBlock(nn.Module):
    """Two conv blocks; between them the condition sets a per-channel scale and bias (FiLM)."""

    def __init__(self, cin: int, cout: int, cond: int, kernel: int, groups: int):
        super().__init__()
        self.conv1, self.conv2 = ConvBlock(cin, cout, kernel, groups), ConvBlock(cout, cout, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond, 2 * cout))
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, bias = self.film(c)[..., None].chunk(2, dim=1)
        return self.conv2(scale * self.conv1(x) + bias) + self.skip(x)


class ConditionalUnet1D(Pretrained, nn.Module):
    """``forward(x (B, T, action_dim), t (B,), cond (B, cond_dim)) -> (B, T, action_dim)``."""

    config_class = UnetConfig

    def __init__(self, config: UnetConfig | None = None, **overrides):
        super().__init__()
        self.config = c = config or UnetConfig(**overrides)
        check_prediction(c.prediction)
        self.time = nn.Sequential(SinusoidalEmbedding(c.time_dim), nn.Linear(c.time_dim, 4 * c.time_dim), nn.Mish(),
                                  nn.Linear(4 * c.time_dim, c.time_dim))
        cond = c.time_dim + c.cond_dim
        dims = [c.action_dim] + list(c.down_dims)
        block = lambda i, o: FiLMResBlock(i, o, cond, c.kernel_size, c.n_groups)
        self.down = nn.ModuleList()
        for k, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
            last = k == len(dims) - 2
            self.down.append(nn.ModuleList([block(i, o), block(o, o),
                                            nn.Identity() if last else nn.Conv1d(o, o, 3, stride=2, padding=1)]))
        self.mid = nn.ModuleList([block(dims[-1], dims[-1]), block(dims[-1], dims[-1])])
        self.up = nn.ModuleList()
        ups = list(zip(dims[1:-1], dims[2:]))[::-1]
        for k, (i, o) in enumerate(ups):
            self.up.append(nn.ModuleList([block(2 * o, i), block(i, i), nn.ConvTranspose1d(i, i, 4, stride=2, padding=1)]))
        self.out = nn.Sequential(ConvBlock(dims[1], dims[1], c.kernel_size, c.n_groups), nn.Conv1d(dims[1], c.action_dim, 1))

    @property
    def prediction(self) -> str:
        return self.config.prediction

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = torch.cat([self.time(t), cond.flatten(1)], dim=-1)
        h, skips = x.transpose(1, 2), []
        for b1, b2, down in self.down:
            h = b2(b1(h, c), c)
            skips.append(h)
            h = down(h)
        for b in self.mid:
            h = b(h, c)
        for b1, b2, up in self.up:
            h = up(b2(b1(torch.cat([h, skips.pop()], dim=1), c), c))
        return self.out(h).transpose(1, 2)
