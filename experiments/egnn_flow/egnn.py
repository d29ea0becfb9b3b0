"""An E(3)-equivariant graph network (EGNN, Satorras et al. 2021) for all-atom coordinate fields
(measured, not shipped).

``EGNN(config)(pos, t, data)`` maps noisy coordinates ``pos (N, 3)`` Å of a batch of molecules
(``data``: a torch-geometric ``Batch`` of ``featurize`` graphs, or anything with ``x``,
``edge_index``, ``edge_attr`` and ``batch``) and a time per atom ``t (N,)`` to one vector per atom
``(N, 3)``, with zero mean over each molecule's atoms.

Edges are the union of the molecular extended graph (pairs <= 3 bonds apart, with their
``edge_attr``) and the pairs of one molecule closer than ``cutoff`` Å in ``pos``; the radius-only
ones carry a flag and a cosine envelope that vanishes at the cutoff, so the output is continuous
in ``pos`` although edges come and go. Each layer (message j -> i, ``w_ij`` the envelope, 1 on
graph edges, ``d_ij`` the current distance expanded in Gaussian RBFs):

    m_ij  = phi_e(h_i, h_j, rbf(d_ij), edge_attr_ij, radius_ij)
    x_i  += sum_j w_ij (x_i - x_j) / (d_ij + 1) phi_x(m_ij) / (1 + sum_j w_ij)
    h_i  += phi_h(h_i, sum_j w_ij m_ij / (1 + sum_j w_ij))

Only distances enter the messages, so the field rotates, reflects and translates with ``pos``
(it is E(3)-, not SE(3)-equivariant: blind to chirality, see ``coords.FlowConformers``). The
output is ``x_L - x_0`` minus its per-molecule mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from scidiff.nn.embeddings import SinusoidalEmbedding

from scidiff.molecules.featurize import ATOM_DIM, EDGE_DIM, molecule_edges


@dataclass
class EGNNConfig:
    hidden: int = 128            # width of node and message features
    layers: int = 6
    cutoff: float = 5.0          # Å, radius edges on the current (noisy) coordinates
    rbf: int = 32                # Gaussian radial basis functions on [0, rbf_max]
    rbf_max: float = 10.0        # Å
    time_dim: int = 64           # sinusoidal time embedding width
    atom_dim: int = ATOM_DIM     # featurize's node and edge feature widths
    edge_dim: int = EDGE_DIM


def mean_per_molecule(v: torch.Tensor, batch: torch.Tensor, n_mol: int | None = None) -> torch.Tensor:
    """Per-molecule mean of ``v (N, d)``: ``(n_mol, d)``."""
    n_mol = int(batch.max()) + 1 if n_mol is None else n_mol
    total = v.new_zeros(n_mol, v.shape[1]).index_add_(0, batch, v)
    count = torch.bincount(batch, minlength=n_mol).clamp_min(1).to(v.dtype)
    return total / count[:, None]


def remove_mean(v: torch.Tensor, batch: torch.Tensor, n_mol: int | None = None) -> torch.Tensor:
    """``v (N, d)`` with each molecule's mean subtracted (centre-of-mass free, unit masses)."""
    return v - mean_per_molecule(v, batch, n_mol)[batch]


class GaussianRBF(nn.Module):
    """``d (E,) -> (E, n)``: Gaussians centred evenly on [0, d_max] with learnable centres and widths."""

    def __init__(self, n: int, d_max: float):
        super().__init__()
        self.centres = nn.Parameter(torch.linspace(0.0, d_max, n))
        self.log_width = nn.Parameter(torch.full((n,), math.log(d_max / n)))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((d[:, None] - self.centres) / self.log_width.exp()) ** 2)


class EGNNLayer(nn.Module):
    def __init__(self, c: EGNNConfig):
        super().__init__()
        h = c.hidden
        self.rbf = GaussianRBF(c.rbf, c.rbf_max)
        self.time = nn.Linear(h, h)
        self.edge_mlp = nn.Sequential(nn.Linear(2 * h + c.rbf + c.edge_dim + 1, h), nn.SiLU(),
                                      nn.Linear(h, h), nn.SiLU())
        self.coord_mlp = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 1, bias=False))
        nn.init.xavier_uniform_(self.coord_mlp[-1].weight, gain=0.01)   # start near the identity map
        self.node_mlp = nn.Sequential(nn.Linear(2 * h, h), nn.SiLU(), nn.Linear(h, h))
        self.norm = nn.LayerNorm(h)

    def forward(self, h, x, temb, src, dst, static, w, norm):
        h = h + self.time(temb)
        diff = x[dst] - x[src]                                               # x_i - x_j
        d = torch.sqrt((diff ** 2).sum(-1) + 1e-8)
        m = self.edge_mlp(torch.cat([h[dst], h[src], self.rbf(d), static], -1)) * w[:, None]
        step = diff / (d + 1)[:, None] * self.coord_mlp(m)
        x = x + torch.zeros_like(x).index_add_(0, dst, step) / norm[:, None]
        agg = torch.zeros_like(h).index_add_(0, dst, m) / norm[:, None]
        h = self.norm(h + self.node_mlp(torch.cat([h, agg], -1)))
        return h, x


class EGNN(nn.Module):
    """``forward(pos (N, 3) Å, t (N,), data) -> (N, 3)``, equivariant and CoM-free per molecule."""

    def __init__(self, config: EGNNConfig | None = None, **overrides):
        super().__init__()
        c = self.config = config or EGNNConfig(**overrides)
        if c.time_dim % 2:
            raise ValueError(f"time_dim must be even, got {c.time_dim}")
        self.embed_atoms = nn.Linear(c.atom_dim, c.hidden)
        self.embed_time = nn.Sequential(SinusoidalEmbedding(c.time_dim), nn.Linear(c.time_dim, c.hidden), nn.SiLU(),
                                        nn.Linear(c.hidden, c.hidden))
        self.layers = nn.ModuleList(EGNNLayer(c) for _ in range(c.layers))

    def forward(self, pos: torch.Tensor, t: torch.Tensor, data) -> torch.Tensor:
        if pos.shape != (data.num_nodes, 3):
            raise ValueError(f"pos must have shape ({data.num_nodes}, 3), got {tuple(pos.shape)}")
        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
        if getattr(data, "batch", None) is None:
            data = data.clone()
            data.batch = batch
        index, static, w = molecule_edges(pos, data, self.config.cutoff)
        src, dst = index
        norm = 1 + torch.zeros_like(pos[:, 0]).index_add_(0, dst, w)
        h = self.embed_atoms(data.x.to(pos.dtype))
        temb = self.embed_time(t.to(pos.dtype)).to(pos.dtype)
        x = pos
        for layer in self.layers:
            h, x = layer(h, x, temb, src, dst, static, w, norm)
        return remove_mean(x - pos, batch)
