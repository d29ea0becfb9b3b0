"""Conformer generators: the common interface, the ETKDG baseline and MMFF94 relaxation around
any generator.

A generator turns a molecule (an RDKit Mol or a SMILES string) into a Mol with explicit hydrogens
holding ``n`` 3D conformers (coordinates in Å), reproducibly for a given ``seed``. Heavy atoms keep
the input's order (hydrogens are appended), so metrics can compare input and output atom by atom.
"""
from __future__ import annotations

import abc
import warnings

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDistGeom

from .chem import describe, embed, prepare, rdkit_seed
from .mmff import mmff_relax


def per_molecule(n, count: int) -> list[int]:
    """``n`` (an int, or one int per molecule) as a list of ``count`` conformer counts, each >= 1."""
    ns = [n] * count if isinstance(n, (int, np.integer)) else [int(k) for k in n]
    if len(ns) != count:
        raise ValueError(f"n lists {len(ns)} conformer counts for {count} molecules")
    bad = [k for k in ns if k < 1]
    if bad:
        raise ValueError(f"n must be >= 1, got {bad[0]}")
    return ns


class ConformerGenerator(abc.ABC):
    """Interface: ``generate(mol_or_smiles, n, seed)`` -> Mol with explicit H and ``n`` conformers."""

    name: str = "conformer-generator"

    @abc.abstractmethod
    def generate(self, mol_or_smiles: Chem.Mol | str, n: int, seed: int = 0) -> Chem.Mol:
        """``n`` conformers (Å) of the molecule on one Mol with explicit hydrogens; same seed, same output."""

    def generate_many(self, mols: list, n, seed: int = 0) -> list:
        """``generate`` for each molecule (``n`` conformers each, or ``n[i]`` for molecule i); a
        molecule that fails gets its exception (``ValueError`` or ``RuntimeError``) in its slot and
        the others are still made. Learned generators batch the molecules together."""
        out: list = []
        for m, k in zip(mols, per_molecule(n, len(mols))):
            try:
                out.append(self.generate(m, k, seed=seed))
            except (ValueError, RuntimeError) as e:
                out.append(e)
        return out


class ETKDG(ConformerGenerator):
    """RDKit ETKDGv3 distance geometry, optionally relaxed with MMFF94.

    ``mmff``: minimise every conformer with MMFF94 (``max_iters`` steps) when MMFF has parameters
    for the molecule; otherwise warn and return the unrelaxed ETKDG conformers. Energies
    (kcal/mol) are stored as the conformer property ``mmff_energy``, convergence within
    ``max_iters`` as ``mmff_converged``. ``num_threads``: RDKit threads for embedding and
    relaxation (0: all cores); the output does not depend on it. ``timeout``: whole seconds RDKit
    may spend on one embedding call (0: no limit); a molecule that runs past it in both tries fails
    like one that cannot be embedded.
    """

    def __init__(self, mmff: bool = False, num_threads: int = 1, max_iters: int = 200, timeout: int = 0):
        self.mmff = mmff
        self.num_threads = num_threads
        self.max_iters = max_iters
        self.timeout = timeout
        self.name = "etkdg+mmff" if mmff else "etkdg"

    def _params(self, seed: int, random_coords: bool) -> rdDistGeom.EmbedParameters:
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = rdkit_seed(seed, stream=int(random_coords))
        params.numThreads = self.num_threads
        params.useRandomCoords = random_coords
        params.clearConfs = False
        params.timeout = self.timeout
        return params

    def generate(self, mol_or_smiles: Chem.Mol | str, n: int, seed: int = 0) -> Chem.Mol:
        """``n`` ETKDGv3 conformers on a Mol with explicit hydrogens (conformer ids 0..n-1).

        RDKit's ``randomSeed`` is ``rdkit_seed(seed)``, not ``seed`` itself (see there why).
        Conformers that fail to embed from the default eigenvector start are retried once from
        random coordinates (``useRandomCoords``, seed ``rdkit_seed(seed, 1)``). If fewer than ``n``
        embed even then, the Mol holds the ones that did and a ``UserWarning`` says how many; if
        none did, ``ValueError`` naming the molecule. ``seed`` must be >= 0.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 for reproducible output, got {seed}")
        mol = prepare(mol_or_smiles)
        embed(mol, n, self._params(seed, random_coords=False))
        missing = n - mol.GetNumConformers()
        if missing:
            embed(mol, missing, self._params(seed, random_coords=True))
        got = mol.GetNumConformers()
        if got == 0:
            raise ValueError(f"ETKDG could not embed any conformer of {describe(mol)}")
        if got < n:
            warnings.warn(f"ETKDG embedded {got} of {n} conformers of {describe(mol)}",
                          UserWarning, stacklevel=2)
        for new_id, conf in enumerate(mol.GetConformers()):
            conf.SetId(new_id)
        if self.mmff:
            self._relax(mol)
        return mol

    def _relax(self, mol: Chem.Mol) -> None:
        mmff_relax(mol, self.max_iters, self.num_threads, reference=Chem.Mol(mol))


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


FRAGMENT_GAP = 3.0      # Å between the bounding spheres of fragments embedded apart


def generate_apart(generator: ConformerGenerator, mol_or_smiles: Chem.Mol | str, n: int, seed: int = 0) -> Chem.Mol:
    """``n`` conformers of a molecule of several fragments (a salt, a complex): each fragment's
    from ``generator`` (seed ``seed + k`` for fragment k), placed side by side along x so that no
    two fragments come closer than ``FRAGMENT_GAP`` Å. One Mol, the input's atoms in order with
    hydrogens added, its conformers' ``generator`` the fragments' joined with "+" where they differ."""
    mol = Chem.AddHs(Chem.MolFromSmiles(mol_or_smiles) if isinstance(mol_or_smiles, str) else Chem.Mol(mol_or_smiles))
    if mol is None:
        raise ValueError(f"invalid SMILES: {mol_or_smiles!r}")
    mol.RemoveAllConformers()
    atoms = Chem.GetMolFrags(mol)
    made = [generator.generate(f, n, seed=seed + k)
            for k, f in enumerate(Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=True))]
    count = min(m.GetNumConformers() for m in made)
    for i in range(count):
        confs = [m.GetConformers()[i] for m in made]
        pos, at = np.zeros((mol.GetNumAtoms(), 3)), 0.0
        for k, (idx, conf) in enumerate(zip(atoms, confs)):
            xyz = conf.GetPositions()
            xyz = xyz - xyz.mean(0)
            radius = float(np.linalg.norm(xyz, axis=1).max())
            at += radius if k else 0.0
            pos[list(idx)] = xyz + np.array([at, 0.0, 0.0])
            at += radius + FRAGMENT_GAP
        conf = Chem.Conformer(mol.GetNumAtoms())
        conf.SetPositions(pos)
        conf.Set3D(True)
        sources = list(dict.fromkeys(c.GetProp("generator") if c.HasProp("generator") else generator.name
                                     for c in confs))
        conf.SetProp("generator", "+".join(sources))
        conf.SetId(i)
        mol.AddConformer(conf, assignId=False)
    return mol


__all__ = ["ConformerGenerator", "ETKDG", "MMFFRelaxed", "generate_apart", "per_molecule", "FRAGMENT_GAP"]
