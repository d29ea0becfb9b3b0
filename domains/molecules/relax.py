"""MMFF94 relaxation of generated conformers: ``mmff_relax`` on one Mol, ``MMFFRelaxed`` around any
``ConformerGenerator``.

Reference conformer ensembles (GMTKN55, GEOM) are energy minima; a generator whose conformers
carry the small bond-length and angle errors of distance geometry (ETKDG, and torsional diffusion
on ETKDG local structures) lands closer to them after a local MMFF94 minimisation, which also
settles each torsion into its nearest well. The minimisation keeps the stereochemistry in almost
every case; where it does not, the conformer keeps its unrelaxed coordinates.

``relaxed_conformers`` does the same to training data: the torsional model learns the torsions
of its training conformers, and the CCD's experimental ("model") conformers often sit off any
torsional minimum (about 40 % of their open-chain sp3 C–C–C–C dihedrals are more than 20° from
gauche and anti). Each is minimised to its nearest MMFF94 minimum, as the conformer ensembles of
GEOM are minima, and the result is cached on disk.

``ensemble_conformers`` (on ``mmff_minima``) goes one step further, towards what GEOM holds: an
ensemble of minima per molecule, the data conformer's own minimum plus the minima of ``k`` ETKDG
embeddings. One conformer per molecule shows the model one well of each torsion; in gas-phase
ensembles (GMTKN55's capped amino acids, for one) the other wells, such as hydrogen-bonded forms,
matter. ``window`` cuts such an ensemble as CREST/GEOM do (``low_energy_distinct``): only the
distinct minima within a few kcal/mol of the lowest stay, the gas-phase conformers a molecule
actually populates rather than every well an embedding fell into.
"""
from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
from rdkit import Chem
import torch
from rdkit.Chem import rdForceFieldHelpers

from scidiff.geometry import rmsd as aligned_rmsd

from .conformer_cache import cached_conformers
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


def relaxed_coordinates(mol: Chem.Mol, max_iters: int = 500) -> np.ndarray:
    """Coordinates ``(n_atoms, 3)`` Å of ``mol``'s conformer (explicit H) minimised with MMFF94.
    ``ValueError`` when MMFF94 has no parameters for it, or the minimum loses a stereo label of
    the input conformer (perceived from its 3D coordinates)."""
    work = Chem.Mol(mol)
    if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(work):
        raise ValueError(f"MMFF94 has no parameters for {_describe(mol)}")
    rdForceFieldHelpers.MMFFOptimizeMolecule(work, maxIters=max_iters)
    reference = Chem.Mol(mol)
    Chem.AssignStereochemistryFrom3D(reference)
    out = Chem.Mol(mol)                # MMFF typing re-perceived ``work``'s aromaticity: compare on a clean copy
    out.GetConformer().SetPositions(work.GetConformer().GetPositions())
    if not stereo_preserved(reference, out):
        raise ValueError(f"MMFF94 minimisation changed a stereo label of {_describe(mol)}")
    return out.GetConformer().GetPositions()


def relaxed_conformers(mols: list[Chem.Mol], cache: str | Path | None = None, max_iters: int = 500,
                       progress: bool = True) -> tuple[list[Chem.Mol], dict]:
    """Each molecule with its conformer replaced by its MMFF94 minimum (:func:`relaxed_coordinates`;
    about 40 ms per drug-sized molecule), and counts ``{"computed", "cached", "failed"}``. A
    molecule MMFF94 cannot handle keeps its own conformer. ``cache``: an ``.npz`` of coordinates by
    name (:func:`.conformer_cache.cached_conformers`)."""
    return cached_conformers(mols, lambda mol, name: relaxed_coordinates(mol, max_iters), cache,
                             desc="MMFF94 minima", progress=progress)


def mmff_minima(mol: Chem.Mol, k: int, seed: int = 0, max_iters: int = 500, timeout: int = 10) -> np.ndarray:
    """Coordinates ``(m, n_atoms, 3)`` Å, ``1 <= m <= k + 1``: the MMFF94 minimum of ``mol``'s own
    conformer (:func:`relaxed_coordinates`), then the minima of ``k`` ETKDGv3 embeddings (seed
    ``seed``; ``timeout`` whole seconds per embedding call) that keep the stereo labels of
    ``mol``'s conformer. ETKDG failing leaves the own minimum alone; ``ValueError`` as
    :func:`relaxed_coordinates`."""
    from .generator import ETKDG

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
        raise ValueError(f"MMFF94 has no parameters for {_describe(mol)}")
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
    from .generator import rdkit_seed

    def compute(mol, name):
        pos = mmff_minima(mol, k, rdkit_seed(seed, zlib.crc32(name.encode())), max_iters)
        return pos if window is None else low_energy_distinct(mol, pos, window)

    return cached_conformers(mols, compute, cache, desc="MMFF94 ensembles", progress=progress)


__all__ = ["ensemble_conformers", "low_energy_distinct", "mmff_energies", "mmff_minima", "mmff_relax",
           "MMFFRelaxed", "relaxed_conformers", "relaxed_coordinates"]
