"""Step time of the shared Trainer against bare PyTorch loops on the same model and batches.

Model: ``TimeMLP`` (width 256, depth 3), eps-prediction VP loss on 2-D mixture points, batch 512,
AdamW. The bare loops index the same tensor and draw the loss noise from a generator like the
Trainer; "bare + clip + EMA" does the same work as the Trainer minus its bookkeeping (step-indexed
batches, per-step generators, NaN guard, LR schedule, logging). Runs alternate, and the table
gives the median over rounds of the mean step time.

    python benchmarks/trainer_overhead.py [--steps 150] [--rounds 5] [--device cpu]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

import scidiff
from scidiff.demo import ring_mixture
from scidiff.nn import MLPConfig, TimeMLP
from scidiff.train import EMA, OptimConfig, TrainConfig, Trainer


def make(device):
    torch.manual_seed(0)
    return TimeMLP(MLPConfig(width=256, depth=3)).to(device)


def loss_fn(proc):
    return lambda net, batch, gen: scidiff.diffusion_loss(net, proc, batch, prediction="eps", generator=gen)


def bare(data, steps, device, proc, extras: bool) -> float:
    model = make(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = EMA(model) if extras else None
    gen = torch.Generator(device).manual_seed(0)
    f = loss_fn(proc)
    n = data.shape[0]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, n, (512,))
        loss = f(model, data[idx].to(device), gen)
        loss.backward()
        if extras:
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if extras:
            ema.update(model, step)
    sync()
    return (time.perf_counter() - start) / steps


def trainer(data, steps, device, proc) -> float:
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(steps=steps, batch_size=512, device=str(device), progress=False, log_every=50,
                          checkpoint_every=10**9, optim=OptimConfig(lr=1e-4, warmup=10))
        t = Trainer(make(device), loss_fn(proc), data, cfg, out)
        t.save = lambda best=False: None          # time the steps, not the final checkpoint write
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        t.fit()
        sync()
        return (time.perf_counter() - start) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    proc = scidiff.VP()
    data = ring_mixture().sample(50_000, generator=torch.Generator().manual_seed(0)).float()
    runs = {"bare loop": [], "bare + clip + EMA": [], "Trainer": []}
    bare(data, 20, device, proc, True)                     # warm-up
    for _ in range(args.rounds):
        runs["bare loop"].append(bare(data, args.steps, device, proc, False))
        runs["bare + clip + EMA"].append(bare(data, args.steps, device, proc, True))
        runs["Trainer"].append(trainer(data, args.steps, device, proc))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.steps} steps x {args.rounds} rounds")
    print("| loop | ms/step (median) | Trainer / loop |")
    print("|---|---|---|")
    for k, v in med.items():
        print(f"| {k} | {1e3 * v:.2f} | {med['Trainer'] / v:.3f} |")


if __name__ == "__main__":
    main()
