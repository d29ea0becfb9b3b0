"""Nothing in the package unpickles: checkpoints, weights, caches and inputs are safetensors, JSON,
npz without pickle, SDF/PDB or YAML read safely. The check reads every module with ``ast``."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unsafe_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            found += [f"import {n}" for n in names if n.split(".")[0] in ("pickle", "cPickle", "dill", "marshal", "shelve")]
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
        if name == "torch.load" and kw.get("weights_only") != "True":
            found.append("torch.load without weights_only=True")
        if name.endswith("np.load") and kw.get("allow_pickle") == "True":
            found.append("np.load(allow_pickle=True)")
        if name == "yaml.load" or name == "yaml.unsafe_load":
            found.append(name)
    return found


def test_the_package_has_no_unsafe_loader():
    bad = {}
    for folder in (ROOT / "scidiff", ROOT / "domains"):
        for f in folder.rglob("*.py"):
            calls = unsafe_calls(ast.parse(f.read_text()))
            if calls:
                bad[str(f.relative_to(ROOT))] = calls
    assert not bad, bad


def test_the_check_sees_unsafe_loaders():
    code = "import pickle\nimport torch, numpy as np, yaml\ntorch.load(p)\nnp.load(p, allow_pickle=True)\nyaml.load(s)\n"
    assert len(unsafe_calls(ast.parse(code))) == 4
