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


@pytest.fixture
def failing_command(monkeypatch):
    """A ``scidiff boom`` sub-command that raises what the test sets in ``boom.error``."""
    import scidiff.cli as cli

    real = cli.build_parser

    def build():
        parser = real()
        sub = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
        p = sub.add_parser("boom")

        def run(args):
            raise build.error
        p.set_defaults(func=run)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    return build


@pytest.mark.parametrize("error, code, words", [
    (ValueError("ligands.smi line 3: invalid SMILES"), 1, "scidiff boom: error: ligands.smi line 3: invalid SMILES"),
    (FileNotFoundError("no such file: x.sdf"), 1, "error: no such file: x.sdf"),
    (KeyError("oops"), 1, "error: KeyError: 'oops' (unexpected; run again with --debug"),
    (KeyboardInterrupt(), 130, "scidiff boom: interrupted"),
])
def test_every_failure_is_one_line_with_its_exit_code(failing_command, capsys, error, code, words):
    failing_command.error = error
    assert main(["boom"]) == code
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_debug_shows_the_traceback(failing_command, monkeypatch):
    failing_command.error = KeyError("oops")
    with pytest.raises(KeyError):
        main(["boom", "--debug"])
    monkeypatch.setenv("SCIDIFF_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["boom"])


def test_a_device_this_machine_lacks_is_one_sentence(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["conformers", "CCO", "-o", "x.sdf", "--device", "cuda"]) == 1
    assert "this machine has no CUDA device" in capsys.readouterr().err
    assert main(["backbones", "--length", "10", "-n", "1", "-o", "x", "--device", "gpu0"]) == 1
    assert "is not a torch device" in capsys.readouterr().err
