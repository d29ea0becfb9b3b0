"""The torsion score network: per rotatable bond, one invariant number that changes sign under
reflection, as a dihedral does (e3nn tensor products on the molecule's graph).

``TorsionScoreNet(pos, t, data)`` reads a conformer ``pos (N, 3)`` Å of a batch of
``featurize`` graphs at diffusion times ``t (B,)``:

- atom scalars from the ``featurize`` features and a sinusoidal time embedding;
- ``layers`` tensor-product convolutions (neighbour features with the spherical harmonics l <= 2
  of the edge vector, weights from a radial MLP) over the extended graph united with radius edges
  (``cutoff`` Å, cosine envelope); features ``ns x 0e + nv x 1o + nv x 1e``;
- a bond convolution per rotatable bond j–k (torsional diffusion's final layer): atoms within
  ``bond_cutoff`` Å of the bond centre send ``h_a ⊗ (Y(r_a - c) ⊗ Y_2(u))``, u the bond axis, to
  pseudoscalars and scalars; the output is a bias-free linear map of the pseudoscalars gated by
  the scalars. Both ends enter symmetrically, so the output does not depend on which end is j.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import o3
from torch import nn

from scidiff.geometry import cosine_cutoff, gaussian_rbf
from scidiff.nn.embeddings import SinusoidalEmbedding

from .featurize import ATOM_DIM, EDGE_DIM, molecule_edges
from .tensor_product import EdgeTensorProduct


@dataclass
class TorsionNetConfig:
    ns: int = 32                 # scalar (0e) channels; the bond head has ns 0o + ns 0e
    nv: int = 4                  # vector (1o) and pseudovector (1e) channels
    layers: int = 3              # tensor-product convolutions
    cutoff: float = 5.0          # Å, radius edges on the current conformer
    bond_cutoff: float = 4.0     # Å, atoms feeding the bond convolution (from the bond centre)
    rbf: int = 16                # Gaussian RBFs on [0, rbf_max]
    rbf_max: float = 6.0         # Å
    time_dim: int = 16           # sinusoidal time embedding width
    atom_dim: int = ATOM_DIM
    edge_dim: int = EDGE_DIM


def rbf(d: torch.Tensor, n: int, d_max: float) -> torch.Tensor:
    """``d (E,) -> (E, n)`` fixed Gaussians centred evenly on [0, d_max], as wide as their spacing."""
    return gaussian_rbf(d, 0.0, d_max, n, d_max / (n - 1))


def _same_molecule_pairs(graph: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(b, a)``: every pair of an item b (of molecule ``graph[b]``) and an atom a of the same
    molecule (``batch (N,)``, sorted as a ``Batch`` keeps it), ordered by b then a."""
    counts = torch.bincount(batch, minlength=int(graph.max()) + 1 if graph.numel() else 0)
    start = torch.cumsum(counts, 0) - counts
    per = counts[graph]
    b = torch.repeat_interleave(torch.arange(len(graph), device=graph.device), per)
    offset = torch.arange(len(b), device=graph.device) - torch.repeat_interleave(torch.cumsum(per, 0) - per, per)
    return b, start[graph][b] + offset


class IrrepNorm(nn.Module):
    """Equivariant RMS norm: each ``mul x l`` block divided by the root mean square (over its
    channels) of its vectors' norms, times a learnable per-channel gain. Norms are invariant, so
    rotations, reflections and parities pass through unchanged."""

    def __init__(self, irreps: o3.Irreps, eps: float = 1e-4):
        super().__init__()
        self.blocks = [(mul, ir.dim) for mul, ir in o3.Irreps(irreps)]
        self.gain = nn.Parameter(torch.ones(sum(mul for mul, _ in self.blocks)))
        self.eps = eps

    def forward(self, x):
        out, start, ch = [], 0, 0
        for mul, dim in self.blocks:
            v = x[:, start:start + mul * dim].reshape(-1, mul, dim)
            rms = (v.pow(2).sum(-1).mean(-1, keepdim=True) + self.eps).sqrt()[:, :, None]
            out.append((v / rms * self.gain[ch:ch + mul, None]).reshape(-1, mul * dim))
            start, ch = start + mul * dim, ch + mul
        return torch.cat(out, -1)


class TPConv(nn.Module):
    """One tensor-product convolution ``h -> norm(h + sum_j w_ij TP(h_j, Y(x_i - x_j); W(e_ij, s_i, s_j))
    / sqrt(1 + sum_j w_ij))``."""

    def __init__(self, irreps: o3.Irreps, sh: o3.Irreps, n_edge: int, ns: int):
        super().__init__()
        self.ns = ns
        self.tp = EdgeTensorProduct(irreps, sh, irreps)
        self.fc = nn.Sequential(nn.Linear(n_edge + 2 * ns, ns), nn.SiLU(), nn.Linear(ns, self.tp.weight_numel))
        self.norm = IrrepNorm(irreps)

    def forward(self, h, src, dst, sh, e, w):
        s = h[:, :self.ns]
        msg = self.tp(h[src], sh, self.fc(torch.cat([e, s[src], s[dst]], -1))) * w[:, None]
        norm = (1 + h.new_zeros(h.shape[0]).index_add_(0, dst, w)).sqrt()
        return self.norm(h + h.new_zeros(h.shape).index_add_(0, dst, msg.to(h.dtype)) / norm[:, None])


