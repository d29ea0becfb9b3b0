"""MMFF94 relaxation of generated conformers: ``mmff_relax`` on one Mol, ``MMFFRelaxed`` around any
``ConformerGenerator``.

Reference conformer ensembles (GMTKN55, GEOM) are energy minima; a generator whose conformers
carry the small bond-length and angle errors of distance geometry (ETKDG, and torsional diffusion
on ETKDG local structures) lands closer to them after a local MMFF94 minimisation, which also
settles each torsion into its nearest well. The minimisation keeps the stereochemistry in almost
every case; where it does not, the conformer keeps its unrelaxed coordinates.
"""
from __future__ import annotations

import warnings

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from .generator import ConformerGenerator, _describe
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
        warnings.warn(f"MMFF94 has no parameters for {_describe(mol)}; conformers left unrelaxed",
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


class MMFFRelaxed(ConformerGenerator):
    """``base``'s conformers, each minimised with MMFF94 (``mmff_relax``, stereo kept)."""

    def __init__(self, base: ConformerGenerator, max_iters: int = 200, num_threads: int = 1):
        self.base, self.max_iters, self.num_threads = base, max_iters, num_threads
        self.name = f"{base.name}+mmff"

    def generate(self, mol_or_smiles: Chem.Mol | str, n: int, seed: int = 0) -> Chem.Mol:
        """``base.generate`` then ``mmff_relax`` against the input's stereo labels."""
        mol = self.base.generate(mol_or_smiles, n, seed=seed)
        mmff_relax(mol, self.max_iters, self.num_threads, reference=Chem.Mol(mol))     # the input's stereo labels
        return mol

    def generate_many(self, mols: list, n: int, seed: int = 0) -> list:
        """``base.generate_many`` (batched where the base batches) then ``mmff_relax`` on each."""
        out = self.base.generate_many(mols, n, seed=seed)
        for mol in out:
            if not isinstance(mol, Exception):
                mmff_relax(mol, self.max_iters, self.num_threads, reference=Chem.Mol(mol))
        return out

    @property
    def last_stats(self) -> dict:
        return getattr(self.base, "last_stats", {})


__all__ = ["mmff_relax", "MMFFRelaxed"]
