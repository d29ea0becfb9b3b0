"""The torsional recipe on MMFF94 ensembles (measured, not shipped).

    python -m experiments.mmff_ensembles.train experiments/mmff_ensembles/torsional_cpu_ensembles.yaml --out runs/ens

The config is a ``scidiff.molecules.train.TorsionalTask`` plus an ``ensembles`` section:
``k`` (ETKDG embeddings whose minima join each molecule's own), ``window`` (kcal/mol; > 0 keeps
the distinct minima within it of the lowest) and ``smarts`` (only matching molecules get
ensembles; the others keep one conformer, relaxed with ``relax_conformers``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem

from scidiff.molecules import train as torsional_train
from scidiff.molecules.data import default_cache_dir
from scidiff.molecules.featurize import rotatable_bonds
from scidiff.train import from_dict

from ..runner import main
from .ensembles import ensemble_conformers


@dataclass
class Ensembles:
    k: int = 4
    window: float = 0.0
    smarts: str = ""


def ensemble_prepare(ens: Ensembles):
    """``prepare(task, mols)`` for ``scidiff.molecules.train.run``: ensembles for the molecules
    ``ens.smarts`` matches (all without it), the shipped treatment for the rest."""
    if ens.k < 1:
        raise ValueError(f"ensembles.k must be >= 1, got {ens.k}")
    if ens.window < 0:
        raise ValueError(f"ensembles.window must be >= 0 kcal/mol, got {ens.window}")
    pattern = Chem.MolFromSmarts(ens.smarts) if ens.smarts else None
    if ens.smarts and pattern is None:
        raise ValueError(f"ensembles.smarts is not a valid SMARTS: {ens.smarts!r}")

    def prepare(task, mols):
        mols = [m for m in mols if rotatable_bonds(m)]
        chosen = [pattern is None or m.HasSubstructMatch(pattern) for m in mols]
        ensembles = [m for m, c in zip(mols, chosen) if c]
        rest = torsional_train.training_molecules(task, [m for m, c in zip(mols, chosen) if not c])
        window = ens.window or None
        cache = (Path(task.cache_dir or default_cache_dir())
                 / f"mmff94_ensembles_k{ens.k}_seed{task.train.seed}{f'_window{window:g}' if window else ''}.npz")
        ensembles, counts = ensemble_conformers(ensembles, ens.k, cache, seed=task.train.seed, window=window,
                                                progress=task.train.progress)
        print(f"MMFF94 ensembles ({cache}): {counts['computed']} computed, {counts['cached']} from the cache, "
              f"{counts['failed']} kept their own conformer", file=sys.stderr)
        return ensembles + rest

    return prepare


def run(data: dict, out: Path, resume: bool = False) -> dict:
    data = dict(data)
    ens = from_dict(Ensembles, data.pop("ensembles", {}) or {}, "ensembles.")
    return torsional_train.run(data, out, resume, prepare=ensemble_prepare(ens))


if __name__ == "__main__":
    sys.exit(main(run, __doc__.split("\n\n")[0]))
