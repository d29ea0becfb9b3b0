"""MMFF94 relaxation (scidiff.molecules.mmff) of generated conformers and of training targets."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from scidiff.molecules import ETKDG
from scidiff.molecules.metrics import stereo_preserved
from scidiff.molecules.generator import MMFFRelaxed
from scidiff.molecules.mmff import mmff_relax

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

    from scidiff.molecules.mmff import relaxed_coordinates

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
    from scidiff.molecules.mmff import relaxed_conformers, relaxed_coordinates

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


def test_torsional_run_trains_on_relaxed_conformers(tmp_path, capsys):
    from scidiff.molecules import from_pretrained
    from scidiff.molecules.train import run

    cache = tmp_path / "ccd"
    smiles = {"IBU": IBUPROFEN, "HEX": "CCCCCC", "PRC": "CCN(CC)CCNC(=O)c1ccc(N)cc1"}
    write_ccd_cache(cache, {"train": smiles, "val": {"IBU": IBUPROFEN}, "test": {"HEX": "CCCCCC"}})
    cfg = {"domain": "molecules-torsional", "cache_dir": str(cache), "eval_molecules": 1,
           "relax_conformers": True, **TINY_RUN}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 2 and np.isfinite(last["loss"])
    err = capsys.readouterr().err
    assert "MMFF94 minima" in err
    with np.load(cache / "relaxed_mmff94.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["HEX", "IBU", "PRC"]
    mol = from_pretrained(tmp_path / "out" / "model").generate("CCCCO", 2, seed=0)
    assert mol.GetNumConformers() == 2
