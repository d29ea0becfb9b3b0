"""scidiff.proteins backbone I/O (PDB / mmCIF, quirks, malformed files) and the cached dataset."""
import csv
import gzip
import json
import shutil

import numpy as np
import pytest
import torch
from pathlib import Path

from scidiff.proteins.backbone import (Backbone, pdb_string, read_backbone, read_backbones, structure_files,
                                       write_cif, write_pdb, write_structure)
from scidiff.proteins.dataset import BackboneDataset, DatasetConfig, build_cache, crop_batch
from scidiff.proteins.frames import frames_from_coords
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA / "proteins"
needs_data = pytest.mark.skipif(not (DATA / "manifest.csv").is_file(),
                                reason=f"shared protein development set {DATA} absent")


def helix(n: int = 12, start: int = 1) -> Backbone:
    """A small synthetic backbone (ideal-ish helix from frames) with residue numbers from ``start``."""
    from scidiff.proteins.frames import backbone_from_frames

    k = np.arange(n)
    ang = np.radians(100.0) * k
    ca = np.stack([2.3 * np.cos(ang), 2.3 * np.sin(ang), 1.5 * k], -1)
    # frames: x along the tangent, y towards the axis (good enough for a parser fixture)
    tan = np.gradient(ca, axis=0)
    tan /= np.linalg.norm(tan, axis=-1, keepdims=True)
    inward = -np.stack([np.cos(ang), np.sin(ang), 0 * ang], -1)
    y = inward - (inward * tan).sum(-1, keepdims=True) * tan
    y /= np.linalg.norm(y, axis=-1, keepdims=True)
    r = np.stack([tan, y, np.cross(tan, y)], -1)
    coords = backbone_from_frames(r, ca)
    return Backbone(coords.astype(np.float32), "ACDEFGHIKLMN"[:n] if n <= 12 else "A" * n,
                    res_num=np.arange(start, start + n))


def lines_of(bb: Backbone) -> list[str]:
    return [ln for ln in pdb_string(bb).splitlines() if ln.startswith("ATOM")]


# ---------------------------------------------------------------------------- real files


@needs_data
def test_every_development_chain_matches_the_manifest():
    rows = list(csv.DictReader(open(DATA / "manifest.csv")))
    assert len(rows) == 221
    for r in rows:
        bb = read_backbone(DATA / r["file"])
        assert bb.chain_id == r["chain_id"], r["file"]
        assert bb.breaks == (), r["file"]
        assert bb.coords.dtype == np.float32 and bb.is_complete
        # the manifest leaves out residues named UNK; we keep them as X (d1b0ba_ starts with one)
        assert bb.sequence.replace("X", "") == r["sequence"], r["file"]
        assert len(bb) - bb.sequence.count("X") == int(r["n_residues_bb"]), r["file"]


@needs_data
def test_quirky_files_first_residue_without_n_ligands_element_columns_and_82_char_lines():
    bb = read_backbone(DATA / "bm5_unbound" / "1ACB_l_u.pdb")    # element column holds numbers; THR 1 has no N
    assert bb.missing == ("B 1 THR: no N",) and bb.res_num[0] == 2
    with pytest.raises(ValueError, match=r"1ACB_l_u\.pdb: residue B 1 THR: missing backbone atom\(s\) N"):
        read_backbone(DATA / "bm5_unbound" / "1ACB_l_u.pdb", on_missing="raise")
    kept = read_backbone(DATA / "bm5_unbound" / "1ACB_l_u.pdb", on_missing="nan")
    assert len(kept) == len(bb) + 1 and np.isnan(kept.coords[0, 0]).all() and np.isfinite(kept.coords[0, 1:]).all()
    dips = sorted((DATA / "dips_test").iterdir())[0]
    assert len(dips.read_text().splitlines()[0]) == 82 and len(read_backbone(dips)) > 40
    rows = {r["file"]: r for r in csv.DictReader(open(DATA / "manifest.csv"))}
    with_het = [p for p in sorted((DATA / "bm5_unbound").glob("*.pdb")) if "\nHETATM" in p.read_text()]
    assert len(with_het) >= 15
    for p in with_het:                                            # ligands (GDP, HEM, ...) are not residues
        bb = read_backbone(p)
        assert bb.sequence == rows[f"bm5_unbound/{p.name}"]["sequence"], p.name


