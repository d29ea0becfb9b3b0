"""Residue frames: backbone N, CA, C <-> rigid transforms ``(R, t)``, and back to ideal atoms.

Convention (AlphaFold Alg. 21 ``rigidFrom3Points``, FrameDiff/FrameFlow): the origin is CA, the
x-axis points CA -> C, N lies in the xy-plane with positive y, z = x cross y. ``R`` holds the
axes as columns, so a local point p maps to ``R @ p + t`` (global). ``R`` is an SO(3) point of
:class:`scidiff.manifolds.SO3`; ``(t, R)`` is an SE(3) point of :class:`scidiff.manifolds.SE3`.

Back to atoms: N and C at AlphaFold's literature positions (rigid group 0 of ALA, Engh & Huber),
N = (-0.525, 1.363, 0) (|N-CA| 1.460 Å, N-CA-C 111.07 deg), C = (1.526, 0, 0). O lies in the
peptide plane CA(i), C(i), N(i+1) at |C=O| 1.233 Å, CA-C-O 120.56 deg (AlphaFold's psi-group O,
(0.627, 1.062, 0)), on the side away from N(i+1). Where there is no next residue (chain end, or a
residue flagged as a break) a virtual N(i+1) is placed from a psi angle (C-N 1.329 Å, CA-C-N
116.57 deg, torsion N-CA-C-N(i+1) = psi) and O follows the same rule.

All functions take torch tensors (float32 or float64) with any leading batch shape; numpy input
gives numpy output.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from scidiff.geometry import dihedral

N_LOCAL = (-0.525, 1.363, 0.0)      # AlphaFold rigid_group_atom_positions, ALA, group 0
C_LOCAL = (1.526, 0.0, 0.0)
CO_BOND, CA_C_O = 1.2333, math.radians(120.56)    # AlphaFold psi-group O at (0.627, 1.062, 0)
CN_BOND, CA_C_N = 1.329, math.radians(116.57)     # between-residue C-N, acos(-0.4473)
PSI_FALLBACK = math.radians(-47.0)                 # alpha-helix psi, when nothing better is known


def _numpy_io(fn):
    """Let ``fn`` take numpy arrays (returning numpy) as well as tensors."""
    def wrapper(*args, **kwargs):
        is_np = any(isinstance(a, np.ndarray) for a in args)
        if not is_np:
            return fn(*args, **kwargs)
        args = [torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in args]
        out = fn(*args, **kwargs)
        return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()
    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = fn.__name__, fn.__doc__, fn
    return wrapper


def _unit(v: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(eps)


@_numpy_io
def frames_from_backbone(n: torch.Tensor, ca: torch.Tensor, c: torch.Tensor, eps: float = 1e-8):
    """Gram-Schmidt frames ``(R (..., 3, 3), t (..., 3))`` from N, CA, C ``(..., 3)``."""
    e1 = _unit(c - ca, eps)
    u2 = n - ca
    e2 = _unit(u2 - (u2 * e1).sum(-1, keepdim=True) * e1, eps)
    e3 = torch.linalg.cross(e1, e2, dim=-1)
    return torch.stack([e1, e2, e3], -1), ca


@_numpy_io
def frames_from_coords(coords: torch.Tensor, eps: float = 1e-8):
    """Frames of backbone coordinates ``(..., L, 4 or 3, 3)`` (N, CA, C[, O])."""
    return frames_from_backbone(coords[..., 0, :], coords[..., 1, :], coords[..., 2, :], eps=eps)


@_numpy_io
def apply_frames(r: torch.Tensor, t: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """Local points ``(..., 3)`` (broadcast against the frames) -> global ``R p + t``."""
    return (r @ local.to(r.dtype)[..., None])[..., 0] + t


@_numpy_io
def invert_apply_frames(r: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Global points -> local ``R^T (x - t)``."""
    return (r.transpose(-1, -2) @ (x - t)[..., None])[..., 0]


