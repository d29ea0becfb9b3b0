"""Backbone evaluation metrics on hand-made cases, the real-vs-real baseline, the W1 null band of real
subsets, and ``scidiff backbones-eval``."""
import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from scidiff.proteins import evaluate as ev
from scidiff.proteins.backbone import Backbone, read_backbone, read_backbones, structure_files, write_pdb
from scidiff.proteins.cli import register
from scidiff.proteins.frames import place_atom
from scidiff.proteins.real_band import band_summary, draw_windows, real_subset_w1
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA / "proteins"
needs_data = pytest.mark.skipif(not (DATA / "manifest.csv").is_file(),
                                reason=f"shared protein development set {DATA} absent")


def chain(phi: float, psi: float, n: int, omega: float = 180.0) -> np.ndarray:
    """N, CA, C (and a placeholder O = C) of a chain with fixed phi/psi/omega (degrees) and
    Engh & Huber bond lengths/angles, built atom by atom (NeRF)."""
    f = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    a = math.radians(111.0)
    atoms = [[f(1.458 * math.cos(a), 1.458 * math.sin(a), 0.0), f(0.0, 0.0, 0.0), f(1.525, 0.0, 0.0)]]
    rad = math.radians
    for _ in range(n - 1):
        pn, pca, pc = atoms[-1]
        nn = place_atom(pn, pca, pc, 1.329, rad(116.2), rad(psi))
        can = place_atom(pca, pc, nn, 1.458, rad(121.7), rad(omega))
        cn = place_atom(pc, nn, can, 1.525, rad(111.0), rad(phi))
        atoms.append([nn, can, cn])
    x = torch.stack([torch.stack(r) for r in atoms]).numpy()
    return np.concatenate([x, x[:, 2:3]], 1)


HELIX = chain(-57.0, -47.0, 30)
STRAND = chain(-120.0, 130.0, 30)


def test_psea_calls_an_ideal_helix_helix_and_an_extended_strand_strand():
    sse = ev.secondary_structure(HELIX)
    assert (sse == "a").mean() >= 0.9 and "b" not in sse
    sse = ev.secondary_structure(STRAND)
    assert (sse == "b").mean() >= 0.8 and "a" not in sse
    # the CA geometry of an alpha helix: CA-CA 3.80, virtual angle ~91 deg, dihedral ~50 deg
    assert abs(ev.ca_bonds(HELIX).mean() - 3.80) < 0.02
    assert 88 < ev.ca_angles(HELIX).mean() < 94 and 45 < ev.ca_dihedrals(HELIX).mean() < 55
    assert ev.ncac_angles(HELIX) == pytest.approx(111.0)


def test_radius_of_gyration_bond_validity_and_clashes_on_constructed_chains():
    ring = np.stack([10 * np.cos(np.linspace(0, 2 * np.pi, 40, endpoint=False)),
                     10 * np.sin(np.linspace(0, 2 * np.pi, 40, endpoint=False)), np.zeros(40)], -1)
    assert ev.radius_of_gyration(ring) == pytest.approx(10.0)
    assert ev.rg_ratio(ring) == pytest.approx(10.0 / (2.2 * 40 ** 0.38))
    line = np.stack([3.8 * np.arange(20), np.zeros(20), np.zeros(20)], -1)
    assert ev.radius_of_gyration(line) == pytest.approx(3.8 * math.sqrt((20 ** 2 - 1) / 12))
    assert ev.clashes(line) == 0 and (ev.ca_bonds(line) == pytest.approx(3.8))
    bad = line.copy()
    bad[10:] += [0.9, 0, 0]                                     # one 4.7 Å bond
    assert ((ev.ca_bonds(bad) > 3.7) & (ev.ca_bonds(bad) < 3.9)).mean() == pytest.approx(18 / 19)
    hairpin = line.copy()
    hairpin[5] = hairpin[1] + [0.0, 2.5, 0.0]                   # residue 5 sits 2.5 Å from residue 1: |i-j| = 4
    assert ev.clashes(hairpin) == 1
    near = line.copy()
    near[3] = near[1] + [0.0, 2.0, 0.0]                         # |i-j| = 2 is local: not a clash
    assert ev.clashes(near) == 0 and ev.clashes(near, min_separation=2) == 1
    stats = ev.evaluate_set([line, hairpin, HELIX], tm_samples=0)
    s = stats.summary()
    assert s["clash_free"] == pytest.approx(2 / 3) and s["clashes_per_structure"] == pytest.approx(1 / 3)
    assert s["overlap_free"] == 1.0             # the hairpin's CA pair at 2.5 Å is not below 2.5 Å
    assert math.isfinite(s["ncac_angle_mean"])                  # only HELIX has N and C: 111 deg
    assert s["ncac_angle_mean"] == pytest.approx(111.0)