@needs_data
@pytest.mark.parametrize("suffix", [".pdb", ".pdb.gz", ".cif", ".cif.gz"])
def test_round_trip_is_exact_to_1e3_angstrom(tmp_path, suffix):
    for name in ["bm5_unbound/1ACB_l_u.pdb", "globins_scop/d1asha_.pdb", sorted((DATA / "dips_test").iterdir())[3]]:
        bb = read_backbone(DATA / name)
        out = write_structure(tmp_path / f"x{suffix}", bb)
        back = read_backbone(out)
        assert np.abs(back.coords - bb.coords).max() <= 1e-3
        assert back.sequence == bb.sequence and back.chain_id == bb.chain_id
        assert (back.res_num == bb.res_num).all() and (back.ins_code == bb.ins_code).all()


def test_trajectory_models_and_ca_only_round_trip(tmp_path):
    frames = [helix(12), Backbone(helix(12).coords + np.float32([1.0, -2.0, 0.5]), helix(12).sequence)]
    for path in (tmp_path / "traj.pdb", tmp_path / "traj.cif"):
        write_structure(path, frames)
        back = read_backbones(path, all_models=True)
        assert len(back) == 2
        for a, b in zip(frames, back):
            assert np.abs(a.coords - b.coords).max() <= 1e-3 and a.sequence == b.sequence
    assert len(read_backbones(tmp_path / "traj.pdb")) == 1        # default: first model only
    with pytest.raises(ValueError, match="same residues"):
        write_cif(tmp_path / "mixed.cif", [helix(12), helix(10)])
    write_pdb(tmp_path / "ca.pdb", frames, ca_only=True)
    assert sum(ln.startswith("ATOM") for ln in (tmp_path / "ca.pdb").read_text().splitlines()) == 24
    with pytest.raises(ValueError, match="no residue with a complete backbone"):
        read_backbone(tmp_path / "ca.pdb")
    ca = read_backbones(tmp_path / "ca.pdb", on_missing="nan", all_models=True)
    assert np.abs(ca[1].ca - frames[1].ca).max() <= 1e-3 and np.isnan(ca[1].coords[:, [0, 2, 3]]).all()
    # raw arrays: (T, L, 4, 3) and (L, 3)
    write_pdb(tmp_path / "arr.pdb", torch.as_tensor(np.stack([f.coords for f in frames])))
    assert len(read_backbones(tmp_path / "arr.pdb", all_models=True)) == 2
    write_pdb(tmp_path / "ca1.pdb", frames[0].ca)
    assert len(read_backbone(tmp_path / "ca1.pdb", on_missing="nan")) == 12


# ---------------------------------------------------------------------------- synthetic features


def test_altlocs_insertion_codes_modified_residues_ligands_and_chain_choice(tmp_path):
    bb = helix(6, start=50)
    lines = lines_of(bb)
    ca3 = [i for i, ln in enumerate(lines) if ln[12:16] == " CA " and ln[22:26] == "  52"][0]
    alt_a = lines[ca3][:16] + "A" + lines[ca3][17:54] + "  0.30" + lines[ca3][60:]
    moved = bb.coords[2, 1] + np.float32([0.3, 0.0, 0.0])
    alt_b = (lines[ca3][:16] + "B" + lines[ca3][17:30] + "".join(f"{v:8.3f}" for v in moved) + "  0.70"
             + lines[ca3][60:])
    lines[ca3: ca3 + 1] = [alt_a, alt_b]
    # residue 53 becomes 52A (insertion code), residue 54 becomes MSE as HETATM
    lines = [ln[:22] + "  52A" + ln[27:] if ln[22:26] == "  53" else ln for ln in lines]
    lines = [("HETATM" + ln[6:17] + "MSE" + ln[20:]) if ln[22:26] == "  54" else ln for ln in lines]
    het = ["HETATM 9001 FE   HEM L   1      10.000  10.000  10.000  1.00  0.00          FE  ",
           "HETATM 9002  O   HOH W   1      11.000  10.000  10.000  1.00  0.00           O  "]
    path = tmp_path / "feat.pdb"
    path.write_text("\n".join(het + lines + ["END"]) + "\n")
    out = read_backbone(path)
    assert out.chain_id == "A"                                    # first chain with protein residues
    assert list(out.res_num) == [50, 51, 52, 52, 54, 55] and list(out.ins_code) == ["", "", "", "A", "", ""]
    assert out.sequence[4] == "M"                                 # MSE -> M
    assert np.allclose(out.coords[2, 1], moved, atol=1e-3)        # altloc B, occupancy 0.70
    assert np.abs(read_backbone(write_pdb(tmp_path / "rt.pdb", out)).coords - out.coords).max() <= 1e-3
    assert read_backbone(write_pdb(tmp_path / "rt.pdb", out)).ins_code[3] == "A"
    with pytest.raises(ValueError, match="no chain 'Q'"):
        read_backbone(path, chain="Q")
    with pytest.raises(ValueError, match=r"feat\.pdb: no protein residue in chain 'L'; chains with protein: \['A'\]"):
        read_backbone(path, chain="L")


