"""Backbone restraints (scidiff.proteins.restraints): ideal peptide links and CA repulsion."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scidiff.manifolds import SO3
from scidiff.manifolds.so3 import rotvec_to_matrix
from scidiff.proteins import evaluate, read_backbone
from scidiff.proteins.frames import (C_LOCAL, CA_C_N, CN_BOND, N_LOCAL, backbone_from_frames, frames_from_coords,
                                     place_atom)
from scidiff.proteins.model import BackboneConfig, BackboneGenerator, SamplerConfig, TrunkConfig
from scidiff.geometry import rmsd
from scidiff.proteins.motif import read_motif
from scidiff.proteins.restraints import C_N_CA, PEPTIDE, Restraints
from tests.conftest import SHARED_DATA

f64 = torch.float64
DATA = SHARED_DATA / "proteins"
PDB = DATA / "bm5_unbound" / "1Z0K_l_u.pdb"          # 46 residues
needs_data = pytest.mark.skipif(not PDB.is_file(), reason="shared protein data absent")
TINY = dict(c_s=32, c_z=16, c_hidden=8, heads=2, qk_points=2, v_points=2, blocks=2, seq_heads=2, max_rel=8, rbf_bins=8)


def ideal_chain(phi: float, psi: float, length: int, omega: float = 180.0) -> torch.Tensor:
    """N, CA, C ``(L, 3, 3)`` built atom by atom (NeRF) with the frames' bond lengths and angles
    and the between-residue angles of the restraints, at constant phi, psi, omega (degrees)."""
    n_ca, ca_c = math.dist(N_LOCAL, (0, 0, 0)), math.dist(C_LOCAL, (0, 0, 0))
    n_ca_c = math.acos(np.dot(N_LOCAL, C_LOCAL) / (n_ca * ca_c))
    t = lambda a: torch.tensor(a, dtype=f64)                            # noqa: E731
    atoms = [t([0.0, 0.0, 0.0]), t([n_ca, 0.0, 0.0])]
    atoms.append(place_atom(t([0.0, 1.0, 0.0]), atoms[0], atoms[1], ca_c, n_ca_c, t(0.0)))
    for _ in range(length - 1):
        atoms.append(place_atom(atoms[-3], atoms[-2], atoms[-1], CN_BOND, CA_C_N, t(math.radians(psi))))
        atoms.append(place_atom(atoms[-3], atoms[-2], atoms[-1], n_ca, C_N_CA, t(math.radians(omega))))
        atoms.append(place_atom(atoms[-3], atoms[-2], atoms[-1], ca_c, n_ca_c, t(math.radians(phi))))
    return torch.stack(atoms).reshape(length, 3, 3)


def heavy_atom_overlaps(coords: np.ndarray, threshold: float) -> int:
    """Pairs of backbone atoms (N, CA, C, O) of residues at least 2 apart closer than ``threshold``
    Å, the last residue's O (placed from psi, not restrained) left out."""
    xyz = coords.reshape(-1, 3)[:-1]
    res = np.repeat(np.arange(len(coords)), 4)[:-1]
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    return int(((d < threshold) & (res[None] - res[:, None] >= 2)).sum())


def test_ideal_peptides_cost_nothing_and_a_cis_peptide_costs_its_ca_distance():
    """The four link distances are those of a planar trans peptide built from the same bond
    lengths and angles, at any phi and psi; a cis peptide keeps the bond and both angles and pays
    only for CA-CA (2.8 Å instead of 3.8)."""
    restraints = Restraints()
    for phi, psi in ((-57, -47), (-120, 130), (60, 40)):
        r, x = frames_from_coords(ideal_chain(phi, psi, 12))
        assert float(restraints.terms(r[None], x[None])["link"]) < 1e-12, (phi, psi)
    ca = ideal_chain(-120, 130, 12)[:, 1]
    assert np.allclose(np.linalg.norm(np.diff(ca.numpy(), axis=0), axis=1), PEPTIDE[3])
    assert 3.79 < PEPTIDE[3] < 3.82 and PEPTIDE[0] == CN_BOND
    cis = ideal_chain(-120, 130, 2, omega=0.0)
    r, x = frames_from_coords(cis)
    d = float((cis[1, 1] - cis[0, 1]).norm())
    assert 2.7 < d < 3.0
    assert math.isclose(float(restraints.terms(r[None], x[None])["link"]), (d - PEPTIDE[3]) ** 2, rel_tol=1e-9)


