"""Step-indexed batches: the batch of optimiser step k depends only on (seed, k).

Epoch e is a permutation of the dataset drawn from seed (seed, e); step k takes the next
``batch_size`` positions of the concatenated epochs. Each rank takes its contiguous share of that
global batch (what ``DistributedSampler`` does, but addressable by step, so a resumed run reads
exactly the batches the interrupted one would have read).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch.utils.data import default_collate


@lru_cache(maxsize=2)
def epoch_permutation(n_items: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch ``epoch`` (cached: consecutive steps share it)."""
    return torch.randperm(n_items, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batch_indices(n_items: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """Dataset indices ``(batch_size,)`` of the global batch at ``step``."""
    start = step * batch_size
    out, filled = [], 0
    while filled < batch_size:
        epoch, offset = divmod(start + filled, n_items)
        take = epoch_permutation(n_items, seed, epoch)[offset: offset + batch_size - filled]
        out.append(take)
        filled += len(take)
    return torch.cat(out)


def fetch(dataset, idx: torch.Tensor):
    """Gather items: a tensor is indexed directly, anything else item by item and collated."""
    if torch.is_tensor(dataset):
        return dataset[idx]
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(idx)
    return default_collate([dataset[int(i)] for i in idx])


def to_device(batch, device):
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    if callable(getattr(batch, "to", None)):          # torch-geometric Batch and other movable containers
        return batch.to(device)
    return batch
