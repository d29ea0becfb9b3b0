"""Conformer ensembles from SDF files, and the tables ``scidiff conformers-eval`` prints.

Records are grouped into molecules by their standard InChIKey (so generated and reference files
may list atoms in different orders, and name molecules differently); within a group every
record is renumbered to the first one's atom order and becomes one conformer of one ``Mol``.
"""
from __future__ import annotations

import numpy as np
from rdkit import Chem

from .inputs import read_molecules
from .metrics import coverage_matching, recovery, rmsd_matrix, summarize_ensembles


def read_ensembles(path) -> tuple[dict[str, tuple[str, Chem.Mol]], list[str]]:
    """``{inchikey: (name, Mol with every conformer)}`` of an SDF file, and the unreadable records' errors."""
    groups: dict[str, tuple[str, Chem.Mol]] = {}
    errors = []
    for record in read_molecules(path):
        if not record.ok:
            errors.append(record.error)
            continue
        mol = record.mol
        key = Chem.MolToInchiKey(mol)
        if not key:
            errors.append(f"{record.where}: no InChIKey for this molecule")
            continue
        if key not in groups:
            groups[key] = (record.name, Chem.Mol(mol))
            continue
        base = groups[key][1]
        if [a.GetAtomicNum() for a in mol.GetAtoms()] != [a.GetAtomicNum() for a in base.GetAtoms()] or \
                not _same_bonds(mol, base):
            match = mol.GetSubstructMatch(base)
            if len(match) != base.GetNumAtoms():
                errors.append(f"{record.where}: same InChIKey as an earlier record but its atoms do not map")
                continue
            mol = Chem.RenumberAtoms(mol, list(match))
        base.AddConformer(Chem.Conformer(mol.GetConformer()), assignId=True)
    return groups, errors


def _same_bonds(a: Chem.Mol, b: Chem.Mol) -> bool:
    bonds = lambda m: {tuple(sorted((x.GetBeginAtomIdx(), x.GetEndAtomIdx()))) for x in m.GetBonds()}
    return bonds(a) == bonds(b)


def evaluate_files(generated, reference, deltas=(0.5, 0.75, 1.0), ns=(None,), max_matches: int = 10_000,
                   timeout: float = 10.0) -> dict:
    """Per-molecule RMSD matrices of ``generated`` vs ``reference`` SDF ensembles, summarised:
    ``{"coverage": {delta: summary}, "recovery": {n: recovery}, "missing": [...], "errors": [...]}``.

    Recovery uses the minimum RMSD of the first n generated conformers (all when n is None) to
    each molecule's first reference conformer.
    """
    gen, gen_errors = read_ensembles(generated)
    ref, ref_errors = read_ensembles(reference)
    missing = [name for key, (name, _) in ref.items() if key not in gen]
    mats = {}
    for key, (name, ref_mol) in ref.items():
        if key in gen:
            mats[name] = rmsd_matrix(gen[key][1], ref_mol, max_matches=max_matches, timeout=timeout)
    if not mats:
        raise ValueError(f"no molecule of {reference} appears in {generated} (compared by InChIKey)")
    coverage = {d: summarize_ensembles([coverage_matching(m, d) for m in mats.values()]) for d in deltas}
    rec = {n: recovery([float(m[0, :n].min()) for m in mats.values()]) for n in ns}
    return {"coverage": coverage, "recovery": rec, "n_molecules": len(mats), "missing": missing,
            "errors": gen_errors + ref_errors, "matrices": mats}


def format_tables(result: dict) -> str:
    """The COV/MAT table (mean and median over molecules) and the recovery table, as text."""
    lines = [f"{result['n_molecules']} molecules compared"
             + (f"; {len(result['missing'])} reference molecules have no generated conformers" if result["missing"] else ""),
             "", "delta (Å)  COV-R mean/median   MAT-R mean/median (Å)  COV-P mean/median   MAT-P mean/median (Å)"]
    for d, s in result["coverage"].items():
        m, md = s["mean"], s["median"]
        lines.append(f"{d:<9}  {100 * m['COV-R']:5.1f}% / {100 * md['COV-R']:5.1f}%   {m['MAT-R']:.3f} / {md['MAT-R']:.3f}"
                     f"          {100 * m['COV-P']:5.1f}% / {100 * md['COV-P']:5.1f}%   {m['MAT-P']:.3f} / {md['MAT-P']:.3f}")
    lines += ["", "first reference conformer: min RMSD over generated",
              "n      median (Å)  <=0.5 Å   <=1.0 Å   <=2.0 Å"]
    for n, r in result["recovery"].items():
        lines.append(f"{'all' if n is None else n:<6} {r['median']:.3f}       {100 * r['frac_le_0.5']:5.1f}%    "
                     f"{100 * r['frac_le_1.0']:5.1f}%    {100 * r['frac_le_2.0']:5.1f}%")
    return "\n".join(lines)


def recovery_at(matrices: dict, n: int) -> dict:
    """Bioactive recovery from precomputed matrices with the first ``n`` generated conformers."""
    return recovery([float(np.min(m[0, :n])) for m in matrices.values()])
