"""Training set for the conformer models: small molecules with EXPERIMENTAL 3-D coordinates from the
PDB Chemical Component Dictionary (CCD) that ``biotite`` ships (``biotite/structure/info/components.bcif``).

Pipeline (``build_ccd_dataset``), one component at a time, every drop counted under one reason (the
first filter that fails, in this order):

1. read ``components.bcif``. biotite's copy is *condensed*: one block (``components``) whose
   categories ``chem_comp``, ``chem_comp_atom`` and ``chem_comp_bond`` hold all ~49k components
   concatenated, rows grouped by ``comp_id``. Every needed column is decoded once as a numpy array
   (about 1 s) and sliced per component, which is far faster than building a category per
   component. A file with one block per component (the wwPDB layout) is read by the same code.
   Missing values are *masked* (mask 2 = ``?``, 1 = ``.``; the data array then holds 0.0 / "?"),
   never NaN, so coordinates are checked through the mask.
2. ``not_released``: ``chem_comp.pdbx_release_status != "REL"``.
3. ``not_non_polymer``: ``chem_comp.type`` is not ``NON-POLYMER`` (case-insensitive; the CCD spells it
   both ways). Peptide-/saccharide-/nucleotide-linking monomers are left out.
4. ``non_organic_element``: an element outside H C N O F P S Cl Br I (this also drops deuterium ``D``
   and the unknown element ``X``).
5. ``heavy_atoms_out_of_range``: fewer than 4 or more than 60 heavy atoms.
6. ``missing_coordinates``: any ``model_Cartn_*`` value masked (hydrogens included).
7. ``rdkit_rejected``: the RDKit ``Mol`` built from atoms (explicit H, ``charge`` as formal charge, no
   implicit H) and bonds (``value_order`` SING/DOUB/TRIP/QUAD, AROM as aromatic) does not sanitize;
   the RDKit message is tallied in ``stats["rdkit_reasons"]``.
8. ``model_equals_ideal``: the model coordinates coincide with the computed ideal ones
   (``pdbx_model_Cartn_*_ideal``; Kabsch RMSD < ``IDEAL_RMSD`` = 0.01 Å over all atoms): such
   "model" coordinates were not taken from an experiment.
9. ``bad_bond_length``: a bond shorter than ``BOND_TOL[0]`` or longer than ``BOND_TOL[1]`` times the
   sum of the covalent radii (Cordero et al. 2008, the table RDKit uses), i.e. the coordinates do not
   match the bond graph.
10. ``atom_clash``: two heavy atoms that are not bonded to each other closer than ``CLASH_HEAVY`` Å, or
    any two non-bonded atoms (H included) closer than ``CLASH_ANY`` Å.
11. ``no_inchikey``: RDKit gives no InChIKey.
12. ``excluded_het_code`` / ``excluded_inchikey`` / ``excluded_inchikey_skeleton``: the het code or the
    InChIKey is in the evaluation exclusion list (``resources/evaluation_exclusion_list.csv``, shipped with
    the package: every Platinum and GMTKN55 molecule the benchmarks evaluate on),
    or (``exclude_skeleton=True``, the default) the first InChIKey block (connectivity, i.e. stereo-
    and protonation-variants of an evaluation molecule) is.
13. ``duplicate_inchikey``: an earlier component (by het code) has the same InChIKey.

Stereochemistry is assigned from the model coordinates before the InChIKey is computed. The kept
molecules are split by Bemis–Murcko scaffold: every scaffold SMILES goes to train / val / test by
the sha1 of the SMILES (a fixed bucket in [0, 1)), so the same input gives the same split on any
machine with the same RDKit version; acyclic molecules (scaffold ``""``) all go to train.

The processed cache (default ``~/.cache/scidiff/ccd``, :func:`scidiff.paths.cache_dir`;
``$SCIDIFF_CACHE`` replaces ``~/.cache/scidiff``) holds ``train.sdf``, ``val.sdf``, ``test.sdf`` (explicit H, 3-D coordinates in
Å, properties ``het_code, inchikey, scaffold, split, ccd_name, model_pdb_id``), ``rejected.csv`` (one
row per dropped component: het code, filter, detail) and ``stats.json``.
Build it with ``python -m scidiff.molecules.data --out DIR``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger, rdBase
import torch
from rdkit.Chem.Scaffolds import MurckoScaffold

from scidiff.geometry import rmsd as aligned_rmsd
from scidiff.paths import cache_dir

# --- filter settings (documented in datasets/ccd_conformers.md) ---------------------------------------
ORGANIC_ELEMENTS = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
MIN_HEAVY, MAX_HEAVY = 4, 60
# Single-bond covalent radii in Å (Cordero et al., Dalton Trans. 2008; the values RDKit's periodic table has).
COVALENT_RADII = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57, "P": 1.07, "S": 1.05,
                  "Cl": 1.02, "Br": 1.20, "I": 1.39}
BOND_TOL = (0.7, 1.3)      # allowed bond length / (r_cov,i + r_cov,j)
CLASH_HEAVY = 1.6          # Å: closest allowed non-bonded heavy-atom pair
CLASH_ANY = 1.0            # Å: closest allowed non-bonded pair of any atoms (H included)
IDEAL_RMSD = 0.01          # Å: model coordinates this close to the ideal ones are not experimental
SPLIT_FRACTIONS = (0.9, 0.05, 0.05)
SPLITS = ("train", "val", "test")
FILTERS = ("not_released", "not_non_polymer", "non_organic_element", "heavy_atoms_out_of_range",
           "missing_coordinates", "rdkit_rejected", "model_equals_ideal", "bad_bond_length", "atom_clash",
           "no_inchikey", "excluded_het_code", "excluded_inchikey", "excluded_inchikey_skeleton",
           "duplicate_inchikey")
CACHE_VERSION = 1          # bump when the processing changes, so old caches are rebuilt

EXCLUSION_CSV = Path(__file__).resolve().parent / "resources" / "evaluation_exclusion_list.csv"
_BOND_TYPES = {"SING": Chem.BondType.SINGLE, "DOUB": Chem.BondType.DOUBLE, "TRIP": Chem.BondType.TRIPLE,
               "QUAD": Chem.BondType.QUADRUPLE, "AROM": Chem.BondType.AROMATIC}


class _SharedExclusionList:
    """Default of ``exclusion_csv``: the packaged list (``EXCLUSION_CSV``)."""

    def __repr__(self):
        return "<packaged evaluation_exclusion_list.csv>"


_USE_DEFAULT = _SharedExclusionList()


def default_ccd_path() -> Path:
    """The CCD file biotite ships (``biotite/structure/info/components.bcif``)."""
    import biotite.structure.info as info
    return Path(info.__file__).parent / "components.bcif"


def default_cache_dir() -> Path:
    """``$SCIDIFF_CACHE/ccd``, by default ``~/.cache/scidiff/ccd``."""
    return cache_dir("ccd")


@dataclass
class Component:
    """One CCD component as stored (coordinates in Å; ``*_present`` false where the value is masked)."""
    het_code: str
    name: str
    type: str
    release_status: str
    model_pdb_id: str              # PDB entry the model coordinates come from ("?" when not given)
    atom_ids: list[str]
    elements: list[str]            # capitalised ("Cl", not "CL")
    charges: np.ndarray            # (n,) int formal charges
    coords: np.ndarray             # (n, 3) float64 model_Cartn_x/y/z
    coords_present: np.ndarray     # (n,) bool, all three present
    ideal: np.ndarray              # (n, 3) float64 pdbx_model_Cartn_*_ideal
    ideal_present: np.ndarray      # (n,) bool
    leaving: np.ndarray            # (n,) bool pdbx_leaving_atom_flag == "Y"
    bonds: list[tuple[str, str, str, bool]]   # (atom_id_1, atom_id_2, value_order, aromatic flag)


# --- reading ------------------------------------------------------------------------------------------
def _column(category, name, default=None, n=0):
    """(values, present) for a column; ``default`` everywhere when the column does not exist."""
    if name not in category:
        return np.full(n, default, dtype=object), np.zeros(n, bool)
    col = category[name]
    values = col.as_array()
    present = np.ones(len(values), bool) if col.mask is None else col.mask.array == 0
    return values, present


def _groups(ids: np.ndarray) -> dict[str, tuple[int, int]]:
    """start/stop rows of each run of equal ``ids`` (rows are grouped by component)."""
    if len(ids) == 0:
        return {}
    starts = np.concatenate(([0], np.flatnonzero(ids[:-1] != ids[1:]) + 1, [len(ids)]))
    return {str(ids[a]): (int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])}


def read_components(bcif: str | Path | None = None, limit: int | None = None) -> Iterator[Component]:
    """Yield the CCD components of ``bcif`` (default: biotite's copy) in file order; ``limit`` stops
    after that many. Coordinates are the experimental ``model_Cartn_*`` ones, in Å."""
    from biotite.structure.io.pdbx import BinaryCIFFile
    f = BinaryCIFFile.read(str(bcif if bcif is not None else default_ccd_path()))
    count = 0
    for block_name in f.keys():
        block = f[block_name]
        if "chem_comp" not in block:
            continue
        cc = block["chem_comp"]
        n_cc = cc.row_count
        cid, _ = _column(cc, "id")
        ctype, _ = _column(cc, "type", "?", n_cc)
        status, _ = _column(cc, "pdbx_release_status", "?", n_cc)
        cname, _ = _column(cc, "name", "", n_cc)
        dbcode, dbcode_ok = _column(cc, "pdbx_model_coordinates_db_code", "?", n_cc)

        at = block["chem_comp_atom"] if "chem_comp_atom" in block else None
        n_at = at.row_count if at is not None else 0
        if at is not None:
            acomp = _column(at, "comp_id", cid[0] if n_cc == 1 else None, n_at)[0].astype(str)
            atom_id = _column(at, "atom_id")[0].astype(str)
            symbol = _column(at, "type_symbol")[0].astype(str)
            charge, charge_ok = _column(at, "charge", 0, n_at)
            charge = np.where(charge_ok, charge, 0).astype(int)
            xyz = [_column(at, f"model_Cartn_{c}", 0.0, n_at) for c in "xyz"]
            coords = np.stack([v for v, _ in xyz], 1).astype(float)
            coords_ok = xyz[0][1] & xyz[1][1] & xyz[2][1]
            ixyz = [_column(at, f"pdbx_model_Cartn_{c}_ideal", 0.0, n_at) for c in "xyz"]
            ideal = np.stack([v for v, _ in ixyz], 1).astype(float)
            ideal_ok = ixyz[0][1] & ixyz[1][1] & ixyz[2][1]
            leave, leave_ok = _column(at, "pdbx_leaving_atom_flag", "N", n_at)
            leaving = leave_ok & (leave.astype(str) == "Y")
            atom_groups = _groups(acomp)
        else:
            atom_groups = {}
        bd = block["chem_comp_bond"] if "chem_comp_bond" in block else None
        if bd is not None:
            n_bd = bd.row_count
            bcomp = _column(bd, "comp_id", cid[0] if n_cc == 1 else None, n_bd)[0].astype(str)
            a1 = _column(bd, "atom_id_1")[0].astype(str)
            a2 = _column(bd, "atom_id_2")[0].astype(str)
            order = _column(bd, "value_order", "SING", n_bd)[0].astype(str)
            arom = _column(bd, "pdbx_aromatic_flag", "N", n_bd)[0].astype(str) == "Y"
            bond_groups = _groups(bcomp)
        else:
            bond_groups = {}

        for i in range(n_cc):
            if limit is not None and count >= limit:
                return
            het = str(cid[i])
            s, e = atom_groups.get(het, (0, 0))
            bs, be = bond_groups.get(het, (0, 0))
            yield Component(
                het_code=het, name=str(cname[i]), type=str(ctype[i]), release_status=str(status[i]),
                model_pdb_id=str(dbcode[i]) if dbcode_ok[i] else "?",
                atom_ids=[str(a) for a in atom_id[s:e]] if e > s else [],
                elements=[str(x).capitalize() for x in symbol[s:e]] if e > s else [],
                charges=charge[s:e] if e > s else np.zeros(0, int),
                coords=coords[s:e] if e > s else np.zeros((0, 3)),
                coords_present=coords_ok[s:e] if e > s else np.zeros(0, bool),
                ideal=ideal[s:e] if e > s else np.zeros((0, 3)),
                ideal_present=ideal_ok[s:e] if e > s else np.zeros(0, bool),
                leaving=leaving[s:e] if e > s else np.zeros(0, bool),
                bonds=[(str(a1[k]), str(a2[k]), str(order[k]), bool(arom[k])) for k in range(bs, be)],
            )
            count += 1


# --- one component --------------------------------------------------------------------------------
class Rejected(Exception):
    """A component dropped by filter ``reason`` (one of ``FILTERS``), with a one-line ``detail``."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def component_to_mol(comp: Component) -> Chem.Mol:
    """A sanitized RDKit ``Mol`` with explicit H and one conformer from the model coordinates (Å),
    stereo assigned from 3D; ``Rejected("rdkit_rejected", why)`` when it cannot be built."""
    index = {a: i for i, a in enumerate(comp.atom_ids)}
    rw = Chem.RWMol()
    for el, q in zip(comp.elements, comp.charges):
        atom = Chem.Atom(el)
        atom.SetFormalCharge(int(q))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    for a1, a2, order, arom in comp.bonds:
        if a1 not in index or a2 not in index:
            raise Rejected("rdkit_rejected", f"bond to unknown atom {a1 if a1 not in index else a2}")
        if order not in _BOND_TYPES:
            raise Rejected("rdkit_rejected", f"unsupported bond order {order}")
        i, j = index[a1], index[a2]
        if i == j or rw.GetBondBetweenAtoms(i, j) is not None:
            raise Rejected("rdkit_rejected", f"self or duplicate bond {a1}-{a2}")
        rw.AddBond(i, j, _BOND_TYPES[order])
        if order == "AROM":
            rw.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
            rw.GetAtomWithIdx(i).SetIsAromatic(True)
            rw.GetAtomWithIdx(j).SetIsAromatic(True)
    conf = Chem.Conformer(len(comp.atom_ids))
    for i, p in enumerate(comp.coords):
        conf.SetAtomPosition(i, p.tolist())
    conf.Set3D(True)
    mol = rw.GetMol()
    mol.AddConformer(conf, assignId=True)
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # noqa: BLE001 - RDKit raises several types; all mean "does not sanitize"
        raise Rejected("rdkit_rejected", str(exc).strip().splitlines()[0] if str(exc).strip()
                       else type(exc).__name__) from None
    Chem.AssignStereochemistryFrom3D(mol)
    mol.SetProp("_Name", comp.het_code)
    return mol


def geometry_problem(mol: Chem.Mol, bond_tol=BOND_TOL, clash_heavy=CLASH_HEAVY,
                     clash_any=CLASH_ANY) -> tuple[str, str] | None:
    """``(filter, detail)`` when the conformer (Å) does not fit the bond graph, else ``None``:
    a bond length outside ``bond_tol`` × the sum of covalent radii (``bad_bond_length``), or two
    non-bonded atoms closer than ``clash_heavy`` (both heavy) / ``clash_any`` (any) Å (``atom_clash``)."""
    x = mol.GetConformer().GetPositions()
    els = [a.GetSymbol() for a in mol.GetAtoms()]
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        d = float(np.linalg.norm(x[i] - x[j]))
        ref = COVALENT_RADII[els[i]] + COVALENT_RADII[els[j]]
        if not bond_tol[0] * ref <= d <= bond_tol[1] * ref:
            return "bad_bond_length", f"{els[i]}{i + 1}-{els[j]}{j + 1} {d:.3f} A (covalent {ref:.2f} A)"
    dist = np.linalg.norm(x[:, None] - x[None], axis=-1)
    adj = Chem.GetAdjacencyMatrix(mol).astype(bool)
    np.fill_diagonal(adj, True)
    heavy = np.array([e != "H" for e in els])
    limit = np.where(heavy[:, None] & heavy[None], clash_heavy, clash_any)
    bad = np.argwhere(~adj & (dist < limit))
    if len(bad):
        i, j = bad[0]
        return "atom_clash", f"{els[i]}{i + 1}...{els[j]}{j + 1} {dist[i, j]:.3f} A apart, not bonded"
    return None


def process_component(comp: Component) -> Chem.Mol:
    """Filters 2–10 of the pipeline for one component; the kept ``Mol`` (explicit H, conformer in Å,
    stereo from 3D), or ``Rejected`` naming the first filter that fails."""
    if comp.release_status != "REL":
        raise Rejected("not_released", comp.release_status)
    if comp.type.upper() != "NON-POLYMER":
        raise Rejected("not_non_polymer", comp.type)
    odd = sorted(set(comp.elements) - set(ORGANIC_ELEMENTS))
    if odd:
        raise Rejected("non_organic_element", " ".join(odd))
    n_heavy = sum(e != "H" for e in comp.elements)
    if not MIN_HEAVY <= n_heavy <= MAX_HEAVY:
        raise Rejected("heavy_atoms_out_of_range", str(n_heavy))
    if not comp.coords_present.all():
        missing = [a for a, ok in zip(comp.atom_ids, comp.coords_present) if not ok]
        raise Rejected("missing_coordinates", f"{len(missing)} atoms, e.g. {missing[0]}")
    mol = component_to_mol(comp)
    if comp.ideal_present.all() and len(comp.atom_ids) >= 3:
        rmsd = float(aligned_rmsd(torch.as_tensor(comp.coords, dtype=torch.float64),
                                  torch.as_tensor(comp.ideal, dtype=torch.float64)))
        if rmsd < IDEAL_RMSD:
            raise Rejected("model_equals_ideal", f"RMSD to ideal {rmsd:.4f} A")
    problem = geometry_problem(mol)
    if problem:
        raise Rejected(*problem)
    return mol


# --- exclusion, scaffolds, split ------------------------------------------------------------------
def read_exclusion_list(path: str | Path) -> tuple[set[str], set[str]]:
    """(InChIKeys, het codes) of the evaluation exclusion list CSV (columns inchikey, het_code, source)."""
    keys, hets = set(), set()
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if (row.get("inchikey") or "").strip():
                keys.add(row["inchikey"].strip())
            if (row.get("het_code") or "").strip():
                hets.add(row["het_code"].strip())
    return keys, hets


def murcko_scaffold(mol: Chem.Mol) -> str:
    """Canonical Bemis–Murcko scaffold SMILES (no chirality); ``""`` for acyclic molecules."""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.RemoveHs(mol))


