"""Molecule input and featurisation, checked against RDKit on real molecules."""
import math

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolTransforms
from torch_geometric.data import Batch

from scidiff.molecules.featurize import ATOM_DIM, EDGE_DIM, ELEMENTS, featurize, rotatable_bonds
from scidiff.molecules.inputs import read_molecules

DRUGS = ["CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",
         "COc1ccc2[nH]cc(CCNC(C)=O)c2c1", "O=C(O)C[C@H](N)C(=O)N[C@@H](Cc1ccccc1)C(=O)OC"]


def with_h(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return mol


@pytest.mark.parametrize("smiles,n", [("CCCC", 1), ("CCCCC", 2), ("c1ccccc1", 0), ("c1ccccc1-c1ccccc1", 1),
                                      ("CCO", 0), ("Cc1ccccc1", 0), ("CCc1ccccc1", 1), ("CCC#N", 0),
                                      ("C1CCCCC1", 0), ("CC(C)(C)C", 0),
                                      ("CNC(C)=O", 0), ("CC(=S)NC", 0), ("CNC(=O)[C@H](C)NC(C)=O", 2),
                                      ("CNC(=O)OCC", 2), ("CC(=O)OCC", 2)])
def test_rotatable_bond_counts(smiles, n):
    assert len(rotatable_bonds(Chem.AddHs(Chem.MolFromSmiles(smiles)))) == n


@pytest.mark.parametrize("smiles", DRUGS)
def test_turning_the_side_atoms_matches_rdkit_set_dihedral(smiles):
    mol = with_h(smiles)
    data = featurize(mol)
    assert data.torsion_index.shape[1] > 0
    for t in range(data.torsion_index.shape[1]):
        i, j, k, m = data.torsion_index[:, t].tolist()
        conf = Chem.Conformer(mol.GetConformer())
        old = rdMolTransforms.GetDihedralRad(conf, i, j, k, m)
        rdMolTransforms.SetDihedralRad(conf, i, j, k, m, old + 1.0)        # RDKit turns the m side by 1 rad
        expected = np.array(conf.GetPositions())
        pos = data.pos.double().numpy().copy()
        side = data.side_index[1, data.side_index[0] == t].numpy()
        pos[side] = rotate_about(pos[side], pos[j], pos[k], 1.0)
        np.testing.assert_allclose(pos, expected, atol=1e-4)


def rotate_about(points, a, b, angle):
    """Rodrigues rotation of ``points`` by ``angle`` about the axis a -> b."""
    u = (b - a) / np.linalg.norm(b - a)
    p = points - b
    rotated = p * math.cos(angle) + np.cross(u, p) * math.sin(angle) + np.outer(p @ u, u) * (1 - math.cos(angle))
    return rotated + b


@pytest.mark.parametrize("smiles", DRUGS[:3])
def test_extended_edges_are_the_pairs_within_three_bonds(smiles):
    mol = with_h(smiles)
    data = featurize(mol)
    hops = Chem.GetDistanceMatrix(mol)
    expected = {(int(i), int(j)) for i, j in zip(*np.nonzero((hops >= 1) & (hops <= 3)))}
    got = {tuple(e) for e in data.edge_index.T.tolist()}
    assert got == expected
    assert data.edge_attr.shape == (len(expected), EDGE_DIM)
    bonded = data.edge_attr[:, :5].sum(1) == 1
    assert int(bonded.sum()) == 2 * mol.GetNumBonds()
    assert torch.equal(data.edge_attr[~bonded, -2:].sum(1), torch.ones(int((~bonded).sum())))


def test_atom_features_are_one_hot_blocks_and_see_chirality():
    mol = with_h("C[C@H](N)C(=O)O")
    data = featurize(mol)
    assert data.x.shape == (mol.GetNumAtoms(), ATOM_DIM)
    symbols = [a.GetSymbol() for a in mol.GetAtoms()]
    assert [ELEMENTS[int(i)] for i in data.x[:, : len(ELEMENTS) + 1].argmax(1)] == symbols
    mirror = featurize(with_h("C[C@@H](N)C(=O)O"))
    assert not torch.equal(data.x, mirror.x)                                    # only the chirality tag differs
    assert torch.equal(data.z, torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()]))


def test_batches_offset_torsion_and_side_indices():
    a, b = featurize(with_h("CCCC")), featurize(with_h("CCCCC"))
    batch = Batch.from_data_list([a, b])
    assert torch.equal(batch.torsion_index[:, 1:], b.torsion_index + a.num_nodes)
    na = a.side_index.shape[1]
    assert torch.equal(batch.side_index[0, na:], b.side_index[0] + a.torsion_index.shape[1])
    assert torch.equal(batch.side_index[1, na:], b.side_index[1] + a.num_nodes)


def test_bad_inputs_are_named_and_the_rest_are_read(tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\n# a comment\n\nC1CC broken\nc1ccccc1\n")
    records = list(read_molecules(smi))
    assert [r.ok for r in records] == [True, False, True]
    assert records[0].name == "ethanol" and records[2].name == "line 5"
    assert "in.smi line 4" in records[1].error and "C1CC" in records[1].error

    csv = tmp_path / "in.csv"
    csv.write_text("id,Smiles,mw\na,CCN,45\nb,XYZ,0\n")
    records = list(read_molecules(csv, name_column="id"))
    assert [r.ok for r in records] == [True, False] and records[1].error.startswith("in.csv line 3")
    with pytest.raises(ValueError, match="columns: id, Smiles, mw"):
        list(read_molecules(csv, column="structure"))

    good = with_h("CCO")
    sdf = tmp_path / "in.sdf"
    block = Chem.MolToMolBlock(good)
    sdf.write_text(block + "$$$$\n" + block.replace("  1  2  1", "  1 99  1") + "$$$$\n" + block + "$$$$\n")
    records = list(read_molecules(sdf))
    assert [r.ok for r in records] == [True, False, True]
    assert "in.sdf record 2" in records[1].error
    assert records[2].mol.GetNumConformers() == 1 and records[2].mol.GetNumAtoms() == 9     # H and 3-D kept
    with pytest.raises(FileNotFoundError):
        list(read_molecules(tmp_path / "missing.sdf"))
