"""Conformer metrics (symmetry-aware RMSD, GEOM COV/MAT, recovery, sanity checks) and the ETKDG baseline."""
import re
import warnings

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers, rdMolAlign
from scipy.spatial.transform import Rotation

from scidiff.molecules import generator as gen_module
from scidiff.molecules import metrics
from scidiff.molecules.chem import prepare
from scidiff.molecules.generator import ETKDG


def embed(smiles: str, n: int = 1, seed: int = 0) -> Chem.Mol:
    return ETKDG().generate(smiles, n, seed=seed)


def with_positions(mol: Chem.Mol, positions: np.ndarray, conf_id: int = 0) -> Chem.Mol:
    """Copy of ``mol`` holding one conformer (id 0) at ``positions``."""
    out = Chem.Mol(mol, confId=conf_id)
    out.GetConformer().SetPositions(np.asarray(positions, dtype=float))
    return out


def naive_rms(probe: Chem.Mol, ref: Chem.Mol) -> float:
    """AlignMol with the identity mapping on H-free copies (no symmetry)."""
    p, r = Chem.RemoveHs(probe), Chem.RemoveHs(ref)
    return rdMolAlign.AlignMol(p, r, atomMap=[(i, i) for i in range(r.GetNumAtoms())])


# ---------------------------------------------------------------------------- RMSD


def test_rigid_motion_gives_zero_and_inputs_are_untouched():
    ref = embed("CCOC(=O)c1ccc(N)cc1", seed=1)
    pos = ref.GetConformer().GetPositions()
    moved = pos @ Rotation.random(random_state=0).as_matrix().T + np.array([3.0, -7.0, 11.0])
    probe = with_positions(ref, moved)
    assert np.sqrt(((moved - pos) ** 2).sum(1).mean()) > 1.0          # the motion is real
    before_probe, before_ref = probe.GetConformer().GetPositions(), ref.GetConformer().GetPositions()
    assert metrics.best_rms(probe, ref) < 1e-6
    np.testing.assert_array_equal(probe.GetConformer().GetPositions(), before_probe)
    np.testing.assert_array_equal(ref.GetConformer().GetPositions(), before_ref)


def test_benzene_with_permuted_atom_order_is_symmetry_matched():
    ref = embed("c1ccccc1", seed=2)
    order = list(range(ref.GetNumAtoms()))
    order[1], order[2] = order[2], order[1]                  # not a symmetry of the hexagon
    probe = Chem.RenumberAtoms(ref, order)
    assert naive_rms(probe, ref) > 0.1
    assert metrics.best_rms(probe, ref) < 1e-6


def test_cf3_with_permuted_fluorines_is_symmetry_matched():
    ref = embed("FC(F)(F)c1ccccc1", seed=3)
    fluorines = [a.GetIdx() for a in ref.GetAtoms() if a.GetSymbol() == "F"]
    assert len(fluorines) == 3
    pos = ref.GetConformer().GetPositions()
    permuted = pos.copy()
    permuted[fluorines] = pos[np.roll(fluorines, 1)]     # same point set, fluorine labels rotated
    probe = with_positions(ref, permuted)
    assert naive_rms(probe, ref) > 0.1
    assert metrics.best_rms(probe, ref) < 1e-6


def test_carboxylic_acid_oxygens_are_equivalent_as_in_rdkit():
    """GetBestRMS symmetrises conjugated terminal groups (C(=O)OH, NO2); so must we."""
    ref = embed("OC(=O)c1ccccc1", seed=4)
    o_single, o_double = 0, 2
    pos = ref.GetConformer().GetPositions()
    swapped = pos.copy()
    swapped[[o_single, o_double]] = pos[[o_double, o_single]]
    probe = with_positions(ref, swapped)
    assert naive_rms(probe, ref) > 0.1
    assert rdMolAlign.GetBestRMS(Chem.RemoveHs(probe), Chem.RemoveHs(ref)) < 1e-6
    assert metrics.best_rms(probe, ref) < 1e-6


