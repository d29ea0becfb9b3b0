"""GEOM rdkit_folder reading, on a tiny folder written the way GEOM writes it."""
import json
import pickle

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from experiments.geom_reader.geom import read_geom_folder, read_geom_pickle


def geom_entry(smiles, n, seed):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMultipleConfs(mol, n, randomSeed=seed)
    confs = []
    for i, conf in enumerate(mol.GetConformers()):
        one = Chem.Mol(mol, confId=conf.GetId())
        confs.append({"rd_mol": one, "boltzmannweight": [0.1, 0.6, 0.3][i], "totalenergy": -float(i)})
    return {"smiles": smiles, "conformers": confs}, mol


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "drugs").mkdir()
    summary = {}
    for name, smiles in (("a", "CCOc1ccccc1"), ("b", "CC(=O)NCCO")):
        entry, _ = geom_entry(smiles, 3, seed=11)
        (tmp_path / "drugs" / f"{name}.pickle").write_bytes(pickle.dumps(entry))
        summary[smiles] = {"pickle_path": f"drugs/{name}.pickle", "uniqueconfs": 3}
    summary["C"] = {"uniqueconfs": 0}                                      # no pickle: skipped
    (tmp_path / "summary_drugs.json").write_text(json.dumps(summary))
    return tmp_path


def test_conformers_come_back_sorted_by_weight_with_their_coordinates(tmp_path):
    entry, mol = geom_entry("CCOc1ccccc1", 3, seed=3)
    (tmp_path / "m.pickle").write_bytes(pickle.dumps(entry))
    got = read_geom_pickle(tmp_path / "m.pickle")
    np.testing.assert_allclose(got.weights, [0.6, 0.3, 0.1])
    assert got.mol.GetNumConformers() == 3 and got.smiles == "CCOc1ccccc1"
    np.testing.assert_allclose(got.mol.GetConformer(0).GetPositions(), entry["conformers"][1]["rd_mol"].GetConformer().GetPositions())
    top = read_geom_pickle(tmp_path / "m.pickle", max_conformers=2)
    assert top.mol.GetNumConformers() == 2


def test_folder_reading_and_selection(folder):
    mols = list(read_geom_folder(folder))
    assert [m.smiles for m in mols] == ["CCOc1ccccc1", "CC(=O)NCCO"]
    only = list(read_geom_folder(folder, smiles=["CC(=O)NCCO", "not-there"]))
    assert [m.smiles for m in only] == ["CC(=O)NCCO"]
    with pytest.raises(FileNotFoundError, match="rdkit_folder"):
        list(read_geom_folder(folder, subset="qm9"))


def test_broken_pickle_is_named(tmp_path):
    (tmp_path / "bad.pickle").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="bad.pickle"):
        read_geom_pickle(tmp_path / "bad.pickle")
