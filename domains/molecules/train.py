"""The training recipe of the torsional model: ``scidiff train`` with ``domain: molecules-torsional``.

The train split of a built CCD cache (:mod:`.data`; folder ``cache_dir``) is kept to in-scope
molecules with a rotatable bond, optionally each replaced by its nearest MMFF94 minimum
(``relax_conformers``, the bundled weights' recipe, cached next to the CCD cache), featurised
lazily into compact items, and fitted by the shared trainer. With ``train.eval_every`` the
loss of the EMA model on ``eval_molecules`` val molecules (fixed noise) is logged as
``eval/loss`` and picks the ``best`` checkpoint. The EMA weights go to ``OUT/model``
(``scidiff.molecules.from_pretrained(OUT / "model")``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from scidiff.train import OptimConfig, TrainConfig, fit, with_defaults

from .data import default_cache_dir, load_ccd_split
from .featurize import ELEMENTS, MolData, featurize, rotatable_bonds
from .mmff import relaxed_conformers
from .torsional import TorsionalDiffusion, TorsionalDiffusionConfig


@dataclass
class TorsionalTask:
    domain: str = "molecules-torsional"
    cache_dir: str = ""              # built CCD cache; "" is data.default_cache_dir()
    max_molecules: int = 0           # 0: the whole train split; else a random subset (seeded by train.seed)
    max_atoms: int = 200             # larger molecules (hydrogens included) are left out
    eval_molecules: int = 256        # val molecules for eval/loss (needs train.eval_every > 0)
    relax_conformers: bool = False   # train on the MMFF94 minima nearest the data conformers (.mmff)
    model: TorsionalDiffusionConfig = field(default_factory=TorsionalDiffusionConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=50_000, batch_size=32, eval_every=1000, checkpoint_every=1000, optim=OptimConfig(lr=1e-3, warmup=1000)))


def in_scope(mol: Chem.Mol, max_atoms: int) -> bool:
    """At most ``max_atoms`` atoms (hydrogens included), every element in ``featurize.ELEMENTS``."""
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
    mols = [m for m in load_ccd_split(cache_dir or None, split) if in_scope(m, max_atoms)]
    if 0 < limit < len(mols):
        keep = np.sort(np.random.default_rng(seed).choice(len(mols), limit, replace=False))
        mols = [mols[i] for i in keep]
    return mols


def validation_loss(model, ds: ConformerDataset, batch_size: int = 32, seed: int = 0) -> float:
    """Mean training loss over ``ds`` with fixed times and noise (comparable across steps)."""
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


def training_molecules(task: TorsionalTask, mols: list[Chem.Mol]) -> list[Chem.Mol]:
    """The molecules with a rotatable bond, each on its nearest MMFF94 minimum with
    ``relax_conformers`` (cached as ``relaxed_mmff94.npz`` in the CCD cache folder)."""
    mols = [m for m in mols if rotatable_bonds(m)]
    if not task.relax_conformers:
        return mols
    cache = Path(task.cache_dir or default_cache_dir()) / "relaxed_mmff94.npz"
    mols, counts = relaxed_conformers(mols, cache, progress=task.train.progress)
    print(f"MMFF94 minima ({cache}): {counts['computed']} minimised, {counts['cached']} from the cache, "
          f"{counts['failed']} kept their own conformer (no MMFF94 parameters or a stereo change)", file=sys.stderr)
    return mols


def run(data: dict, out: Path, resume: bool = False, prepare=None) -> dict:
    """Train as configured by the nested dict ``data`` (a :class:`TorsionalTask`); writes
    ``out/model`` (EMA weights). ``prepare(task, mols) -> mols`` replaces
    :func:`training_molecules` (what the training conformers are; an experiment's hook)."""
    task = with_defaults(TorsionalTask, data)
    prepare = prepare or training_molecules
    seed = task.train.seed
    train = ConformerDataset(prepare(task, load_molecules(task.cache_dir, "train", task.max_molecules,
                                                          task.max_atoms, seed)))
    evaluate = None
    if task.train.eval_every and task.eval_molecules > 0:
        val = ConformerDataset(prepare(task, load_molecules(task.cache_dir, "val", task.eval_molecules,
                                                            task.max_atoms, seed)))
        evaluate = lambda ema_model, step: {"loss": validation_loss(ema_model, val, task.train.batch_size)}  # noqa: E731
    return fit(task, lambda: TorsionalDiffusion(task.model), lambda net, batch, g: net(batch, g), train, out,
               resume=resume, eval_fn=evaluate)


__all__ = ["TorsionalTask", "ConformerDataset", "in_scope", "load_molecules", "validation_loss",
           "training_molecules", "run"]
