"""Ctrl-C stops ``scidiff conformers`` within seconds, inside RDKit's embedding too (which catches
SIGINT itself and would return as if the molecule could not be embedded): exit 130, the SDF holds
every molecule finished before, complete and readable, and no molecule is reported as failed."""
import os
import signal
import subprocess
import sys
import time

from rdkit import Chem

PEPTIDE = "CC(C)C[C@H](NC(=O)[C@@H](Cc1ccccc1)NC(=O)[C@H](CCCCN)NC(=O)[C@@H](N)CCC(=O)O)C(=O)N[C@@H](CO)C(=O)NCC(=O)O"


def test_ctrl_c_during_embedding_stops_the_run_and_keeps_what_was_written(tmp_path):
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\nCCCO propanol\n" + "".join(f"{PEPTIDE} pep{i}\n" for i in range(20)))
    out = tmp_path / "out.sdf"
    proc = subprocess.Popen([sys.executable, "-m", "scidiff.cli", "conformers", str(smi), "-n", "300",
                             "--method", "etkdg", "-o", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.stat().st_size == 0):
        time.sleep(0.2)                               # the two small molecules are written first
    time.sleep(1.0)                                   # now inside a peptide's embedding
    start = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.time() - start < 10
    assert "interrupted" in err and "could not embed" not in err and "Traceback" not in err
    names = [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(out), removeHs=False)]
    assert names[:600] == ["ethanol"] * 300 + ["propanol"] * 300 and None not in names
