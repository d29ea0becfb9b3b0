"""``scidiff backbones-eval``: evaluate a folder of backbone structures against a reference folder.

Reads every PDB/mmCIF file (optionally .gz) under SAMPLES (a multi-MODEL file counts each model
as a sample) and REFERENCE (first model of each file: NMR ensembles count once), prints one
table (metric, samples, reference's own value; the W1 rows compare samples with the reference),
and writes ``metrics.json`` and PNG plots to ``--out``. With a reference, the W1 rows are followed
by the spread of the same distances for real chains with the samples' lengths (``--band-draws``
subsets of the reference scored against the rest, :mod:`.real_band`): a small sample set cannot
score as low as the real-vs-real line of two large halves.
Samples are evaluated as whole chains (a CA-CA gap is a bad bond); reference chains may have
breaks, which are left out of bond, angle and dihedral statistics. Unreadable files are listed
on stderr and skipped; with ``--strict`` they stop the run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLES = """examples:
  scidiff backbones-eval samples/ --reference ../shared/data/proteins --out eval/
  scidiff backbones-eval samples.pdb --reference ref/ --tm-samples 0          (skip pairwise TM-score)
  scidiff backbones-eval ../shared/data/proteins --self-split --tm-samples 200 --out eval_real
        (real-vs-real baseline: even-indexed files of the sorted list against the odd-indexed)
"""


def _read(paths, label: str, strict: bool, on_missing: str, all_models: bool):
    from tqdm import tqdm

    from .backbone import read_backbones

    out, failed = [], 0
    for p in tqdm(paths, desc=f"reading {label}", leave=False, disable=len(paths) < 20):
        try:
            out.extend(read_backbones(p, on_break="keep", on_missing=on_missing, all_models=all_models))
        except ValueError as e:
            if strict:
                raise
            failed += 1
            print(f"skipped: {e}", file=sys.stderr)
    if not out:
        raise ValueError(f"no readable structures in {label} ({failed} file(s) failed)")
    return out, failed


def run(args: argparse.Namespace) -> int:
    from .backbone import structure_files
    from .evaluate import compare, evaluate_set, format_table, plot_comparison
    from .real_band import band_summary, real_subset_w1

    samples_path = Path(args.samples)
    files = structure_files(samples_path)
    if args.self_split:
        if args.reference:
            raise ValueError("--self-split compares two halves of SAMPLES; give no --reference")
        ref_files, files = files[1::2], files[0::2]
        labels = (f"{samples_path.name} even", f"{samples_path.name} odd")
    elif args.reference:
        ref_files = structure_files(args.reference)
        labels = ("samples", "reference")
    else:
        ref_files, labels = [], ("samples", "reference")
    if not files:
        raise ValueError(f"{samples_path}: no structure files (.pdb, .cif, .ent, optionally .gz)")
    if args.reference and not ref_files:
        raise ValueError(f"{args.reference}: no structure files (.pdb, .cif, .ent, optionally .gz)")
    if args.tm_samples < 0:
        raise ValueError(f"--tm-samples must be >= 0, got {args.tm_samples}")
    if args.band_draws < 0:
        raise ValueError(f"--band-draws must be >= 0, got {args.band_draws}")

    # "nan": a CA-only sample file is still measured (its N-CA-C statistics stay empty)
    samples, s_fail = _read(files, "samples", args.strict, "nan", all_models=not args.self_split)
    kw = dict(tm_samples=args.tm_samples, tm_method=args.tm_method, seed=args.seed, progress=True)
    s_stats = evaluate_set(samples, respect_breaks=args.self_split, **kw)
    s_sum = s_stats.summary() | {"files": len(files), "files_failed": s_fail}
    r_stats, r_sum = None, None
    if ref_files:
        reference, r_fail = _read(ref_files, "reference", args.strict, "nan", all_models=False)
        r_stats = evaluate_set(reference, respect_breaks=True, **kw)
        r_sum = r_stats.summary() | {"files": len(ref_files), "files_failed": r_fail}
        s_sum |= compare(s_stats, r_stats)
        if args.band_draws:
            try:
                band = real_subset_w1(reference, s_stats.lengths, draws=args.band_draws, seed=args.seed)
                s_sum |= band_summary(s_sum, band)
            except ValueError as e:   # too few reference chains long enough: the band is left out
                print(f"no real-subset band: {e}", file=sys.stderr)

    print(format_table(s_sum, r_sum))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"samples": s_sum, "reference": r_sum,
                                                  "labels": labels, "command": sys.argv}, indent=1))
    paths = plot_comparison(s_stats, r_stats, out, labels)
    print(f"wrote {out / 'metrics.json'}, " + ", ".join(p.name for p in paths))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("backbones-eval", help="evaluate protein backbones against a reference set (offline)",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("samples", help="folder of structures (searched recursively), one file, or a .txt list of paths")
    p.add_argument("--reference", help="reference folder / file / .txt list (e.g. ../shared/data/proteins)")
    p.add_argument("--self-split", action="store_true",
                   help="split SAMPLES' sorted file list into even/odd halves and compare them (real-vs-real baseline)")
    p.add_argument("--out", default="backbones_eval", help="folder for metrics.json and PNGs (default backbones_eval)")
    p.add_argument("--tm-samples", type=int, default=100,
                   help="pairwise TM-score over at most this many structures per set, a seeded subset (default 100; 0 skips)")
    p.add_argument("--tm-method", default="auto", choices=["auto", "tmalign", "gapless"],
                   help="TM-align via tmtools, or the built-in gapless fallback (default: tmtools if installed)")
    p.add_argument("--band-draws", type=int, default=200,
                   help="real subsets with the samples' lengths drawn from the reference to give the W1 "
                        "distances' spread at this set size (default 200; 0 skips)")
    p.add_argument("--seed", type=int, default=0, help="seed of the TM-score subset and the real subsets (default 0)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    p.set_defaults(func=run)
