"""MMFF94 relaxation of generated conformers (scidiff.molecules.relax)."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from scidiff.molecules import ETKDG
from scidiff.molecules.metrics import stereo_preserved
from scidiff.molecules.relax import MMFFRelaxed, mmff_relax

IBUPROFEN = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"

TINY_RUN = {"model": {"net": {"ns": 8, "nv": 2, "layers": 1, "rbf": 8, "time_dim": 8}},   # a two-step training run
            "train": {"steps": 2, "batch_size": 3, "eval_every": 2, "log_every": 1, "progress": False}}


def write_ccd_cache(folder, splits: dict) -> None:
    """A CCD cache folder: ``{split: {name: smiles}}`` as ``split.sdf``, one ETKDG conformer each."""
    folder.mkdir()
    for split, named in splits.items():
        with Chem.SDWriter(str(folder / f"{split}.sdf")) as w:
            for name, smi in named.items():
                mol = ETKDG().generate(smi, 1, seed=3)
                mol.SetProp("_Name", name)
                w.write(mol)


def mmff_energies(mol):
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol)
    return np.array([rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, props, confId=c.GetId()).CalcEnergy()
                     for c in mol.GetConformers()])


def test_relaxation_lowers_the_mmff_energy_and_keeps_the_stereo():
    mol = ETKDG().generate(IBUPROFEN, 4, seed=1)
    before = mmff_energies(mol)
    assert mmff_relax(mol, reference=Chem.Mol(mol)) == 4
    after = mmff_energies(mol)
    assert np.all(after < before - 1.0), (before, after)                       # kcal/mol
    stored = np.array([c.GetDoubleProp("mmff_energy") for c in mol.GetConformers()])
    np.testing.assert_allclose(stored, after, atol=1e-3)
    assert all(c.GetBoolProp("mmff_converged") for c in mol.GetConformers())
    assert all(stereo_preserved(Chem.MolFromSmiles(IBUPROFEN), mol, c.GetId()) for c in mol.GetConformers())


def test_a_relaxation_that_breaks_the_reference_stereo_is_undone():
    """Against the enantiomer's labels every relaxed conformer 'changes' stereo, so each gets its
    input coordinates back and is marked unconverged."""
    mol = ETKDG().generate(IBUPROFEN, 3, seed=2)
    start = [c.GetPositions() for c in mol.GetConformers()]
    mirror = Chem.AddHs(Chem.MolFromSmiles(IBUPROFEN.replace("@@", "@")))
    assert mmff_relax(mol, reference=mirror) == 0
    for conf, pos in zip(mol.GetConformers(), start):
        np.testing.assert_array_equal(conf.GetPositions(), pos)
        assert not conf.GetBoolProp("mmff_converged")


def test_mmff_relaxed_wraps_any_generator_and_keeps_failed_slots():
    gen = MMFFRelaxed(ETKDG())
    assert gen.name == "etkdg+mmff"
    out = gen.generate_many([IBUPROFEN, "C1CC", "CCO"], 2, seed=0)
    assert isinstance(out[1], ValueError)
    for mol in (out[0], out[2]):
        assert mol.GetNumConformers() == 2 and all(c.HasProp("mmff_energy") for c in mol.GetConformers())
    plain = ETKDG().generate(IBUPROFEN, 2, seed=0)
    assert np.all(mmff_energies(out[0]) < mmff_energies(plain))
    same = ETKDG(mmff=True).generate(IBUPROFEN, 2, seed=0)
    np.testing.assert_allclose(same.GetConformer(1).GetPositions(), out[0].GetConformer(1).GetPositions())


def test_molecules_without_mmff_parameters_are_left_unrelaxed_with_a_warning():
    mol = ETKDG().generate("CC[Ge](C)C", 1, seed=0)
    assert not rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol)          # MMFF94 has no germanium
    pos = mol.GetConformer().GetPositions()
    with pytest.warns(UserWarning, match="MMFF94 has no parameters"):
        assert mmff_relax(mol) == 0
    np.testing.assert_array_equal(mol.GetConformer().GetPositions(), pos)


def test_relaxation_leaves_the_molecule_itself_untouched():
    """RDKit's MMFF typing re-perceives aromaticity on the Mol it is given (this Platinum ligand's
    pyrimidinone turns non-aromatic); ``mmff_relax`` moves only the coordinates, so the written
    molecule still matches its input (and the crystal pose, for RMSD)."""
    smiles = "COc1cccc(-c2cccc([C@@H]3C[C@@H]3c3cc(=O)n(C)c(N)n3)c2)c1"
    mol = ETKDG().generate(smiles, 2, seed=0)
    before = Chem.MolToSmiles(mol)
    raw = Chem.Mol(mol)
    rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(raw)
    assert Chem.MolToSmiles(raw) != before                      # what RDKit alone does to the Mol
    assert mmff_relax(mol, reference=Chem.Mol(mol)) == 2
    assert Chem.MolToSmiles(mol) == before
    np.testing.assert_allclose(mol.GetConformer(1).GetPositions(), raw.GetConformer(1).GetPositions(), atol=1e-6)


def test_only_learned_generators_load_weights():
    with pytest.raises(ValueError, match="ETKDG has no pretrained weights"):
        ETKDG.from_pretrained()


# --- relaxed training targets --------------------------------------------------------------------
def eclipsed_hexane():
    """Hexane with its middle C–C–C–C dihedral turned to 120°, between the gauche and anti wells
    (the kind of torsion 40 % of the CCD's open sp3 chains carry)."""
    from rdkit.Chem import rdMolTransforms

    mol = ETKDG().generate("CCCCCC", 1, seed=0)
    rdMolTransforms.SetDihedralDeg(mol.GetConformer(), 1, 2, 3, 4, 120.0)
    mol.SetProp("_Name", "HEX")
    return mol


def test_relaxed_coordinates_settle_a_torsion_into_its_nearest_well():
    from rdkit.Chem import rdMolTransforms

    from scidiff.molecules.relax import relaxed_coordinates

    mol = eclipsed_hexane()
    start = mol.GetConformer().GetPositions()
    relaxed = Chem.Mol(mol)
    relaxed.GetConformer().SetPositions(relaxed_coordinates(mol))
    np.testing.assert_array_equal(mol.GetConformer().GetPositions(), start)          # input untouched
    phi = abs(rdMolTransforms.GetDihedralDeg(relaxed.GetConformer(), 1, 2, 3, 4))
    assert min(abs(phi - 60), abs(phi - 180)) < 15, phi
    assert mmff_energies(relaxed)[0] < mmff_energies(mol)[0] - 1.0
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(relaxed)
    grad = np.array(rdForceFieldHelpers.MMFFGetMoleculeForceField(relaxed, props).CalcGrad())
    assert np.abs(grad).max() < 0.05                                                  # a minimum (kcal/mol/Å)


def test_relaxed_conformers_are_cached_and_molecules_without_mmff_keep_their_own(tmp_path):
    from scidiff.molecules.relax import relaxed_conformers, relaxed_coordinates

    germane = ETKDG().generate("CC[Ge](C)C", 1, seed=0)
    germane.SetProp("_Name", "GE")
    with pytest.raises(ValueError, match="MMFF94 has no parameters"):
        relaxed_coordinates(germane)
    mols, cache = [eclipsed_hexane(), germane], tmp_path / "relaxed.npz"
    first, counts = relaxed_conformers(mols, cache, progress=False)
    assert counts == {"computed": 1, "cached": 0, "failed": 1}
    np.testing.assert_array_equal(first[1].GetConformer().GetPositions(), germane.GetConformer().GetPositions())
    again, counts = relaxed_conformers(mols, cache, progress=False)
    assert counts == {"computed": 0, "cached": 1, "failed": 1}
    np.testing.assert_array_equal(again[0].GetConformer().GetPositions(), first[0].GetConformer().GetPositions())
    assert not np.allclose(first[0].GetConformer().GetPositions(), mols[0].GetConformer().GetPositions())


def test_torsional_run_trains_on_relaxed_then_matched_conformers(tmp_path, capsys):
    from scidiff.molecules.torsional import TorsionalConformers, run

    cache = tmp_path / "ccd"
    smiles = {"IBU": IBUPROFEN, "HEX": "CCCCCC", "PRC": "CCN(CC)CCNC(=O)c1ccc(N)cc1"}
    write_ccd_cache(cache, {"train": smiles, "val": {"IBU": IBUPROFEN}, "test": {"HEX": "CCCCCC"}})
    cfg = {"domain": "molecules-torsional", "cache_dir": str(cache), "eval_molecules": 1,
           "relax_conformers": True, "match_conformers": True,
           **TINY_RUN}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    err = capsys.readouterr().err
    assert "MMFF94 minima" in err and "conformer matching" in err
    for name in ("relaxed_mmff94.npz", "matched_relaxed_seed0.npz"):       # matching of relaxed data has its own cache
        with np.load(cache / name, allow_pickle=False) as f:
            assert sorted(f.files) == ["HEX", "IBU", "PRC"]
    mol = TorsionalConformers.from_pretrained(tmp_path / "out" / "model").generate("CCCCO", 2, seed=0)
    assert mol.GetNumConformers() == 2


# --- MMFF94 ensembles ------------------------------------------------------------------------------
def test_mmff_minima_are_the_own_minimum_then_stereo_true_etkdg_minima():
    from scidiff.molecules.relax import mmff_minima, relaxed_coordinates

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
    from scidiff.molecules.relax import ensemble_conformers
    from scidiff.molecules.train_task import ConformerDataset

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


def test_torsional_run_trains_on_ensembles_and_rejects_matching_them(tmp_path, capsys):
    from scidiff.molecules.torsional import run

    cache = tmp_path / "ccd"
    write_ccd_cache(cache, {split: {"IBU": IBUPROFEN} for split in ("train", "val", "test")})
    cfg = {"domain": "molecules-torsional", "cache_dir": str(cache), "eval_molecules": 1,
           "ensemble_conformers": 2,
           **TINY_RUN}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    assert "MMFF94 ensembles" in capsys.readouterr().err
    with np.load(cache / "mmff94_ensembles_k2_seed0.npz", allow_pickle=False) as f:
        assert f["IBU"].shape == (3, 33, 3)
    with pytest.raises(ValueError, match="cannot be combined"):
        run({**cfg, "match_conformers": True}, tmp_path / "out2")


def test_mmff_energies_agree_with_rdkit_per_conformer():
    from scidiff.molecules.relax import mmff_energies as energies

    mol = ETKDG().generate(IBUPROFEN, 3, seed=4)
    pos = np.stack([c.GetPositions() for c in mol.GetConformers()])
    np.testing.assert_allclose(energies(mol, pos), mmff_energies(mol), rtol=1e-9)
    germane = ETKDG().generate("CC[Ge](C)C", 1, seed=0)
    with pytest.raises(ValueError, match="MMFF94 has no parameters"):
        energies(germane, germane.GetConformer().GetPositions()[None])


def test_low_energy_distinct_cuts_at_the_window_and_drops_repeats():
    from scidiff.molecules.relax import low_energy_distinct, mmff_energies as energies, mmff_minima

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
    from scidiff.molecules.torsional import run

    cache = tmp_path / "ccd"
    smiles = {"THR": "CNC(=O)[C@@H](NC(C)=O)[C@@H](C)O", "HEX": "CCCCCC"}
    write_ccd_cache(cache, {split: smiles for split in ("train", "val", "test")})
    cfg = {"domain": "molecules-torsional", "cache_dir": str(cache), "eval_molecules": 2,
           "relax_conformers": True, "ensemble_conformers": 3, "ensemble_window": 3.0,
           "ensemble_smarts": "[CX3](=O)[NX3][CX4][CX3](=O)[NX3]",
           **TINY_RUN}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    err = capsys.readouterr().err
    assert "MMFF94 ensembles" in err and "MMFF94 minima" in err
    with np.load(cache / "mmff94_ensembles_k3_seed0_window3.npz", allow_pickle=False) as f:
        assert f.files == ["THR"] and f["THR"].shape[1:] == (26, 3)
    with np.load(cache / "relaxed_mmff94.npz", allow_pickle=False) as f:
        assert f.files == ["HEX"]
    for bad, match in (({"ensemble_smarts": "C(("}, "not a valid SMARTS"), ({"ensemble_window": -1.0}, ">= 0")):
        with pytest.raises(ValueError, match=match):
            run({**cfg, **bad}, tmp_path / "out2")
