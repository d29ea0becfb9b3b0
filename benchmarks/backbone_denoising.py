"""Where a backbone model's local geometry comes from: one-shot denoising of real chains.

Real chains (cropped to ``--crop`` residues) are noised to time t with the model's own path, and
the network's clean-frame prediction is rebuilt into N, CA, C. The table gives the fraction of
consecutive CA-CA within 3.80 ± 0.10 Å (the part-1 validity metric) for the noisy input and
for each model's prediction. Sampling ends on the prediction made at t ~ 0.01, so the first
column bounds what the samples reach:

    python benchmarks/backbone_denoising.py --data ../shared/data/proteins \\
        --model domains/proteins/weights/backbones --model runs/backbones-ft/model

``--model`` repeats (default: the bundled weights); all models see the same chains, and models
of one recipe the same noise (the noisy-input column is the first model's).
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np
import torch

from scidiff.proteins.dataset import BackboneDataset, crop_batch
from scidiff.proteins.evaluate import CA_CA, CA_CA_TOL
from scidiff.proteins.frames import backbone_from_frames
from scidiff.proteins.model import BackboneGenerator, _masked_center

TIMES = (0.01, 0.03, 0.1, 0.2, 0.4)


def ca_valid(r: torch.Tensor, x_nm: torch.Tensor, mask: torch.Tensor, trans_scale: float) -> float:
    """Fraction of consecutive real CA-CA within tolerance for frames ``(B, L, 3, 3), (B, L, 3)`` nm."""
    ca = backbone_from_frames(r.double(), x_nm.double() / trans_scale)[:, :, 1]
    d = (ca[:, 1:] - ca[:, :-1]).norm(dim=-1)
    pair = mask[:, 1:] & mask[:, :-1]
    return float(((d - CA_CA).abs() <= CA_CA_TOL)[pair].double().mean())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder of PDB / mmCIF chains")
    ap.add_argument("--model", action="append", help="model folder (repeatable; default: bundled)")
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--crop", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as cache:
        ds = BackboneDataset.from_folder(args.data, cache)
        idx = np.linspace(0, len(ds) - 1, min(args.chains, len(ds))).round().astype(int).tolist()
        batch = crop_batch(ds.get_batch(idx), args.crop, torch.Generator().manual_seed(args.seed))
    mask = batch["mask"].bool()
    names = args.model or [None]
    models = [BackboneGenerator.from_pretrained(m).eval() for m in names]
    print(f"{len(idx)} chains cropped to {args.crop}; CA-CA within {CA_CA:.2f} ± {CA_CA_TOL:.2f} Å")
    header = "| t | noisy input | " + " | ".join(str(m or "bundled") for m in names) + " |"
    print(header + "\n" + "|---" * (2 + len(names)) + "|")
    for t in TIMES:
        row, noisy = [], None
        for m in models:
            c = m.config.path
            r0 = batch["rotations"].float()
            x0 = _masked_center(batch["translations"].float() * c.trans_scale, mask)
            g = torch.Generator().manual_seed(args.seed + 1)          # the same noise for every model
            tt = torch.full((len(idx),), t)
            rt, xt = m.noisy_frames(r0, x0, tt, mask, g)
            noisy = noisy if noisy is not None else ca_valid(rt, xt, mask, c.trans_scale)
            r_hat, x_hat, _ = m.predict(rt, xt, tt, mask)
            row.append(ca_valid(r_hat, x_hat, mask, c.trans_scale))
        print(f"| {t:g} | {noisy:.3f} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
