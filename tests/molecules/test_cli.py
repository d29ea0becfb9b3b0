"""``scidiff conformers`` and ``scidiff conformers-eval`` end to end."""
import pytest
from rdkit import Chem

from scidiff.cli import main


def test_conformers_writes_every_good_molecule_and_names_the_bad_line(tmp_path, capsys):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\nC1CC broken\nCC(=O)Oc1ccccc1C(=O)O aspirin\nC[C@H](N)C(=O)O alanine\n")
    out = tmp_path / "out.sdf"
    assert main(["conformers", str(smi), "-n", "4", "-o", str(out), "--seed", "3", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "in.smi line 2: invalid SMILES 'C1CC'" in captured.err
    assert "wrote 12 conformers of 3 molecules" in captured.out and "1 molecule(s) failed" in captured.out
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert [m.GetProp("_Name") for m in mols] == ["ethanol"] * 4 + ["aspirin"] * 4 + ["alanine"] * 4
    assert {m.GetProp("method") for m in mols} == {"torsional"} and mols[5].GetProp("conformer") == "1"
    assert mols[4].GetProp("source") == "in.smi line 3" and mols[0].GetProp("seed") == "3"
    assert all(m.GetNumAtoms() == Chem.AddHs(m).GetNumAtoms() for m in mols)          # hydrogens written
    ala = mols[-1]
    Chem.AssignStereochemistryFrom3D(ala)
    assert Chem.FindMolChiralCenters(ala) == [(1, "S")]                               # L-alanine stays S
    assert main(["conformers", str(smi), "-n", "1", "-o", str(out), "--strict", "--quiet"]) == 1


def test_workers_give_the_same_conformers(tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCO\nc1ccccc1CCN\nCC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O\n")
    for w in ("1", "2"):
        assert main(["conformers", str(smi), "-n", "3", "-o", str(tmp_path / f"w{w}.sdf"), "--workers", w, "--quiet"]) == 0
    assert (tmp_path / "w1.sdf").read_text() == (tmp_path / "w2.sdf").read_text()


def test_conformers_eval_of_a_file_against_itself_is_perfect(tmp_path, capsys):
    out = tmp_path / "ibu.sdf"
    assert main(["conformers", "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "-n", "6", "-o", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["conformers-eval", str(out), str(out), "--delta", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "1 molecules compared" in text
    assert "0.5        100.0% / 100.0%   0.000 / 0.000" in text
    assert main(["conformers-eval", str(out), str(tmp_path / "none.sdf")]) == 1


def test_learned_method_with_a_model_folder_keeps_stereo(tmp_path, capsys):
    import torch

    from scidiff.molecules.metrics import stereo_preserved
    from scidiff.molecules.torsion_net import TorsionNetConfig
    from scidiff.molecules.torsional import TorsionalDiffusion

    torch.manual_seed(0)
    TorsionalDiffusion(net=TorsionNetConfig(ns=16, nv=4, layers=2, rbf=8, time_dim=8), steps=6) \
        .save_pretrained(tmp_path / "tor")
    smiles = "C[C@H](N)C(=O)NCc1ccccc1"
    out = tmp_path / "t.sdf"
    assert main(["conformers", smiles, "-n", "3", "-o", str(out), "--method", "torsional", "--model",
                 str(tmp_path / "tor"), "--quiet"]) == 0
    mols = [m for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert len(mols) == 3 and all(m.GetProp("method") == "torsional" for m in mols)
    ref = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert all(stereo_preserved(ref, m) for m in mols)
    capsys.readouterr()
    assert main(["conformers", smiles, "-o", str(out), "--method", "etkdg", "--model", str(tmp_path / "tor")]) == 1
    assert "--model is for the learned method" in capsys.readouterr().err
    assert main(["conformers", smiles, "-o", str(out), "--method", "torsional", "--model", str(tmp_path / "none")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_learned_method_batches_molecules_and_still_names_the_bad_line(tmp_path, capsys):
    """Bundled torsional model, three molecules per batch: a broken line and a molecule without
    rotatable bonds (ETKDG fallback) cost nothing to the others, and the order is kept."""
    smi = tmp_path / "in.smi"
    smi.write_text("CCCCO butanol\nC1CC broken\nc1ccccc1 benzene\nCC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O ibuprofen\n"
                   "OCCN1CCOCC1 morpholine\n")
    out = tmp_path / "out.sdf"
    args = ["conformers", str(smi), "-n", "2", "-o", str(out), "--method", "torsional", "--batch-molecules", "3",
            "--quiet"]
    with pytest.warns(UserWarning, match="c1ccccc1: no rotatable bonds"):
        assert main(args) == 0
    captured = capsys.readouterr()
    assert "in.smi line 2: invalid SMILES 'C1CC'" in captured.err
    assert "wrote 8 conformers of 4 molecules" in captured.out
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert [m.GetProp("_Name") for m in mols] == [n for n in ("butanol", "benzene", "ibuprofen", "morpholine")
                                                  for _ in range(2)]
    ibu = Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O")
    for m in mols[4:6]:
        Chem.AssignStereochemistryFrom3D(m)
        assert Chem.FindMolChiralCenters(m) == Chem.FindMolChiralCenters(ibu)         # as written in the input
    assert main(args[:-3] + ["--batch-molecules", "0"]) == 1


def test_mmff_relaxes_the_output_of_a_learned_method(tmp_path):
    out = tmp_path / "out.sdf"
    assert main(["conformers", "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", "-n", "2", "-o", str(out), "--method", "torsional",
                 "--mmff", "--quiet"]) == 0
    mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
    assert [m.GetProp("method") for m in mols] == ["torsional-mmff"] * 2


@pytest.mark.parametrize("flag, default", [("--torsion-prior", "0.25"), ("--particle-guidance", "3")])
def test_guidance_flags_set_the_weight_and_it_is_recorded(tmp_path, capsys, flag, default):
    """The bundled default of each guidance weight (ETKDG's torsion terms: 0.25; particle
    guidance, which draws a molecule's conformers as one set: 3) is what the flag at that value
    gives, 0 turns it off; the SDF records the weight; ETKDG and negative weights are refused."""
    key = flag[2:].replace("-", "_")
    made = {}
    for value in (None, default, "0"):
        out = tmp_path / f"{value}.sdf"
        args = ["conformers", "CNC(=O)[C@@H](NC(C)=O)[C@@H](C)O", "-n", "3", "-o", str(out), "--quiet"]
        assert main(args + ([flag, value] if value else [])) == 0
        mols = list(Chem.SDMolSupplier(str(out), removeHs=False))
        made[value] = [m.GetConformer().GetPositions() for m in mols]
        assert {m.GetProp(key) for m in mols} == {str(float(value or default))}
    assert all((a == b).all() for a, b in zip(made[None], made[default]))
    assert not all((a == b).all() for a, b in zip(made[None], made["0"]))
    out = str(tmp_path / "x.sdf")
    assert main(["conformers", "CCCO", "-o", out, "--method", "etkdg", flag, "1"]) == 1
    assert f"{flag} is for the torsional methods, not etkdg" in capsys.readouterr().err
    assert main(["conformers", "CCCO", "-o", out, flag, "-1"]) == 1
    assert f"{flag} must be >= 0" in capsys.readouterr().err


def _records(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_salts_keep_their_largest_fragment_or_every_fragment_apart(tmp_path, capsys):
    """Embedded together, the fragments of a salt land on top of each other; by default the
    counter-ion goes (and is named in the record), with --keep-fragments both are embedded apart."""
    import numpy as np

    out = tmp_path / "salt.sdf"
    assert main(["conformers", "CC(=O)[O-].[Na+]", "-n", "2", "--method", "etkdg", "-o", str(out)]) == 0
    assert "kept their largest fragment" in capsys.readouterr().out
    recs = _records(out)
    assert len(recs) == 2 and all(len(Chem.GetMolFrags(m)) == 1 and m.GetProp("stripped_fragments") == "[Na+]"
                                  for m in recs)
    out2 = tmp_path / "both.sdf"
    assert main(["conformers", "CCCCCCO.CCCCCCO", "-n", "2", "-o", str(out2), "--keep-fragments"]) == 0
    for m in _records(out2):
        a, b = (m.GetConformer().GetPositions()[list(f)] for f in Chem.GetMolFrags(m))
        assert len(a) == len(b) == 21 and np.linalg.norm(a[:, None] - b[None], axis=-1).min() >= 3.0
        assert m.GetProp("generator") == "torsional" and not m.HasProp("stripped_fragments")
    from scidiff.molecules import ETKDG

    with pytest.raises(ValueError, match="2 fragments"):
        ETKDG().generate("CC(=O)[O-].[Na+]", 1)


def test_each_record_names_its_generator_and_keeps_its_own_properties(tmp_path):
    out = tmp_path / "o.sdf"
    assert main(["conformers", "CCO", "-n", "2", "-o", str(out)]) == 0              # rigid: ETKDG fills in
    assert [(m.GetProp("method"), m.GetProp("generator")) for m in _records(out)] == [("torsional", "etkdg")] * 2
    assert main(["conformers", "CCCCO", "-n", "3", "--method", "etkdg", "--mmff", "-o", str(out), "--overwrite"]) == 0
    recs = _records(out)
    energies = [float(m.GetProp("mmff_energy")) for m in recs]
    assert [m.GetProp("conformer") for m in recs] == ["0", "1", "2"] and len(set(energies)) == 3
    assert all(m.GetProp("mmff_converged") in ("True", "False") and m.GetProp("generator") == "etkdg" for m in recs)


def test_outputs_are_not_overwritten_and_nothing_written_is_an_error(tmp_path, capsys):
    out = tmp_path / "o.sdf"
    out.write_text("keep me")
    assert main(["conformers", "CCO", "--method", "etkdg", "-o", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main(["conformers", "CCO", "--method", "etkdg", "-o", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    bad = tmp_path / "bad.smi"
    bad.write_text("C1CC\nnot_a_smiles\n")
    assert main(["conformers", str(bad), "--method", "etkdg", "-o", str(tmp_path / "none.sdf")]) == 1
    err = capsys.readouterr().err
    assert "bad.smi line 1" in err and "bad.smi line 2" in err and "no conformer was written (2 input record(s))" in err
    assert not (tmp_path / "none.sdf").exists()
