"""MMFF94 relaxation of generated conformers (scidiff.molecules.relax)."""
import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers

from scidiff.molecules import ETKDG
from scidiff.molecules.metrics import stereo_preserved
from scidiff.molecules.relax import MMFFRelaxed, mmff_relax

IBUPROFEN = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"


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
