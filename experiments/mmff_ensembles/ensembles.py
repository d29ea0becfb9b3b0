"""MMFF94 conformer ensembles as torsional training data (measured, not shipped).

Towards what GEOM holds: each molecule brings an ensemble of minima, its own conformer's MMFF94
minimum plus the minima of ``k`` ETKDG embeddings (``mmff_minima``); ``window`` cuts the ensemble
as CREST/GEOM do (``low_energy_distinct``: the distinct minima within a few kcal/mol of the
lowest). ``train.py`` runs the shipped torsional recipe on such ensembles. Figures:
``docs/notes/molecules.md`` ("Training on MMFF94 ensembles", "Capped amino acids").
"""
from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from scidiff.geometry import rmsd as aligned_rmsd
from scidiff.molecules.chem import describe, rdkit_seed
from scidiff.molecules.conformer_cache import cached_conformers
from scidiff.molecules.generator import ETKDG
from scidiff.molecules.metrics import stereo_preserved
from scidiff.molecules.mmff import relaxed_coordinates


def mmff_minima(mol: Chem.Mol, k: int, seed: int = 0, max_iters: int = 500, timeout: int = 10) -> np.ndarray:
    """Coordinates ``(m, n_atoms, 3)`` Å, ``1 <= m <= k + 1``: the MMFF94 minimum of ``mol``'s own
    conformer (:func:`relaxed_coordinates`), then the minima of ``k`` ETKDGv3 embeddings (seed
    ``seed``; ``timeout`` whole seconds per embedding call) that keep the stereo labels of
    ``mol``'s conformer. ETKDG failing leaves the own minimum alone; ``ValueError`` as
    :func:`relaxed_coordinates`."""
    own = relaxed_coordinates(mol, max_iters)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)         # fewer than k embedded: use those
            embedded = ETKDG(timeout=timeout).generate(mol, k, seed=seed)
    except ValueError:
        return own[None]
    work = Chem.Mol(embedded)
    rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(work, maxIters=max_iters)
    reference = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(reference)
    out = Chem.Mol(embedded)                   # MMFF typing re-perceived ``work``'s aromaticity
    for conf, done in zip(out.GetConformers(), work.GetConformers()):
        conf.SetPositions(done.GetPositions())
    kept = [c.GetPositions() for c in out.GetConformers() if stereo_preserved(reference, out, c.GetId())]
    return np.stack([own, *kept])


def mmff_energies(mol: Chem.Mol, pos: np.ndarray) -> np.ndarray:
    """MMFF94 energies ``(m,)`` kcal/mol of ``mol`` (explicit H) at coordinates ``(m, n_atoms, 3)`` Å.
    ``ValueError`` when MMFF94 has no parameters for it."""
    work = Chem.Mol(mol)
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(work)
    if props is None:
        raise ValueError(f"MMFF94 has no parameters for {describe(mol)}")
    field = rdForceFieldHelpers.MMFFGetMoleculeForceField(work, props)
    return np.array([field.CalcEnergy(np.asarray(p, dtype=np.float64).ravel().tolist()) for p in pos])


def low_energy_distinct(mol: Chem.Mol, pos: np.ndarray, window: float, rmsd: float = 0.25) -> np.ndarray:
    """The conformers ``(m', n_atoms, 3)`` Å of ``pos (m, n_atoms, 3)`` within ``window`` kcal/mol of
    the lowest MMFF94 energy among them, lowest first, with repeats dropped: a conformer whose
    heavy atoms superpose on a lower one's within ``rmsd`` Å (plain Kabsch, no symmetry) is the same
    minimum. This is how a CREST/GEOM ensemble is cut (6 kcal/mol there), at the MMFF94 level."""
    energy = mmff_energies(mol, pos)
    heavy = np.array([a.GetAtomicNum() > 1 for a in mol.GetAtoms()])
    kept: list[int] = []
    for i in np.argsort(energy, kind="stable"):
        if energy[i] - energy.min() > window:
            break
        if all(float(aligned_rmsd(torch.from_numpy(pos[i][heavy]), torch.from_numpy(pos[j][heavy]))) >= rmsd for j in kept):
            kept.append(int(i))
    return pos[kept]


def ensemble_conformers(mols: list[Chem.Mol], k: int, cache: str | Path | None = None, seed: int = 0,
                        max_iters: int = 500, window: float | None = None,
                        progress: bool = True) -> tuple[list[Chem.Mol], dict]:
    """Each molecule with its conformer replaced by the ensemble :func:`mmff_minima` (ETKDG seed
    derived from ``seed`` and the molecule's name; about 0.3 s per drug-sized molecule at k = 4),
    and counts ``{"computed", "cached", "failed"}``. With ``window`` (kcal/mol) only the distinct
    minima within it of the lowest are kept (:func:`low_energy_distinct`), so the ensemble is the
    molecule's low-energy gas-phase conformers rather than every well the embeddings fell into.
    A molecule MMFF94 cannot handle keeps its own conformer. ``cache``: an ``.npz`` of
    coordinates by name."""
    def compute(mol, name):
        pos = mmff_minima(mol, k, rdkit_seed(seed, zlib.crc32(name.encode())), max_iters)
        return pos if window is None else low_energy_distinct(mol, pos, window)

    return cached_conformers(mols, compute, cache, desc="MMFF94 ensembles", progress=progress)


__all__ = ["mmff_minima", "mmff_energies", "low_energy_distinct", "ensemble_conformers"]