def scaffold_split(scaffold: str, fractions=SPLIT_FRACTIONS) -> str:
    """``train`` / ``val`` / ``test`` for a scaffold SMILES from the sha1 of the SMILES (stable
    everywhere); the acyclic scaffold ``""`` always goes to train."""
    if scaffold == "":
        return "train"
    u = int(hashlib.sha1(scaffold.encode()).hexdigest()[:15], 16) / 16 ** 15
    edge = np.cumsum(fractions) / np.sum(fractions)
    return SPLITS[int(np.searchsorted(edge, u, side="right"))] if u < edge[-1] else SPLITS[-1]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fingerprint(source_sha, exclusion_sha, limit, exclude_skeleton) -> dict:
    return {"cache_version": CACHE_VERSION, "source_sha256": source_sha, "exclusion_sha256": exclusion_sha,
            "limit": limit, "exclude_skeleton": exclude_skeleton, "rdkit_version": rdBase.rdkitVersion}


# --- build / load ---------------------------------------------------------------------------------
def build_ccd_dataset(out_dir: str | Path | None = None, bcif: str | Path | None = None,
                      exclusion_csv=_USE_DEFAULT, limit: int | None = None, force: bool = False,
                      exclude_skeleton: bool = True) -> dict:
    """Build (or reuse) the processed CCD conformer set in ``out_dir`` (default ``default_cache_dir()``)
    and return its stats dict (also in ``stats.json``).

    ``bcif``: CCD BinaryCIF file (default biotite's). ``exclusion_csv``: evaluation exclusion list
    (default the packaged one; ``None`` disables exclusion).
    ``limit``: process only the first N components. ``exclude_skeleton``: also drop molecules whose
    InChIKey connectivity block matches an excluded one. The build is skipped when ``stats.json``
    matches the source, exclusion file and settings, unless ``force``."""
    t0 = time.time()
    out = Path(out_dir) if out_dir is not None else default_cache_dir()
    src = Path(bcif) if bcif is not None else default_ccd_path()
    if exclusion_csv is _USE_DEFAULT:
        exclusion_csv = EXCLUSION_CSV
        if not Path(exclusion_csv).is_file():
            raise FileNotFoundError(f"the packaged evaluation exclusion list {exclusion_csv} is missing "
                                    "(reinstall scidiff); exclusion_csv=None builds WITHOUT removing them")
    elif exclusion_csv is not None and not Path(exclusion_csv).is_file():
        raise FileNotFoundError(f"exclusion list {exclusion_csv} not found")
    fingerprint = _fingerprint(_sha256(src), _sha256(Path(exclusion_csv)) if exclusion_csv else None,
                               limit, exclude_skeleton)
    stats_path = out / "stats.json"
    if not force and stats_path.is_file() and all((out / f"{s}.sdf").is_file() for s in SPLITS):
        try:
            old = json.loads(stats_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if all(old.get(k) == v for k, v in fingerprint.items()):
            return {**old, "reused": True}

    keys, hets = read_exclusion_list(exclusion_csv) if exclusion_csv else (set(), set())
    skeletons = {k.split("-")[0] for k in keys}
    dropped: Counter = Counter()
    rdkit_reasons: Counter = Counter()
    rejected_rows: list[tuple[str, str, str]] = []
    kept: list[tuple[str, Chem.Mol, str, Component]] = []
    n_read = 0
    lg = RDLogger.logger()
    lg.setLevel(RDLogger.CRITICAL)
    try:
        for comp in read_components(src, limit=limit):
            n_read += 1
            try:
                mol = process_component(comp)
                key = Chem.MolToInchiKey(mol)
                if not key:
                    raise Rejected("no_inchikey")
                if comp.het_code in hets:
                    raise Rejected("excluded_het_code", key)
                if key in keys:
                    raise Rejected("excluded_inchikey", key)
                if exclude_skeleton and key.split("-")[0] in skeletons:
                    raise Rejected("excluded_inchikey_skeleton", key)
            except Rejected as r:
                dropped[r.reason] += 1
                if r.reason == "rdkit_rejected":
                    rdkit_reasons[_reason_kind(r.detail)] += 1
                rejected_rows.append((comp.het_code, r.reason, r.detail))
                continue
            kept.append((key, mol, comp.het_code, comp))
    finally:
        lg.setLevel(RDLogger.WARNING)

    kept.sort(key=lambda t: t[2])
    seen: set[str] = set()
    split_mols: dict[str, list[Chem.Mol]] = {s: [] for s in SPLITS}
    scaffold_counts = {s: set() for s in SPLITS}
    for key, mol, het, comp in kept:
        if key in seen:
            dropped["duplicate_inchikey"] += 1
            rejected_rows.append((het, "duplicate_inchikey", key))
            continue
        seen.add(key)
        scaf = murcko_scaffold(mol)
        split = scaffold_split(scaf)
        for name, value in (("het_code", het), ("inchikey", key), ("scaffold", scaf), ("split", split),
                            ("ccd_name", " ".join(comp.name.split())), ("model_pdb_id", comp.model_pdb_id)):
            mol.SetProp(name, value)
        split_mols[split].append(mol)
        scaffold_counts[split].add(scaf)

    out.mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        tmp = out / f"{s}.sdf.tmp"
        with Chem.SDWriter(str(tmp)) as w:
            w.SetKekulize(True)
            for m in split_mols[s]:
                w.write(m)
        tmp.replace(out / f"{s}.sdf")
    with open(out / "rejected.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["het_code", "filter", "detail"])
        wr.writerows(sorted(rejected_rows))
    import biotite
    heavy = [m.GetNumHeavyAtoms() for s in SPLITS for m in split_mols[s]]
    stats = {
        **fingerprint,
        "source": str(src), "exclusion_csv": str(exclusion_csv) if exclusion_csv else None,
        "biotite_version": biotite.__version__,
        "components_read": n_read,
        "dropped": {f: dropped.get(f, 0) for f in FILTERS},
        "rdkit_reasons": dict(rdkit_reasons.most_common()),
        "kept": sum(len(v) for v in split_mols.values()),
        "splits": {s: len(split_mols[s]) for s in SPLITS},
        "scaffolds": {s: len(scaffold_counts[s]) for s in SPLITS},
        "acyclic_in_train": sum(m.GetProp("scaffold") == "" for m in split_mols["train"]),
        "heavy_atoms": ({"min": int(min(heavy)), "median": float(np.median(heavy)), "max": int(max(heavy))}
                        if heavy else None),
        "settings": {"organic_elements": list(ORGANIC_ELEMENTS), "heavy_atoms": [MIN_HEAVY, MAX_HEAVY],
                     "bond_tolerance": list(BOND_TOL), "clash_heavy_A": CLASH_HEAVY, "clash_any_A": CLASH_ANY,
                     "ideal_rmsd_A": IDEAL_RMSD, "split_fractions": list(SPLIT_FRACTIONS)},
        "build_seconds": round(time.time() - t0, 1),
    }
    stats_path.write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def _reason_kind(detail: str) -> str:
    """RDKit's message with atom numbers and values taken out, so equal causes tally together."""
    import re
    return re.sub(r"\d+", "#", detail)[:120]


def load_ccd_split(out_dir: str | Path | None, split: str) -> list[Chem.Mol]:
    """The molecules of ``split`` (train/val/test) from a built cache: sanitized, explicit H, one
    conformer in Å, properties ``het_code, inchikey, scaffold, split, ccd_name, model_pdb_id``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    path = (Path(out_dir) if out_dir is not None else default_cache_dir()) / f"{split}.sdf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; build it with build_ccd_dataset() or "
                                "`python -m scidiff.molecules.data --out DIR`")
    if path.stat().st_size == 0:        # an empty split (tiny builds); RDKit refuses empty files
        return []
    mols = [m for m in Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True)]
    if any(m is None for m in mols):
        raise ValueError(f"{path}: {sum(m is None for m in mols)} records do not parse")
    return mols


def format_stats(stats: dict) -> str:
    """A plain-text table of the build stats."""
    lines = [f"components read: {stats['components_read']}  (source {stats['source']}, "
             f"biotite {stats['biotite_version']})", "dropped by filter:"]
    lines += [f"  {k:<28}{v:>8}" for k, v in stats["dropped"].items()]
    lines += [f"kept: {stats['kept']}"]
    lines += [f"  {s:<28}{stats['splits'][s]:>8} molecules {stats['scaffolds'][s]:>7} scaffolds" for s in SPLITS]
    if stats.get("rdkit_reasons"):
        lines += ["rdkit rejections (top 10):"]
        lines += [f"  {v:>6}  {k}" for k, v in list(stats["rdkit_reasons"].items())[:10]]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Build the CCD experimental-conformer training set.")
    p.add_argument("--out", type=Path, default=None, help="output folder (default $SCIDIFF_CACHE/ccd or ~/.cache/scidiff/ccd)")
    p.add_argument("--bcif", type=Path, default=None, help="CCD BinaryCIF (default: biotite's)")
    p.add_argument("--exclusion-csv", type=Path, default=None, help="evaluation exclusion list (default: the packaged one)")
    p.add_argument("--no-exclusion", action="store_true", help="keep evaluation molecules (not for training)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--force", action="store_true")
    a = p.parse_args(argv)
    excl = None if a.no_exclusion else (a.exclusion_csv if a.exclusion_csv else _USE_DEFAULT)
    stats = build_ccd_dataset(a.out, bcif=a.bcif, exclusion_csv=excl, limit=a.limit, force=a.force)
    print(format_stats(stats))
    where = Path(a.out) if a.out else default_cache_dir()
    print(f"cache in {where} is up to date (built in {stats['build_seconds']} s); --force rebuilds it"
          if stats.get("reused") else f"written to {where} in {stats['build_seconds']} s")


if __name__ == "__main__":
    main()
