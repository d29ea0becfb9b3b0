"""Paired comparison of two ``benchmarks/conformers.py --json`` files (method A against method B).

Platinum: per ligand, the minimum RMSD to the crystal pose at each N; how many ligands A brings
closer, a two-sided sign test and a Wilcoxon signed-rank test. GMTKN55: per molecule, A − B in
COV-R and MAT-R at each delta, how many molecules move each way, and a bootstrap 95 % interval
over molecules of the mean difference. Each side is averaged over the seeds both hold or, where
they share none (e.g. pools drawn with different seeds), over its own seeds. A side may be several
files of one method with different seeds, joined by commas.

    python benchmarks/conformers_paired.py A.json B.json
    python benchmarks/conformers_paired.py etkdg_s0.json,etkdg_s1.json guided_s2.json,guided_s3.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from scipy import stats


def platinum(a: dict, b: dict) -> None:
    ids = sorted(set(a) & set(b))
    if not ids:
        return
    for n in sorted({k for i in ids for k in a[i]} & {k for i in ids for k in b[i]}, key=int):
        x = np.array([a[i][n] for i in ids])
        y = np.array([b[i][n] for i in ids])
        closer, farther = int((x < y).sum()), int((x > y).sum())
        sign = stats.binomtest(closer, closer + farther).pvalue if closer + farther else 1.0
        wil = stats.wilcoxon(x, y).pvalue if (x != y).any() else 1.0
        print(f"Platinum N = {n}: {len(ids)} ligands; A closer on {closer}, farther on {farther}; "
              f"median {np.median(x):.3f} against {np.median(y):.3f} Å; sign test p = {sign:.2g}, "
              f"Wilcoxon p = {wil:.2g}")


def per_molecule(records: dict, seeds: list[str], delta: str, metric: str) -> dict:
    """molecule -> mean over ``seeds`` of ``metric`` at ``delta``."""
    mols = {key.split("/", 1)[1] for key in records}
    return {m: float(np.mean([records[f"{s}/{m}"][delta][metric] for s in seeds])) for m in mols}


def seeds_of(records: dict) -> list[str]:
    return sorted({k.split("/")[0] for k in records}, key=int)


def gmtkn55(a: dict, b: dict, rounds: int = 10_000) -> None:
    if not a or not b:
        return
    shared = sorted(set(seeds_of(a)) & set(seeds_of(b)), key=int)
    seeds_a, seeds_b = (shared, shared) if shared else (seeds_of(a), seeds_of(b))
    rng = np.random.default_rng(0)
    deltas = list(next(iter(a.values())))
    # COV-R at every delta; MAT-R does not depend on delta, so once
    for delta, metric in [(d, "COV-R") for d in deltas] + [(deltas[0], "MAT-R")]:
        scale, unit = (100, "points") if metric == "COV-R" else (1, "Å")
        pa, pb = per_molecule(a, seeds_a, delta, metric), per_molecule(b, seeds_b, delta, metric)
        d = scale * np.array([pa[m] - pb[m] for m in sorted(pa)])
        boot = d[rng.integers(0, len(d), size=(rounds, len(d)))].mean(axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        where = f"delta {delta} {metric}" if metric == "COV-R" else metric
        print(f"GMTKN55 {where} (seeds {','.join(seeds_a)} / {','.join(seeds_b)}): A {scale * np.mean(list(pa.values())):.3f}, "
              f"B {scale * np.mean(list(pb.values())):.3f}; A − B {d.mean():+.3f} {unit} "
              f"(95 % over molecules {lo:+.3f} to {hi:+.3f}); A higher on {int((d > 0).sum())}, "
              f"lower on {int((d < 0).sum())} of {len(d)} molecules")


def load(paths: str) -> dict:
    """One side: the ``--json`` files in ``paths`` (comma-separated) merged; they must hold one
    method and no seed twice."""
    runs = [json.load(open(p)) for p in paths.split(",")]
    if len({r["method"] for r in runs}) > 1:
        raise SystemExit(f"{paths}: the files hold different methods")
    merged = {"method": runs[0]["method"], "platinum_min_rmsd": {}, "gmtkn55": {}}
    for path, run in zip(paths.split(","), runs):
        for part in ("platinum_min_rmsd", "gmtkn55"):
            twice = set(merged[part]) & set(run.get(part, {}))
            if twice:
                raise SystemExit(f"{path}: {part} entries already in an earlier file, e.g. {sorted(twice)[0]}")
            merged[part].update(run.get(part, {}))
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", help="the --json file(s) of method A, comma-separated")
    ap.add_argument("b", help="the --json file(s) of method B, comma-separated")
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    print(f"A = {a['method']} ({args.a}), B = {b['method']} ({args.b})")
    platinum(a.get("platinum_min_rmsd", {}), b.get("platinum_min_rmsd", {}))
    gmtkn55(a.get("gmtkn55", {}), b.get("gmtkn55", {}))


if __name__ == "__main__":
    main()
