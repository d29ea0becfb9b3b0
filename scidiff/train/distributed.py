"""torchrun / DDP plumbing: one process per device, gloo on CPU, nccl on CUDA; rank 0 logs."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_true(flag: bool, info: Dist, device: torch.device) -> bool:
    """Logical AND of ``flag`` over ranks (so every rank takes the same branch)."""
    if info.world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() > 0.5)


def any_true(flag: bool, info: Dist, device: torch.device) -> bool:
    """Logical OR of ``flag`` over ranks."""
    return not all_true(not flag, info, device)


def barrier(info: Dist) -> None:
    if info.world > 1:
        dist.barrier()