def test_missing_atoms_and_chain_breaks_are_reported_and_handled(tmp_path):
    a, b = helix(8, start=1), helix(8, start=9)
    b = Backbone(b.coords + np.float32([30.0, 0, 0]), b.sequence, res_num=b.res_num)
    lines = lines_of(a) + lines_of(b)
    lines = [ln for ln in lines if not (ln[22:26] == "   4" and ln[12:16] == " O  ")]  # residue 4 loses O
    path = tmp_path / "gap.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    kept = read_backbone(path)
    assert len(kept) == 15 and kept.missing == ("A 4 GLU: no O",)
    assert kept.breaks == (2, 6)                                  # dropping 4 opens a gap; the 30 Å jump
    segs = read_backbones(path, on_break="split")
    assert [len(s) for s in segs] == [3, 4, 8] and all(s.breaks == () for s in segs)
    assert read_backbones(path, on_break="drop") == []
    with pytest.raises(ValueError, match=r"gap\.pdb: chain 'A' has 2 break\(s\).*between A 3 ASP and A 5 PHE"):
        read_backbone(path, on_break="raise")
    with pytest.raises(ValueError, match=r"gap\.pdb: residue A 4 GLU: missing backbone atom\(s\) O"):
        read_backbone(path, on_missing="raise")
    nan = read_backbone(path, on_missing="nan")
    assert len(nan) == 16 and nan.breaks == (7,) and np.isnan(nan.coords[3, 3]).all()


def test_malformed_files_name_the_file_line_and_reason(tmp_path):
    good = lines_of(helix(5))
    cases = {
        "truncated.pdb": (good[:6] + [good[6][:40]] + good[7:], r"truncated\.pdb: line 7: truncated ATOM record"),
        "nonnum.pdb": (good[:3] + [good[3][:38] + "   abc.d" + good[3][46:]] + good[4:],
                       r"nonnum\.pdb: line 4: non-numeric y coordinate 'abc.d'"),
        "badresnum.pdb": (good[:2] + [good[2][:22] + "  x1" + good[2][26:]] + good[3:],
                          r"badresnum\.pdb: line 3: residue number"),
        "ligand.pdb": (["HETATM    1  C1  HEM A   1      10.000  10.000  10.000  1.00  0.00           C  "],
                       r"ligand\.pdb: no protein chain"),
        "empty.pdb": ([], r"empty\.pdb: no atoms"),
    }
    for name, (lines, pattern) in cases.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=pattern):
            read_backbone(tmp_path / name)
    with gzip.open(tmp_path / "trunc.pdb.gz", "wt") as f:
        f.write("\n".join(good[:6] + [good[6][:40]]) + "\n")
    with pytest.raises(ValueError, match=r"trunc\.pdb\.gz: line 7"):
        read_backbone(tmp_path / "trunc.pdb.gz")
    write_cif(tmp_path / "ok.cif", helix(5))
    text = (tmp_path / "ok.cif").read_text().replace("_atom_site.Cartn_y", "_atom_site.Cartn_q")
    (tmp_path / "bad.cif").write_text(text)
    with pytest.raises(ValueError, match=r"bad\.cif: .*Cartn_y"):
        read_backbone(tmp_path / "bad.cif")
    with pytest.raises(FileNotFoundError):
        read_backbone(tmp_path / "absent.pdb")
    with pytest.raises(ValueError, match="on_break"):
        read_backbones(tmp_path / "ok.cif", on_break="ignore")


# ---------------------------------------------------------------------------- dataset


