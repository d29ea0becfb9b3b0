"""ETKDG's experimental torsion preferences as a prior on the rotatable-bond torsions.

ETKDG (Riniker & Landrum 2015) matches torsion patterns fitted to crystal structures (CSD) and
gives each matched dihedral a-b-c-d an energy

    E(phi) = sum_{k=1..6} V_k (1 + s_k cos(k phi)),        s_k = +-1,

which RDKit exposes as ``rdDistGeom.GetExperimentalTorsions``. Turning a rotatable torsion about
bond b-c by delta turns every dihedral about that bond by delta (a dihedral reads the same from
either end), so the prior's score on that torsion is

    -dE/dtau = sum over its matched dihedrals of sum_k k V_k s_k sin(k phi)      (per radian).

:func:`attach` puts the matched terms on a molecule's graph (``featurize``), :func:`prior_score`
evaluates that score on batched conformers; ``TorsionalConformers(torsion_prior=w)`` adds w times
it to the network's score at every sampler step, i.e. samples the product of the learned density
and exp(-w E) (guidance by a knowledge-based prior, as ETKDG itself applies these terms).
"""
from __future__ import annotations

import torch
from rdkit import Chem
from rdkit.Chem import rdDistGeom

from .torsions import dihedrals

ORDERS = torch.arange(1, 7, dtype=torch.float64)            # the six Fourier orders k


def experimental_torsions(mol: Chem.Mol, torsion_index: torch.Tensor):
    """The ETKDG terms of ``mol`` (explicit H) on its rotatable bonds ``torsion_index (4, T)``:
    ``(atoms (4, G) long, torsion (G,) long, coef (G, 6) float64)``, ``coef = V_k s_k``. Terms on
    bonds that are not rotatable torsions (rings, amide C-N held planar) are left out."""
    bond_of = {frozenset((int(j), int(k))): t for t, (j, k) in enumerate(torsion_index[1:3].T.tolist())}
    atoms, owner, coef = [], [], []
    for term in rdDistGeom.GetExperimentalTorsions(mol):
        a, b, c, d = (int(i) for i in term["atomIndices"])
        t = bond_of.get(frozenset((b, c)))
        if t is not None:
            atoms.append((a, b, c, d))
            owner.append(t)
            coef.append([v * s for v, s in zip(term["V"], term["signs"])])
    return (torch.tensor(atoms, dtype=torch.long).reshape(-1, 4).T.contiguous(),
            torch.tensor(owner, dtype=torch.long), torch.tensor(coef, dtype=torch.float64).reshape(-1, 6))


def attach(data, mol: Chem.Mol):
    """``data`` (a ``featurize`` graph of ``mol``) with the prior's terms as ``prior_index (4, G)``,
    ``prior_torsion (G,)`` and ``prior_coef (G, 6)``, which batch with the graph."""
    data.prior_index, data.prior_torsion, data.prior_coef = experimental_torsions(mol, data.torsion_index)
    return data


def _terms(pos: torch.Tensor, data, per_term) -> torch.Tensor:
    """``per_term(k phi (G, 6))`` of each term's dihedral, times its ``coef`` and summed over k,
    then summed per torsion ``(T,)`` float64."""
    phi = dihedrals(pos.to(torch.float64), data.prior_index)
    values = (data.prior_coef * per_term(ORDERS * phi[:, None])).sum(-1)
    return torch.zeros(data.torsion_index.shape[1], dtype=torch.float64, device=pos.device).index_add(
        0, data.prior_torsion, values)


def prior_energy(pos: torch.Tensor, data) -> torch.Tensor:
    """``E`` less its constant ``sum V_k``, summed per torsion ``(T,)``, at conformers ``pos (N, 3)`` Å
    of (batched) graphs ``data``."""
    return _terms(pos, data, torch.cos)


def prior_score(pos: torch.Tensor, data) -> torch.Tensor:
    """``-dE/dtau (T,)`` per radian, float64, at conformers ``pos (N, 3)`` Å of graphs ``data``."""
    return _terms(pos, data, lambda k_phi: ORDERS * torch.sin(k_phi))


__all__ = ["experimental_torsions", "attach", "prior_energy", "prior_score"]
