"""RDKit helpers every conformer generator shares: a molecule ready for embedding, its name in
messages, seeds that RDKit's embedding can use, the fragments of salts and mixtures, and SDF
records that keep each conformer's own properties."""
from __future__ import annotations

import io
import sys
import warnings

import numpy as np
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import rdDistGeom


def describe(mol: Chem.Mol) -> str:
    """``name (SMILES)`` for messages, or the SMILES of an unnamed molecule."""
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
    return f"{name} ({smiles})" if name else smiles


def prepare(mol_or_smiles: Chem.Mol | str) -> Chem.Mol:
    """A new Mol with explicit hydrogens and no conformers, stereochemistry kept as given.

    SMILES are parsed (``ValueError`` naming the string if RDKit rejects it); Mols are copied.
    Unassigned stereocentres and stereo double bonds raise a ``UserWarning``: the generator will
    then pick their configuration at random, conformer by conformer. A molecule of several
    fragments (a salt, a mixture) raises ``ValueError``: embedded together they would overlap;
    give its largest fragment (:func:`largest_fragment`) or embed each apart
    (``scidiff.molecules.generator.generate_apart``).
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
    n_frags = len(Chem.GetMolFrags(mol))
    if n_frags > 1:
        raise ValueError(f"{describe(mol)} has {n_frags} fragments, which would be embedded on top of each other; "
                         "keep its largest (scidiff conformers does by default) or embed them apart (--keep-fragments)")
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


class captured_rdkit_log:
    """Collect RDKit's log messages in ``log`` (one string each, without the time stamp) instead of
    printing them."""

    def __init__(self, log: list):
        self.log = log

    def __enter__(self):
        self._stream = io.StringIO()
        self._old = sys.stderr
        rdBase.LogToPythonStderr()
        sys.stderr = self._stream
        return self

    def __exit__(self, *exc):
        sys.stderr = self._old
        lines = [ln.strip() for ln in self._stream.getvalue().splitlines() if ln.strip()]
        self.log.extend(ln.split("] ", 1)[-1] for ln in lines)
        RDLogger.EnableLog("rdApp.error")
        return False


def embed(mol: Chem.Mol, n: int, params) -> list[int]:
    """``rdDistGeom.EmbedMultipleConfs(mol, n, params)`` (conformer ids), raising
    ``KeyboardInterrupt`` when Ctrl-C cancelled it: RDKit catches SIGINT itself and returns with
    fewer conformers, which would otherwise read as a molecule that cannot be embedded. RDKit's
    other messages go on to stderr."""
    log: list[str] = []
    with captured_rdkit_log(log):
        ids = list(rdDistGeom.EmbedMultipleConfs(mol, n, params))
    if any("Interrupted" in line for line in log):
        raise KeyboardInterrupt
    for line in log:
        print(line, file=sys.stderr)
    return ids


def largest_fragment(mol: Chem.Mol) -> tuple[Chem.Mol, list[str]]:
    """The largest organic fragment of ``mol`` (RDKit's ``LargestFragmentChooser``: counter-ions
    and solvents go) and the SMILES of the fragments left out (empty for a single fragment)."""
    from rdkit.Chem.MolStandardize import rdMolStandardize

    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    if len(frags) == 1:
        return mol, []
    kept = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
    if mol.HasProp("_Name"):
        kept.SetProp("_Name", mol.GetProp("_Name"))
    key = Chem.MolToSmiles(kept)
    others = [Chem.MolToSmiles(f) for f in frags]
    if key in others:
        others.remove(key)
    return kept, others


def write_conformers(writer, mol: Chem.Mol, props: dict, generator: str) -> int:
    """Write each conformer of ``mol`` as one record of ``writer`` (an ``SDWriter``) with the
    molecule's properties, ``props``, its index ``conformer`` and its own properties
    (``generator``, default ``generator``; ``mmff_energy``, ``mmff_converged`` ...), which
    ``SDWriter`` alone would leave out. Returns the number of records written."""
    for key, value in props.items():
        mol.SetProp(key, str(value))
    written = 0
    for i, conf in enumerate(mol.GetConformers()):
        own = {"conformer": i, "generator": generator,
               **{k: v for k, v in conf.GetPropsAsDict().items() if not k.startswith("_")}}
        for key, value in own.items():
            mol.SetProp(key, str(value))
        writer.write(mol, confId=conf.GetId())
        for key in own:
            mol.ClearProp(key)
        written += 1
    return written


__all__ = ["describe", "prepare", "has_stereo_labels", "rdkit_seed", "captured_rdkit_log", "embed", "largest_fragment", "write_conformers"]
