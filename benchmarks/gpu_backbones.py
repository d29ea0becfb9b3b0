"""One lent GPU session for the backbone model: measure throughput, train as large a model as the
time budget allows, and sample from it and from the bundled CPU model.

The device machine cannot see ``../shared``; copy the protein chains into an ignored folder that
travels (``carry``) together with the biopython wheel (``bash ../shared/gpu/wheels.sh proteins``):

    echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu && cp -r ../shared/data/proteins .gpu/
    # on the device (run's carry: [".whl", ".gpu"]):
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \\
      && export PYTHONPATH=/tmp/site && python3 -m pip install -q --no-deps --no-build-isolation -e . \\
      && python3 benchmarks/gpu_backbones.py --data .gpu/proteins --out $OUT --budget 360

Steps: a short probe run measures training steps per second; the main run gets
``budget x steps/s`` steps (so its cosine schedule ends on time); then 8 backbones at each of 60,
100 and 150 residues (100 steps) from the new model and the bundled one, timed on the GPU.
What comes back (at most 8 files): ``report.json`` (device, throughput, timings),
``metrics.jsonl``, ``model/`` (EMA weights in float16 + config) and ``samples.npz``. Score the
samples here, where biotite and the reference set are:

    python benchmarks/gpu_backbones.py --score FILES_AT --out runs/gpu    # PDB files, then e.g.:
    scidiff backbones-eval runs/gpu/new_all --reference ../shared/data/proteins --tm-samples 24

Training runs in float32 (``bf16: false``): the frame updates compose rotations by matrix
products, which bf16 autocast would round to 3 significant digits.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch

# FrameFlow's widths (c_s 256, c_z 128, 8 heads, 8 / 12 points) in 5 blocks, 7.2 M parameters, so
# the float16 weights (14.5 MB) fit one returned file (16 MiB); this project's CPU recipe: the
# auxiliary losses near the data.
MODEL = {"trunk": dict(c_s=256, c_z=128, c_hidden=16, heads=8, qk_points=8, v_points=12, blocks=5, seq_heads=8),
         "loss": dict(aux_weight=1.0, aux_t_max=0.5)}


def task(data: str, out: Path, steps: int, batch: int, crop: int, model: dict, lr: float) -> dict:
    return {"domain": "proteins", "data_dir": data, "cache_dir": str(out.parent / "cache"), "crop_length": crop,
            "model": model,
            "train": {"steps": steps, "batch_size": batch, "bf16": False, "checkpoint_every": 0, "log_every": 10,
                      "progress": False, "optim": {"lr": lr, "warmup": min(200, steps // 10)}}}


def steps_per_second(metrics: Path, skip: int = 10) -> float:
    """Median logged ``it_per_s`` after the first ``skip`` steps (start-up excluded)."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    rates = [r["it_per_s"] for r in rows if "it_per_s" in r and r["step"] > skip]
    return statistics.median(rates)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_samples(model, device, lengths, steps: int) -> tuple[dict, dict]:
    """``{L: coords (8, L, 4, 3)}`` and seconds per backbone at each length (after one warm-up call)."""
    model = model.to(device)
    model.sample(20, n=2, seed=0, sampler=dataclasses.replace(model.config.sampler, steps=5))
    coords, seconds = {}, {}
    for L in lengths:
        sync(device)
        t0 = time.perf_counter()
        bbs = model.sample(L, n=8, seed=0, sampler=dataclasses.replace(model.config.sampler, steps=steps))
        sync(device)
        seconds[L] = (time.perf_counter() - t0) / 8
        coords[L] = np.stack([b.coords for b in bbs])
    return coords, seconds


def device_run(args) -> None:
    from scidiff.proteins.model import BackboneGenerator
    from scidiff.proteins.train import run

    out, work = args.out, Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model_cfg = {k: MODEL.get(k, {}) | args.model.get(k, {}) for k in MODEL.keys() | args.model.keys()}
    report = {"device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu", "torch": torch.__version__,
              "model": model_cfg, "batch": args.batch, "crop": args.crop, "lr": args.lr}

    t0 = time.perf_counter()
    run(task(args.data, work / "probe", args.probe_steps, args.batch, args.crop, model_cfg, args.lr), work / "probe")
    rate = steps_per_second(work / "probe" / "metrics.jsonl")
    steps = max(args.probe_steps, int(args.budget * rate))
    report |= {"probe_seconds": time.perf_counter() - t0, "steps_per_second": rate, "steps": steps}
    print(f"probe: {rate:.2f} steps/s -> {steps} steps in {args.budget} s", flush=True)

    t0 = time.perf_counter()
    last = run(task(args.data, work / "main", steps, args.batch, args.crop, model_cfg, args.lr), work / "main")
    report |= {"train_seconds": time.perf_counter() - t0, "final_loss": last.get("loss"),
               "residues_per_second": rate * args.batch * args.crop}
    shutil.copy(work / "main" / "metrics.jsonl", out / "metrics.jsonl")
    model = BackboneGenerator.from_pretrained(work / "main" / "model")
    model.save_pretrained(out / "model", weights_dtype=torch.float16)
    report["parameters"] = sum(p.numel() for p in model.parameters())

    samples = {}
    for name, m in (("new", model), ("bundled", BackboneGenerator.from_pretrained())):
        coords, seconds = timed_samples(m, dev, args.lengths, args.sample_steps)
        samples |= {f"{name}_{L}": c for L, c in coords.items()}
        report[f"{name}_seconds_per_backbone"] = seconds
    np.savez_compressed(out / "samples.npz", **samples)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


def score(folder: Path, out: Path) -> None:
    """Write the samples of ``folder/samples.npz`` as PDB files under ``out/{new,bundled}_{L,all}``."""
    from scidiff.proteins import Backbone, write_pdb

    with np.load(folder / "samples.npz", allow_pickle=False) as f:
        for key in f.files:
            name, L = key.rsplit("_", 1)
            for i, c in enumerate(f[key]):
                for sub in (key, f"{name}_all"):
                    (out / sub).mkdir(parents=True, exist_ok=True)
                    write_pdb(out / sub / f"L{L}_sample_{i}.pdb", Backbone(c, name=f"L{L}_{i}"))
    print(f"PDB files under {out}; score each folder with scidiff backbones-eval")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="folder of the protein chains (a copy of ../shared/data/proteins)")
    p.add_argument("--out", type=Path, help="where the results go ($OUT on the device; with --score, the PDB files)")
    p.add_argument("--work", default="/tmp/gpu_backbones", help="scratch folder for runs and the dataset cache")
    p.add_argument("--budget", type=float, default=360, help="seconds of main training")
    p.add_argument("--probe-steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--lengths", type=int, nargs="+", default=[60, 100, 150])
    p.add_argument("--sample-steps", type=int, default=100)
    p.add_argument("--model", type=json.loads, default={}, help='JSON overrides of MODEL by section, e.g. \'{"trunk": {"blocks": 4}}\'')
    p.add_argument("--score", type=Path, help="instead: write the PDB files of the samples.npz in this folder to --out")
    args = p.parse_args(argv)
    if not args.out:
        p.error("--out is needed")
    if args.score:
        return score(args.score, args.out)
    if not args.data:
        p.error("--data is needed for a device run")
    args.out.mkdir(parents=True, exist_ok=True)
    device_run(args)


if __name__ == "__main__":
    main()