class TorsionScoreNet(nn.Module):
    """``forward(pos (N, 3) Å, t (B,), data) -> (T,)``: one output per rotatable bond of the batch
    (``data``: a ``Batch`` of ``featurize`` graphs), invariant under rigid motions (module doc)."""

    def __init__(self, config: TorsionNetConfig | None = None, **overrides):
        super().__init__()
        c = self.config = config or TorsionNetConfig(**overrides)
        if c.time_dim % 2:
            raise ValueError(f"time_dim must be even, got {c.time_dim}")
        ns = c.ns
        self.sh = o3.Irreps.spherical_harmonics(2)                       # 0e + 1o + 2e
        self.irreps = o3.Irreps(f"{ns}x0e + {c.nv}x1o + {c.nv}x1e")
        self.time = nn.Sequential(SinusoidalEmbedding(c.time_dim), nn.Linear(c.time_dim, ns), nn.SiLU())
        self.atoms = nn.Sequential(nn.Linear(c.atom_dim + ns, ns), nn.SiLU(), nn.Linear(ns, ns), nn.LayerNorm(ns))
        self.edge = nn.Sequential(nn.Linear(c.edge_dim + 1 + c.rbf, ns), nn.SiLU(), nn.Linear(ns, ns))
        self.convs = nn.ModuleList(TPConv(self.irreps, self.sh, ns, ns) for _ in range(c.layers))
        self.bond_filter = o3.FullTensorProduct(self.sh, "2e")           # Y(r - c) ⊗ Y_2(axis)
        self.bond_tp = EdgeTensorProduct(self.irreps, self.bond_filter.irreps_out, f"{ns}x0o + {ns}x0e")
        self.bond_fc = nn.Sequential(nn.Linear(c.rbf + 3 * ns, ns), nn.SiLU(), nn.Linear(ns, self.bond_tp.weight_numel))
        self.end_tp = o3.FullyConnectedTensorProduct(self.irreps, self.irreps, f"{ns}x1e + {ns}x1o")
        self.end_axis = o3.FullyConnectedTensorProduct(self.end_tp.irreps_out, "1x1o", f"{ns}x0o + {ns}x0e")
        self.gate = nn.Sequential(nn.Linear(ns, ns), nn.SiLU(), nn.Linear(ns, ns))
        self.out = nn.Linear(ns, 1, bias=False)

    def forward(self, pos: torch.Tensor, t: torch.Tensor, data) -> torch.Tensor:
        c, ns = self.config, self.config.ns
        batch = data.batch
        temb = self.time(t.to(pos.dtype))                                   # (B, ns)
        s = self.atoms(torch.cat([data.x.to(pos.dtype), temb[batch]], -1))
        h = torch.cat([s, s.new_zeros(s.shape[0], self.irreps.dim - ns)], -1)
        index, static, w = molecule_edges(pos, data, c.cutoff)
        src, dst = index
        vec = pos[dst] - pos[src]
        d = vec.norm(dim=-1)
        sh = o3.spherical_harmonics(self.sh, vec, normalize=True, normalization="component")
        e = self.edge(torch.cat([static, rbf(d, c.rbf, c.rbf_max)], -1))
        for conv in self.convs:
            h = conv(h, src, dst, sh, e, w)
        return self.bond_head(h, pos, t, temb, data)

    def bond_head(self, h, pos, t, temb, data) -> torch.Tensor:
        c, ns = self.config, self.config.ns
        j, k = data.torsion_index[1], data.torsion_index[2]
        if j.numel() == 0:
            return pos.new_zeros(0)
        centre, axis = 0.5 * (pos[j] + pos[k]), pos[k] - pos[j]
        tb = data.batch[j]
        b, a = _same_molecule_pairs(tb, data.batch)                        # every (torsion, atom) of one molecule
        rv = pos[a] - centre[b]
        d = rv.norm(dim=-1)
        near = d < c.bond_cutoff
        b, a, rv, d = b[near], a[near], rv[near], d[near]
        y_r = o3.spherical_harmonics(self.sh, rv, normalize=True, normalization="component")
        y_u = o3.spherical_harmonics("2e", axis, normalize=True, normalization="component")
        filt = self.bond_filter(y_r, y_u[b])
        ends = h[j, :ns] + h[k, :ns]                                        # symmetric in j <-> k
        weights = self.bond_fc(torch.cat([rbf(d, c.rbf, c.rbf_max), h[a, :ns], ends[b], temb[tb[b]]], -1))
        wa = cosine_cutoff(d, c.bond_cutoff).to(pos.dtype)
        msg = self.bond_tp(h[a], filt, weights) * wa[:, None]
        norm = (1 + pos.new_zeros(len(j)).index_add_(0, b, wa)).sqrt()
        agg = pos.new_zeros(len(j), 2 * ns).index_add_(0, b, msg.to(pos.dtype)) / norm[:, None]
        y_1 = o3.spherical_harmonics("1x1o", axis, normalize=True, normalization="component")
        agg = agg + self.end_axis(self.end_tp(h[j], h[k]), y_1) + self.end_axis(self.end_tp(h[k], h[j]), -y_1)
        odd, even = agg[:, :ns], agg[:, ns:]
        return self.out(odd * self.gate(even))[:, 0]


__all__ = ["TorsionNetConfig", "TorsionScoreNet", "IrrepNorm", "TPConv", "rbf"]
