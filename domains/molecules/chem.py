"""RDKit helpers every conformer generator shares: a molecule ready for embedding, its name in
messages, and seeds that RDKit's embedding can use."""
from __future__ import annotations

import warnings

import numpy as np
from rdkit import Chem


def describe(mol: Chem.Mol) -> str:
    """``name (SMILES)`` for messages, or the SMILES of an unnamed molecule."""
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
        warnings.warn(f"{describe(mol)}: unassigned stereocentres (atom indices) {centres} and "
                      f"stereo double bonds (bond indices) {bonds}; their configuration will be random",
                      UserWarning, stacklevel=2)
    return Chem.AddHs(mol)


def has_stereo_labels(mol: Chem.Mol) -> bool:
    """Whether ``mol`` has any specified stereocentre or stereo double bond."""
    return any(info.specified == Chem.StereoSpecified.Specified for info in Chem.FindPotentialStereo(mol))


def rdkit_seed(seed: int, stream: int = 0) -> int:
    """An odd RDKit ``randomSeed`` in [1, 2**31) derived from ``(seed, stream)``.

    RDKit seeds conformer i of ``EmbedMultipleConfs`` with ``randomSeed * (i + 1)``: seed 0 gives
    n identical conformers, and seeds s and 2s share every other conformer. Hashing the user's
    seed (numpy ``SeedSequence``) into a large odd number avoids both.
    """
    state = np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint32)[0]
    return int(state & 0x7FFFFFFF) | 1


__all__ = ["describe", "prepare", "has_stereo_labels", "rdkit_seed"]
