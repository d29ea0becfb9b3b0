"""Motif scaffolding (scidiff.proteins.motif) and sampling trajectories on real structures."""
from pathlib import Path

import numpy as np
import pytest
import torch

from scidiff.manifolds import SO3
from scidiff.proteins import read_backbone, write_pdb
from scidiff.proteins.model import BackboneConfig, BackboneGenerator, SamplerConfig, TrunkConfig
from scidiff.geometry import rmsd
from scidiff.proteins.motif import layout, parse_spec, read_motif
from tests.conftest import SHARED_DATA

f64 = torch.float64
DATA = SHARED_DATA / "proteins"
PDB = DATA / "bm5_unbound" / "1Z0K_l_u.pdb"
TINY = dict(c_s=32, c_z=16, c_hidden=8, heads=2, qk_points=2, v_points=2, blocks=2, seq_heads=2, max_rel=8, rbf_bins=8)
needs_data = pytest.mark.skipif(not PDB.is_file(), reason="shared protein data absent")


def superposed_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    return float(rmsd(torch.tensor(a, dtype=f64), torch.tensor(b, dtype=f64)))


def test_parse_spec_and_its_errors():
    assert parse_spec("x/1abc.pdb:A10-25,B3-9") == (Path("x/1abc.pdb"), [("A", 10, 25), ("B", 3, 9)])
    assert parse_spec("C:/data/y.cif:5-8")[1] == [("", 5, 8)]
    for bad in ("nofile", "f.pdb:A25-10", "f.pdb:A10_25"):
        with pytest.raises(ValueError, match="motif"):
            parse_spec(bad)


@needs_data
def test_read_motif_takes_the_named_residues_and_names_what_is_missing():
    bb = read_backbone(PDB)
    first = int(bb.res_num[0])
    motif = read_motif(f"{PDB}:{bb.chain_id}{first + 5}-{first + 14},{bb.chain_id}{first + 30}-{first + 33}")
    assert len(motif) == 14 and motif.segments == (10, 4)
    idx = [*range(5, 15), *range(30, 34)]
    assert np.allclose(motif.coords.numpy(), bb.coords[idx], atol=1e-5, equal_nan=True)
    assert torch.allclose(motif.translations, motif.coords[:, 1])
    assert motif.sequence == "".join(bb.sequence[i] for i in idx)
    with pytest.raises(ValueError, match="no residue 9990"):
        read_motif(f"{PDB}:{bb.chain_id}9990-9999")
    with pytest.raises(ValueError, match="no chain 'Q'"):
        read_motif(f"{PDB}:Q1-4")


@needs_data
def test_layout_keeps_segment_order_and_draws_lengths_in_range():
    bb = read_backbone(PDB)
    first = int(bb.res_num[0])
    motif = read_motif(f"{PDB}:{first}-{first + 5},{first + 20}-{first + 22}")
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        total, pos = layout(motif, (30, 40), rng)
        seen.add(total)
        assert 30 <= total <= 40 and len(pos) == 9 and int(pos.max()) < total
        assert (torch.diff(pos[:6]) == 1).all() and (torch.diff(pos[6:]) == 1).all() and pos[6] > pos[5]
    assert len(seen) > 5
    with pytest.raises(ValueError, match="cannot hold"):
        layout(motif, (4, 8), rng)


