"""The core's own training task: a ``TimeMLP`` on points from a 2-D Gaussian mixture.

It exercises the whole trainer (and ``scidiff train``) on a problem whose answer is known
exactly; the evaluation callback scores EMA samples by sliced W2 to the exact mixture. Domains
register their tasks the same way, under the ``scidiff.trainers`` entry points.

    scidiff train config.yaml train.steps=2000 --out runs/mixture
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..losses import diffusion_loss
from ..metrics import SlicedW2
from ..nn.mlp import MLPConfig, TimeMLP
from ..processes import EDM, VE, VP, RectifiedFlow, SubVP
from ..samplers import sample
from .config import with_defaults
from .fit import fit
from .trainer import TrainConfig

PROCESSES = {"vp": VP, "vp-cosine": lambda: VP("cosine"), "subvp": SubVP, "ve": VE, "edm": EDM, "rf": RectifiedFlow}


@dataclass
class MixtureTask:
    domain: str = "mixture"
    process: str = "vp"              # one of PROCESSES
    weighting: str = "uniform"
    data_size: int = 20_000          # training points drawn once from the mixture
    eval_samples: int = 2000
    eval_steps: int = 20             # DPM-Solver++ steps for the evaluation samples
    model: MLPConfig = field(default_factory=MLPConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def run(data: dict, out: Path, resume: bool = False) -> dict:
    """Train as configured by the nested dict ``data``; writes ``out/model`` (EMA weights)."""
    from ..demo import ring_mixture

    task = with_defaults(MixtureTask, data)
    if task.process not in PROCESSES:
        raise ValueError(f"unknown process {task.process!r}; valid: {', '.join(PROCESSES)}")
    proc = PROCESSES[task.process]()
    target = ring_mixture()
    points = target.sample(task.data_size, generator=torch.Generator().manual_seed(task.train.seed)).float()
    sw = SlicedW2(target, task.eval_samples, generator=torch.Generator().manual_seed(0))

    def loss_fn(net, batch, generator):
        return diffusion_loss(net, proc, batch, prediction=task.model.prediction, weighting=task.weighting,
                              generator=generator)

    def evaluate(ema_model, step):
        with torch.no_grad():
            x = sample(ema_model, proc, (task.eval_samples, 2), steps=task.eval_steps, method="dpm++2m",
                       prediction=task.model.prediction, generator=torch.Generator().manual_seed(0),
                       device=next(ema_model.parameters()).device)
        return {"sliced_w2": sw(x)}

    return fit(task, lambda: TimeMLP(task.model), loss_fn, points, out, resume=resume, eval_fn=evaluate,
               eval_metric="sliced_w2")