@needs_data
def test_real_chains_are_nearly_relaxed_already():
    """On a crystal structure the link distances scatter by a few hundredths of an Å and no CA
    pair at least 3 apart comes within 4 Å, so relaxing moves the chain by well under 0.1 Å."""
    r, x = frames_from_coords(torch.tensor(read_backbone(PDB).coords, dtype=f64))
    restraints = Restraints()
    terms = restraints.terms(r[None], x[None])
    assert float(terms["link"]) / (4 * (len(x) - 1)) < 0.01 and float(terms["repulsion"]) < 0.05
    r1, x1 = restraints.relax(r[None], x[None])
    assert float((x1[0] - x).norm(dim=-1).max()) < 0.1
    turn = SO3().dist(r1[0], r)
    assert float(turn.median()) < 0.03 and float(turn.max()) < 0.25      # the termini are the least held


def test_energy_is_invariant_under_a_rigid_motion_of_the_chain():
    g = torch.Generator().manual_seed(0)
    r, x = frames_from_coords(ideal_chain(-70, 140, 20))
    x = x + 0.4 * torch.randn(x.shape, generator=g, dtype=f64)         # strained, and with overlaps
    x[15] = x[3] + 1.0
    q = SO3().random(1, generator=g)[0]
    shift = torch.tensor([5.0, -3.0, 2.0], dtype=f64)
    e = Restraints().terms(r[None], x[None])
    e_moved = Restraints().terms((q @ r)[None], (x @ q.T + shift)[None])
    assert float(e["repulsion"]) > 1.0
    for k in e:
        torch.testing.assert_close(e_moved[k], e[k])


def test_relaxing_a_strained_chain_restores_its_links_and_parts_an_overlap():
    """Frames knocked 0.5 Å and 0.1 rad off an extended chain, with residue 25 moved onto residue
    5: after relaxation every CA-CA and C-N distance is ideal to 0.02 Å, no CA pair (|i - j| >= 3)
    is closer than 3.9 Å, residue 25 is back between its neighbours (dragging the tail after it)
    and the first 20 residues stay where they were (each CA within 1.5 Å of its start). With the
    default tolerance it stops once the energy is at most 1e-3 Å² per residue."""
    g = torch.Generator().manual_seed(1)
    r, x = frames_from_coords(ideal_chain(-120, 130, 30))
    w = 0.1 * torch.randn(r.shape[:-2] + (3,), generator=g, dtype=f64)
    r = r @ rotvec_to_matrix(w)
    x = x + 0.5 * torch.randn(x.shape, generator=g, dtype=f64)
    x[25] = x[5] + torch.tensor([0.5, 0.0, 0.0], dtype=f64)
    loose = Restraints(iterations=200)                  # stops at 1e-3 Å² per residue
    assert float(loose.energy(*loose.relax(r[None], x[None]))) <= 1e-3 * 30
    restraints = Restraints(iterations=200, tolerance=1e-9)
    before = restraints.terms(r[None], x[None])
    r1, x1 = restraints.relax(r[None], x[None])
    after = restraints.terms(r1, x1)
    assert float(after["link"]) < 1e-6 * float(before["link"]) and float(after["repulsion"]) < 1e-3
    bb = backbone_from_frames(r1[0], x1[0])
    assert np.abs(evaluate.ca_bonds(bb.numpy()) - PEPTIDE[3]).max() < 0.02
    assert float(((bb[1:, 0] - bb[:-1, 2]).norm(dim=-1) - CN_BOND).abs().max()) < 0.02
    d = torch.cdist(x1[0], x1[0])
    far = (torch.arange(30)[None] - torch.arange(30)[:, None]).abs() >= 3
    assert float(d[far].min()) > 3.9
    assert heavy_atom_overlaps(bb.numpy(), 2.45) == 0
    moved = (x1[0] - x).norm(dim=-1)
    assert float(moved[25]) > 50
    assert float(moved[:20].max()) < 1.5 and float(moved[:20].mean()) > 0.05