@needs_data
def test_scaffolded_samples_carry_the_motif_atoms_exactly():
    """Whatever the (untrained) network predicts, the written motif is the input one up to a
    rigid motion, its residue types are kept, and the scaffold joins it (finite, whole chain)."""
    torch.manual_seed(0)
    model = BackboneGenerator(BackboneConfig(trunk=TrunkConfig(**TINY)))
    bb = read_backbone(PDB)
    first = int(bb.res_num[0])
    motif = read_motif(f"{PDB}:{first + 10}-{first + 21}")
    pos = torch.arange(8, 20)
    out = model.sample(32, n=3, seed=4, sampler=SamplerConfig(steps=10), motif=motif, positions=pos)
    src = motif.coords.numpy().reshape(-1, 3)
    ok = np.isfinite(src).all(-1)
    for s in out:
        assert len(s) == 32 and s.is_complete
        assert superposed_rmsd(s.coords[8:20].reshape(-1, 3)[ok], src[ok]) < 1e-3
        assert s.sequence[8:20] == motif.sequence and set(s.sequence[:8] + s.sequence[20:]) == {"A"}
    # the motif frames were imposed during sampling: the scaffold sees them, so the chain
    # differs from unconditional samples with the same noise
    free = model.sample(32, n=3, seed=4, sampler=SamplerConfig(steps=10))
    assert not np.allclose(free[0].coords[:8], out[0].coords[:8], atol=1e-2)


@needs_data
def test_trajectory_runs_from_the_prior_to_the_returned_sample(tmp_path):
    torch.manual_seed(0)
    model = BackboneGenerator(BackboneConfig(trunk=TrunkConfig(**TINY)))
    out, paths = model.sample(20, n=2, seed=1, sampler=SamplerConfig(steps=6), trajectory=True)
    assert len(paths) == 2 and all(len(p) == 7 for p in paths)
    rg = [float(np.sqrt(((b.ca - b.ca.mean(0)) ** 2).sum(-1).mean())) for b in paths[0]]
    assert rg[0] > 5.0                                       # the prior: ~1 nm Gaussian per axis
    # the last state's CA is the returned CA (the translation Euler step lands on x^_0)
    assert np.allclose(paths[0][-1].ca, out[0].ca, atol=1e-3)
    path = write_pdb(tmp_path / "traj.pdb", paths[0])
    assert path.read_text().count("MODEL") == 7


@needs_data
def test_backbones_command_writes_scaffolds_trajectories_and_a_manifest(tmp_path):
    import json

    from scidiff.cli import main

    torch.manual_seed(0)
    BackboneGenerator(BackboneConfig(trunk=TrunkConfig(**TINY))).save_pretrained(tmp_path / "m")
    bb = read_backbone(PDB)
    first = int(bb.res_num[0])
    spec = f"{PDB}:{bb.chain_id}{first + 3}-{first + 8}"
    assert main(["backbones", "--length", "20-26", "-n", "3", "-o", str(tmp_path / "o"), "--model",
                 str(tmp_path / "m"), "--steps", "4", "--motif", spec, "--trajectory"]) == 0
    manifest = json.loads((tmp_path / "o" / "samples.json").read_text())
    meta = manifest["samples"]
    assert len(meta) == 3 and manifest["restraints"]["ca_distance"] == 4.0       # on by default
    assert manifest["sampler"] == {"steps": 4, "rot_rate": 10.0}                # --steps over the model's own
    motif = read_motif(spec)
    for rec in meta:
        s = read_backbone(tmp_path / "o" / rec["file"])
        assert len(s) == rec["length"] and 20 <= rec["length"] <= 26
        idx = np.array(rec["motif_positions"]) - 1
        assert superposed_rmsd(s.coords[idx, :3].reshape(-1, 3), motif.coords[:, :3].reshape(-1, 3).numpy()) < 2e-3
        assert (tmp_path / "o" / rec["trajectory"]).read_text().count("MODEL") == 5
    assert main(["backbones", "--length", "20", "-n", "1", "-o", str(tmp_path / "raw"), "--model", str(tmp_path / "m"),
                 "--steps", "2", "--no-restraints", "--rot-rate", "4"]) == 0
    manifest = json.loads((tmp_path / "raw" / "samples.json").read_text())
    assert manifest["restraints"] is None and manifest["sampler"] == {"steps": 2, "rot_rate": 4.0}
    with pytest.raises(SystemExit):
        main(["backbones", "--length", "30-20", "-o", str(tmp_path / "x")])
