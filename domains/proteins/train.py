"""The training recipe of the backbone model: ``scidiff train`` with ``domain: proteins``.

A folder of PDB / mmCIF files becomes a filtered cache (:class:`.dataset.BackboneDataset`); each
optimiser step crops every chain to a random window of ``crop_length`` residues and fits
:class:`.model.BackboneGenerator` with the shared trainer. The EMA weights go to ``OUT/model``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scidiff.train import OptimConfig, TrainConfig, fit, with_defaults

from .dataset import BackboneDataset, DatasetConfig, crop_batch
from .model import BackboneConfig, BackboneGenerator


@dataclass
class BackboneTask:
    domain: str = "proteins"
    data_dir: str = ""               # folder of PDB / mmCIF files (e.g. ../shared/data/proteins)
    cache_dir: str = ""              # "" -> OUT/cache
    min_length: int = 40
    max_length: int = 256
    crop_length: int = 128           # random contiguous crop per optimiser step
    model: BackboneConfig = field(default_factory=BackboneConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=50_000, batch_size=16, checkpoint_every=1000, optim=OptimConfig(lr=1e-4, warmup=1000)))


def run(data: dict, out: Path, resume: bool = False) -> dict:
    """Train as configured by the nested dict ``data``; writes ``out/model`` (EMA weights)."""
    task = with_defaults(BackboneTask, data)
    if not task.data_dir:
        raise ValueError("set data_dir to a folder of PDB / mmCIF files")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = BackboneDataset.from_folder(task.data_dir, task.cache_dir or out / "cache",
                                     DatasetConfig(min_length=task.min_length, max_length=task.max_length),
                                     seed=task.train.seed)

    def loss_fn(net, batch, generator):
        return net(crop_batch(batch, task.crop_length, generator), generator)

    return fit(task, lambda: BackboneGenerator(task.model), loss_fn, ds, out, resume=resume)


__all__ = ["BackboneTask", "run"]
