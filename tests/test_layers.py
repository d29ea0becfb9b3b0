"""The import graph of the package: no cycles, the core imports no domain, a domain imports only
the core and itself, and inside a domain every import points down its ``LAYERS``.

Imports are read with ``ast`` from every module of ``scidiff/`` and ``domains/``, at module level
and inside functions alike (a hidden import is still an import)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"scidiff": ROOT / "scidiff", "scidiff.molecules": ROOT / "domains" / "molecules",
            "scidiff.proteins": ROOT / "domains" / "proteins", "scidiff.policy": ROOT / "domains" / "policy"}
DOMAINS = ("scidiff.molecules", "scidiff.proteins", "scidiff.policy")


def modules() -> dict[str, Path]:
    """Every module's dotted name -> its file (domains mapped into ``scidiff.*`` as installed)."""
    out = {}
    for package, folder in PACKAGES.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if package == "scidiff" and parts[0] in ("molecules", "proteins", "policy"):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = f
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (a ``from X import y`` names ``X.y`` when that is a module)."""
    tree = ast.parse(path.read_text())
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            for a in node.names:
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def domain_of(module: str) -> str | None:
    return next((d for d in DOMAINS if module == d or module.startswith(d + ".")), None)


def layers(domain: str) -> list[tuple[str, ...]]:
    """The ``LAYERS`` tuple of a domain's ``__init__.py``, read without importing it."""
    tree = ast.parse((PACKAGES[domain] / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LAYERS" for t in node.targets):
            return [tuple(layer) for layer in ast.literal_eval(node.value)]
    raise AssertionError(f"{domain} declares no LAYERS in its __init__.py")


def test_there_is_no_import_cycle(graph):
    state, path, cycles = {}, [], []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n)
        path.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_core_imports_no_domain_and_domains_only_the_core_and_themselves(graph):
    bad = []
    for m, deps in graph.items():
        own = domain_of(m)
        for d in deps:
            other = domain_of(d)
            if other is not None and other != own:
                bad.append(f"{m} -> {d}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("domain", DOMAINS)
def test_imports_point_down_the_layers(graph, domain):
    table = layers(domain)
    level = {f"{domain}.{name}": i for i, layer in enumerate(table) for name in layer}
    members = {m for m in graph if domain_of(m) == domain and m != domain}
    assert members == set(level), (f"{domain}.LAYERS must list every module once: missing "
                                   f"{sorted(members - set(level))}, unknown {sorted(set(level) - members)}")
    bad = [f"{m} (layer {level[m] + 1}) -> {d} ({'the package itself' if d == domain else f'layer {level[d] + 1}'})"
           for m in sorted(members) for d in sorted(graph[m])
           if domain_of(d) == domain and (d == domain or level[d] > level[m])]
    assert not bad, "imports up the layers:\n" + "\n".join(bad)


def test_the_checks_see_hidden_and_relative_imports(tmp_path):
    """A function-level relative import counts, and ``from . import x`` names the module x."""
    f = tmp_path / "a.py"
    f.write_text("def g():\n    from .b import c\n    from . import d\n")
    known = {"p.a", "p.b", "p.d"}
    assert imports("p.a", f, known) == {"p.b", "p.d"}