def test_fixed_residues_stay_exactly_where_they_are():
    g = torch.Generator().manual_seed(2)
    r, x = frames_from_coords(ideal_chain(-60, -45, 16))
    x = x + 0.3 * torch.randn(x.shape, generator=g, dtype=f64)
    fixed = torch.zeros(16, dtype=torch.bool)
    fixed[4:9] = True
    r1, x1 = Restraints().relax(r[None], x[None], fixed)
    torch.testing.assert_close(x1[0, fixed], x[fixed], rtol=0, atol=0)
    torch.testing.assert_close(r1[0, fixed], r[fixed], rtol=0, atol=0)
    assert float((x1[0, ~fixed] - x[~fixed]).norm(dim=-1).mean()) > 0.05


def test_backbone_atoms_repel_and_the_contact_list_gives_the_exact_repulsion():
    """An ideal helix is free of overlaps (its hydrogen-bonded O(i)...N(i+4) lie at 3.1 Å, above the
    2.5 Å floor); squeezing its rise by a quarter pushes backbone atoms into each other. The
    contact-list energy equals the all-pairs one, and one relaxation lifts every overlap."""
    restraints = Restraints()
    helix = ideal_chain(-57, -47, 16)
    r, x = frames_from_coords(helix)
    assert float(restraints.terms(r[None], x[None])["repulsion"]) == 0.0
    axis = helix[:, 1].mean(0) - helix[:3, 1].mean(0)
    axis = axis / axis.norm()
    squeezed = helix - 0.25 * ((helix - helix[0, 1]) @ axis)[..., None] * axis
    r, x = frames_from_coords(squeezed)
    bb = backbone_from_frames(r, x).numpy()
    assert heavy_atom_overlaps(bb, 2.5) > 0
    dense = restraints.terms(r[None], x[None])
    for margin in (0.0, 2.0):
        near = restraints.terms(r[None], x[None], restraints.contacts(r[None], x[None], margin))
        torch.testing.assert_close(near["repulsion"], dense["repulsion"])
    assert float(dense["repulsion"]) > 0.1
    r1, x1 = restraints.relax(r[None], x[None])
    assert heavy_atom_overlaps(backbone_from_frames(r1[0], x1[0]).numpy(), 2.45) == 0


@pytest.mark.parametrize("bad", [dict(ca_distance=-1.0), dict(atom_distance=-0.5), dict(iterations=0),
                                 dict(link_weight=-1.0), dict(tolerance=-1e-3), dict(t_max=1.5)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="restraint"):
        Restraints(**bad)


def test_restrained_sampling_gives_ideal_links_and_no_overlaps_even_from_an_untrained_network():
    """The last clean prediction is relaxed, so whatever the network says the written chain has
    ideal CA-CA and C-N distances and no CA clash; unrestrained samples of the same network have
    not. Restraints switched on only below t_max leave the early steps alone."""
    torch.manual_seed(0)
    model = BackboneGenerator(BackboneConfig(trunk=TrunkConfig(**TINY)))
    free = model.sample(24, n=2, seed=0, sampler=SamplerConfig(steps=8))
    held = model.sample(24, n=2, seed=0, sampler=SamplerConfig(steps=8), restraints=Restraints())
    late = model.sample(24, n=2, seed=0, sampler=SamplerConfig(steps=8), restraints=Restraints(t_max=0.2))
    assert all((np.abs(evaluate.ca_bonds(b.coords) - 3.8) > 0.1).mean() > 0.5 for b in free)
    for b in held + late:
        assert np.abs(evaluate.ca_bonds(b.coords) - 3.8).max() <= 0.1 and evaluate.clashes(b.coords, threshold=3.9) == 0
    assert not np.allclose(held[0].coords, late[0].coords, atol=1e-2)


@needs_data
def test_restrained_scaffolds_keep_the_motif_atoms_exactly():
    torch.manual_seed(0)
    model = BackboneGenerator(BackboneConfig(trunk=TrunkConfig(**TINY)))
    bb = read_backbone(PDB)
    first = int(bb.res_num[0])
    motif = read_motif(f"{PDB}:{first + 10}-{first + 21}")
    out = model.sample(32, n=2, seed=4, sampler=SamplerConfig(steps=8), motif=motif, positions=torch.arange(8, 20), restraints=Restraints(iterations=200))
    src = torch.tensor(motif.coords.numpy().reshape(-1, 3), dtype=f64)
    for s in out:
        got = torch.tensor(s.coords[8:20].reshape(-1, 3), dtype=f64)
        assert float(rmsd(src, got)) < 1e-3
        assert np.abs(evaluate.ca_bonds(s.coords) - 3.8).max() <= 0.1
