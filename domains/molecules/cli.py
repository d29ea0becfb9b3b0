"""scidiff conformers (SMILES or a file in, SDF of conformers out) and scidiff conformers-eval.

Every input molecule is handled on its own: a molecule that cannot be read or embedded gets
one line on stderr naming its line or record and the reason, the others are still written, and
a summary ends the run (exit code 0; 1 when nothing was written, or with ``--strict`` when
anything failed). Conformers are written as they are made, so an interrupted run keeps what it
finished. A salt or mixture keeps its largest organic fragment (the others are named in the
record's ``stripped_fragments``), or with ``--keep-fragments`` has every fragment embedded, apart.
Each record names the ``generator`` that made its conformer, with its own properties (MMFF94
energy and convergence with ``--mmff``). An existing output file is kept unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  scidiff conformers "CC(=O)Oc1ccccc1C(=O)O" -n 10 -o aspirin.sdf
  scidiff conformers ligands.smi -n 50 -o out.sdf --seed 1 --workers 2
  scidiff conformers library.smi -n 10 -o out.sdf --method etkdg      # fast: RDKit ETKDGv3
  scidiff conformers library.csv --column smiles --name-column id -n 20 -o out.sdf --mmff
"""


def generators() -> dict:
    """Method name -> factory taking the model (a folder, a bundled name or None: the default) and
    the torch device of a learned model."""
    from .generator import ETKDG, MMFFRelaxed
    from .pretrained import from_pretrained

    return {"etkdg": lambda model, device="cpu": ETKDG(), "etkdg-mmff": lambda model, device="cpu": ETKDG(mmff=True),
            "torsional": lambda model, device="cpu": from_pretrained(model, device=device),
            "torsional-mmff": lambda model, device="cpu": MMFFRelaxed(from_pretrained(model, device=device))}


GUIDANCE = ("torsion_prior", "particle_guidance")      # the torsional generator's guidance weights


@functools.lru_cache(maxsize=4)
def _generator(method: str, model: str | None, torsion_prior: float | None = None,
               particle_guidance: float | None = None, device: str = "cpu"):
    """One generator per (method, model, weights, device) and process: learned weights load once.
    ``torsion_prior`` / ``particle_guidance`` (torsional methods) replace the model's defaults."""
    gen = generators()[method](model, device)
    for key, w in zip(GUIDANCE, (torsion_prior, particle_guidance)):
        if w is not None:
            setattr(getattr(gen, "base", gen), key, w)           # inside MMFFRelaxed for -mmff
    return gen


def _generate(job):
    """Worker: ``(method, model, weights, device, records, n, seed) -> [(record, mol | None, error | None)]``,
    the records' molecules made together (``generate_many``: one batch for a learned method);
    ``weights`` are ``_generator``'s guidance weights. A record of several fragments (kept with
    ``--keep-fragments``) has each embedded apart (``generate_apart``)."""
    from rdkit import Chem

    from .generator import generate_apart

    method, model, weights, device, records, n, seed = job
    try:
        gen = _generator(method, model, *weights, device=device)
        whole = [r for r in records if len(Chem.GetMolFrags(r.mol)) == 1]
        made = dict(zip((r.where for r in whole), gen.generate_many([r.mol for r in whole], n, seed=seed)))
        for r in records:
            if r.where not in made:
                try:
                    made[r.where] = generate_apart(gen, r.mol, n, seed=seed)
                except (ValueError, RuntimeError) as e:
                    made[r.where] = e
    except (ValueError, RuntimeError) as e:             # a failure outside any one molecule
        return [(r, None, f"{r.where}: {e}") for r in records]
    return [(r, None, f"{r.where}: {made[r.where]}") if isinstance(made[r.where], Exception) else (r, made[r.where], None)
            for r in records]


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rdkit import Chem
    from tqdm import tqdm

    from .chem import largest_fragment, write_conformers
    from .inputs import read_molecules

    method = f"{args.method}-mmff" if args.mmff and not args.method.endswith("-mmff") else args.method
    if method not in generators():
        raise ValueError(f"unknown method {args.method!r}; valid: {', '.join(generators())}")
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    if args.batch_molecules < 1:
        raise ValueError(f"--batch-molecules must be at least 1, got {args.batch_molecules}")
    if args.model and not method.startswith("torsional"):
        raise ValueError(f"--model is for the learned method (torsional), not {method}")
    weights = tuple(getattr(args, key) for key in GUIDANCE)
    for key, w in zip(GUIDANCE, weights):
        flag = "--" + key.replace("_", "-")
        if w is not None and not method.startswith("torsional"):
            raise ValueError(f"{flag} is for the torsional methods, not {method}")
        if w is not None and w < 0:
            raise ValueError(f"{flag} must be >= 0, got {w}")
    learned = method.startswith("torsional")
    props = {}
    if learned:                                  # a bad --model fails here, before any molecule
        gen = _generator(method, args.model, *weights, device=args.device)
        gen = getattr(gen, "base", gen)
        props = {key: str(getattr(gen, key)) for key in GUIDANCE if hasattr(gen, key)}
    out = Path(args.output)
    if out.is_dir():
        raise ValueError(f"-o {out} is a folder; name the .sdf file to write")
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it or choose another -o")
    records = list(read_molecules(args.input, column=args.column, name_column=args.name_column))
    failures, written, molecules, stripped = [], 0, 0, {}
    for r in records:
        if not r.ok:
            failures.append(r.error)
            print(r.error, file=sys.stderr)
    good = [r for r in records if r.ok]
    if not args.keep_fragments:                  # salts and mixtures: the largest organic fragment
        for i, r in enumerate(good):
            kept, others = largest_fragment(r.mol)
            if others:
                good[i], stripped[r.where] = replace(r, mol=kept), ".".join(others)
    per = args.batch_molecules if learned else 1
    jobs = [(method, args.model, weights, args.device, good[i:i + per], args.n, args.seed)
            for i in range(0, len(good), per)]
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    writer, pool = Chem.SDWriter(str(out)), None
    try:
        if args.workers > 1:
            import multiprocessing as mp

            pool = mp.get_context("spawn").Pool(args.workers)
            results = pool.imap(_generate, jobs)
        else:
            results = map(_generate, jobs)
        bar = tqdm(total=len(good), disable=len(good) < 2 or args.quiet, desc="molecules", unit="mol")
        for record, mol, error in (row for rows in results for row in rows):
            bar.update()
            if error:
                failures.append(error)
                tqdm.write(error, file=sys.stderr)
                continue
            mol.SetProp("_Name", record.name)
            fields = {"source": record.where, "method": method, "seed": args.seed, **props}
            if record.where in stripped:
                fields["stripped_fragments"] = stripped[record.where]
            written += write_conformers(writer, mol, fields, generator=method.split("-")[0])
            writer.flush()
            molecules += 1
        bar.close()
    except KeyboardInterrupt:
        print(f"\ninterrupted: {written} conformers of {molecules} molecules are in {out}", file=sys.stderr)
        raise
    finally:
        if pool is not None:
            pool.terminate()
        writer.close()
    seconds = time.perf_counter() - start
    print(f"wrote {written} conformers of {molecules} molecules to {out} with {method} in {seconds:.1f} s; "
          f"{len(failures)} molecule(s) failed" + (" (listed above)" if failures else ""))
    if stripped:
        print(f"{len(stripped)} salt(s) or mixture(s) kept their largest fragment (the others are in the SDF's "
              f"stripped_fragments; --keep-fragments embeds every fragment)")
    if not written:
        out.unlink(missing_ok=True)                # no empty file left behind to block the next run
        print(f"scidiff conformers: error: no conformer was written ({len(records)} input record(s))", file=sys.stderr)
        return 1
    return 1 if failures and args.strict else 0


