import subprocess
import sys

import pytest

from scidiff.cli import main


def test_demo_writes_table_and_plot(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--samples", "400"]) == 0
    out = capsys.readouterr().out
    assert "DPM-Solver++ 2M" in out and "noise floor" in out
    png = tmp_path / "mixture_samplers.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "== policy ==" in out and "DP score" in out                    # the bundled PushT policy's episode
    assert (tmp_path / "pusht_episode.gif").read_bytes()[:6] == b"GIF89a"
    assert "== molecules ==" in out and "stereochemistry as in the SMILES: 40 of 40" in out
    assert "guided by ETKDG's torsion terms at w = 0.25" in out
    assert "drawn as diverse sets (particle guidance, weight 3)" in out
    from rdkit import Chem

    mols = [m for m in Chem.SDMolSupplier(str(tmp_path / "conformers.sdf"), removeHs=False)]
    assert len(mols) == 40 and all(m.GetNumConformers() == 1 for m in mols)
    assert "== proteins ==" in out and "CA-CA bonds valid" in out
    from scidiff.proteins import read_backbone

    assert all(len(read_backbone(tmp_path / f"backbone_{i}.pdb")) == 100 for i in range(2))


def test_help_shows_an_example():
    out = subprocess.run([sys.executable, "-m", "scidiff.cli", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "example" in out.stdout


def test_bad_arguments_exit_nonzero(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--samples", "1"])
    assert e.value.code != 0
    assert "need an integer >= 2" in capsys.readouterr().err
    assert main([]) == 2
