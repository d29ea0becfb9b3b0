"""MMFF94 minimisation of conformers: generated ones in place (``mmff_relax``, stereo kept), and
the training data's (``relaxed_conformers``: each CCD conformer's nearest MMFF94 minimum, cached)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from .chem import describe
from .conformer_cache import cached_conformers
from .metrics import stereo_preserved


def mmff_relax(mol: Chem.Mol, max_iters: int = 200, num_threads: int = 1, reference: Chem.Mol | None = None) -> int:
    """Minimise every conformer of ``mol`` (explicit H, Å) with MMFF94 in place; returns how many
    conformers were relaxed.

    Each conformer gets ``mmff_energy`` (kcal/mol) and ``mmff_converged`` (within ``max_iters``).
    With ``reference`` (a Mol with the intended stereo labels, such as a copy of ``mol`` from a
    generator, which carries the input's labels), a conformer whose relaxed stereo
    differs from it gets its input coordinates back and ``mmff_converged`` False. Without MMFF
    parameters for the molecule a ``UserWarning`` says so and nothing moves.
    """
    work = Chem.Mol(mol)               # MMFF typing re-perceives aromaticity in place: keep it off ``mol``
    if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(work):
        warnings.warn(f"MMFF94 has no parameters for {describe(mol)}; conformers left unrelaxed",
                      UserWarning, stacklevel=2)
        return 0
    results = rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(work, numThreads=num_threads, maxIters=max_iters)
    before = [c.GetPositions() for c in mol.GetConformers()]
    for conf, done in zip(mol.GetConformers(), work.GetConformers()):
        conf.SetPositions(done.GetPositions())
    relaxed = 0
    for conf, start, (not_converged, energy) in zip(mol.GetConformers(), before, results):
        if reference is not None and not stereo_preserved(reference, mol, conf.GetId()):
            conf.SetPositions(np.asarray(start, dtype=np.float64))
            conf.SetBoolProp("mmff_converged", False)
            continue
        conf.SetDoubleProp("mmff_energy", energy)
        conf.SetBoolProp("mmff_converged", not_converged == 0)
        relaxed += 1
    return relaxed


def relaxed_coordinates(mol: Chem.Mol, max_iters: int = 500) -> np.ndarray:
    """Coordinates ``(n_atoms, 3)`` Å of ``mol``'s conformer (explicit H) minimised with MMFF94.
    ``ValueError`` when MMFF94 has no parameters for it, or the minimum loses a stereo label of
    the input conformer (perceived from its 3D coordinates)."""
    work = Chem.Mol(mol)
    if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(work):
        raise ValueError(f"MMFF94 has no parameters for {describe(mol)}")
    rdForceFieldHelpers.MMFFOptimizeMolecule(work, maxIters=max_iters)
    reference = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(reference)
    out = Chem.Mol(mol)                # MMFF typing re-perceived ``work``'s aromaticity: compare on a clean copy
    out.GetConformer().SetPositions(work.GetConformer().GetPositions())
    if not stereo_preserved(reference, out):
        raise ValueError(f"MMFF94 minimisation changed a stereo label of {describe(mol)}")
    return out.GetConformer().GetPositions()


def relaxed_conformers(mols: list[Chem.Mol], cache: str | Path | None = None, max_iters: int = 500,
                       progress: bool = True) -> tuple[list[Chem.Mol], dict]:
    """Each molecule with its conformer replaced by its MMFF94 minimum (:func:`relaxed_coordinates`;
    about 40 ms per drug-sized molecule), and counts ``{"computed", "cached", "failed"}``. A
    molecule MMFF94 cannot handle keeps its own conformer. ``cache``: an ``.npz`` of coordinates by
    name (:func:`.conformer_cache.cached_conformers`)."""
    return cached_conformers(mols, lambda mol, name: relaxed_coordinates(mol, max_iters), cache,
                             desc="MMFF94 minima", progress=progress)


__all__ = ["mmff_relax", "relaxed_coordinates", "relaxed_conformers"]
