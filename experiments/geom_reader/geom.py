"""GEOM's ``rdkit_folder`` (Axelrod & Gómez-Bombarelli 2022), the format GEOM distributes.

The folder holds ``summary_drugs.json`` / ``summary_qm9.json`` (SMILES -> metadata including
``pickle_path``) and one pickle per molecule: a dict with ``"smiles"`` and ``"conformers"``, a
list of dicts each with an RDKit ``"rd_mol"`` (one conformer, explicit H, Å) and
``"boltzmannweight"``. ``read_geom_pickle`` merges a molecule's conformers into one ``Mol``.

Pickles execute code when loaded: only read GEOM files you obtained from GEOM yourself. (Our own
checkpoints and caches never use pickle.)
"""
from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem


@dataclass
class GeomMolecule:
    smiles: str
    mol: Chem.Mol                 # every conformer, in GEOM's order, atom order of the first
    weights: np.ndarray           # (n_conformers,) Boltzmann weights


def read_geom_pickle(path: str | Path, max_conformers: int | None = None) -> GeomMolecule:
    """One GEOM molecule; ``max_conformers`` keeps the most Boltzmann-weighted ones."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f)  # noqa: S301  (GEOM's own format; see the module docstring)
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"{path}: not a readable GEOM pickle ({e})") from None
    if not isinstance(entry, dict) or not entry.get("conformers"):
        raise ValueError(f"{path}: a GEOM pickle holds a dict with a non-empty 'conformers' list")
    confs = entry["conformers"]
    weights = np.array([float(c.get("boltzmannweight", 1.0)) for c in confs])
    order = np.argsort(-weights, kind="stable")[:max_conformers]
    base = Chem.Mol(confs[order[0]]["rd_mol"])
    base.RemoveAllConformers()
    for i in order:
        mol = confs[i]["rd_mol"]
        if mol.GetNumAtoms() != base.GetNumAtoms():
            raise ValueError(f"{path}: conformer {i} has {mol.GetNumAtoms()} atoms, the first {base.GetNumAtoms()}")
        base.AddConformer(Chem.Conformer(mol.GetConformer()), assignId=True)
    smiles = entry.get("smiles") or Chem.MolToSmiles(Chem.RemoveHs(base))
    return GeomMolecule(smiles, base, weights[order])


def read_geom_folder(root: str | Path, subset: str = "drugs", smiles: list[str] | None = None,
                     max_conformers: int | None = None) -> Iterator[GeomMolecule]:
    """Molecules of ``root/summary_{subset}.json`` (all, or those in ``smiles``), in file order;
    an entry without a pickle is skipped."""
    root = Path(root)
    summary_path = root / f"summary_{subset}.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path} not found: is {root} GEOM's rdkit_folder?")
    summary = json.loads(summary_path.read_text())
    keys = summary if smiles is None else [s for s in smiles if s in summary]
    for key in keys:
        rel = summary[key].get("pickle_path")
        if rel:
            yield read_geom_pickle(root / rel, max_conformers)
