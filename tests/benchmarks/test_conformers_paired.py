"""``benchmarks/conformers_paired.py``: sides merged from several seeds' files, and pairing over molecules."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "conformers_paired.py"


def _script():
    spec = importlib.util.spec_from_file_location("conformers_paired", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(path, method, seed, cov):
    """A ``--json`` file with GMTKN55 figures for molecules m0, m1 (COV-R ``cov``, MAT-R 1 - cov)."""
    records = {f"{seed}/m{i}": {"0.5": {"COV-R": c, "MAT-R": 1 - c}} for i, c in enumerate(cov)}
    path.write_text(json.dumps({"method": method, "platinum_min_rmsd": {}, "gmtkn55": records}))
    return str(path)


def test_sides_with_different_seeds_are_averaged_over_their_own(tmp_path, capsys):
    paired = _script()
    a = _run(tmp_path / "a0.json", "etkdg", 0, [0.2, 0.4])
    b = ",".join([_run(tmp_path / "b2.json", "torsional", 2, [0.3, 0.4]),
                  _run(tmp_path / "b3.json", "torsional", 3, [0.5, 0.6])])
    paired.gmtkn55(paired.load(a)["gmtkn55"], paired.load(b)["gmtkn55"])
    out = capsys.readouterr().out
    # B per molecule: 40 and 50 %; A: 20 and 40 %; A - B = -20 and -10 points
    assert "delta 0.5 COV-R (seeds 0 / 2,3): A 30.000, B 45.000; A − B -15.000 points" in out
    assert "A higher on 0, lower on 2 of 2 molecules" in out


def test_a_seed_given_twice_or_two_methods_on_one_side_are_refused(tmp_path):
    paired = _script()
    one = _run(tmp_path / "x.json", "torsional", 2, [0.3, 0.4])
    again = _run(tmp_path / "y.json", "torsional", 2, [0.3, 0.4])
    other = _run(tmp_path / "z.json", "etkdg", 3, [0.3, 0.4])
    with pytest.raises(SystemExit, match="already in an earlier file"):
        paired.load(f"{one},{again}")
    with pytest.raises(SystemExit, match="different methods"):
        paired.load(f"{one},{other}")