def test_rmsd_matrix_agrees_with_rdkit_getbestrms():
    """Our one-off mapping enumeration (incl. carboxylic-acid O symmetry) reproduces GetBestRMS."""
    mol = embed("OC(=O)c1ccccc1C(F)(F)F", n=4, seed=4)
    rmsd = metrics.rmsd_matrix(mol, mol)
    heavy = Chem.RemoveHs(mol)
    for i in range(4):
        for j in range(4):
            expected = rdMolAlign.GetBestRMS(Chem.Mol(heavy), heavy, j, i)
            assert rmsd[i, j] == pytest.approx(expected, abs=1e-6)


def test_rmsd_matrix_shape_orientation_and_atom_order():
    generated = embed("CCCCOC(=O)c1ccccc1", n=3, seed=5)
    reference = embed("CCCCOC(=O)c1ccccc1", n=2, seed=6)
    rmsd = metrics.rmsd_matrix(generated, reference)
    assert rmsd.shape == (2, 3)
    assert rmsd.min() > 1e-3                              # distinct conformers
    assert rmsd[1, 2] == pytest.approx(metrics.best_rms(generated, reference, probe_id=2, ref_id=1), abs=1e-6)
    np.testing.assert_allclose(metrics.rmsd_matrix(reference, generated), rmsd.T, atol=1e-6)
    order = [int(i) for i in np.random.default_rng(0).permutation(reference.GetNumAtoms())]
    shuffled = Chem.RenumberAtoms(reference, order)
    np.testing.assert_allclose(metrics.rmsd_matrix(generated, shuffled), rmsd, atol=1e-6)


def test_different_molecules_are_rejected():
    with pytest.raises(ValueError, match="different molecules"):
        metrics.rmsd_matrix(embed("c1ccccc1"), embed("Cc1ccccc1"))
    with pytest.raises(ValueError, match="different molecules"):
        metrics.best_rms(embed("CCO"), embed("CCN"))


def test_match_limit_falls_back_to_fixed_mapping_and_flags_it():
    ref = embed("FC(F)(F)c1ccccc1", seed=3)
    fluorines = [a.GetIdx() for a in ref.GetAtoms() if a.GetSymbol() == "F"]
    pos = ref.GetConformer().GetPositions()
    permuted = pos.copy()
    permuted[fluorines] = pos[np.roll(fluorines, 1)]
    probe = with_positions(ref, permuted)

    full = metrics.best_rms_detail(probe, ref)
    assert full.exhaustive and full.n_mappings == 12          # 6 CF3 rotations/reflections x 2 ring flips
    cut = metrics.best_rms_detail(probe, ref, max_matches=1)
    assert not cut.exhaustive and cut.n_mappings == 1
    assert np.isfinite(cut.rmsd)
    assert cut.rmsd == pytest.approx(naive_rms(probe, ref), abs=1e-6)   # AlignMol, identity mapping
    assert cut.rmsd > full.rmsd + 0.1
    with pytest.warns(RuntimeWarning, match="cut short"):
        assert metrics.best_rms(probe, ref, max_matches=1) == pytest.approx(cut.rmsd)
    with pytest.warns(RuntimeWarning, match="cut short"):
        _, exhaustive = metrics.rmsd_matrix(probe, ref, max_matches=1, return_exhaustive=True)
    assert not exhaustive.any()


def test_time_limit_stops_the_symmetry_search():
    mol = embed("FC(F)(F)c1cc(C(F)(F)F)cc(C(F)(F)F)c1", n=2, seed=7)
    full = metrics.best_rms_detail(mol, mol, 0, 1)
    assert full.exhaustive and full.n_mappings == 1296        # 6 ring symmetries x 6^3 CF3 ones
    cut = metrics.best_rms_detail(mol, mol, 0, 1, timeout=0.0)
    assert not cut.exhaustive and 1 <= cut.n_mappings < 1296
    assert np.isfinite(cut.rmsd) and cut.rmsd >= full.rmsd - 1e-9
    assert cut.rmsd <= naive_rms(with_positions(mol, mol.GetConformer(0).GetPositions()),
                                 with_positions(mol, mol.GetConformer(1).GetPositions())) + 1e-9


# ---------------------------------------------------------------------------- GEOM COV / MAT


