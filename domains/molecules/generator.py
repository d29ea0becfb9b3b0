"""Conformer generators: the common interface and the ETKDG baseline.

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


def _describe(mol: Chem.Mol) -> str:
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
    return f"{name} ({smiles})" if name else smiles


def prepare(mol_or_smiles: Chem.Mol | str) -> Chem.Mol:
    """A new Mol with explicit hydrogens and no conformers, stereochemistry kept as given.

    SMILES are parsed (``ValueError`` naming the string if RDKit rejects it); Mols are copied.
    Unassigned stereocentres and stereo double bonds raise a ``UserWarning``: the generator will
    then pick their configuration at random, conformer by conformer.
    """
    if isinstance(mol_or_smiles, str):
        mol = Chem.MolFromSmiles(mol_or_smiles)
        if mol is None:
            raise ValueError(f"invalid SMILES: {mol_or_smiles!r}")
    elif isinstance(mol_or_smiles, Chem.Mol):
        mol = Chem.Mol(mol_or_smiles)
    else:
        raise TypeError(f"expected an RDKit Mol or a SMILES string, got {type(mol_or_smiles).__name__}")
    mol.RemoveAllConformers()
    centres = [i for i, label in Chem.FindMolChiralCenters(mol, includeUnassigned=True,
                                                           useLegacyImplementation=False)
               if label == "?"]
    bonds = [info.centeredOn for info in Chem.FindPotentialStereo(mol)
             if info.type == Chem.StereoType.Bond_Double
             and info.specified == Chem.StereoSpecified.Unspecified]
    if centres or bonds:
        warnings.warn(f"{_describe(mol)}: unassigned stereocentres (atom indices) {centres} and "
                      f"stereo double bonds (bond indices) {bonds}; their configuration will be random",
                      UserWarning, stacklevel=2)
    return Chem.AddHs(mol)


def rdkit_seed(seed: int, stream: int = 0) -> int:
    """An odd RDKit ``randomSeed`` in [1, 2**31) derived from ``(seed, stream)``.

    RDKit seeds conformer i of ``EmbedMultipleConfs`` with ``randomSeed * (i + 1)``: seed 0 gives
    n identical conformers, and seeds s and 2s share every other conformer. Hashing the user's
    seed (numpy ``SeedSequence``) into a large odd number avoids both.
    """
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint32)[0]
    return int(state & 0x7FFFFFFF) | 1


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

    @classmethod
    def from_pretrained(cls, folder=None, device="cpu", **kwargs) -> "ConformerGenerator":
        """The bundled learned generator (torsional diffusion trained on the CCD; see
        ``benchmarks/RESULTS.md`` for how it compares with ETKDG), or the one in ``folder``.
        Learned generator classes load their own weights; other generators have none."""
        if cls is not ConformerGenerator:
            raise ValueError(f"{cls.__name__} has no pretrained weights; "
                             "ConformerGenerator.from_pretrained() gives the bundled learned generator")
        from .torsional import TorsionalConformers

        return TorsionalConformers.from_pretrained(folder, device=device, **kwargs)


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
        rdDistGeom.EmbedMultipleConfs(mol, n, self._params(seed, random_coords=False))
        missing = n - mol.GetNumConformers()
        if missing:
            rdDistGeom.EmbedMultipleConfs(mol, missing, self._params(seed, random_coords=True))
        got = mol.GetNumConformers()
        if got == 0:
            raise ValueError(f"ETKDG could not embed any conformer of {_describe(mol)}")
        if got < n:
            warnings.warn(f"ETKDG embedded {got} of {n} conformers of {_describe(mol)}",
                          UserWarning, stacklevel=2)
        for new_id, conf in enumerate(mol.GetConformers()):
            conf.SetId(new_id)
        if self.mmff:
            self._relax(mol)
        return mol

    def _relax(self, mol: Chem.Mol) -> None:
        from .relax import mmff_relax

        mmff_relax(mol, self.max_iters, self.num_threads, reference=Chem.Mol(mol))
