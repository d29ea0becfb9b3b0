"""Exponential moving average of weights with Diffusion Policy's power warm-up.

    decay(step) = min(max_decay, max(min_decay, 1 - (1 + step) ** -power)),   power = 3/4

so early steps follow the weights closely and the average lengthens as training goes on.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def ema_decay(step: int, power: float = 0.75, max_decay: float = 0.9999, min_decay: float = 0.0) -> float:
    """The decay applied after optimiser step ``step`` (0-based)."""
    return min(max_decay, max(min_decay, 1.0 - (1.0 + step) ** -power))


class EMA:
    """Keeps ``self.model``, a frozen copy of ``model`` whose parameters track its average."""

    def __init__(self, model: nn.Module, power: float = 0.75, max_decay: float = 0.9999):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.power, self.max_decay = power, max_decay

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = ema_decay(step, self.power, self.max_decay)
        params = dict(model.named_parameters())
        for name, e in self.model.named_parameters():            # paired by name: a deep copy may list
            e.lerp_(params[name].detach().to(e.dtype), 1.0 - d)    # generated modules (e3nn) in another order
        buffers = dict(model.named_buffers())
        for name, e in self.model.named_buffers():
            e.copy_(buffers[name])
