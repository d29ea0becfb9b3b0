"""Molecular graphs for the conformer models: torch-geometric ``Data`` from an RDKit ``Mol``.

``featurize(mol)`` (hydrogens explicit) gives

- ``x (n_atoms, ATOM_DIM)``: one-hots of element, degree, formal charge, hybridisation, chirality
  tag, total H count and smallest ring size, plus aromatic and in-ring flags;
- ``edge_index (2, E)`` / ``edge_attr (E, EDGE_DIM)``: every ordered atom pair at most 3 bonds
  apart (the "extended" graph); bonds carry type, conjugation, ring and stereo one-hots, and
  2- and 3-hop pairs a hop one-hot;
- ``z (n_atoms,)`` atomic numbers, ``pos (n_atoms, 3)`` Å when the Mol has a conformer;
- ``torsion_index (4, T)``: atoms (i, j, k, l) of each rotatable bond j–k, and
  ``side_index (2, S)``: pairs (torsion t, atom a) for the atoms on the k side of torsion t,
  i.e. those that move when the dihedral turns (torsional diffusion's mask, as an index list so
  that batches concatenate).

A bond is rotatable when it is single, not in a ring, not next to a triple bond, not an amide
C(=O)–N or thioamide C(=S)–N bond, and both ends have another heavy neighbour (rotating a CH3
or OH moves only hydrogens). An amide bond is a partial double bond (a rotation barrier near 20
kcal/mol): it stays planar, cis or trans, as the local structure (ETKDG's, in sampling) has it.
``molecule_edges`` unites the extended graph with radius edges on a conformer (the networks' graph).
"""
from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Data

from scidiff.geometry import cosine_cutoff, radius_graph