def test_identical_sets_have_full_coverage_and_zero_matching():
    mol = embed("CCCCOC(=O)c1ccccc1", n=5, seed=8)
    rmsd = metrics.rmsd_matrix(mol, mol)
    assert rmsd.max() > 0.05                                  # the conformers differ
    result = metrics.coverage_matching(rmsd, delta=0.01)
    assert result["COV-R"] == 1.0 and result["COV-P"] == 1.0
    assert result["MAT-R"] < 1e-6 and result["MAT-P"] < 1e-6


def test_coverage_matching_on_hand_computed_matrix():
    rmsd = np.array([[0.2, 1.0, 0.6],
                     [0.9, 0.4, 1.5]])
    # per reference: min 0.2, 0.4; per generated: min 0.2, 0.4, 0.6
    result = metrics.coverage_matching(rmsd, delta=0.5)
    assert result == pytest.approx({"COV-R": 1.0, "MAT-R": 0.3, "COV-P": 2 / 3, "MAT-P": 0.4})
    result = metrics.coverage_matching(rmsd, delta=0.3)
    assert result["COV-R"] == pytest.approx(0.5) and result["COV-P"] == pytest.approx(1 / 3)


def test_coverage_threshold_is_strict():
    rmsd = np.array([[0.5, 0.7]])
    assert metrics.coverage_matching(rmsd, delta=0.5)["COV-R"] == 0.0
    assert metrics.coverage_matching(rmsd, delta=0.5 + 1e-9)["COV-R"] == 1.0
    assert metrics.coverage_matching(rmsd, delta=0.7)["COV-P"] == 0.5


def test_coverage_rejects_bad_input():
    with pytest.raises(ValueError):
        metrics.coverage_matching(np.array([0.1, 0.2]), 0.5)
    with pytest.raises(ValueError):
        metrics.coverage_matching(np.array([[0.1, np.nan]]), 0.5)


@pytest.mark.parametrize("n", [1, 2, 4, 7, 8])
def test_expected_coverage_is_the_mean_over_every_subset(n):
    import itertools
    rng = np.random.default_rng(3)
    rmsd = rng.uniform(0.0, 1.4, size=(5, 8))
    rmsd[0] = 0.9                                    # a reference nothing covers, with ties
    rmsd[1, :2] = 0.1                                # one that two of the eight cover
    subsets = list(itertools.combinations(range(8), n))
    want = {k: np.mean([metrics.coverage_matching(rmsd[:, list(s)], 0.5)[k] for s in subsets])
            for k in ("COV-R", "MAT-R", "COV-P", "MAT-P")}
    assert metrics.expected_coverage_matching(rmsd, 0.5, n) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_expected_coverage_of_the_whole_pool_is_the_plain_figure():
    rmsd = np.array([[0.2, 1.0, 0.6], [0.9, 0.4, 1.5]])
    assert metrics.expected_coverage_matching(rmsd, 0.5, 3) == pytest.approx(metrics.coverage_matching(rmsd, 0.5))
    with pytest.raises(ValueError, match="n <= pool"):
        metrics.expected_coverage_matching(rmsd, 0.5, 4)


def test_expected_coverage_matches_independent_draws():
    """Against the plain figure of many random n-subsets of a large pool (a Monte Carlo check)."""
    rng = np.random.default_rng(0)
    rmsd = np.abs(rng.normal(0.8, 0.4, size=(6, 400)))
    want = np.mean([metrics.coverage_matching(rmsd[:, rng.choice(400, 12, replace=False)], 0.5)["COV-R"]
                    for _ in range(4000)])
    assert metrics.expected_coverage_matching(rmsd, 0.5, 12)["COV-R"] == pytest.approx(want, abs=0.01)


def test_summarize_ensembles_mean_and_median():
    results = [{"COV-R": 1.0, "MAT-R": 0.2}, {"COV-R": 0.5, "MAT-R": 0.4}, {"COV-R": 0.0, "MAT-R": 1.2}]
    summary = metrics.summarize_ensembles(results)
    assert summary["n_molecules"] == 3
    assert summary["mean"] == pytest.approx({"COV-R": 0.5, "MAT-R": 0.6})
    assert summary["median"] == pytest.approx({"COV-R": 0.5, "MAT-R": 0.4})
    with pytest.raises(KeyError):
        metrics.summarize_ensembles([{"COV-R": 1.0, "MAT-R": 0.2}, {"COV-R": 1.0}])


