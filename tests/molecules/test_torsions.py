"""Torsion angles and turning them, against RDKit on drug molecules."""
import math

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import rdMolTransforms

from scidiff.molecules.featurize import featurize
from scidiff.molecules.chem import prepare
from scidiff.molecules.generator import ETKDG
from scidiff.molecules.torsions import dihedrals, rotate_torsions, set_torsions


def local_structure(mol, seed: int = 0) -> torch.Tensor:
    """One ETKDG conformer ``(n_atoms, 3)`` Å of ``mol``, float64."""
    return torch.tensor(ETKDG().generate(mol, 1, seed=seed).GetConformer().GetPositions(), dtype=torch.float64)

DRUGS = ["CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "COc1ccc2[nH]cc(CCNC(C)=O)c2c1", "CCN(CC)CCOC(=O)c1ccc(N)cc1"]


def geometry(mol, pos):
    """Every bond length and bond angle of ``mol`` at ``pos``."""
    p = pos.numpy()
    lengths = [np.linalg.norm(p[b.GetBeginAtomIdx()] - p[b.GetEndAtomIdx()]) for b in mol.GetBonds()]
    angles = []
    for a in mol.GetAtoms():
        nb = [n.GetIdx() for n in a.GetNeighbors()]
        for x in range(len(nb)):
            for y in range(x + 1, len(nb)):
                u, v = p[nb[x]] - p[a.GetIdx()], p[nb[y]] - p[a.GetIdx()]
                angles.append(math.acos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))
    return np.array(lengths), np.array(angles)


@pytest.mark.parametrize("smiles", DRUGS)
def test_dihedrals_match_rdkit_and_turns_change_only_torsions(smiles):
    mol = prepare(smiles)
    pos = local_structure(mol, seed=2)
    data = featurize(mol)
    ti, si = data.torsion_index, data.side_index
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, xyz in enumerate(pos.tolist()):
        conf.SetAtomPosition(i, xyz)
    rd = [rdMolTransforms.GetDihedralRad(conf, *ti[:, t].tolist()) for t in range(ti.shape[1])]
    np.testing.assert_allclose(dihedrals(pos, ti).numpy(), rd, atol=1e-9)

    delta = torch.linspace(-2.5, 2.9, ti.shape[1], dtype=torch.float64)
    turned = rotate_torsions(pos, ti, si, delta)
    change = (dihedrals(turned, ti) - dihedrals(pos, ti) - delta + math.pi) % (2 * math.pi) - math.pi
    assert float(change.abs().max()) < 1e-9                         # each torsion moved by exactly its delta
    for before, after in zip(geometry(mol, pos), geometry(mol, turned)):
        np.testing.assert_allclose(before, after, atol=1e-9)         # local structure untouched

    target = torch.full((ti.shape[1],), 0.7, dtype=torch.float64)
    np.testing.assert_allclose(dihedrals(set_torsions(pos, ti, si, target), ti).numpy(), 0.7, atol=1e-9)


def test_turning_is_differentiable():
    mol = prepare("CCCCO")
    pos = local_structure(mol)
    data = featurize(mol)
    delta = torch.zeros(data.torsion_index.shape[1], dtype=torch.float64, requires_grad=True)
    turned = rotate_torsions(pos, data.torsion_index, data.side_index, delta)
    turned[-1].sum().backward()
    assert delta.grad is not None and torch.isfinite(delta.grad).all()


def test_a_batch_turns_its_molecules_together_exactly_as_one_by_one():
    """With ``graph`` the r-th torsions of all molecules turn in one step; every molecule ends
    where turning it alone puts it (molecules with different torsion counts, shuffled graph ids)."""
    from torch_geometric.data import Batch

    mols = [prepare(s) for s in DRUGS + ["CCCCO"]]
    graphs = []
    for i, mol in enumerate(mols):
        data = featurize(mol)
        data.pos = local_structure(mol, seed=i)
        graphs.append(data)
    batch = Batch.from_data_list(graphs)
    ti, si = batch.torsion_index, batch.side_index
    delta = torch.linspace(-3.0, 3.0, ti.shape[1], dtype=torch.float64)
    together = rotate_torsions(batch.pos, ti, si, delta, batch.batch[ti[1]])
    one_by_one = rotate_torsions(batch.pos, ti, si, delta)
    np.testing.assert_allclose(together.numpy(), one_by_one.numpy(), atol=1e-12)
    first = 0
    for i, data in enumerate(graphs):
        t = data.torsion_index.shape[1]
        alone = rotate_torsions(data.pos, data.torsion_index, data.side_index, delta[first:first + t])
        np.testing.assert_allclose(together[batch.ptr[i]:batch.ptr[i + 1]].numpy(), alone.numpy(), atol=1e-12)
        first += t
    shuffled = torch.tensor([3, 0, 2, 1])[batch.batch[ti[1]]]        # any labels, one per molecule
    np.testing.assert_allclose(rotate_torsions(batch.pos, ti, si, delta, shuffled).numpy(), together.numpy(), atol=1e-12)