ELEMENTS = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se")
DEGREES = (0, 1, 2, 3, 4, 5, 6)
CHARGES = (-2, -1, 0, 1, 2)
HYBRIDIZATIONS = tuple(getattr(Chem.HybridizationType, h) for h in ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2"))
CHIRAL_TAGS = tuple(getattr(Chem.ChiralType, c) for c in ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW"))
H_COUNTS = (0, 1, 2, 3, 4)
RING_SIZES = (0, 3, 4, 5, 6, 7, 8)             # 0: not in a ring; larger rings fall in "other"
BOND_TYPES = tuple(getattr(Chem.BondType, b) for b in ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"))
BOND_STEREO = tuple(getattr(Chem.BondStereo, s) for s in ("STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS",
                                                           "STEREOTRANS", "STEREOANY"))


def one_hot(value, choices) -> list[float]:
    """One-hot over ``choices`` plus a final "other" slot."""
    out = [0.0] * (len(choices) + 1)
    out[choices.index(value) if value in choices else len(choices)] = 1.0
    return out


def atom_features(atom: Chem.Atom, ring_info) -> list[float]:
    return (one_hot(atom.GetSymbol(), ELEMENTS) + one_hot(atom.GetDegree(), DEGREES)
            + one_hot(atom.GetFormalCharge(), CHARGES) + one_hot(atom.GetHybridization(), HYBRIDIZATIONS)
            + one_hot(atom.GetChiralTag(), CHIRAL_TAGS) + one_hot(atom.GetTotalNumHs(), H_COUNTS)
            + one_hot(ring_info.MinAtomRingSize(atom.GetIdx()), RING_SIZES)
            + [float(atom.GetIsAromatic()), float(atom.IsInRing())])


def bond_features(bond: Chem.Bond | None, hops: int) -> list[float]:
    """Bond one-hots for a bonded pair (``hops == 1``); for 2- and 3-hop pairs only the hop slot."""
    if bond is None:
        return [0.0] * (len(BOND_TYPES) + 1 + 2 + len(BOND_STEREO) + 1) + [float(hops == 2), float(hops == 3)]
    return (one_hot(bond.GetBondType(), BOND_TYPES) + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
            + one_hot(bond.GetStereo(), BOND_STEREO) + [0.0, 0.0])


_METHANE = Chem.MolFromSmiles("C")            # kept alive: an Atom must not outlive its Mol
ATOM_DIM = len(atom_features(_METHANE.GetAtomWithIdx(0), _METHANE.GetRingInfo()))
EDGE_DIM = len(bond_features(None, 2))


class MolData(Data):
    """``Data`` whose ``side_index`` rows batch as (torsion, atom) indices and ``prior_torsion`` as
    torsion indices (``prior_index`` batches as atom indices, like every ``*index`` key)."""

    def __inc__(self, key, value, *args, **kwargs):
        if key == "side_index":
            return torch.tensor([[self.torsion_index.shape[1]], [self.num_nodes]])
        if key == "prior_torsion":                     # .torsion_prior: each term's torsion
            return self.torsion_index.shape[1]
        return super().__inc__(key, value, *args, **kwargs)

    def __cat_dim__(self, key, value, *args, **kwargs):
        if key in ("side_index", "torsion_index"):
            return -1
        return super().__cat_dim__(key, value, *args, **kwargs)


def extended_edges(mol: Chem.Mol, max_hops: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Ordered pairs at most ``max_hops`` bonds apart: ``edge_index (2, E)``, ``edge_attr (E, EDGE_DIM)``."""
    hops = Chem.GetDistanceMatrix(mol).astype(int)
    src, dst = np.nonzero((hops >= 1) & (hops <= max_hops))
    attrs = [bond_features(mol.GetBondBetweenAtoms(int(i), int(j)), int(hops[i, j])) for i, j in zip(src, dst)]
    return (torch.as_tensor(np.stack([src, dst]), dtype=torch.long),
            torch.tensor(attrs, dtype=torch.float32).reshape(len(attrs), EDGE_DIM))


AMIDE = Chem.MolFromSmarts("[#7X3]-[CX3]=[OX1,SX1]")   # atoms 0-1: the amide C–N bond


def rotatable_bonds(mol: Chem.Mol) -> list[tuple[int, int]]:
    """Bonds (j, k) whose dihedral changes the heavy-atom geometry (see the module docstring)."""
    amides = {frozenset(m[:2]) for m in mol.GetSubstructMatches(AMIDE)}
    out = []
    for bond in mol.GetBonds():
        if bond.GetBondType() != Chem.BondType.SINGLE or bond.IsInRing():
            continue
        if frozenset((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())) in amides:
            continue
        j, k = bond.GetBeginAtom(), bond.GetEndAtom()
        if any(b.GetBondType() == Chem.BondType.TRIPLE for a in (j, k) for b in a.GetBonds()):
            continue
        if all(any(n.GetAtomicNum() > 1 and n.GetIdx() != other.GetIdx() for n in a.GetNeighbors())
               for a, other in ((j, k), (k, j))):
            out.append((j.GetIdx(), k.GetIdx()))
    return out


def torsions(mol: Chem.Mol) -> tuple[torch.Tensor, torch.Tensor]:
    """``torsion_index (4, T)`` and ``side_index (2, S)`` for the rotatable bonds of ``mol``."""
    quads, side = [], []
    for t, (j, k) in enumerate(rotatable_bonds(mol)):
        i = _heavy_neighbour(mol, j, exclude=k)
        m = _heavy_neighbour(mol, k, exclude=j)
        quads.append((i, j, k, m))
        side.extend((t, a) for a in _side(mol, j, k))
    return (torch.tensor(quads, dtype=torch.long).reshape(-1, 4).T.contiguous(),
            torch.tensor(side, dtype=torch.long).reshape(-1, 2).T.contiguous())


def featurize(mol: Chem.Mol, conf_id: int = -1) -> MolData:
    """The graph of ``mol`` (add hydrogens first: ``Chem.AddHs``) as ``MolData``."""
    ring_info = mol.GetRingInfo()
    x = torch.tensor([atom_features(a, ring_info) for a in mol.GetAtoms()], dtype=torch.float32)
    edge_index, edge_attr = extended_edges(mol)
    torsion_index, side_index = torsions(mol)
    data = MolData(x=x, edge_index=edge_index, edge_attr=edge_attr,
                   z=torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.long),
                   torsion_index=torsion_index, side_index=side_index, num_nodes=mol.GetNumAtoms())
    if mol.GetNumConformers():
        data.pos = torch.tensor(mol.GetConformer(conf_id).GetPositions(), dtype=torch.float32)
    return data


def molecule_edges(pos: torch.Tensor, data, cutoff: float):
    """Extended graph united with radius edges on ``pos``: ``edge_index (2, E)`` (src, dst), static
    features ``(E, edge_dim + 1)`` (last column: radius-only flag), weights ``(E,)`` (1 on graph
    edges, a cosine envelope vanishing at ``cutoff`` on radius-only ones)."""
    ext, attr = data.edge_index, data.edge_attr.to(pos.dtype)
    rad, d = radius_graph(pos.detach(), cutoff, data.batch)
    n = pos.shape[0]
    new = ~torch.isin(rad[0] * n + rad[1], ext[0] * n + ext[1])
    rad, d = rad[:, new], d[new]
    index = torch.cat([ext, rad], 1)
    static = torch.cat([torch.cat([attr, attr.new_zeros(ext.shape[1], 1)], 1),
                        torch.cat([attr.new_zeros(rad.shape[1], attr.shape[1]), attr.new_ones(rad.shape[1], 1)], 1)])
    w = torch.cat([pos.new_ones(ext.shape[1]), cosine_cutoff(d, cutoff).to(pos.dtype)])
    return index, static, w


def _heavy_neighbour(mol: Chem.Mol, atom: int, exclude: int) -> int:
    """The lowest-index heavy neighbour of ``atom`` other than ``exclude``."""
    return min(n.GetIdx() for n in mol.GetAtomWithIdx(atom).GetNeighbors()
               if n.GetIdx() != exclude and n.GetAtomicNum() > 1)


def _side(mol: Chem.Mol, j: int, k: int) -> list[int]:
    """Atoms reachable from ``k`` without crossing the bond j–k."""
    seen, stack = {k}, [k]
    while stack:
        a = stack.pop()
        for n in mol.GetAtomWithIdx(a).GetNeighbors():
            b = n.GetIdx()
            if b not in seen and not (a == k and b == j):
                seen.add(b)
                stack.append(b)
    return sorted(seen)
