"""Any conformer generator on the development references in ``../shared/data/molecules/``.

1. Platinum Diverse 2017 (development part): crystal (protein-bound) ligand poses. For each
   ligand, N conformers are generated from its SMILES; bioactive recovery = the minimum
   heavy-atom, symmetry-aware RMSD of the first n of them to the crystal pose, for n = 10 and 50
   (median, fractions <= 0.5 / 1.0 / 2.0 Å).
2. GMTKN55 conformer ensembles: 2K conformers per molecule with K reference conformers;
   COV-R / MAT-R / COV-P / MAT-P at delta = 0.5 and 0.75 Å (mean and median over molecules).

Time per conformer is the generator's wall time over the conformers it made (one process,
``--threads`` RDKit/torch threads). ``--every K`` takes every K-th Platinum ligand (a
deterministic subset; say so when quoting).

    python benchmarks/conformers.py --method etkdg [--every 10] [--n 50] [--markdown]
    python benchmarks/conformers.py --method torsional [--model FOLDER] --every 10
    python benchmarks/conformers.py --method torsional --skip-platinum --seeds 10

With only 19 GMTKN55 molecules the seed alone moves COV-R by several points; ``--seeds K`` repeats
GMTKN55 with seeds ``seed .. seed + K - 1`` and adds the mean and standard deviation over seeds.
Most of that spread is which 2K conformers happened to be drawn. ``--pool M`` draws M·2K
conformers per molecule and reports the expected figures of 2K of them (the exact mean over every
2K-subset of the pool, ``metrics.expected_coverage_matching``): the same quantity, with far less
noise, at M times the generation cost.

    python benchmarks/conformers.py --method torsional --skip-platinum --pool 10 --seeds 2 --json F

A generator that draws each molecule's conformers as one set (particle guidance, the bundled
torsional default) is refused with ``--pool`` (a pool's 2K-subsets are independent draws by
construction): measure it with ``--seeds``, or pass ``--particle-guidance 0``.
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from rdkit import Chem, RDLogger

from scidiff.paths import data_dir
from scidiff.molecules.cli import generators
from scidiff.molecules.ensembles import read_ensembles
from scidiff.molecules.generator import per_molecule
from scidiff.molecules.metrics import (coverage_matching, expected_coverage_matching, recovery, rmsd_matrix,
                                      stereo_preserved, summarize_ensembles)

DATA = data_dir("molecules", fallback=Path(__file__).resolve().parents[2] / "shared" / "data")   # $SCIDIFF_DATA first


STEREO = {"checked": 0, "kept": 0}          # conformers whose stereo labels match the input's
PER_LIGAND: dict = {}                       # platinum_id -> {n: min-RMSD}, for paired comparisons
PER_MOLECULE: dict = {}                     # "seed/GMTKN55 id" -> {delta: COV/MAT}, for paired comparisons
SOURCES: dict = {}                          # a learned generator's last_stats, summed: how conformers were made


def count_stereo(source: Chem.Mol, mol: Chem.Mol) -> None:
    for conf in mol.GetConformers():
        STEREO["checked"] += 1
        STEREO["kept"] += stereo_preserved(source, mol, conf.GetId())


def made_in_groups(gen, inputs: list, n, seed: int, group: int):
    """``(input index, Mol or exception, seconds of its group / group size)`` for every input,
    made ``max(group, 1)`` at a time with ``generate_many`` (one molecule: the same as ``generate``)."""
    ns, step = per_molecule(n, len(inputs)), max(group, 1)
    for lo in range(0, len(inputs), step):
        hi = min(lo + step, len(inputs))
        start = time.perf_counter()
        mols = gen.generate_many(inputs[lo:hi], ns[lo:hi], seed=seed)
        for key, count in getattr(gen, "last_stats", {}).items():
            SOURCES[key] = SOURCES.get(key, 0) + count
        share = (time.perf_counter() - start) / (hi - lo)
        yield from ((lo + i, m, share) for i, m in enumerate(mols))


def platinum(gen, every: int, n: int, seed: int, group: int = 0) -> tuple[dict, float, int, list]:
    index = list(csv.DictReader(open(DATA / "platinum_diverse_2017_dev_index.csv")))[::every]
    wanted = {row["platinum_id"] for row in index}
    refs = {m.GetProp("platinum_id"): m for m in Chem.SDMolSupplier(str(DATA / "platinum_diverse_2017_dev.sdf"),
                                                                       removeHs=False) if m is not None
            and m.GetProp("platinum_id") in wanted}
    mins = {10: [], n: []}
    PER_LIGAND.clear()
    seconds, made, failed = 0.0, 0, []
    for i, mol, sec in made_in_groups(gen, [row["smiles"] for row in index], n, seed, group):
        row = index[i]
        seconds += sec
        if isinstance(mol, Exception):
            failed.append(f"{row['platinum_id']}: {mol}")
            continue
        made += mol.GetNumConformers()
        count_stereo(Chem.MolFromSmiles(row["smiles"]), mol)
        r = rmsd_matrix(mol, refs[row["platinum_id"]], timeout=5.0)[0]
        for k in mins:
            mins[k].append(float(r[:k].min()))
        PER_LIGAND[row["platinum_id"]] = {k: float(r[:k].min()) for k in mins}
    return {k: recovery(v) for k, v in mins.items()}, seconds, made, failed


def gmtkn55(gen, seed: int, group: int = 0, pool: int = 1) -> tuple[dict, float, int]:
    """COV/MAT of 2K conformers per molecule at delta 0.5 and 0.75 Å; with ``pool`` > 1 the
    expected figures of 2K drawn from ``pool`` * 2K."""
    groups, _ = read_ensembles(DATA / "gmtkn55_conformer_ensembles.sdf")
    names, refs = list(groups), [ref for _, ref in groups.values()]
    results = {0.5: [], 0.75: []}
    seconds, made = 0.0, 0
    inputs = [Chem.RemoveHs(ref) for ref in refs]
    for i, mol, sec in made_in_groups(gen, inputs, [2 * pool * r.GetNumConformers() for r in refs], seed, group):
        ref = refs[i]
        seconds += sec
        if isinstance(mol, Exception):
            raise mol
        made += mol.GetNumConformers()
        count_stereo(Chem.RemoveHs(ref), mol)
        m = rmsd_matrix(mol, ref, timeout=5.0)
        n = 2 * ref.GetNumConformers()
        cov = {d: expected_coverage_matching(m, d, n) if pool > 1 else coverage_matching(m, d) for d in results}
        for d in results:
            results[d].append(cov[d])
        PER_MOLECULE[f"{seed}/{names[i]}"] = cov
    return {d: summarize_ensembles(v) for d, v in results.items()}, seconds, made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", default="etkdg", help=f"one of {', '.join(generators())}")
    ap.add_argument("--every", type=int, default=1, help="every K-th Platinum ligand (default all)")
    ap.add_argument("--n", type=int, default=50, help="conformers per Platinum ligand (default 50)")
    ap.add_argument("--model", help="weights folder of a learned method (default: its bundled weights)")
    ap.add_argument("--steps", type=int, help="sampler steps of a learned method (default: the model's)")
    ap.add_argument("--sampler", help="sampler of a learned method: euler_maruyama (reverse SDE), euler or heun "
                                      "(probability-flow ODE); default: the model's")
    ap.add_argument("--torsion-prior", type=float,
                    help="torsional methods: weight of ETKDG's experimental torsion terms as guidance (default: "
                         "the generator's)")
    ap.add_argument("--particle-guidance", type=float,
                    help="torsional methods: weight of the repulsion among one molecule's conformers (default: the "
                         "generator's); the conformers are then not independent, so not with --pool")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=1, help="GMTKN55 repeats with consecutive seeds (default 1)")
    ap.add_argument("--skip-platinum", action="store_true", help="GMTKN55 only")
    ap.add_argument("--pool", type=int, default=1,
                    help="GMTKN55: draw M*2K conformers and report the expected figures of 2K (default 1: plain)")
    ap.add_argument("--batch-molecules", type=int, default=0,
                    help="make K molecules at a time with generate_many (learned methods batch them; default: "
                         "one molecule per call)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="also write the per-ligand Platinum min-RMSDs and per-molecule GMTKN55 figures "
                                   "here (for paired comparisons)")
    args = ap.parse_args()
    if args.pool < 1:
        raise SystemExit(f"--pool must be >= 1, got {args.pool}")
    if not DATA.exists():
        raise SystemExit(f"reference data not found at {DATA}")
    RDLogger.DisableLog("rdApp.*")
    gen = generators()[args.method](args.model)
    learned = getattr(gen, "base", gen)                  # inside MMFFRelaxed for NAME-mmff
    for flag, attr in (("steps", "steps"), ("sampler", "method"), ("torsion_prior", "torsion_prior"),
                       ("particle_guidance", "particle_guidance")):
        if getattr(args, flag) is not None:
            if not hasattr(learned, attr):
                raise SystemExit(f"--{flag.replace('_', '-')} does not apply to {args.method}")
            setattr(learned, attr, getattr(args, flag))
    if args.pool > 1 and getattr(learned, "particle_guidance", 0) > 0:
        raise SystemExit("--pool needs independent conformers; particle guidance draws each molecule's as one set "
                         "(use --seeds, or --particle-guidance 0)")
    bar, end = ("| ", " |") if args.markdown else ("", "")
    rec, sec_p, made_p, failed = ({}, 0.0, 0, []) if args.skip_platinum else platinum(gen, args.every, args.n, args.seed, args.batch_molecules)
    if rec:
        print(f"\n{args.method}: Platinum dev (every {args.every}th ligand: {rec[10]['n']} ligands"
              f"{', ' + str(len(failed)) + ' failed' if failed else ''}), bioactive recovery\n")
        print(f"{bar}n | median min-RMSD (Å) | <= 0.5 Å | <= 1.0 Å | <= 2.0 Å{end}")
        if args.markdown:
            print("|---|---|---|---|---|")
        for k, r in rec.items():
            print(f"{bar}{k} | {r['median']:.3f} | {100 * r['frac_le_0.5']:.1f}% | {100 * r['frac_le_1.0']:.1f}% | "
                  f"{100 * r['frac_le_2.0']:.1f}%{end}")
    sec_g, made_g, per_seed = 0.0, 0, []
    for seed in range(args.seed, args.seed + args.seeds):
        cov, sec, made = gmtkn55(gen, seed, args.batch_molecules, args.pool)
        sec_g, made_g = sec_g + sec, made_g + made
        per_seed.append(cov)
        drawn = f"expected for 2K of a pool of {args.pool}·2K" if args.pool > 1 else "2K conformers"
        print(f"\n{args.method}: GMTKN55 ensembles ({cov[0.5]['n_molecules']} molecules, {drawn}, seed {seed})\n")
        print(f"{bar}delta (Å) | COV-R mean / median | MAT-R mean / median (Å) | COV-P mean / median | "
              f"MAT-P mean / median (Å){end}")
        if args.markdown:
            print("|---|---|---|---|---|")
        for d, s in cov.items():
            m, md = s["mean"], s["median"]
            print(f"{bar}{d} | {100 * m['COV-R']:.1f}% / {100 * md['COV-R']:.1f}% | {m['MAT-R']:.3f} / {md['MAT-R']:.3f} | "
                  f"{100 * m['COV-P']:.1f}% / {100 * md['COV-P']:.1f}% | {m['MAT-P']:.3f} / {md['MAT-P']:.3f}{end}")
    if args.seeds > 1:
        print(f"\n{args.method}: GMTKN55 over {args.seeds} seeds (molecule means; mean ± sd over seeds)\n")
        print(f"{bar}delta (Å) | COV-R | MAT-R (Å) | COV-P | MAT-P (Å){end}")
        if args.markdown:
            print("|---|---|---|---|---|")
        for d in per_seed[0]:
            v = {k: np.array([c[d]["mean"][k] for c in per_seed]) for k in ("COV-R", "MAT-R", "COV-P", "MAT-P")}
            pct = lambda a: f"{100 * a.mean():.1f} ± {100 * a.std(ddof=1):.1f} %"
            ang = lambda a: f"{a.mean():.3f} ± {a.std(ddof=1):.3f}"
            print(f"{bar}{d} | {pct(v['COV-R'])} | {ang(v['MAT-R'])} | {pct(v['COV-P'])} | {ang(v['MAT-P'])}{end}")
    print(f"\ntime per conformer: Platinum {1e3 * sec_p / max(made_p, 1):.1f} ms ({made_p} conformers), "
          f"GMTKN55 {1e3 * sec_g / max(made_g, 1):.1f} ms ({made_g} conformers)")
    print(f"stereochemistry as in the input: {STEREO['kept']} of {STEREO['checked']} conformers")
    if SOURCES:
        print("conformers by how they were made: " + ", ".join(f"{k} {v}" for k, v in SOURCES.items()))
    for f in failed:
        print("failed:", f)
    if args.json:
        Path(args.json).write_text(json.dumps({"method": args.method, "every": args.every, "n": args.n,
                                               "pool": args.pool, "torsion_prior": getattr(learned, "torsion_prior", None),
                                               "particle_guidance": getattr(learned, "particle_guidance", None),
                                               "platinum_min_rmsd": PER_LIGAND,
                                               "gmtkn55": PER_MOLECULE}, indent=1))


if __name__ == "__main__":
    main()
