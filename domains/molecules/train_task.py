"""Training a ``CoordinateFlow`` on the CCD experimental conformers: ``scidiff train`` with
``domain: molecules``.

The train split of a built CCD cache (``data.build_ccd_dataset``; folder ``cache_dir``) is
featurised lazily and kept in compact form (uint8 one-hots, int32 indices); batches are
torch-geometric ``Batch``es with each molecule's ``pos`` centred. The EMA weights go to
``OUT/model`` (``CoordinateFlow.from_pretrained(OUT / "model")``, or
``FlowConformers.from_pretrained(OUT / "model")`` for conformers). With ``eval_every`` set, the
flow-matching loss of the EMA model on ``eval_molecules`` val molecules (fixed noise) is logged
as ``eval/loss`` and picks the ``best`` checkpoint.

    domain: molecules
    cache_dir: /work/cache/ccd
    max_molecules: 2000
    model: {egnn: {hidden: 64, layers: 4}}
    train: {steps: 2000, batch_size: 32}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from scidiff.train.config import save_config, with_defaults
from scidiff.train.trainer import OptimConfig, TrainConfig, Trainer

from .coords import CoordinateFlow, CoordinateFlowConfig
from .featurize import ELEMENTS, MolData, featurize


@dataclass
class MoleculeTask:
    domain: str = "molecules"
    cache_dir: str = ""              # built CCD cache; "" is data.default_cache_dir()
    max_molecules: int = 0           # 0: the whole train split; else a random subset (seeded by train.seed)
    max_atoms: int = 200             # larger molecules (hydrogens included) are left out
    eval_molecules: int = 256        # val molecules for eval/loss (needs train.eval_every > 0)
    model: CoordinateFlowConfig = field(default_factory=CoordinateFlowConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=50_000, batch_size=32, eval_every=1000, checkpoint_every=1000, optim=OptimConfig(lr=5e-4, warmup=1000)))


def in_scope(mol: Chem.Mol, max_atoms: int) -> bool:
    return mol.GetNumAtoms() <= max_atoms and all(a.GetSymbol() in ELEMENTS for a in mol.GetAtoms())


class ConformerDataset:
    """Conformers of molecules (explicit H, Å), one item per conformer: a molecule with an ensemble
    of k conformers gives k items. ``len``, ``ds[i]`` a ``MolData`` with ``pos`` centred,
    ``get_batch(indices)`` a ``Batch``; each molecule is featurised once and kept compactly."""

    def __init__(self, mols: list[Chem.Mol], cache: bool = True):
        if not mols:
            raise ValueError("no molecules to train on")
        missing = [i for i, m in enumerate(mols) if m.GetNumConformers() == 0]
        if missing:
            raise ValueError(f"{len(missing)} molecules have no conformer (first: index {missing[0]})")
        self.mols, self.cache = list(mols), {} if cache else None
        self.items = [(m, k) for m, mol in enumerate(self.mols) for k in range(mol.GetNumConformers())]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> MolData:
        m, k = self.items[int(i)]
        packed = self.cache.get(m) if self.cache is not None else None
        if packed is None:
            mol = self.mols[m]
            d = featurize(mol)
            pos = torch.tensor(np.stack([c.GetPositions() for c in mol.GetConformers()]), dtype=torch.float32)
            packed = (d.x.to(torch.uint8), d.edge_index.to(torch.int32), d.edge_attr.to(torch.uint8),
                      d.z, d.torsion_index.to(torch.int32), d.side_index.to(torch.int32),
                      pos - pos.mean(1, keepdim=True))
            if self.cache is not None:
                self.cache[m] = packed
        x, ei, ea, z, ti, si, pos = packed
        return MolData(x=x.float(), edge_index=ei.long(), edge_attr=ea.float(), z=z, torsion_index=ti.long(),
                       side_index=si.long(), pos=pos[k], num_nodes=x.shape[0])

    def get_batch(self, indices) -> Batch:
        return Batch.from_data_list([self[int(i)] for i in indices])


def load_molecules(cache_dir: str | Path | None, split: str, limit: int = 0, max_atoms: int = 200,
                   seed: int = 0) -> list[Chem.Mol]:
    """In-scope molecules of a CCD split; ``limit > 0`` keeps a random subset of that size."""
    from .data import load_ccd_split

    mols = [m for m in load_ccd_split(cache_dir or None, split) if in_scope(m, max_atoms)]
    if 0 < limit < len(mols):
        keep = np.sort(np.random.default_rng(seed).choice(len(mols), limit, replace=False))
        mols = [mols[i] for i in keep]
    return mols


def validation_loss(model: CoordinateFlow, ds: ConformerDataset, batch_size: int = 32, seed: int = 0) -> float:
    """Mean flow-matching loss over ``ds`` with fixed times and noise (comparable across steps)."""
    was = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for k, start in enumerate(range(0, len(ds), batch_size)):
            idx = range(start, min(start + batch_size, len(ds)))
            gen = torch.Generator(model.device).manual_seed(seed * 1_000_003 + k)
            total += float(model(ds.get_batch(idx), gen)) * len(idx)
            count += len(idx)
    model.train(was)
    return total / count


def run(data: dict, out: Path, resume: bool = False) -> dict:
    """Train as configured by the nested dict ``data``; writes ``out/model`` (EMA weights)."""
    task = with_defaults(MoleculeTask, data)
    return fit_on_ccd(task, lambda: CoordinateFlow(task.model), Path(out), resume)


def fit_on_ccd(task, build_model, out: Path, resume: bool = False, keep=None) -> dict:
    """Train ``build_model()`` (built after seeding) on the CCD split of ``task`` (any task with
    ``cache_dir``, ``max_molecules``, ``max_atoms``, ``eval_molecules`` and ``train``), keeping the
    molecules ``keep(mols)`` returns; writes ``out/config.yaml`` and ``out/model`` (EMA weights)."""
    keep = keep or (lambda mols: mols)
    seed = task.train.seed
    train = ConformerDataset(keep(load_molecules(task.cache_dir, "train", task.max_molecules, task.max_atoms, seed)))
    evaluate = None
    if task.train.eval_every and task.eval_molecules > 0:
        val = ConformerDataset(keep(load_molecules(task.cache_dir, "val", task.eval_molecules, task.max_atoms, seed)))
        evaluate = lambda ema_model, step: {"loss": validation_loss(ema_model, val, task.train.batch_size)}
    out.mkdir(parents=True, exist_ok=True)
    save_config(task, out / "config.yaml")
    torch.manual_seed(seed)
    trainer = Trainer(build_model(), lambda net, batch, g: net(batch, g), train, task.train, out, eval_fn=evaluate)
    last = trainer.fit(resume=resume)
    if trainer.dist.main and not last.get("interrupted"):
        trainer.ema.model.save_pretrained(out / "model")
    return last
