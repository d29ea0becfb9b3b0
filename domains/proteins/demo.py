"""The protein part of ``scidiff demo``: two 100-residue backbones from the bundled weights
(sampled with the default backbone restraints, as ``scidiff backbones``), written as PDB, with
their bond validity, clashes, secondary structure and radius of gyration."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path


def run(out: Path, seed: int = 0, device: str = "cpu", length: int = 100, n: int = 2, steps: int = 100) -> None:
    from .backbone import write_pdb
    from .evaluate import evaluate_set
    from .model import BackboneGenerator
    from .restraints import Restraints

    model = BackboneGenerator.from_pretrained(device=device)
    start = time.perf_counter()
    sampler = dataclasses.replace(model.config.sampler, steps=steps)
    backbones = model.sample(length, n=n, seed=seed, sampler=sampler, restraints=Restraints())
    seconds = time.perf_counter() - start
    paths = [write_pdb(Path(out) / f"backbone_{i}.pdb", bb) for i, bb in enumerate(backbones)]
    s = evaluate_set(backbones, tm_samples=0).summary()
    print(f"Protein backbones, bundled model ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters), "
          f"{n} x {length} residues, {steps} steps with backbone restraints in {seconds:.1f} s:")
    print(f"  CA-CA bonds valid {s['ca_ca_valid']:.3f}, clash-free {s['clash_free']:.2f}, "
          f"free of backbone-atom overlaps {s['overlap_free']:.2f}, helix {s['helix']:.2f}, "
          f"strand {s['strand']:.2f}, Rg / (2.2 N^0.38) {s['rg_ratio_median']:.2f}")
    print(f"  written to {', '.join(str(p) for p in paths)}")
    print("  (more: scidiff backbones --length 100 -n 8 -o samples/, then scidiff backbones-eval samples/)")
