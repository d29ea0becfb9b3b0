"""CCD experimental-conformer training set (scidiff.molecules.data), built from the first components
of the real CCD that biotite ships and from small hand-edited copies of it."""
import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("biotite", reason="biotite (which ships the CCD, components.bcif) is not installed")
from biotite.structure.io.pdbx import (BinaryCIFBlock, BinaryCIFCategory, BinaryCIFColumn,  # noqa: E402
                                       BinaryCIFData, BinaryCIFFile)
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402

from scidiff.molecules import data as D  # noqa: E402
from tests.conftest import SHARED_DATA

LIMIT = 300
SHARED_EXCLUSION = (SHARED_DATA / "molecules"
                    / "evaluation_exclusion_list.csv")
ORGANIC = {"H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"}


@pytest.fixture(scope="module")
def ccd_block():
    return BinaryCIFFile.read(str(D.default_ccd_path())).block


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The first LIMIT components, no exclusion list (so the other tests can exclude from it)."""
    out = tmp_path_factory.mktemp("ccd")
    stats = D.build_ccd_dataset(out, exclusion_csv=None, limit=LIMIT, force=True)
    mols = {s: D.load_ccd_split(out, s) for s in D.SPLITS}
    return out, stats, mols


def hets(mols):
    return {s: [m.GetProp("het_code") for m in ms] for s, ms in mols.items()}


def test_limited_build_gives_a_nonempty_train_split_and_consistent_counts(built):
    out, stats, mols = built
    assert stats["components_read"] == LIMIT
    assert len(mols["train"]) > 50
    assert {s: len(m) for s, m in mols.items()} == stats["splits"]
    assert stats["kept"] == sum(stats["splits"].values())
    assert stats["kept"] + sum(stats["dropped"].values()) == LIMIT      # every component accounted for once
    assert stats["dropped"]["not_non_polymer"] > 0 and stats["dropped"]["missing_coordinates"] > 0
    with open(out / "rejected.csv") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == sum(stats["dropped"].values())
    assert len(stats["source_sha256"]) == 64 and stats["biotite_version"]


def test_every_written_molecule_passes_the_filters_after_reading_back(built):
    _, _, mols = built
    pt = Chem.GetPeriodicTable()
    for split, ms in mols.items():
        for m in ms:
            assert m.GetProp("split") == split
            assert {"het_code", "inchikey", "scaffold", "ccd_name", "model_pdb_id"} <= set(m.GetPropNames())
            assert 4 <= m.GetNumHeavyAtoms() <= 60
            assert {a.GetSymbol() for a in m.GetAtoms()} <= ORGANIC
            assert all(a.GetNumImplicitHs() == 0 for a in m.GetAtoms())        # all hydrogens explicit
            assert m.GetNumConformers() == 1 and m.GetConformer().Is3D()
            x = m.GetConformer().GetPositions()
            for b in m.GetBonds():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                ref = sum(pt.GetRcovalent(m.GetAtomWithIdx(k).GetSymbol()) for k in (i, j))
                assert 0.7 <= np.linalg.norm(x[i] - x[j]) / ref <= 1.3, (m.GetProp("het_code"), i, j)
            d = np.linalg.norm(x[:, None] - x[None], axis=-1)
            adj = Chem.GetAdjacencyMatrix(m).astype(bool) | np.eye(len(x), dtype=bool)
            assert d[~adj].min(initial=9.0) >= 1.0 - 1e-6
            copy = Chem.Mol(m)
            assert Chem.SanitizeMol(copy, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE
            assert Chem.MolToInchiKey(m) == m.GetProp("inchikey")


def test_coordinates_are_the_experimental_model_cartn_ones(built, ccd_block):
    _, _, mols = built
    atoms = ccd_block["chem_comp_atom"]
    comp = atoms["comp_id"].as_array()
    model = np.stack([atoms[f"model_Cartn_{c}"].as_array() for c in "xyz"], 1)
    ideal = np.stack([atoms[f"pdbx_model_Cartn_{c}_ideal"].as_array() for c in "xyz"], 1)
    names = atoms["atom_id"].as_array()
    checked = 0
    for m in mols["train"][:20] + mols["val"][:5] + mols["test"][:5]:
        rows = np.flatnonzero(comp == m.GetProp("het_code"))
        assert len(rows) == m.GetNumAtoms()
        x = m.GetConformer().GetPositions()
        np.testing.assert_allclose(x, model[rows], atol=1e-3)              # same atom order, same Å values
        assert not np.allclose(x - x.mean(0), ideal[rows] - ideal[rows].mean(0), atol=0.05)
        assert [a.GetSymbol().upper() for a in m.GetAtoms()] == \
            [str(s).upper() for s in atoms["type_symbol"].as_array()[rows]]
        assert len(set(names[rows])) == len(rows)
        checked += 1
    assert checked >= 20
    # one fixed, known entry: component 001 (from PDB 1J4R), first atom C1 at (26.108, 12.501, 25.848) Å
    m001 = [m for ms in mols.values() for m in ms if m.GetProp("het_code") == "001"]
    assert len(m001) == 1 and m001[0].GetProp("model_pdb_id") == "1J4R"
    np.testing.assert_allclose(m001[0].GetConformer().GetPositions()[0], [26.108, 12.501, 25.848], atol=1e-4)


def test_exclusion_list_removes_het_codes_and_inchikeys(built, tmp_path):
    _, stats, mols = built
    train = mols["train"]
    by_het, by_key = train[0], train[-1]
    csv_path = tmp_path / "excl.csv"
    csv_path.write_text("inchikey,het_code,source\n"
                        f"AAAAAAAAAAAAAA-BBBBBBBBBB-N,{by_het.GetProp('het_code')},test\n"
                        f"{by_key.GetProp('inchikey')},,test\n")
    stats2 = D.build_ccd_dataset(tmp_path / "out", exclusion_csv=csv_path, limit=LIMIT,
                                 exclude_skeleton=False)
    got = hets({s: D.load_ccd_split(tmp_path / "out", s) for s in D.SPLITS})
    everything = [h for hs in got.values() for h in hs]
    assert by_het.GetProp("het_code") not in everything and by_key.GetProp("het_code") not in everything
    assert stats2["dropped"]["excluded_het_code"] == 1 and stats2["dropped"]["excluded_inchikey"] == 1
    assert stats2["kept"] == stats["kept"] - 2
    before = [h for hs in hets(mols).values() for h in hs]
    assert sorted(everything) == sorted(set(before) - {by_het.GetProp("het_code"), by_key.GetProp("het_code")})


@pytest.mark.skipif(not SHARED_EXCLUSION.is_file(), reason=f"shared exclusion list {SHARED_EXCLUSION} absent")
def test_the_packaged_exclusion_list_is_the_shared_one_and_is_applied(tmp_path):
    assert D.EXCLUSION_CSV.read_bytes() == SHARED_EXCLUSION.read_bytes()
    stats = D.build_ccd_dataset(tmp_path, limit=LIMIT)
    keys, het_codes = set(), set()
    with open(SHARED_EXCLUSION) as fh:
        for row in csv.DictReader(fh):
            keys.add(row["inchikey"])
            het_codes.add(row["het_code"])
    skeletons = {k.split("-")[0] for k in keys}
    assert stats["dropped"]["excluded_het_code"] > 0
    for s in D.SPLITS:
        for m in D.load_ccd_split(tmp_path, s):
            assert m.GetProp("het_code") not in het_codes
            assert m.GetProp("inchikey").split("-")[0] not in skeletons


def test_missing_default_exclusion_list_is_an_error_unless_none(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "EXCLUSION_CSV", tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="exclusion"):
        D.build_ccd_dataset(tmp_path / "out", limit=5)
    with pytest.raises(FileNotFoundError):
        D.build_ccd_dataset(tmp_path / "out", exclusion_csv=tmp_path / "other.csv", limit=5)
    assert D.build_ccd_dataset(tmp_path / "out", exclusion_csv=None, limit=5)["components_read"] == 5


def test_split_is_deterministic_and_by_scaffold(built, tmp_path):
    out, _, mols = built
    stats2 = D.build_ccd_dataset(tmp_path, exclusion_csv=None, limit=LIMIT, force=True)
    again = {s: D.load_ccd_split(tmp_path, s) for s in D.SPLITS}
    assert hets(again) == hets(mols)
    for s in D.SPLITS:
        assert (tmp_path / f"{s}.sdf").read_bytes() == (out / f"{s}.sdf").read_bytes()
    assert stats2["splits"] == built[1]["splits"]
    scaffolds = {s: {m.GetProp("scaffold") for m in ms} for s, ms in mols.items()}
    assert not scaffolds["train"] & scaffolds["val"] and not scaffolds["train"] & scaffolds["test"]
    assert not scaffolds["val"] & scaffolds["test"]
    assert "" not in scaffolds["val"] | scaffolds["test"]
    for ms in mols.values():
        for m in ms:
            assert D.murcko_scaffold(m) == m.GetProp("scaffold")
            assert D.scaffold_split(m.GetProp("scaffold")) == m.GetProp("split")


def test_scaffold_split_hash_is_fixed_and_has_the_default_fractions():
    assert D.scaffold_split("") == "train"
    u = int(hashlib.sha1(b"c1ccccc1").hexdigest()[:15], 16) / 16 ** 15
    assert D.scaffold_split("c1ccccc1") == ("train" if u < 0.9 else "val" if u < 0.95 else "test")
    got = [D.scaffold_split(f"C{i}CC{i}") for i in range(20000)]
    frac = {s: got.count(s) / len(got) for s in D.SPLITS}
    assert abs(frac["train"] - 0.9) < 0.01 and abs(frac["val"] - 0.05) < 0.006 and abs(frac["test"] - 0.05) < 0.006


def test_cache_is_reused_unless_forced_or_the_settings_change(built, tmp_path):
    out = tmp_path
    s1 = D.build_ccd_dataset(out, exclusion_csv=None, limit=30)
    mtime = (out / "train.sdf").stat().st_mtime_ns
    again = D.build_ccd_dataset(out, exclusion_csv=None, limit=30)
    assert again.pop("reused") is True and again == s1                      # read back, not rebuilt
    assert (out / "train.sdf").stat().st_mtime_ns == mtime
    s3 = D.build_ccd_dataset(out, exclusion_csv=None, limit=40)            # different limit: rebuilt
    assert s3["components_read"] == 40


def _subset_ccd(block, het_codes, path, edit):
    """Write a small CCD BinaryCIF holding only ``het_codes``; ``edit(name, columns)`` may change the
    (data, mask) arrays of each category first."""
    cats = {}
    for cname, id_col in (("chem_comp", "id"), ("chem_comp_atom", "comp_id"), ("chem_comp_bond", "comp_id")):
        cat = block[cname]
        sel = np.isin(cat[id_col].as_array(), list(het_codes))
        columns = {}
        for k in cat.keys():
            c = cat[k]
            mask = np.zeros(int(sel.sum()), np.uint8) if c.mask is None else c.mask.array[sel].copy()
            columns[k] = [c.as_array()[sel].copy(), mask]
        edit(cname, columns)
        cats[cname] = BinaryCIFCategory({k: BinaryCIFColumn(BinaryCIFData(d), BinaryCIFData(m) if m.any() else None)
                                         for k, (d, m) in columns.items()})
    BinaryCIFFile({"subset": BinaryCIFBlock(cats)}).write(str(path))


def test_bad_components_are_rejected_with_their_reason(built, ccd_block, tmp_path):
    _, _, mols = built
    good = [m for m in mols["train"] if m.GetNumAtoms() >= 10][:5]
    miss, far, valence, ideal, ok = (m.GetProp("het_code") for m in good)

    def edit(cname, cols):
        if cname == "chem_comp_atom":
            comp = cols["comp_id"][0]
            first = {h: int(np.flatnonzero(comp == h)[0]) for h in (miss, far)}
            cols["model_Cartn_x"][1][first[miss]] = 2                    # '?': one coordinate missing
            cols["model_Cartn_x"][0][first[far]] += 3.0                  # one atom 3 Å off: bonds too long
            rows = comp == ideal                                          # model = ideal, shifted
            for c, shift in zip("xyz", (10.0, -5.0, 3.0)):
                cols[f"model_Cartn_{c}"][0][rows] = cols[f"pdbx_model_Cartn_{c}_ideal"][0][rows] + shift
        if cname == "chem_comp_bond":
            comp = cols["comp_id"][0]
            hyd = [k for k in np.flatnonzero(comp == valence)
                   if str(cols["atom_id_2"][0][k]).startswith("H") or str(cols["atom_id_1"][0][k]).startswith("H")]
            cols["value_order"][0] = cols["value_order"][0].astype("<U4")
            cols["value_order"][0][hyd[0]] = "DOUB"                       # a doubly bonded hydrogen

    src = tmp_path / "small.bcif"
    _subset_ccd(ccd_block, {miss, far, valence, ideal, ok}, src, edit)
    stats = D.build_ccd_dataset(tmp_path / "out", bcif=src, exclusion_csv=None)
    assert stats["components_read"] == 5 and stats["kept"] == 1
    for reason in ("missing_coordinates", "bad_bond_length", "rdkit_rejected", "model_equals_ideal"):
        assert stats["dropped"][reason] == 1, (reason, stats["dropped"])
    assert sum(stats["rdkit_reasons"].values()) == 1 and "valence" in next(iter(stats["rdkit_reasons"]))
    with open(tmp_path / "out" / "rejected.csv") as fh:
        rows = {r["het_code"]: r for r in csv.DictReader(fh)}
    assert rows[miss]["filter"] == "missing_coordinates"
    assert rows[far]["filter"] == "bad_bond_length" and " A " in rows[far]["detail"]
    assert rows[valence]["filter"] == "rdkit_rejected" and "valence" in rows[valence]["detail"]
    assert rows[ideal]["filter"] == "model_equals_ideal"
    assert [m.GetProp("het_code") for s in D.SPLITS for m in D.load_ccd_split(tmp_path / "out", s)] == [ok]


def test_clash_between_non_bonded_atoms_is_found():
    mol = Chem.AddHs(Chem.MolFromSmiles("C.C"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    conf = mol.GetConformer()
    x = conf.GetPositions()
    frag2 = [a.GetIdx() for a in mol.GetAtoms() if a.GetIdx() == 1 or
             (a.GetSymbol() == "H" and a.GetNeighbors()[0].GetIdx() == 1)]
    for shift, expect in ((np.array([6.0, 0, 0]), None), (np.array([1.3, 0, 0]), "atom_clash")):
        for i in frag2:
            conf.SetAtomPosition(i, (x[i] - x[1] + x[0] + shift).tolist())
        got = D.geometry_problem(mol)
        assert (got[0] if got else None) == expect


def test_paths_and_loading_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIDIFF_CACHE", str(tmp_path / "c"))
    assert D.default_cache_dir() == tmp_path / "c" / "ccd"
    monkeypatch.delenv("SCIDIFF_CACHE")
    assert D.default_cache_dir() == Path.home() / ".cache" / "scidiff" / "ccd"
    with pytest.raises(ValueError):
        D.load_ccd_split(tmp_path, "training")
    with pytest.raises(FileNotFoundError):
        D.load_ccd_split(tmp_path, "train")
