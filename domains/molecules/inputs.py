"""Molecule input: SMILES strings, ``.smi`` / ``.csv`` / ``.sdf`` files or RDKit ``Mol``s.

``read_molecules`` yields one ``MolRecord`` per input molecule, in order, and never stops at a
bad one: an unparsable SMILES or SDF record becomes a record with ``mol=None`` and an ``error``
that names where it came from (``input.smi line 812: ...``), so a caller can report it and go on.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem

from .chem import captured_rdkit_log

SMILES_COLUMNS = ("smiles", "SMILES", "Smiles", "canonical_smiles", "isomeric_smiles")


@dataclass
class MolRecord:
    name: str                    # the molecule's name (SMILES title, CSV name column, SDF _Name) or its place
    where: str                   # where it came from: "input.smi line 812", "ligands.sdf record 5", "argument"
    mol: Chem.Mol | None         # None when it could not be read
    error: str | None = None     # why not, one line

    @property
    def ok(self) -> bool:
        return self.mol is not None


def parse_smiles(smiles: str) -> Chem.Mol:
    """An RDKit ``Mol`` from ``smiles`` (sanitised, no hydrogens added); ``ValueError`` naming it
    and RDKit's reason when it does not parse."""
    log = []
    with captured_rdkit_log(log):
        mol = Chem.MolFromSmiles(smiles.strip()) if smiles and smiles.strip() else None
    if mol is None:
        reason = log[-1] if log else "empty SMILES"
        raise ValueError(f"invalid SMILES {smiles!r}: {reason}")
    return mol


def read_molecules(source, column: str | None = None, name_column: str | None = None) -> Iterator[MolRecord]:
    """Records from a ``Mol``, a SMILES string, or a ``.smi`` / ``.csv`` / ``.sdf`` file.

    ``.smi``: ``SMILES [name]`` per line; blank lines and ``#`` comments are skipped. ``.csv``: the
    SMILES ``column`` (default: the first of ``SMILES_COLUMNS`` present) and an optional
    ``name_column``. ``.sdf``: every record, hydrogens and coordinates kept.
    """
    if isinstance(source, Chem.Mol):
        yield MolRecord(source.GetProp("_Name") if source.HasProp("_Name") else "mol", "argument", Chem.Mol(source))
        return
    path = Path(str(source))
    suffix = path.suffix.lower()
    if suffix in (".smi", ".csv", ".sdf", ".txt") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"input file {path} does not exist")
        readers = {".csv": _read_csv, ".sdf": _read_sdf}
        if suffix == ".csv":
            yield from _read_csv(path, column, name_column)
        else:
            yield from readers.get(suffix, _read_smi)(path)
        return
    yield _record(str(source), str(source), "argument")


def _record(smiles: str, name: str, where: str) -> MolRecord:
    try:
        return MolRecord(name, where, parse_smiles(smiles))
    except ValueError as e:
        return MolRecord(name, where, None, f"{where}: {e}")


def _read_smi(path: Path) -> Iterator[MolRecord]:
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            smiles, _, name = text.partition(" ") if " " in text else text.partition("\t")
            yield _record(smiles, name.strip() or f"line {number}", f"{path.name} line {number}")


def _read_csv(path: Path, column: str | None, name_column: str | None) -> Iterator[MolRecord]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        col = column or next((c for c in SMILES_COLUMNS if c in fields), None)
        if col not in fields:
            raise ValueError(f"{path}: no SMILES column {column or ''!r} (columns: {', '.join(fields)}); "
                             f"choose one with --column")
        if name_column is not None and name_column not in fields:
            raise ValueError(f"{path}: no name column {name_column!r} (columns: {', '.join(fields)})")
        for number, row in enumerate(reader, start=2):                     # line 1 is the header
            name = row[name_column] if name_column else f"line {number}"
            yield _record(row[col] or "", name, f"{path.name} line {number}")


def _read_sdf(path: Path) -> Iterator[MolRecord]:
    supplier = Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True)
    for i in range(len(supplier)):
        log: list[str] = []
        with captured_rdkit_log(log):
            mol = supplier[i]
        where = f"{path.name} record {i + 1}"
        if mol is None:
            yield MolRecord(f"record {i + 1}", where, None, f"{where}: {log[-1] if log else 'unreadable record'}")
        else:
            name = mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name") else f"record {i + 1}"
            yield MolRecord(name, where, mol)
