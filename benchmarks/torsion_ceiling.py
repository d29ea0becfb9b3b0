"""How far a torsion-only generator on ETKDG local structures can get on the GMTKN55 ensembles.

Torsional diffusion keeps ETKDG's bond lengths, angles and rings and draws only the rotatable
torsions, so two questions bound what any such model can reach at delta = 0.5 Å:

1. *Exact torsions*: each reference conformer's own torsions set on ``--locals`` ETKDG local
   structures (the closest of them counts). The share within 0.5 Å is the ceiling that the local
   structures leave.
2. *Borrowed torsions*: the torsions of 2K ETKDGv3 (+ MMFF94) conformers, set on fresh ETKDG local
   structures, scored like a generator (COV-R / MAT-R). It shows what a model that had learned
   exactly that torsion distribution would score without any relaxation of its own output.

    python benchmarks/torsion_ceiling.py [--seeds 3] [--locals 4]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem, RDLogger

from scidiff.paths import data_dir
from scidiff.molecules import ETKDG
from scidiff.molecules.conformer_cache import with_coordinates
from scidiff.molecules.ensembles import read_ensembles
from scidiff.molecules.featurize import torsions
from scidiff.molecules.chem import rdkit_seed
from scidiff.molecules.metrics import coverage_matching, rmsd_matrix
from scidiff.molecules.torsions import dihedrals, set_torsions

DATA = data_dir("molecules", fallback=Path(__file__).resolve().parents[2] / "shared" / "data")   # $SCIDIFF_DATA first
f64 = torch.float64


def on_local_structures(ref: Chem.Mol, targets: list[torch.Tensor], seeds: list[int]) -> Chem.Mol:
    """``ref``'s molecule with one conformer per (target torsions, local-structure seed) pair."""
    ti, si = torsions(ref)
    locals_ = {s: torch.tensor(ETKDG().generate(ref, 1, seed=s).GetConformer().GetPositions(), dtype=f64)
               for s in set(seeds)}
    stack = np.stack([set_torsions(locals_[s], ti, si, x).numpy() for x, s in zip(targets, seeds)])
    return with_coordinates(ref, stack)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds for the borrowed torsions (default 3)")
    ap.add_argument("--locals", type=int, default=4, help="local structures per reference conformer (default 4)")
    args = ap.parse_args()
    if not DATA.exists():
        raise SystemExit(f"reference data not found at {DATA}")
    RDLogger.DisableLog("rdApp.*")
    groups, _ = read_ensembles(DATA / "gmtkn55_conformer_ensembles.sdf")
    exact, borrowed = [], {"etkdg": [[] for _ in range(args.seeds)], "etkdg+mmff": [[] for _ in range(args.seeds)]}
    for name, ref in groups.values():
        ti, _ = torsions(ref)
        K = ref.GetNumConformers()
        own = [dihedrals(torch.tensor(c.GetPositions(), dtype=f64), ti) for c in ref.GetConformers()]
        probe = on_local_structures(ref, [x for x in own for _ in range(args.locals)],
                                    [rdkit_seed(0, j) for _ in own for j in range(args.locals)])
        r = rmsd_matrix(probe, ref, timeout=5.0)
        best = np.array([r[k, k * args.locals:(k + 1) * args.locals].min() for k in range(K)])
        exact.append((best <= 0.5).mean())
        for seed in range(args.seeds):
            for method, mmff in (("etkdg", False), ("etkdg+mmff", True)):
                made = ETKDG(mmff=mmff, max_iters=500).generate(Chem.Mol(ref), 2 * K, seed=seed)
                xs = [dihedrals(torch.tensor(c.GetPositions(), dtype=f64), ti) for c in made.GetConformers()]
                probe = on_local_structures(ref, xs, [rdkit_seed(seed, 1000 + j) for j in range(len(xs))])
                borrowed[method][seed].append(coverage_matching(rmsd_matrix(probe, ref, timeout=5.0), 0.5))
        print(f"{name[:32]:32s} K = {K:3d}, torsions {ti.shape[1]}: exact torsions within 0.5 Å {100 * exact[-1]:5.1f} %",
              flush=True)
    print(f"\nexact reference torsions on {args.locals} ETKDG local structures: {100 * np.mean(exact):.1f} % of "
          f"reference conformers within 0.5 Å (mean over {len(exact)} molecules)")
    print(f"\nborrowed torsions on fresh ETKDG local structures, delta 0.5 Å, seeds 0-{args.seeds - 1} (mean ± sd over seeds)")
    print("| torsions from | COV-R | MAT-R (Å) |\n|---|---|---|")
    for method, per_seed in borrowed.items():
        cov = np.array([np.mean([m["COV-R"] for m in s]) for s in per_seed])
        mat = np.array([np.mean([m["MAT-R"] for m in s]) for s in per_seed])
        sd = lambda a: a.std(ddof=1) if len(a) > 1 else 0.0
        print(f"| {method} | {100 * cov.mean():.1f} ± {100 * sd(cov):.1f} % | {mat.mean():.3f} ± {sd(mat):.3f} |")


if __name__ == "__main__":
    main()
