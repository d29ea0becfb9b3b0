"""Conformer matching for torsional training: data torsions on an ETKDG local structure
(measured, not shipped; figures in ``docs/notes/molecules.md``, "Conformer matching").

The torsional model samples on ETKDG local structures (bond lengths, angles and rings from RDKit)
but, trained on the experimental conformers, only ever sees experimental local structures.
Torsional diffusion (Jing et al. 2022) closes that gap by *conformer matching*: each training
conformer is replaced by an RDKit local structure whose torsions are chosen to bring it as close
as possible to the experimental one. Here the torsions are transferred: every rotatable torsion
``(i, j, k, m)`` (``featurize.torsions``) of the ETKDG conformer is set to the experimental
dihedral of the same four atoms. Ring conformations and bond geometry stay ETKDG's, and so do
amide bonds (not rotatable), so the matched conformer differs from the experimental one by what
ETKDG gets wrong locally (``matching_rmsd`` measures it). A cache written before amides were
held planar (2026-11-30) has their experimental dihedrals transferred as well.

``matched_conformers(mols, cache)`` matches a list (about 50 ms per drug-sized molecule, one
ETKDG embedding each) and keeps the coordinates in an ``.npz`` keyed by molecule name, so a
second run, or a resumed one, reads them back; a molecule ETKDG cannot embed within
``timeout`` seconds per try (a few macrocycles in the CCD would take minutes) keeps its own
conformer, is counted, and is remembered in the cache as a failure.
"""
from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from scidiff.molecules import train as torsional_train
from scidiff.molecules.chem import rdkit_seed
from scidiff.molecules.conformer_cache import cached_conformers, with_coordinates
from scidiff.molecules.data import default_cache_dir
from scidiff.molecules.featurize import torsions
from scidiff.molecules.generator import ETKDG
from scidiff.molecules.torsions import dihedrals, set_torsions


def local_structure(mol, seed: int = 0, timeout: int = 0) -> torch.Tensor:
    """One ETKDGv3 conformer ``(n_atoms, 3)`` Å of ``mol`` (explicit H): the bond lengths, angles and
    ring geometry the torsional model keeps. ``timeout``: ``ETKDG``'s, whole seconds per try."""
    conf = ETKDG(timeout=timeout).generate(mol, 1, seed=seed).GetConformer()
    return torch.tensor(conf.GetPositions(), dtype=torch.float64)


def match_torsions(mol: Chem.Mol, seed: int = 0, timeout: int = 0) -> np.ndarray:
    """Coordinates ``(n_atoms, 3)`` Å: an ETKDGv3 conformer of ``mol`` (explicit H, one conformer)
    with every rotatable torsion set to ``mol``'s own dihedral. ``ValueError`` if ETKDG fails
    (``timeout``: whole seconds per embedding try, 0 no limit)."""
    torsion_index, side_index = torsions(mol)
    target = dihedrals(torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float64), torsion_index)
    local = local_structure(mol, seed, timeout)
    return set_torsions(local, torsion_index, side_index, target).numpy()


def matching_rmsd(mol: Chem.Mol, matched: Chem.Mol) -> float:
    """Heavy-atom RMSD (Å) after optimal superposition, atoms in order (no symmetry search)."""
    from rdkit.Chem import rdMolAlign

    a, b = Chem.RemoveHs(matched), Chem.RemoveHs(mol)
    return float(rdMolAlign.AlignMol(a, b, atomMap=[(i, i) for i in range(b.GetNumAtoms())]))


def matched_conformers(mols: list[Chem.Mol], cache: str | Path | None = None, seed: int = 0,
                       timeout: int = 10, progress: bool = True) -> tuple[list[Chem.Mol], dict]:
    """Each molecule with its conformer replaced by :func:`match_torsions` (ETKDG seed derived from
    ``seed`` and the molecule's name), and counts ``{"computed", "cached", "failed"}``; ``cache``
    an ``.npz`` of coordinates by name (:func:`.conformer_cache.cached_conformers`). A molecule
    ETKDG cannot embed keeps its own conformer."""
    def compute(mol, name):                              # one ETKDG seed per name
        return match_torsions(mol, rdkit_seed(seed, zlib.crc32(name.encode())), timeout)

    return cached_conformers(mols, compute, cache, desc="conformer matching", progress=progress)


def matched_prepare(task, mols):
    """``prepare`` for ``scidiff.molecules.train.run``: the shipped training molecules (relaxed
    with ``relax_conformers``), each then replaced by its matched conformer (cached)."""
    mols = torsional_train.training_molecules(task, mols)
    folder = Path(task.cache_dir or default_cache_dir())
    cache = folder / f"matched{'_relaxed' if task.relax_conformers else ''}_seed{task.train.seed}.npz"
    mols, counts = matched_conformers(mols, cache, seed=task.train.seed, progress=task.train.progress)
    print(f"conformer matching ({cache}): {counts['computed']} matched, {counts['cached']} from the cache, "
          f"{counts['failed']} kept their own conformer (ETKDG failed)", file=sys.stderr)
    return mols


def run(data: dict, out: Path, resume: bool = False) -> dict:
    """The torsional recipe (``scidiff.molecules.train``) on matched conformers."""
    return torsional_train.run(data, out, resume, prepare=matched_prepare)


if __name__ == "__main__":
    from ..runner import main

    sys.exit(main(run, "Train the torsional model on matched conformers (an experiment)."))


__all__ = ["local_structure", "match_torsions", "matched_conformers", "matching_rmsd", "matched_prepare", "run", "with_coordinates"]