def _folder(tmp_path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    write_pdb(src / "long.pdb", helix(60))
    write_pdb(src / "short.pdb", helix(10))
    a, b = helix(30), helix(30, start=31)                 # one chain, 40 Å jump after residue 30
    far = Backbone(b.coords + np.float32([40, 0, 0]), b.sequence, res_num=b.res_num)
    (src / "broken.pdb").write_text("\n".join(lines_of(a) + lines_of(far)) + "\nEND\n")
    (src / "junk.pdb").write_text("ATOM      1  CA  ALA A   1      1.0\n")
    return src


def test_dataset_filters_caches_without_pickle_and_reloads(tmp_path):
    src = _folder(tmp_path)
    cfg = DatasetConfig(min_length=20, max_length=100, on_break="drop")
    ds = BackboneDataset.from_folder(src, tmp_path / "cache", cfg, progress=False)
    assert len(ds) == 1 and ds.lengths.tolist() == [60]
    man = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    reasons = {s["file"]: s["reason"] for s in man["skipped"]}
    assert "break" in reasons["broken.pdb"] and "length 10" in reasons["short.pdb"] and "line 1" in reasons["junk.pdb"]
    with np.load(tmp_path / "cache" / "backbones.npz", allow_pickle=False) as z:     # no object arrays
        assert z["coords"].dtype == np.float32 and z["coords"].shape == (60, 4, 3)
    assert np.abs(ds.backbone(0).coords - helix(60).coords).max() <= 1e-3
    created = man["created"]
    again = BackboneDataset.from_folder(src, tmp_path / "cache", cfg, progress=False)   # cache reused
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["created"] == created and len(again) == 1
    split = BackboneDataset.from_folder(src, tmp_path / "cache", DatasetConfig(20, 100, "split"), progress=False)
    assert sorted(split.lengths.tolist()) == [30, 30, 60]                          # settings changed -> rebuilt
    with pytest.raises(ValueError, match="no chain passed"):
        build_cache(src, tmp_path / "c2", DatasetConfig(min_length=200, max_length=300), progress=False)


def test_get_batch_pads_masks_centres_crops_reproducibly_and_carries_frames(tmp_path):
    src = _folder(tmp_path)
    ds = BackboneDataset.from_folder(src, tmp_path / "cache", DatasetConfig(10, 100, "split"), crop_length=25,
                                     seed=3, progress=False)
    assert sorted(ds.lengths.tolist()) == [10, 30, 30, 60]
    idx = np.argsort(ds.lengths)                   # 10, 30, 30, 60
    b = ds.get_batch(torch.as_tensor(idx))
    assert b["coords"].shape == (4, 25, 4, 3) and b["lengths"].tolist() == [10, 25, 25, 25]
    assert b["mask"].sum(-1).tolist() == [10, 25, 25, 25] and not b["mask"][0, 10:].any()
    for k in range(4):
        m = b["mask"][k]
        assert torch.allclose(b["coords"][k, m, 1].mean(0), torch.zeros(3), atol=1e-4)
        assert (b["coords"][k, ~m] == 0).all()
    r, t = frames_from_coords(b["coords"])
    assert torch.allclose(b["rotations"][b["mask"]], r[b["mask"]], atol=1e-6)
    assert torch.allclose(b["rotations"][~b["mask"]], torch.eye(3).expand(15, 3, 3))
    # a crop is a contiguous window of the chain: the pairwise distances match
    i = int(idx[3])
    start, stop = ds.crop_window(i)
    whole = torch.as_tensor(ds.backbone(i).coords[start:stop, 1])
    assert torch.allclose(torch.cdist(whole, whole), torch.cdist(b["coords"][3, :, 1], b["coords"][3, :, 1]), atol=1e-4)
    assert torch.equal(ds.get_batch(idx)["coords"], b["coords"])                   # reproducible
    starts = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        starts.add(ds.crop_window(i)[0])
    assert len(starts) > 2                                                          # new windows per epoch
    # step-seeded crops of a whole-chain batch
    full = BackboneDataset(tmp_path / "cache").get_batch(idx)
    c1 = crop_batch(full, 20, torch.Generator().manual_seed(0))
    c2 = crop_batch(full, 20, torch.Generator().manual_seed(0))
    assert torch.equal(c1["coords"], c2["coords"]) and c1["lengths"].tolist() == [10, 20, 20, 20]
    assert torch.allclose((c1["coords"][:, :, 1] * c1["mask"][..., None]).sum(1), torch.zeros(4, 3), atol=1e-3)
    rr, _ = frames_from_coords(c1["coords"])
    assert torch.allclose(c1["rotations"][c1["mask"]], rr[c1["mask"]], atol=1e-5)


@needs_data
def test_dataset_on_the_development_set(tmp_path):
    sub = tmp_path / "dev"
    shutil.copytree(DATA / "globins_scop", sub / "globins_scop")                  # a copy in tmp, not the repo
    ds = BackboneDataset.from_folder(sub, tmp_path / "cache", DatasetConfig(40, 256), crop_length=128, progress=False)
    assert len(ds) == 23
    b = ds.get_batch(range(8))
    assert b["coords"].shape == (8, 128, 4, 3) and b["mask"].all()
    ca = b["coords"][:, :, 1]
    assert (((ca[:, 1:] - ca[:, :-1]).norm(dim=-1) - 3.8).abs() <= 0.1).float().mean() > 0.97
    assert structure_files(sub) == sorted(structure_files(sub))