def place_atom(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, bond, angle, torsion) -> torch.Tensor:
    """NeRF: the point d with |c-d| = bond, angle b-c-d = angle, torsion a-b-c-d = torsion."""
    bc = _unit(c - b)
    nrm = _unit(torch.linalg.cross(b - a, bc, dim=-1))
    m = torch.stack([bc, torch.linalg.cross(nrm, bc, dim=-1), nrm], -1)
    angle, torsion = torch.as_tensor(angle, dtype=c.dtype), torch.as_tensor(torsion, dtype=c.dtype)
    d = torch.stack([-torch.cos(angle).expand(torsion.shape), torch.sin(angle) * torch.cos(torsion),
                     torch.sin(angle) * torch.sin(torsion)], -1)
    return c + (m @ (bond * d)[..., None])[..., 0]


def oxygen_from_peptide_plane(ca: torch.Tensor, c: torch.Tensor, n_next: torch.Tensor) -> torch.Tensor:
    """O in the plane CA, C, N(i+1): |C=O| 1.233 Å, CA-C-O 120.56 deg, opposite N(i+1)."""
    u = _unit(ca - c)
    w = n_next - c
    w = _unit(w - (w * u).sum(-1, keepdim=True) * u)
    return c + CO_BOND * (math.cos(CA_C_O) * u - math.sin(CA_C_O) * w)


def psi_angles(coords: torch.Tensor) -> torch.Tensor:
    """psi(i) = torsion N(i), CA(i), C(i), N(i+1) of ``(..., L, >=3, 3)``; the last is NaN."""
    psi = dihedral(coords[..., :-1, 0, :], coords[..., :-1, 1, :], coords[..., :-1, 2, :], coords[..., 1:, 0, :])
    return torch.cat([psi, torch.full_like(psi[..., :1], float("nan"))], -1)


@_numpy_io
def backbone_from_frames(r: torch.Tensor, t: torch.Tensor, psi=None, ends=None) -> torch.Tensor:
    """Ideal backbone ``(..., L, 4, 3)`` (N, CA, C, O) of frames ``R (..., L, 3, 3)``, ``t (..., L, 3)``.

    O(i) comes from the next residue's ideal N except at a chain end: the last residue and the
    residues listed in ``ends`` (indices i with a break between i and i+1). There O comes from
    ``psi`` (radians; a scalar or ``(..., L)`` of which the end entries are used); by default the
    psi of the residue before the end (the chain continues its local conformation), or -47 deg
    (helical) for a one-residue segment.
    """
    n = apply_frames(r, t, torch.tensor(N_LOCAL, dtype=r.dtype, device=r.device))
    c = apply_frames(r, t, torch.tensor(C_LOCAL, dtype=r.dtype, device=r.device))
    L = t.shape[-2]
    end = torch.zeros(L, dtype=torch.bool, device=t.device)
    end[-1] = True
    if ends is not None:
        end[torch.as_tensor(list(ends), dtype=torch.long, device=t.device)] = True
    n_next = torch.cat([n[..., 1:, :], n[..., -1:, :]], -2)     # placeholder for the last, replaced below
    if psi is None:
        atoms = torch.stack([n, t, c], -2)
        measured = psi_angles(atoms)                            # psi(i) from the ideal next N
        prev = torch.cat([torch.full_like(measured[..., :1], float("nan")), measured[..., :-1]], -1)
        prev_ok = torch.cat([torch.zeros(1, dtype=torch.bool, device=t.device), ~end[:-1]])
        psi_end = torch.where(prev_ok, prev, torch.full_like(prev, PSI_FALLBACK))
    else:
        psi_end = torch.as_tensor(psi, dtype=t.dtype, device=t.device).expand(t.shape[:-1])
    virtual = place_atom(n, t, c, CN_BOND, CA_C_N, psi_end)
    n_next = torch.where(end[:, None], virtual, n_next)
    o = oxygen_from_peptide_plane(t, c, n_next)
    return torch.stack([n, t, c, o], -2)


def rmsd_per_atom(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """RMSD over residues for each backbone atom ``(..., L, A, 3) -> (..., A)`` (no superposition)."""
    return ((a - b) ** 2).sum(-1).mean(-2).sqrt()


__all__ = ["N_LOCAL", "C_LOCAL", "frames_from_backbone", "frames_from_coords", "apply_frames",
           "invert_apply_frames", "backbone_from_frames", "place_atom", "psi_angles",
           "oxygen_from_peptide_plane", "rmsd_per_atom"]
