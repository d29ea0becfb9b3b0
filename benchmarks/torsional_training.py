"""Training-step time of the torsional score network with e3nn's tensor product and with
``EdgeTensorProduct`` (the same paths and values, weights cut with one split).

Both models hold the same weights and see the same batches of CCD validation molecules (16
molecules a step, their own conformers); a step is forward, backward and an Adam update. Runs
alternate, and the table gives the median over rounds of the mean step time.

    python benchmarks/torsional_training.py [--sizes 16,4,3 24,6,4 32,8,4] [--steps 6] [--rounds 3]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from e3nn import o3

from scidiff.molecules.featurize import rotatable_bonds
from scidiff.molecules.tensor_product import EdgeTensorProduct
from scidiff.molecules.torsion_net import TorsionNetConfig
from scidiff.molecules.torsional import TorsionalDiffusion
from scidiff.molecules.train import ConformerDataset, load_molecules


def with_e3nn_products(model: TorsionalDiffusion) -> TorsionalDiffusion:
    """A copy of the model with each EdgeTensorProduct replaced by e3nn's own module."""
    model = copy.deepcopy(model)
    found = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children() if isinstance(child, EdgeTensorProduct)]
    for parent, name, child in found:
        ref = o3.FullyConnectedTensorProduct(child.irreps_in1, child.irreps_in2, child.irreps_out,
                                             shared_weights=False)
        ref.load_state_dict(child.state_dict())
        setattr(parent, name, ref)
    return model


def step_time(model, batches, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    def step(i):
        loss = model(batches[i % len(batches)], torch.Generator().manual_seed(i))
        opt.zero_grad()
        loss.backward()
        opt.step()
    step(0)                                                          # warm-up
    t = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    return (time.perf_counter() - t) / steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", default=None, help="CCD cache (default $SCIDIFF_CACHE/ccd)")
    ap.add_argument("--sizes", nargs="+", default=["16,4,3", "24,6,4", "32,8,4"], help="ns,nv,layers")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    mols = [m for m in load_molecules(args.cache_dir, "val", 160, 90, 0) if rotatable_bonds(m)]
    data = ConformerDataset(mols)
    batches = [data.get_batch(range(16 * i, 16 * i + 16)) for i in range(len(data) // 16)]
    print(f"threads {torch.get_num_threads()}, {len(batches)} batches of 16 CCD val molecules")
    print("| ns, nv, layers | parameters | e3nn (s/step) | EdgeTensorProduct (s/step) | speed-up |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        ns, nv, layers = map(int, size.split(","))
        torch.manual_seed(0)
        ours = TorsionalDiffusion(net=TorsionNetConfig(ns=ns, nv=nv, layers=layers, cutoff=4.0))
        peer = with_e3nn_products(ours)
        times = {"e3nn": [], "ours": []}
        for _ in range(args.rounds):
            times["e3nn"].append(step_time(peer, batches, args.steps))
            times["ours"].append(step_time(ours, batches, args.steps))
        a, b = statistics.median(times["e3nn"]), statistics.median(times["ours"])
        n = sum(p.numel() for p in ours.parameters())
        print(f"| {ns}, {nv}, {layers} | {n:,} | {a:.3f} | {b:.3f} | {a / b:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