def test_backbone_atom_overlaps_count_pairs_below_hydrogen_bond_distance():
    """A real helix has none. On residues laid 10 Å apart, an O put 2.0 Å from the N of the
    residue two along makes exactly one pair; 2.0 Å from its direct neighbour's N (bonded
    geometry, |i-j| = 1) none; a missing O (NaN) is skipped."""
    assert ev.atom_overlaps(HELIX) == 0
    offsets = np.array([[0.0, 0, 0], [1.5, 0, 0], [3.0, 0, 0], [3.0, 1.2, 0]])   # N, CA, C, O
    x = np.arange(5)[:, None, None] * np.array([10.0, 0, 0]) + offsets
    assert ev.atom_overlaps(x) == 0
    bad = x.copy()
    bad[0, 3] = bad[2, 0] - [2.0, 0, 0]
    assert ev.atom_overlaps(bad) == 1 and ev.atom_overlaps(bad, min_separation=3) == 0
    assert ev.atom_overlaps(bad, threshold=1.9) == 0
    near = x.copy()
    near[0, 3] = near[1, 0] - [2.0, 0, 0]
    assert ev.atom_overlaps(near) == 0
    bad[0, 3] = np.nan
    assert ev.atom_overlaps(bad) == 0


def test_breaks_are_left_out_of_reference_geometry_only_when_asked():
    x = np.concatenate([HELIX[:15], HELIX[15:] + [20.0, 0, 0]])
    bb = Backbone(x.astype(np.float32))
    assert bb.breaks == (14,)
    assert len(ev.ca_bonds(bb)) == 29 and len(ev.ca_bonds(bb, respect_breaks=True)) == 28
    assert len(ev.ca_angles(bb, respect_breaks=True)) == 2 * 13 and len(ev.ca_dihedrals(bb, True)) == 2 * 12
    assert (ev.secondary_structure(bb, respect_breaks=True) == "a").mean() > 0.8


def test_wasserstein_distances_linear_and_circular():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 10, 500)
    assert ev.wasserstein_linear(a, a) == 0 and ev.wasserstein_circular(a, a) == 0
    assert ev.wasserstein_linear(a, a + 5) == pytest.approx(5)
    assert ev.wasserstein_circular(a, a + 5) == pytest.approx(5)
    # across the +-180 cut: linear charges 358 deg, the circle 2 deg
    assert ev.wasserstein_linear([179.0], [-179.0]) == pytest.approx(358)
    assert ev.wasserstein_circular([179.0], [-179.0]) == pytest.approx(2)
    strands = rng.normal(180, 8, 400)
    wrapped = (strands + 180) % 360 - 180
    assert ev.wasserstein_circular(wrapped, wrapped + 3) == pytest.approx(3, abs=1e-9)
    assert ev.wasserstein_linear(wrapped, (wrapped + 3 + 180) % 360 - 180) > 20
    # never above the linear distance, and equal to it when no mass wraps
    b, c = rng.normal(-60, 15, 300), rng.normal(-40, 20, 250)
    assert ev.wasserstein_circular(b, c) == pytest.approx(ev.wasserstein_linear(b, c))
    u, v = rng.uniform(-180, 180, 200), rng.uniform(-180, 180, 300)
    assert ev.wasserstein_circular(u, v) <= ev.wasserstein_linear(u, v) + 1e-12


@pytest.mark.parametrize("method", ["tmalign", "gapless"])
def test_tm_score_of_a_structure_with_itself_and_a_moved_copy_is_one(method):
    if method == "tmalign":
        pytest.importorskip("tmtools")
    x = HELIX[:, 1] if method == "gapless" else np.concatenate([HELIX[:, 1], STRAND[:, 1] + [0, 30.0, 0]])
    moved = x @ Rotation.random(random_state=1).as_matrix().T + [5.0, -3.0, 12.0]
    assert ev.tm_score(x, x, method) == pytest.approx(1.0, abs=1e-6)
    assert ev.tm_score(x, moved, method) == pytest.approx(1.0, abs=1e-6)
    assert ev.tm_score(HELIX, STRAND, method) < 0.35


