"""Torsion angles of a conformer, and turning them: what the torsional model moves.

Torsional diffusion keeps a conformer's bond lengths, bond angles and rings from RDKit
(``local_structure``: an ETKDG conformer) and changes only the dihedral angles of the rotatable
bonds (``featurize``'s ``torsion_index`` and ``side_index``). Turning torsion j–k by delta
rotates the atoms on its k side about the j→k axis. A rotation about one bond leaves every other
torsion's dihedral unchanged (the bond is the only path between its two sides), so turns compose
in any order.
"""
from __future__ import annotations

import torch


def dihedrals(pos: torch.Tensor, torsion_index: torch.Tensor) -> torch.Tensor:
    """Dihedral angles ``(T,)`` in radians, in (-pi, pi], of atoms ``torsion_index (4, T)`` at ``pos (N, 3)`` Å
    (IUPAC sign convention, as RDKit's ``GetDihedralRad``)."""
    p0, p1, p2, p3 = (pos[i] for i in torsion_index)
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = b1 / b1.norm(dim=-1, keepdim=True)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    x = (v * w).sum(-1)
    y = (torch.cross(b1n, v, dim=-1) * w).sum(-1)
    return torch.atan2(y, x)


def rotate_torsions(pos: torch.Tensor, torsion_index: torch.Tensor, side_index: torch.Tensor,
                    delta: torch.Tensor) -> torch.Tensor:
    """Turn every torsion t by ``delta[t]`` radians: a new ``pos (N, 3)`` (the input is untouched;
    differentiable in ``pos`` and ``delta``)."""
    pos = pos.clone()
    for t in range(torsion_index.shape[1]):
        j, k = int(torsion_index[1, t]), int(torsion_index[2, t])
        atoms = side_index[1, side_index[0] == t]
        axis = pos[k] - pos[j]
        u = axis / axis.norm()
        p = pos[atoms] - pos[k]
        c, s = torch.cos(delta[t]), torch.sin(delta[t])
        rotated = p * c + torch.cross(u.expand_as(p), p, dim=-1) * s + (p @ u)[:, None] * u * (1 - c)
        pos = pos.index_copy(0, atoms, rotated + pos[k])
    return pos


def set_torsions(pos: torch.Tensor, torsion_index: torch.Tensor, side_index: torch.Tensor,
                 angles: torch.Tensor) -> torch.Tensor:
    """``pos`` with every dihedral set to ``angles (T,)`` radians."""
    return rotate_torsions(pos, torsion_index, side_index, angles - dihedrals(pos, torsion_index))


def local_structure(mol, seed: int = 0) -> torch.Tensor:
    """One ETKDGv3 conformer ``(n_atoms, 3)`` Å of ``mol`` (explicit H): the bond lengths, angles and
    ring geometry the torsional model keeps."""
    from .generator import ETKDG

    return torch.tensor(ETKDG().generate(mol, 1, seed=seed).GetConformer().GetPositions(), dtype=torch.float64)
