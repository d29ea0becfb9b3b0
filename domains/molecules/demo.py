"""The molecule part of ``scidiff demo``: conformers of a few drug molecules from the bundled
learned generator, written to one SDF, with their stereo check and the time per conformer."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

DRUGS = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "ibuprofen": "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",
    "oseltamivir": "CCC(CC)O[C@@H]1C=C(C[C@@H]([C@H]1NC(C)=O)N)C(=O)OCC",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
}


def run(out: Path, seed: int = 0, device: str = "cpu", n: int = 10) -> None:
    from rdkit import Chem

    from .chem import write_conformers
    from .metrics import stereo_preserved
    from .pretrained import from_pretrained

    gen = from_pretrained(device=device)
    path = Path(out) / "conformers.sdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = Chem.SDWriter(str(path))
    start, made, stereo_ok = time.perf_counter(), 0, 0
    try:
        for name, smiles in DRUGS.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")           # fallbacks are counted in last_stats
                mol = gen.generate(smiles, n, seed=seed)
            mol.SetProp("_Name", name)
            stereo_ok += sum(stereo_preserved(Chem.MolFromSmiles(smiles), mol, c.GetId()) for c in mol.GetConformers())
            made += write_conformers(writer, mol, {"smiles": smiles}, generator=gen.name)
    finally:
        writer.close()
    seconds = time.perf_counter() - start
    guided = f", guided by ETKDG's torsion terms at w = {gen.torsion_prior:g}" if getattr(gen, "torsion_prior", 0) else ""
    if getattr(gen, "particle_guidance", 0):
        guided += f" and drawn as diverse sets (particle guidance, weight {gen.particle_guidance:g})"
    print(f"Conformers, bundled {gen.name} model{guided}: {made} conformers of {len(DRUGS)} drugs "
          f"({', '.join(DRUGS)}) in {seconds:.1f} s ({1e3 * seconds / made:.0f} ms per conformer)")
    print(f"  stereochemistry as in the SMILES: {stereo_ok} of {made}; written to {path}")
    print("  (more: scidiff conformers ligands.smi -n 50 -o out.sdf [--mmff] [--method etkdg])")
