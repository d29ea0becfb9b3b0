"""Torsional diffusion (Jing et al. 2022): conformers by diffusion on the torus of a molecule's
rotatable-bond torsions, bond lengths, bond angles and rings kept from a local structure.

The data are the dihedrals of a molecule's rotatable bonds (``featurize``'s ``torsion_index``),
a point of T^T; the process is the core ``HeatDiffusion(Torus(1))`` with torsional diffusion's
geometric schedule, every torsion of a batch one row of a ``(T_total, 1)`` tensor that shares its
molecule's time. Training draws the core path sample (``HeatDiffusion.sample_path``: x_t, the
kernel's score, the displacement that turns the conformer's torsions) and weighs the squared
score error by the process's loss weight sigma^2; ``TorsionScoreNet`` predicts ``sigma(t) *
score`` per torsion. Sampling runs the core ``sample`` on the torus with the conformer following
the torsion state through ``rotate_torsions``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from torch_geometric.data import Batch

from scidiff.manifolds import Torus
from scidiff.processes import HeatDiffusion
from scidiff.samplers import sample
from scidiff.train.pretrained import Pretrained

from .torsion_net import TorsionNetConfig, TorsionScoreNet
from .torsions import dihedrals, rotate_torsions


@dataclass
class TorsionalDiffusionConfig:
    net: TorsionNetConfig = field(default_factory=TorsionNetConfig)
    sigma_min: float = 0.01 * math.pi     # geometric heat-kernel schedule (torsional diffusion's)
    sigma_max: float = math.pi
    steps: int = 20                       # default sampling steps
    method: str = "euler_maruyama"        # reverse SDE; "euler" / "heun": probability-flow ODE
    torsion_prior: float = 0.0            # default guidance weight of ETKDG's torsion terms (.torsion_prior)
    particle_guidance: float = 0.0        # default weight of the repulsion within a molecule's set (.conformer_sets)


class TorsionalDiffusion(Pretrained, nn.Module):
    """Score model on the torsions of a molecule. ``forward(batch, generator)`` is the training
    loss (a ``Batch`` of ``featurize`` graphs with ``pos`` Å); ``sample(batch, ...)`` turns the
    torsions of the local structures in ``batch.pos`` and returns the new coordinates."""

    config_class = TorsionalDiffusionConfig
    prediction = "score"
    bundled = {"torsional-ccd": "weights/torsional"}      # trained on the CCD; weights/torsional/README.md
    default = "torsional-ccd"

    def __init__(self, config: TorsionalDiffusionConfig | None = None, **overrides):
        super().__init__()
        c = replace(config) if config is not None else TorsionalDiffusionConfig(**overrides)
        if not 0 < c.sigma_min < c.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {c.sigma_min}, {c.sigma_max}")
        self.config = c
        self.process = HeatDiffusion(Torus(1), "geometric", c.sigma_min, c.sigma_max)
        self.net = TorsionScoreNet(c.net)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def __deepcopy__(self, memo):
        """A rebuilt model with copied state: e3nn's code-generated tensor products do not survive
        ``copy.deepcopy`` with the same buffers (the Trainer's EMA pairs buffers by position)."""
        p = next(self.parameters())
        twin = type(self)(self.config).to(p.device, p.dtype)
        twin.load_state_dict(self.state_dict())
        for a, b in zip(twin.parameters(), self.parameters()):
            a.requires_grad_(b.requires_grad)
        return twin.train(self.training)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Heat-kernel scale (radians) at ``t``, in ``t``'s dtype and device."""
        return self.process.sigma(t.detach()).to(t.dtype)

    def score(self, pos: torch.Tensor, t: torch.Tensor, data) -> torch.Tensor:
        """Score ``(T,)`` (per radian) of every torsion at conformers ``pos`` and times ``t (B,)``."""
        tb = data.batch[data.torsion_index[1]]
        return self.net(pos, t, data) / self.sigma(t).to(pos.dtype)[tb]

    def noised(self, pos: torch.Tensor, data, t: torch.Tensor, generator: torch.Generator | None = None):
        """Conformers ``pos (N, 3)`` Å of graphs ``data`` with their torsions noised to per-graph
        times ``t (B,)``: ``(pos_t, path)``, ``path`` the core ``PathSample`` of the torsions
        (``x`` and ``target`` ``(T, 1)``: x_t radians and the heat kernel's score there; ``t (T,)``).
        The torsions turn by the path's tangent, so bond lengths and angles stay."""
        ti, si = data.torsion_index, data.side_index
        tb = data.batch[ti[1]]
        path = self.process.sample_path(dihedrals(pos, ti)[:, None], t[tb], generator=generator)
        return rotate_torsions(pos, ti, si, path.tangent[:, 0], tb), path

    def forward(self, batch, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoising score matching on the torsions of ``batch``: the mean over torsions of
        ``sigma^2 |score_pred - score|^2`` (the heat process's loss weight), in float32 whatever
        autocast is active; each molecule draws one time."""
        batch = batch.to(self.device)
        if batch.torsion_index.shape[1] == 0:
            return sum(p.sum() for p in self.parameters()) * 0.0
        dev = generator.device if generator is not None else self.device
        t_min = self.process.t_min
        t = t_min + (1 - t_min) * torch.rand(batch.num_graphs, generator=generator, dtype=torch.float64, device=dev)
        t = t.to(self.device)
        # float32 even under the Trainer's bf16 autocast: the torsion geometry would be swamped by bf16 rounding
        with torch.autocast(self.device.type, enabled=False):
            pos_t, path = self.noised(batch.pos.float(), batch, t, generator)
            err = (self.score(pos_t, t.float(), batch) - path.target[:, 0]) ** 2
            return (self.process.loss_weight(path.t).float() * err).mean()

    @torch.no_grad()
    def sample(self, batch, steps: int | None = None, method: str | None = None,
               generator: torch.Generator | None = None, score_fn=None, return_torsions: bool = False,
               guidance=None):
        """Coordinates ``(N, 3)`` Å (float64, on the model's device): the local structures
        ``batch.pos`` with their torsions drawn by integrating the reverse process from uniform
        torsions (``generator`` on the model's device). ``score_fn(pos, t (B,), batch) -> (T,)``
        replaces the network (tests);
        ``guidance(pos, batch) -> (T,)`` per radian is added to the score at every step (e.g.
        :func:`.torsion_prior.prior_score`). With ``return_torsions`` also the final torsions ``(T,)``."""
        if getattr(batch, "batch", None) is None:
            batch = Batch.from_data_list([batch])
        dev = self.device if score_fn is None else batch.pos.device
        batch = batch.to(dev)
        dtype = next(self.parameters()).dtype if score_fn is None else torch.float64
        score_fn = score_fn or self.score
        ti, si = batch.torsion_index, batch.side_index
        local = batch.pos.to(torch.float64)
        x_local = dihedrals(local, ti)
        graph = batch.batch[ti[1]]
        if ti.shape[1] == 0:
            return (local, x_local) if return_torsions else local
        x_init = self.process.prior_sample(ti.shape[1], generator=generator, device=dev)     # (T, 1) uniform

        def model(x, tt):
            pos = rotate_torsions(local, ti, si, x[:, 0] - x_local, graph)
            t = torch.full((batch.num_graphs,), float(tt[0]), dtype=torch.float64, device=dev)
            s = score_fn(pos.to(dtype), t.to(dtype), batch)
            if guidance is not None:
                s = s + guidance(pos.to(dtype), batch).to(s.dtype)
            return s.to(torch.float64)[:, None]

        x = sample(model, self.process, x_init=x_init, steps=steps or self.config.steps,
                   method=method or self.config.method, generator=generator)[:, 0]
        pos = rotate_torsions(local, ti, si, x - x_local, graph)
        return (pos, x) if return_torsions else pos


__all__ = ["TorsionalDiffusionConfig", "TorsionalDiffusion"]
