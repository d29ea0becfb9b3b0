"""Residue frames: Gram-Schmidt convention, equivariance, ideal reconstruction on real chains."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from scidiff.manifolds import SO3
from scidiff.proteins.backbone import read_backbone, structure_files
from scidiff.geometry import dihedral
from scidiff.proteins.frames import (C_LOCAL, N_LOCAL, apply_frames, backbone_from_frames,
                                     frames_from_backbone, frames_from_coords, invert_apply_frames, psi_angles,
                                     rmsd_per_atom)
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA / "proteins"
needs_data = pytest.mark.skipif(not (DATA / "manifest.csv").is_file(),
                                reason=f"shared protein development set {DATA} absent")


def random_backbone(n: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """Random (not protein-like) N, CA, C, O points: frames must still be well defined."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, 3, generator=g, dtype=dtype) * 3


def random_rigid(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    q = SO3().random(1, generator=g)[0]
    return q, torch.randn(3, generator=g, dtype=torch.float64) * 10


@pytest.fixture(scope="module")
def dev_chains():
    if not (DATA / "manifest.csv").is_file():
        pytest.skip(f"shared protein development set {DATA} absent")
    return [read_backbone(p) for p in structure_files(DATA)]


def test_frames_are_orthonormal_right_handed_and_follow_the_convention():
    x = random_backbone(200)
    r, t = frames_from_coords(x)
    assert torch.allclose(r.transpose(-1, -2) @ r, torch.eye(3, dtype=r.dtype).expand(200, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(r), torch.ones(200, dtype=r.dtype), atol=1e-12)
    assert torch.equal(t, x[:, 1])
    n_loc = invert_apply_frames(r, t, x[:, 0])
    c_loc = invert_apply_frames(r, t, x[:, 2])
    assert (c_loc[:, 0] > 0).all() and torch.allclose(c_loc[:, 1:], torch.zeros(200, 2, dtype=r.dtype), atol=1e-12)
    assert (n_loc[:, 1] > 0).all() and torch.allclose(n_loc[:, 2], torch.zeros(200, dtype=r.dtype), atol=1e-12)
    assert torch.allclose(apply_frames(r, t, n_loc), x[:, 0], atol=1e-12)


def test_frames_and_reconstruction_are_equivariant_under_a_rigid_motion():
    x = random_backbone(64, seed=2)
    q, s = random_rigid(3)
    moved = x @ q.T + s
    r, t = frames_from_coords(x)
    r2, t2 = frames_from_coords(moved)
    assert torch.allclose(r2, q @ r, atol=1e-12) and torch.allclose(t2, t @ q.T + s, atol=1e-12)
    assert torch.allclose(backbone_from_frames(r2, t2), backbone_from_frames(r, t) @ q.T + s, atol=1e-10)


def test_reconstruction_is_a_fixed_point_on_ideal_backbones_and_handles_batches_and_numpy():
    x = random_backbone(30, seed=4)
    ideal = backbone_from_frames(*frames_from_coords(x))
    again = backbone_from_frames(*frames_from_coords(ideal))
    assert torch.allclose(again, ideal, atol=1e-10)
    assert torch.allclose((ideal[:, 0] - ideal[:, 1]).norm(dim=-1), torch.tensor(math.hypot(*N_LOCAL), dtype=x.dtype))
    assert torch.allclose((ideal[:, 2] - ideal[:, 1]).norm(dim=-1), torch.tensor(C_LOCAL[0], dtype=x.dtype))
    # O: in the peptide plane with N(i+1), C=O 1.233 Å, CA-C-O 120.56 deg
    o, c, ca, n_next = ideal[:-1, 3], ideal[:-1, 2], ideal[:-1, 1], ideal[1:, 0]
    assert torch.allclose((o - c).norm(dim=-1), torch.tensor(1.2333, dtype=x.dtype), atol=1e-6)
    cos = ((ca - c) * (o - c)).sum(-1) / ((ca - c).norm(dim=-1) * (o - c).norm(dim=-1))
    assert torch.allclose(torch.rad2deg(torch.acos(cos)), torch.tensor(120.56, dtype=x.dtype), atol=1e-6)
    u = (ca - c) / (ca - c).norm(dim=-1, keepdim=True)
    w = (n_next - c) - ((n_next - c) * u).sum(-1, keepdim=True) * u                  # N(i+1) side, normal to CA-C
    normal = torch.linalg.cross(ca - c, n_next - c, dim=-1)
    assert ((o - c) * normal).sum(-1).abs().max() < 1e-10                             # in the peptide plane
    assert (((o - c) * w).sum(-1) < 0).all()                                         # on the side away from N(i+1)
    # batch dimensions and numpy in / numpy out
    xb = torch.stack([x, random_backbone(30, seed=5)])
    rb, tb = frames_from_coords(xb)
    assert torch.allclose(backbone_from_frames(rb, tb)[0], ideal, atol=1e-12)
    rn, tn = frames_from_backbone(x[:, 0].numpy(), x[:, 1].numpy(), x[:, 2].numpy())
    assert isinstance(rn, np.ndarray) and np.allclose(backbone_from_frames(rn, tn), ideal.numpy(), atol=1e-12)


def test_terminal_oxygen_follows_the_psi_angle_and_chain_ends():
    x = random_backbone(10, seed=6)
    r, t = frames_from_coords(x)
    for psi in (-0.8, 2.3):
        out = backbone_from_frames(r, t, psi=psi)
        # O is trans to the virtual N(i+1): torsion N-CA-C-O = psi + pi
        d = dihedral(out[-1, 0], out[-1, 1], out[-1, 2], out[-1, 3])
        assert abs(math.remainder(float(d) - (psi + math.pi), 2 * math.pi)) < 1e-8
    # default: the last residue repeats the psi of the one before
    out = backbone_from_frames(r, t)
    psi = psi_angles(out)
    d = dihedral(out[-1, 0], out[-1, 1], out[-1, 2], out[-1, 3])
    assert abs(math.remainder(float(d) - (float(psi[-2]) + math.pi), 2 * math.pi)) < 1e-8
    # a residue flagged as a segment end ignores the next residue's N
    far = t.clone()
    far[5:] += 100.0
    ended = backbone_from_frames(r, far, ends=[4])
    assert torch.allclose(ended[:5], backbone_from_frames(r[:5], t[:5]), atol=1e-10)


def test_reconstruction_error_on_all_development_chains(dev_chains):
    """Ideal N/CA/C from the Gram-Schmidt frames of real chains: <= 0.1 Å RMSD on every chain."""
    assert len(dev_chains) == 221
    ncac, oxy, last = [], [], []
    for bb in dev_chains:
        x = torch.as_tensor(bb.coords, dtype=torch.float64)
        rec = backbone_from_frames(*frames_from_coords(x))
        d2 = ((rec - x) ** 2).sum(-1)
        ncac.append(float(d2[:, :3].mean().sqrt()))
        oxy.append(float(d2[:-1, 3].mean().sqrt()))
        last.append(float(d2[-1, 3].sqrt()))
        assert torch.allclose(rmsd_per_atom(rec, x)[1], torch.zeros((), dtype=x.dtype))   # CA is exact
    ncac, oxy = np.array(ncac), np.array(oxy)
    print(f"\nN/CA/C RMSD over {len(ncac)} chains: mean {ncac.mean():.4f} max {ncac.max():.4f} Å; "
          f"O (not last) mean {oxy.mean():.4f} max {oxy.max():.4f} Å; last-residue O mean {np.mean(last):.3f} Å")
    assert ncac.max() <= 0.1 and ncac.mean() <= 0.06
    assert oxy.mean() <= 0.12 and oxy.max() <= 0.4
    # float32 (the network dtype) loses nothing that matters
    x32 = torch.as_tensor(dev_chains[0].coords)
    rec32 = backbone_from_frames(*frames_from_coords(x32))
    assert rec32.dtype == torch.float32 and float(((rec32 - x32)[:, :3] ** 2).sum(-1).mean().sqrt()) <= 0.1


def test_frames_of_real_chains_are_rotations(dev_chains):
    r, _ = frames_from_coords(torch.as_tensor(np.concatenate([b.coords for b in dev_chains[:40]])))
    eye = torch.eye(3).expand_as(r)
    assert (r.transpose(-1, -2) @ r - eye).abs().max() < 1e-5
    assert (torch.linalg.det(r) - 1).abs().max() < 1e-5
