"""Torsion angles of a conformer, and turning them: what the torsional model moves.

Torsional diffusion keeps a conformer's bond lengths, bond angles and rings from RDKit (an ETKDG
conformer, the local structure) and changes only the dihedral angles of the rotatable
bonds (``featurize``'s ``torsion_index`` and ``side_index``). Turning torsion j–k by delta
rotates the atoms on its k side about the j→k axis. A rotation about one bond leaves every other
torsion's dihedral unchanged (the bond is the only path between its two sides), so turns compose
in any order.
"""
from __future__ import annotations

import torch

from scidiff.geometry import dihedral


def dihedrals(pos: torch.Tensor, torsion_index: torch.Tensor) -> torch.Tensor:
    """Dihedral angles ``(T,)`` in radians, in (-pi, pi], of atoms ``torsion_index (4, T)`` at ``pos (N, 3)`` Å
    (IUPAC sign convention, as RDKit's ``GetDihedralRad``)."""
    return dihedral(*(pos[i] for i in torsion_index))


def rotate_torsions(pos: torch.Tensor, torsion_index: torch.Tensor, side_index: torch.Tensor,
                    delta: torch.Tensor, graph: torch.Tensor | None = None) -> torch.Tensor:
    """Turn every torsion t by ``delta[t]`` radians: a new ``pos (N, 3)`` (the input is untouched;
    differentiable in ``pos`` and ``delta``).

    The torsions of one molecule turn one after another (a turn moves the axes on its side);
    ``graph (T,)``, the molecule of each torsion in a batch, lets the r-th torsions of all
    molecules turn together, so a batch costs as many steps as its molecule with most torsions."""
    pos = pos.clone()
    T = torsion_index.shape[1]
    if T == 0:
        return pos
    rank = _rank_within(graph, T, pos.device)
    tor_all, atoms_all = side_index
    rank_all = rank[tor_all]
    for r in range(int(rank.max()) + 1):
        sel = rank_all == r
        tors, atoms = tor_all[sel], atoms_all[sel]
        j, k = torsion_index[1, tors], torsion_index[2, tors]
        axis = pos[k] - pos[j]
        u = axis / axis.norm(dim=-1, keepdim=True)
        p = pos[atoms] - pos[k]
        c, s = torch.cos(delta[tors])[:, None], torch.sin(delta[tors])[:, None]
        rotated = p * c + torch.cross(u, p, dim=-1) * s + (p * u).sum(-1, keepdim=True) * u * (1 - c)
        pos = pos.index_copy(0, atoms, rotated + pos[k])
    return pos


def _rank_within(graph: torch.Tensor | None, T: int, device) -> torch.Tensor:
    """Each torsion's position ``(T,)`` among its molecule's torsions (all one molecule if None)."""
    if graph is None:
        return torch.arange(T, device=device)
    order = torch.argsort(graph, stable=True)
    ordered = graph[order]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(T, device=graph.device) - torch.searchsorted(ordered, ordered)
    return rank


def set_torsions(pos: torch.Tensor, torsion_index: torch.Tensor, side_index: torch.Tensor,
                 angles: torch.Tensor) -> torch.Tensor:
    """``pos`` with every dihedral set to ``angles (T,)`` radians."""
    return rotate_torsions(pos, torsion_index, side_index, angles - dihedrals(pos, torsion_index))