@needs_data
def test_tm_align_against_the_gapless_fallback_on_real_chains():
    pytest.importorskip("tmtools")
    globins = [read_backbone(p) for p in sorted((DATA / "globins_scop").glob("*.pdb"))[:2]]
    other = read_backbone(DATA / "bm5_unbound" / "1ACB_l_u.pdb")
    tm = ev.tm_score(globins[0], globins[1], "tmalign")
    assert tm > 0.6                                              # same fold
    assert ev.tm_score(globins[0], other, "tmalign") < 0.35      # unrelated
    assert ev.tm_score(globins[0], globins[1], "gapless") <= tm + 0.02   # a lower bound of TM-align


def test_single_linkage_clusters_from_a_tm_matrix():
    tm = np.full((5, 5), 0.2)
    np.fill_diagonal(tm, 1.0)
    tm[0, 1] = tm[1, 0] = 0.7
    tm[1, 2] = tm[2, 1] = 0.55                                   # 0-2 joined through 1 (single linkage)
    labels = ev.tm_clusters(tm, 0.5)
    assert labels[0] == labels[1] == labels[2] and len(set(labels)) == 3


def _cli(argv):
    parser = argparse.ArgumentParser(prog="scidiff")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_prints_a_table_and_writes_metrics_and_plots(tmp_path, capsys):
    samples = [Backbone(HELIX.astype(np.float32)), Backbone(STRAND.astype(np.float32)),
               Backbone(chain(-65.0, 140.0, 40).astype(np.float32))]
    write_pdb(tmp_path / "samples" / "set.pdb", samples[:2], ca_only=True)       # two MODELs, CA only
    write_pdb(tmp_path / "samples" / "third.pdb.gz", samples[2])
    write_pdb(tmp_path / "ref" / "a.pdb", samples[0])
    write_pdb(tmp_path / "ref" / "b.pdb", samples[2])
    (tmp_path / "samples" / "broken.pdb").write_text("ATOM      1  CA  ALA A   1      1.0\n")
    assert _cli(["backbones-eval", str(tmp_path / "samples"), "--reference", str(tmp_path / "ref"),
                 "--out", str(tmp_path / "out"), "--tm-samples", "3"]) == 0
    cap = capsys.readouterr()
    assert "broken.pdb: line 1" in cap.err
    assert "no real-subset band: a real subset of 3 chains needs a reference of more than 3" in cap.err
    assert "W1 CA dihedral vs reference, circular" in cap.out and "clusters (single linkage" in cap.out
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["samples"]["n_structures"] == 3 and m["samples"]["files_failed"] == 1
    assert m["reference"]["n_structures"] == 2 and m["samples"]["tm_clusters"] == 3
    assert m["samples"]["ca_ca_valid"] == 1.0 and m["samples"]["clash_free"] == 1.0
    for name in ("ca_angle_dihedral.png", "secondary_structure.png", "radius_of_gyration.png"):
        assert (tmp_path / "out" / name).stat().st_size > 5000
    with pytest.raises(ValueError, match="broken.pdb: line 1"):
        _cli(["backbones-eval", str(tmp_path / "samples"), "--strict", "--out", str(tmp_path / "o2")])
    with pytest.raises(FileNotFoundError):
        _cli(["backbones-eval", str(tmp_path / "nothing"), "--out", str(tmp_path / "o3")])


@needs_data
def test_real_vs_real_halves_of_the_development_set(tmp_path, capsys):
    """The evaluation suite on real data: halves agree and land where the data README says."""
    n_tm = "12" if ev._have_tmtools() else "6"                 # the gapless fallback is slower
    assert _cli(["backbones-eval", str(DATA), "--self-split", "--tm-samples", n_tm,
                 "--out", str(tmp_path / "rr")]) == 0
    m = json.loads((tmp_path / "rr" / "metrics.json").read_text())
    s, r = m["samples"], m["reference"]
    assert s["n_structures"] == 111 and r["n_structures"] == 110
    for d in (s, r):
        assert d["ca_ca_valid"] > 0.98 and 110 < d["ncac_angle_mean"] < 112.5
        assert 0.95 < d["rg_ratio_median"] < 1.15 and d["clash_free"] > 0.9
        assert 0.2 < d["helix"] < 0.5 and 0.1 < d["strand"] < 0.35
    assert s["ca_angle_w1"] < 1.0 and s["ca_dihedral_w1"] < 6.0
    assert s["ca_dihedral_w1"] <= s["ca_dihedral_w1_linear"] + 1e-9
    files = structure_files(DATA)
    assert len(files) == 221 and files == sorted(files, key=lambda p: p.relative_to(DATA).as_posix())