def run_eval(args: argparse.Namespace) -> int:
    from .ensembles import evaluate_files, format_tables

    for path in (args.generated, args.reference):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist")
    ns = tuple(args.n) if args.n else (None,)
    result = evaluate_files(args.generated, args.reference, deltas=tuple(args.delta), ns=ns)
    for error in result["errors"]:
        print(error, file=sys.stderr)
    print(format_tables(result))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("conformers", help="3-D conformers for SMILES or a molecule file, as SDF",
                              description=__doc__, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a SMILES string or a .smi / .csv / .sdf file")
    p.add_argument("-n", type=int, default=10, help="conformers per molecule (default 10)")
    p.add_argument("-o", "--output", required=True, help="output .sdf")
    p.add_argument("--method", default="torsional",
                   help="generator: torsional (the bundled torsional diffusion on ETKDG local structures, "
                        "the default) or etkdg (RDKit ETKDGv3: 13-27x faster), each also as NAME-mmff")
    p.add_argument("--model", help="weights folder for torsional (default: the bundled weights)")
    p.add_argument("--torsion-prior", type=float, metavar="W",
                   help="torsional: weight of ETKDG's experimental torsion terms as guidance (default: the "
                        "model's, 0.25 for the bundled weights; 0: the network alone)")
    p.add_argument("--particle-guidance", type=float, metavar="G",
                   help="torsional: draw each molecule's n conformers as one set that repels itself in "
                        "torsion space with weight G (particle guidance; default: the model's, 3 for the "
                        "bundled weights; 0: independent conformers)")
    p.add_argument("--mmff", action="store_true",
                   help="relax the conformers with MMFF94 (any method; a relaxation that changes the stereo is undone)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device of the learned model, e.g. cuda (default cpu)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--batch-molecules", type=int, default=1,
                   help="torsional: molecules sampled together in one batch (default 1). Meant for a GPU; "
                        "on CPU the cost grows with the atoms either way. With K > 1 a molecule's conformers "
                        "depend on the molecules it is batched with (reproducibly for the same input)")
    p.add_argument("--column", help="CSV column holding the SMILES (default: smiles/SMILES/...)")
    p.add_argument("--name-column", help="CSV column naming each molecule")
    p.add_argument("--strict", action="store_true", help="exit with status 1 when any molecule failed")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--keep-fragments", action="store_true",
                   help="salts and mixtures: embed every fragment, apart (default: keep the largest organic one)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def register_eval(subparsers) -> None:
    e = subparsers.add_parser("conformers-eval", help="COV/MAT and recovery of generated vs reference conformers",
                              description="Compare two SDF files molecule by molecule (matched by InChIKey): "
                                          "GEOM coverage/matching (heavy-atom, symmetry-aware RMSD, strict < delta) "
                                          "and the minimum RMSD to each molecule's first reference conformer.",
                              epilog="example:\n  scidiff conformers-eval generated.sdf crystal_poses.sdf --n 10 50",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("generated", help="SDF of generated conformers")
    e.add_argument("reference", help="SDF of reference conformers")
    e.add_argument("--delta", type=float, nargs="+", default=[0.5, 0.75, 1.0], help="COV thresholds, Å")
    e.add_argument("--n", type=int, nargs="+", help="recovery with the first n generated conformers (default all)")
    e.set_defaults(func=run_eval)
