"""The core works without any domain's libraries: ``scidiff demo`` runs its core part and names
the parts it skips, and a domain command says in one line which extra to install. Warnings reach
the user as one plain line. Each case runs ``scidiff`` in a fresh interpreter with the domain
libraries made unimportable."""
import subprocess
import sys

import pytest

DOMAIN_LIBRARIES = ("rdkit", "torch_geometric", "e3nn", "Bio", "biotite", "gymnasium", "gym_pusht", "zarr")


def scidiff(args, cwd, blocked=DOMAIN_LIBRARIES):
    code = ("import sys\n"
            f"for m in {tuple(blocked)!r}:\n    sys.modules[m] = None\n"
            "from scidiff.cli import main\n"
            f"sys.exit(main({list(args)!r}))\n")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={"OMP_NUM_THREADS": "1", "PATH": "", "HOME": str(cwd)})


@pytest.mark.parametrize("args, extra", [
    (["conformers", "CCO", "-o", "out.sdf"], "molecules"),
    (["conformers-eval", "a.sdf", "b.sdf"], "molecules"),
    (["backbones-eval", "one.pdb"], "proteins"),
    (["policy", "eval", "pusht", "--episodes", "1"], "policy"),
])
def test_a_domain_command_names_its_extra_in_one_line(tmp_path, args, extra):
    (tmp_path / "one.pdb").write_text("ATOM      1  CA  ALA A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n")
    r = scidiff(args, tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'scidiff[{extra}]'" in lines[0], r.stderr
    assert lines[0].startswith(f"scidiff {args[0]}: error:")


def test_train_names_the_extra_of_its_task(tmp_path):
    (tmp_path / "cfg.yaml").write_text("domain: molecules-torsional\n")
    r = scidiff(["train", "cfg.yaml", "--out", "run"], tmp_path)
    assert r.returncode == 1 and "pip install 'scidiff[molecules]'" in r.stderr and len(r.stderr.splitlines()) == 1


def test_the_demo_runs_its_core_part_and_names_what_it_skips(tmp_path):
    r = scidiff(["demo", "--samples", "200", "--out", "demo"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "DPM-Solver++ 2M" in r.stdout and (tmp_path / "demo" / "mixture_samplers.png").is_file()
    for extra in ("molecules", "proteins", "policy"):
        assert f"skipped: this needs the {extra} extra" in r.stdout


def test_warnings_reach_the_user_as_one_plain_line(tmp_path):
    pytest.importorskip("rdkit")
    r = scidiff(["conformers", "CCO", "-n", "1", "-o", "out.sdf"], tmp_path, blocked=())
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.splitlines() if "no rotatable bonds" in ln]
    assert warned and warned[0].startswith("warning: CCO:"), r.stderr
    assert ".py:" not in r.stderr and "UserWarning" not in r.stderr


def test_data_and_cache_folders_come_from_the_environment(tmp_path, monkeypatch):
    from scidiff.paths import cache_dir, data_dir

    monkeypatch.setenv("SCIDIFF_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("SCIDIFF_DATA", str(tmp_path / "d"))
    assert cache_dir("ccd") == tmp_path / "c" / "ccd" and data_dir("proteins") == tmp_path / "d" / "proteins"
    monkeypatch.delenv("SCIDIFF_CACHE")
    monkeypatch.delenv("SCIDIFF_DATA")
    assert cache_dir() == tmp_path.home() / ".cache" / "scidiff"
    assert data_dir("molecules", fallback=tmp_path) == tmp_path / "molecules"
    with pytest.raises(ValueError, match="SCIDIFF_DATA"):
        data_dir("molecules")