# ---------------------------------------------------------------------------- the W1 null band
def test_windows_come_from_distinct_chains_long_enough_longest_served_first():
    rng = np.random.default_rng(0)
    ref_len = [100, 60, 80, 45, 150]
    for _ in range(200):
        picks = draw_windows(ref_len, [60, 100, 50, 80], rng)
        chains = [c for c, _ in picks]
        assert len(set(chains)) == 4
        for (c, s), n in zip(picks, [60, 100, 50, 80]):
            assert ref_len[c] >= n and 0 <= s <= ref_len[c] - n
    # only chain 0 holds 100 residues; serving the 60 first could take it
    for _ in range(50):
        assert draw_windows([100, 60], [60, 100], rng) == [(1, 0), (0, 0)]
    with pytest.raises(ValueError, match="at least 120 residues"):
        draw_windows(ref_len, [120, 120], rng)


def test_band_of_a_two_fold_reference_matches_the_closed_form():
    """Reference: n ideal helices and n ideal strands. One window drawn from a helix is scored
    against n-1 helices and n strands, so its dihedral W1 is n/(2n-1) times the circular distance
    between the two dihedrals, in every draw; a strand window, the same. Twelve windows are a mixture
    and land closer."""
    n = 6
    helix, strand = Backbone(HELIX.astype(np.float32)), Backbone(STRAND.astype(np.float32))
    reference = [helix] * n + [strand] * n
    dh, ds = np.median(ev.ca_dihedrals(helix)), np.median(ev.ca_dihedrals(strand))
    gap = abs((dh - ds + 180) % 360 - 180)
    one = real_subset_w1(reference, [20], draws=40, seed=1)
    assert one["ca_dihedral_w1"] == pytest.approx(n / (2 * n - 1) * gap, abs=0.05)
    twelve_of = real_subset_w1(reference * 2, [20] * 12, draws=40, seed=1)
    assert np.median(twelve_of["ca_dihedral_w1"]) < 0.5 * np.median(one["ca_dihedral_w1"])
    with pytest.raises(ValueError, match="needs a reference of more than 12"):
        real_subset_w1(reference, [20] * 12)


def test_band_summary_places_the_samples_in_the_band():
    band = {"ca_angle_w1": np.arange(1.0, 101.0), "ca_dihedral_w1": np.full(100, 4.0)}
    s = band_summary({"ca_angle_w1": 90.5, "ca_dihedral_w1": 4.0}, band)
    assert s["ca_angle_w1_real_above"] == pytest.approx(0.10)
    assert s["ca_dihedral_w1_real_above"] == 1.0 and s["ca_dihedral_w1_real_median"] == 4.0
    assert s["ca_angle_w1_real_p05"] == pytest.approx(5.95) and s["ca_angle_w1_real_p95"] == pytest.approx(95.05)


@needs_data
def test_real_subsets_of_the_suite_size_spread_far_above_the_half_vs_half_line():
    """24 real windows (8 each of 60, 100, 150 residues) against the rest of the development set:
    the median dihedral W1 is well above the 1.67 deg of two halves, and a set of ideal helices
    lies beyond every real draw."""
    reference = [b for p in structure_files(DATA)
                 for b in read_backbones(p, on_break="keep", on_missing="nan", all_models=False)]
    lengths = [60] * 8 + [100] * 8 + [150] * 8
    band = real_subset_w1(reference, lengths, draws=40, seed=0)
    assert 2.5 < np.median(band["ca_dihedral_w1"]) < 8.0 and 0.6 < np.median(band["ca_angle_w1"]) < 2.0
    helices = ev.evaluate_set([chain(-57.0, -47.0, n) for n in lengths], tm_samples=0)
    w1 = ev.compare(helices, ev.evaluate_set(reference, respect_breaks=True, tm_samples=0))
    s = band_summary(w1, band)
    assert s["ca_dihedral_w1_real_above"] == 0.0 and s["ca_angle_w1_real_above"] == 0.0
    assert s["ca_dihedral_w1_real_p05"] < s["ca_dihedral_w1_real_median"] < s["ca_dihedral_w1_real_p95"]
