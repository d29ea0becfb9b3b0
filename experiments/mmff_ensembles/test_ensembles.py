"""MMFF94 ensembles as torsional training data (experiments.mmff_ensembles)."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from experiments.mmff_ensembles import ensembles
from experiments.mmff_ensembles.ensembles import ensemble_conformers, low_energy_distinct, mmff_minima
from experiments.mmff_ensembles.train import run
from scidiff.molecules import ETKDG
from scidiff.molecules.metrics import stereo_preserved
from scidiff.molecules.mmff import relaxed_coordinates
from scidiff.molecules.train import ConformerDataset
from tests.molecules.test_mmff import IBUPROFEN, TINY_RUN, eclipsed_hexane, mmff_energies, write_ccd_cache


def test_mmff_minima_are_the_own_minimum_then_stereo_true_etkdg_minima():

    mol = ETKDG().generate(IBUPROFEN, 1, seed=0)
    ens = mmff_minima(mol, 4, seed=1)
    assert ens.shape == (5, mol.GetNumAtoms(), 3)
    np.testing.assert_allclose(ens[0], relaxed_coordinates(mol))
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for k, pos in enumerate(ens):
        conf = Chem.Conformer(mol.GetNumAtoms())
        conf.SetPositions(pos)
        conf.SetId(k)
        out.AddConformer(conf)
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(out)
    for conf in out.GetConformers():
        assert stereo_preserved(mol, out, conf.GetId())
        grad = np.array(rdForceFieldHelpers.MMFFGetMoleculeForceField(out, props, confId=conf.GetId()).CalcGrad())
        assert np.abs(grad).max() < 0.1                                                  # each a minimum
    spread = np.abs(ens[1:] - ens[1]).max()
    assert spread > 0.5                                   # different embeddings reach different wells
    np.testing.assert_array_equal(mmff_minima(mol, 4, seed=1), ens)                     # reproducible


def test_ensemble_conformers_are_cached_and_give_one_training_item_each(tmp_path):

    germane = ETKDG().generate("CC[Ge](C)C", 1, seed=0)
    germane.SetProp("_Name", "GE")
    mols, cache = [eclipsed_hexane(), germane], tmp_path / "ens.npz"
    first, counts = ensemble_conformers(mols, 3, cache, progress=False)
    assert counts == {"computed": 1, "cached": 0, "failed": 1}
    assert [m.GetNumConformers() for m in first] == [4, 1]
    again, counts = ensemble_conformers(mols, 3, cache, progress=False)
    assert counts == {"computed": 0, "cached": 1, "failed": 1}
    for a, b in zip(again[0].GetConformers(), first[0].GetConformers()):
        np.testing.assert_array_equal(a.GetPositions(), b.GetPositions())
    ds = ConformerDataset(first)
    assert len(ds) == 5
    for i, conf in enumerate(first[0].GetConformers()):
        pos = conf.GetPositions()
        np.testing.assert_allclose(ds[i].pos.numpy(), pos - pos.mean(0), atol=1e-5)
        assert ds[i].torsion_index.shape == ds[0].torsion_index.shape
    np.testing.assert_allclose(ds[4].pos.numpy(), germane.GetConformer().GetPositions()
                               - germane.GetConformer().GetPositions().mean(0), atol=1e-5)


def test_torsional_run_trains_on_ensembles(tmp_path, capsys):
    cache = tmp_path / "ccd"
    write_ccd_cache(cache, {split: {"IBU": IBUPROFEN} for split in ("train", "val", "test")})
    cfg = {"domain": "molecules-torsional", "cache_dir": str(cache), "eval_molecules": 1,
           "ensembles": {"k": 2}, **TINY_RUN}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    assert "MMFF94 ensembles" in capsys.readouterr().err
    with np.load(cache / "mmff94_ensembles_k2_seed0.npz", allow_pickle=False) as f:
        assert f["IBU"].shape == (3, 33, 3)


def test_mmff_energies_agree_with_rdkit_per_conformer():
    energies = ensembles.mmff_energies

    mol = ETKDG().generate(IBUPROFEN, 3, seed=4)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    np.testing.assert_allclose(energies(mol, pos), mmff_energies(mol), rtol=1e-9)
    germane = ETKDG().generate("CC[Ge](C)C", 1, seed=0)
    with pytest.raises(ValueError, match="MMFF94 has no parameters"):
        energies(germane, germane.GetConformer().GetPositions()[None])


def test_low_energy_distinct_cuts_at_the_window_and_drops_repeats():
    energies = ensembles.mmff_energies

    mol = ETKDG().generate("CNC(=O)[C@@H](NC(C)=O)[C@@H](C)O", 1, seed=3)     # Ac-Thr-NHMe: several wells
    pos = mmff_minima(mol, 6, seed=5)
    e = energies(mol, pos)
    rng = np.random.default_rng(0)
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    rotation *= np.sign(np.linalg.det(rotation))
    repeat = pos[np.argmin(e)] @ rotation.T + 3.0                 # the lowest minimum again, moved rigidly
    pool = np.concatenate([pos, repeat[None]])
    heavy = [(a, a) for a in range(mol.GetNumAtoms()) if mol.GetAtomWithIdx(a).GetAtomicNum() > 1]
    rmsd = lambda a, b: Chem.rdMolAlign.AlignMol(*_pair(mol, a, b), atomMap=heavy)
    for window in (1.0, 3.0, 100.0):
        kept = low_energy_distinct(mol, pool, window)
        ek = energies(mol, kept)
        assert np.all(np.diff(ek) >= 0) and ek[0] == pytest.approx(e.min())          # lowest first
        assert np.all(ek - e.min() <= window)
        for i in range(len(kept)):                                       # distinct: no pair superposes
            assert all(rmsd(kept[i], kept[j]) >= 0.25 for j in range(i))
        for x in pool[energies(mol, pool) - e.min() <= window]:          # nothing distinct was lost
            assert min(rmsd(x, y) for y in kept) < 0.25
    assert len(low_energy_distinct(mol, pool, 100.0)) < len(pool)        # the rigid copy was dropped


def _pair(mol, a, b):
    """Two single-conformer copies of ``mol`` at coordinates ``a`` and ``b``."""
    out = []
    for pos in (a, b):
        m = Chem.Mol(mol)
        m.GetConformer().SetPositions(np.asarray(pos, dtype=np.float64))
        out.append(m)
    return out


def test_torsional_run_gives_ensembles_to_smarts_matches_and_relaxed_minima_to_the_rest(tmp_path, capsys):
    cache = tmp_path / "ccd"
    smiles = {"THR": "CNC(=O)[C@@H](NC(C)=O)[C@@H](C)O", "HEX": "CCCCCC"}
    write_ccd_cache(cache, {split: smiles for split in ("train", "val", "test")})
    cfg = {"domain": "molecules-torsional", "cache_dir": str(cache), "eval_molecules": 2,
           "relax_conformers": True, "ensembles": {"k": 3, "window": 3.0, "smarts": "[CX3](=O)[NX3][CX4][CX3](=O)[NX3]"},
           **TINY_RUN}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    err = capsys.readouterr().err
    assert "MMFF94 ensembles" in err and "MMFF94 minima" in err
    with np.load(cache / "mmff94_ensembles_k3_seed0_window3.npz", allow_pickle=False) as f:
        assert f.files == ["THR"] and f["THR"].shape[1:] == (26, 3)
    with np.load(cache / "relaxed_mmff94.npz", allow_pickle=False) as f:
        assert f.files == ["HEX"]
    for bad, match in (({"smarts": "C(("}, "not a valid SMARTS"), ({"window": -1.0}, ">= 0")):
        with pytest.raises(ValueError, match=match):
            run({**cfg, "ensembles": {**cfg["ensembles"], **bad}}, tmp_path / "out2")
