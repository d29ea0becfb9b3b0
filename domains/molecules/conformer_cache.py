"""Per-molecule conformer replacements kept on disk: the shared loop behind conformer matching
(:mod:`.matching`) and relaxed training targets (:mod:`.relax`).

``cached_conformers(mols, compute, cache)`` gives each molecule the coordinates ``compute(mol, i)``
returns (one conformer, or a stack of them: an ensemble), reading those already in the ``.npz``
``cache`` (keyed by molecule name, no pickle) and writing new ones back every 2000 molecules, so
an interrupted or repeated run does not redo the work. ``compute`` raises ``ValueError`` when it
cannot handle a molecule; the molecule keeps its own conformer and the failure is remembered (an
empty ``(0, 3)`` entry).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from rdkit import Chem
from tqdm.auto import tqdm


def molecule_name(mol: Chem.Mol, i: int) -> str:
    """``mol``'s ``_Name``, or ``#i`` for an unnamed one."""
    return mol.GetProp("_Name") if mol.HasProp("_Name") and mol.GetProp("_Name") else f"#{i}"


def with_coordinates(mol: Chem.Mol, pos: np.ndarray) -> Chem.Mol:
    """A copy of ``mol`` whose conformer holds ``pos (n_atoms, 3)`` Å; for ``pos (k, n_atoms, 3)``
    a copy with those k conformers (ids 0..k-1) instead of its own."""
    out = Chem.Mol(mol)
    if pos.ndim == 2:
        out.GetConformer().SetPositions(np.asarray(pos, dtype=np.float64))
        return out
    out.RemoveAllConformers()
    for k, p in enumerate(pos):
        conf = Chem.Conformer(out.GetNumAtoms())
        conf.SetPositions(np.asarray(p, dtype=np.float64))
        conf.SetId(k)
        out.AddConformer(conf)
    return out


def cached_conformers(mols: list[Chem.Mol], compute: Callable[[Chem.Mol, str], np.ndarray],
                      cache: str | Path | None = None, desc: str = "conformers",
                      progress: bool = True) -> tuple[list[Chem.Mol], dict]:
    """Each molecule with its conformer replaced by ``compute(mol, name) -> (n_atoms, 3)`` Å (or by
    the conformers of ``(k, n_atoms, 3)``), and counts ``{"computed", "cached", "failed"}``.

    ``cache``: an ``.npz`` of coordinates by name, read first and rewritten with the new ones;
    entries whose atom count no longer fits are recomputed. A molecule ``compute`` rejects with
    ``ValueError`` keeps its own conformer and is stored as an empty ``(0, 3)`` entry, so later
    runs do not try it again."""
    stored: dict[str, np.ndarray] = {}
    if cache is not None and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as f:
            stored = {k: f[k] for k in f.files}
    out, counts, new = [], {"computed": 0, "cached": 0, "failed": 0}, 0

    def save():
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(cache).with_suffix(".tmp.npz")
        np.savez(tmp, **stored)
        tmp.replace(cache)

    for i, mol in enumerate(tqdm(mols, desc=desc, disable=not progress)):
        name = molecule_name(mol, i)
        pos = stored.get(name)
        if pos is not None and pos.shape[-2:] == (mol.GetNumAtoms(), 3) and pos.size:
            counts["cached"] += 1
        elif pos is not None and pos.shape == (0, 3):
            counts["failed"] += 1
        else:
            try:
                pos = np.asarray(compute(mol, name), dtype=np.float64)
                counts["computed"] += 1
            except ValueError:
                pos = np.zeros((0, 3))
                counts["failed"] += 1
            stored[name] = pos
            new += 1
            if cache is not None and new % 2000 == 0:        # an interrupted run keeps most of its work
                save()
        out.append(with_coordinates(mol, pos) if len(pos) else mol)
    if cache is not None and new % 2000:
        save()
    return out, counts


__all__ = ["cached_conformers", "molecule_name", "with_coordinates"]
