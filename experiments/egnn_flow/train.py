"""Training a ``CoordinateFlow`` on the CCD experimental conformers (measured, not shipped):

    python -m experiments.egnn_flow.train experiments/egnn_flow/flow_cpu.yaml --out runs/flow

The train split of a built CCD cache is featurised as for the torsional recipe
(``scidiff.molecules.train.ConformerDataset``, each molecule's ``pos`` centred). The EMA weights
go to ``OUT/model`` (``FlowConformers.from_pretrained(OUT / "model")`` for conformers); with
``train.eval_every`` the flow-matching loss on ``eval_molecules`` val molecules is logged.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from scidiff.molecules.train import ConformerDataset, load_molecules, validation_loss
from scidiff.train import OptimConfig, TrainConfig, fit, with_defaults

from ..runner import main
from .coordinate_flow import CoordinateFlow, CoordinateFlowConfig


@dataclass
class MoleculeTask:
    domain: str = "molecules-flow"
    cache_dir: str = ""              # built CCD cache; "" is data.default_cache_dir()
    max_molecules: int = 0           # 0: the whole train split; else a random subset (seeded by train.seed)
    max_atoms: int = 200             # larger molecules (hydrogens included) are left out
    eval_molecules: int = 256        # val molecules for eval/loss (needs train.eval_every > 0)
    model: CoordinateFlowConfig = field(default_factory=CoordinateFlowConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=50_000, batch_size=32, eval_every=1000, checkpoint_every=1000, optim=OptimConfig(lr=5e-4, warmup=1000)))


def run(data: dict, out: Path, resume: bool = False) -> dict:
    """Train as configured by the nested dict ``data``; writes ``out/model`` (EMA weights)."""
    task = with_defaults(MoleculeTask, data)
    seed = task.train.seed
    train = ConformerDataset(load_molecules(task.cache_dir, "train", task.max_molecules, task.max_atoms, seed))
    evaluate = None
    if task.train.eval_every and task.eval_molecules > 0:
        val = ConformerDataset(load_molecules(task.cache_dir, "val", task.eval_molecules, task.max_atoms, seed))
        evaluate = lambda ema_model, step: {"loss": validation_loss(ema_model, val, task.train.batch_size)}  # noqa: E731
    return fit(task, lambda: CoordinateFlow(task.model), lambda net, batch, g: net(batch, g), train, out,
               resume=resume, eval_fn=evaluate)


if __name__ == "__main__":
    sys.exit(main(run, "Train the all-atom EGNN flow (an experiment)."))