# ---------------------------------------------------------------------------- recovery


def test_recovery_on_hand_made_array():
    result = metrics.recovery([0.3, 0.5, 0.9, 1.5, 2.0, 3.0])
    assert result == pytest.approx({"n": 6, "median": 1.2, "frac_le_0.5": 2 / 6,
                                    "frac_le_1.0": 3 / 6, "frac_le_2.0": 5 / 6})


def test_min_rmsd_to_reference_uses_the_first_n_conformers():
    generated = embed("CCCCOC(=O)c1ccccc1", n=4, seed=9)
    reference = with_positions(generated, generated.GetConformer(3).GetPositions(), conf_id=3)
    rmsd = metrics.rmsd_matrix(generated, reference)[0]
    assert metrics.min_rmsd_to_reference(generated, reference) < 1e-6
    assert metrics.min_rmsd_to_reference(generated, reference, n=2) == pytest.approx(rmsd[:2].min(), abs=1e-9)
    assert rmsd[:2].min() > 1e-3


# ---------------------------------------------------------------------------- sanity checks


@pytest.mark.parametrize("smiles, mirror", [("C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"),
                                            ("C/C=C/C(=O)O", "C/C=C\\C(=O)O")])
def test_etkdg_preserves_stereo_and_check_detects_the_mirror(smiles, mirror):
    mol = embed(smiles, n=3, seed=10)
    for conf in mol.GetConformers():
        assert metrics.stereo_preserved(Chem.MolFromSmiles(smiles), mol, conf.GetId())
        assert not metrics.stereo_preserved(Chem.MolFromSmiles(mirror), mol, conf.GetId())
    other = embed(mirror, n=1, seed=10)
    assert metrics.stereo_preserved(Chem.MolFromSmiles(mirror), other, 0)
    assert not metrics.stereo_preserved(Chem.MolFromSmiles(smiles), other, 0)


def test_bond_geometry_and_clashes_on_good_and_broken_conformers():
    mol = embed("CCCCCC(=O)Nc1ccccc1", n=3, seed=11)
    for conf in mol.GetConformers():
        assert metrics.bond_geometry_ok(mol, conf.GetId())
        assert metrics.clashes(mol, conf.GetId()) == 0
    pos = mol.GetConformer(0).GetPositions()

    stretched = pos.copy()                                    # C0-C1 bond 0.4 Å too long
    stretched[0] += 0.4 * (pos[0] - pos[1]) / np.linalg.norm(pos[0] - pos[1])
    broken = with_positions(mol, stretched)
    assert metrics.bond_length_deviations(broken).max() > 0.3
    assert not metrics.bond_geometry_ok(broken)

    bent = pos.copy()                                         # C0 swung onto the C1-C2 axis: 180° angle
    bent[0] = pos[1] + np.linalg.norm(pos[0] - pos[1]) * (pos[1] - pos[2]) / np.linalg.norm(pos[1] - pos[2])
    broken = with_positions(mol, bent)
    assert metrics.bond_length_deviations(broken)[0] == pytest.approx(metrics.bond_length_deviations(mol)[0])
    assert metrics.bond_angle_deviations(broken).max() > 60
    assert not metrics.bond_geometry_ok(broken)

    crowded = pos.copy()                                      # C0 on top of C5, four bonds away
    crowded[0] = pos[5] + np.array([0.5, 0.0, 0.0])
    assert metrics.clashes(with_positions(mol, crowded)) >= 1


# ---------------------------------------------------------------------------- ETKDG baseline


def test_etkdg_returns_n_conformers_reproducibly():
    smiles = "CC(=O)Nc1ccc(O)cc1"
    mol = ETKDG().generate(smiles, 4, seed=12)
    assert mol.GetNumConformers() == 4
    assert [c.GetId() for c in mol.GetConformers()] == [0, 1, 2, 3]
    assert mol.GetNumAtoms() == Chem.AddHs(Chem.MolFromSmiles(smiles)).GetNumAtoms()
    heavy = [a.GetAtomicNum() for a in Chem.MolFromSmiles(smiles).GetAtoms()]
    assert [a.GetAtomicNum() for a in mol.GetAtoms()][:len(heavy)] == heavy
    again = ETKDG().generate(smiles, 4, seed=12)
    other = ETKDG().generate(smiles, 4, seed=13)
    for cid in range(4):
        a = mol.GetConformer(cid).GetPositions()
        np.testing.assert_array_equal(a, again.GetConformer(cid).GetPositions())
        assert not np.allclose(a, other.GetConformer(cid).GetPositions())


