"""Particle guidance for conformer ensembles: the conformers of one molecule, sampled together,
repel each other in torsion space (``scidiff.particle_guidance``; Corso et al. 2024 used it
with torsional diffusion).

Each graph of a sampling batch carries ``conformer_set (1,)``, an integer naming the set it
belongs to: the copies of one molecule drawn in one round. :func:`set_repulsion` evaluates the
torus repulsion within every set and returns it per torsion, so sets of different molecules in
one batch do not interact. Torsions are the dihedrals of ``torsion_index``, the sampler's own
variables. A symmetric rotor (:func:`rotor_orders`: a phenyl ring, a tert-butyl or CF3 group)
is left out of the kernel: turning it by 2pi/m gives the same heavy-atom structure, so its
torsion says little about diversity, and a kernel that measured it modulo 2pi/m would push
conformers off the ring's preferred orientation (measured: Platinum farther on 26 of 36 changed
ligands, ``docs/notes/molecules.md``, "Particle guidance").
"""
from __future__ import annotations

import math

import torch
from rdkit import Chem

from scidiff.particle_guidance import torus_repulsion

from .torsions import dihedrals


def rotor_orders(mol: Chem.Mol, torsion_index: torch.Tensor) -> torch.Tensor:
    """Symmetry order ``(T,)`` long of each torsion ``torsion_index (4, T)`` of ``mol`` (explicit
    H): an end atom whose other neighbours are m >= 2 topologically equivalent atoms (phenyl: 2,
    CF3: 3) turns into itself every 2pi/m; the torsion's order is the lcm over its two ends."""
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    out = []
    for j, k in torsion_index[1:3].T.tolist():
        order = 1
        for end, other in ((j, k), (k, j)):
            nbrs = [a.GetIdx() for a in mol.GetAtomWithIdx(end).GetNeighbors() if a.GetIdx() != other]
            if len(nbrs) >= 2 and len({ranks[a] for a in nbrs}) == 1:
                order = math.lcm(order, len(nbrs))
        out.append(order)
    return torch.tensor(out, dtype=torch.long)


def tag(graphs: list, set_id: int, orders: torch.Tensor | None = None) -> list:
    """``graphs`` (the copies of one molecule) with ``conformer_set = [set_id]`` and
    ``rotor_order (T,)`` (:func:`rotor_orders`; default all 1: every torsion in the kernel), in place."""
    for g in graphs:
        g.conformer_set = torch.tensor([set_id], dtype=torch.long)
        g.rotor_order = torch.ones(g.torsion_index.shape[1], dtype=torch.long) if orders is None else orders
    return graphs


def set_repulsion(pos: torch.Tensor, data) -> torch.Tensor:
    """Repulsive score ``(T,)`` per radian, float64, for conformers ``pos (N, 3)`` Å of batched
    graphs ``data`` tagged by :func:`tag`: :func:`scidiff.particle_guidance.torus_repulsion` of
    each set's ``(k, T_m)`` torsions, the symmetric rotors (``rotor_order`` > 1) left out (zero)."""
    ti = data.torsion_index
    x = dihedrals(pos.to(torch.float64), ti)
    out = torch.zeros_like(x)
    set_of = data.conformer_set.to(x.device)[data.batch[ti[1]]]            # (T,)
    for s in torch.unique(data.conformer_set):
        rows = torch.nonzero(set_of == s).flatten()                         # graph-major order
        k = int((data.conformer_set == s).sum())
        if rows.numel() % k:
            raise ValueError(f"conformer set {int(s)} mixes graphs with different torsion counts")
        free = data.rotor_order.to(x.device)[rows].reshape(k, -1)[0] == 1       # symmetric rotors left out
        xs = x[rows].reshape(k, -1)
        push = torch.zeros_like(xs)
        push[:, free] = torus_repulsion(xs[:, free])
        out[rows] = push.flatten()
    return out


__all__ = ["rotor_orders", "tag", "set_repulsion"]