def test_etkdg_seed_zero_and_related_seeds_give_distinct_conformers():
    """RDKit seeds conformer i with randomSeed * (i + 1): raw seed 0 would give identical copies."""
    smiles = "CCCCOC(=O)c1ccccc1"
    zero = ETKDG().generate(smiles, 4, seed=0)
    rmsd = metrics.rmsd_matrix(zero, zero)
    assert rmsd[~np.eye(4, dtype=bool)].min() > 1e-3
    one, two = ETKDG().generate(smiles, 4, seed=1), ETKDG().generate(smiles, 4, seed=2)
    for a in one.GetConformers():
        for b in two.GetConformers():
            assert not np.allclose(a.GetPositions(), b.GetPositions())


def test_invalid_smiles_raises_naming_it():
    with pytest.raises(ValueError, match=re.escape("C1CC(")):
        ETKDG().generate("C1CC(", 2)


def test_prepare_warns_only_about_unassigned_stereo():
    with pytest.warns(UserWarning, match="unassigned stereocentres"):
        prepare("CC(N)C(=O)O")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mol = prepare("C[C@H](N)C(=O)O")
    assert mol.GetNumAtoms() == 13 and mol.GetNumConformers() == 0


def test_etkdg_retries_with_random_coords_then_gives_up(monkeypatch):
    real = rdDistGeom.EmbedMultipleConfs
    calls = []

    def first_attempt_embeds_one(mol, n, params):
        calls.append(params.useRandomCoords)
        return real(mol, n if params.useRandomCoords else 1, params)

    monkeypatch.setattr(gen_module.rdDistGeom, "EmbedMultipleConfs", first_attempt_embeds_one)
    mol = ETKDG().generate("CCOCC", 3, seed=0)
    assert calls == [False, True]
    assert mol.GetNumConformers() == 3 and [c.GetId() for c in mol.GetConformers()] == [0, 1, 2]

    monkeypatch.setattr(gen_module.rdDistGeom, "EmbedMultipleConfs", lambda mol, n, params: [])
    with pytest.raises(ValueError, match="CCOCC"):
        ETKDG().generate("CCOCC", 3, seed=0)


def test_etkdg_mmff_relaxation_lowers_energy_and_warns_without_parameters():
    smiles = "CCCCOC(=O)c1ccccc1"
    raw = ETKDG().generate(smiles, 2, seed=14)
    relaxed = ETKDG(mmff=True).generate(smiles, 2, seed=14)
    props = rdForceFieldHelpers.MMFFGetMoleculeProperties(raw)
    for cid in range(2):
        before = rdForceFieldHelpers.MMFFGetMoleculeForceField(raw, props, confId=cid).CalcEnergy()
        after = relaxed.GetConformer(cid).GetDoubleProp("mmff_energy")
        assert after < before - 1.0
    with pytest.warns(UserWarning, match="no parameters"):
        mol = ETKDG(mmff=True).generate("OB(O)c1ccccc1", 2, seed=0)
    assert mol.GetNumConformers() == 2


def test_hydrogens_named_in_substance_groups_are_still_removed():
    """The Platinum SDF carries SGroups over hydrogens; RDKit's RemoveHs keeps those."""
    from rdkit.Chem import AllChem

    from scidiff.molecules.metrics import rmsd_matrix as matrix

    mol = Chem.AddHs(Chem.MolFromSmiles("C[NH3+]"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    group = Chem.CreateMolSubstanceGroup(mol, "DAT")
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 1:
            group.AddAtomWithIdx(atom.GetIdx())
    assert Chem.RemoveAllHs(mol, sanitize=False).GetNumAtoms() == mol.GetNumAtoms()     # RDKit keeps them
    plain = Chem.AddHs(Chem.MolFromSmiles("C[NH3+]"))
    AllChem.EmbedMolecule(plain, randomSeed=7)
    assert matrix(plain, mol).shape == (1, 1)
