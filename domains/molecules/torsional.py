"""Torsional diffusion (Jing et al. 2022): conformers by diffusion on the torus of rotatable-bond
torsions, with bond lengths, bond angles and rings from an RDKit (ETKDG) local structure.

The data are the dihedrals ``x0`` of a molecule's rotatable bonds (``featurize``'s
``torsion_index``; ``torsions.dihedrals``), a point of T^T. The forward process is the core
``HeatDiffusion(Torus(1))`` (geometric sigma from ``sigma_min`` to ``sigma_max`` = pi, the wrapped
normal heat kernel): every torsion of a batch is one row of a ``(T_total, 1)`` tensor, so a
variable number of torsions per molecule is just a variable number of rows (the torus factors are
independent and share their molecule's t). Training draws the noise itself (on the Trainer's
device generator) and takes the target, the wrapped-normal score, from the core kernel
(``HeatDiffusion.kernel(x0, sigma).score``); the noised torsions are applied to the conformer with
``rotate_torsions``, so bond lengths and angles stay exactly those of the data conformer.

The network ``TorsionScoreNet`` (e3nn) predicts ``sigma(t) * score`` per torsion (O(1) at every
noise level; the loss ``sigma^2 |score_pred - score|^2`` is its squared error):

- atom scalars from ``featurize`` features and a sinusoidal time embedding;
- ``layers`` tensor-product convolutions (``o3.FullyConnectedTensorProduct`` of neighbour
  features with the spherical harmonics l <= 2 of the edge vector, weights from a radial MLP of
  RBF(distance), edge features and both ends' scalars) over the extended graph (pairs <= 3 bonds
  apart) united with radius edges (``cutoff`` Å, cosine envelope) on the current conformer;
  features ``ns x 0e + nv x 1o + nv x 1e`` (``+ npseudo x 0o`` pseudoscalars, which can carry a
  stereocentre's handedness from atom to atom);
- a bond convolution per rotatable bond j–k (torsional diffusion's final layer): atoms within
  ``bond_cutoff`` Å of the bond centre send ``h_a ⊗ (Y(r_a - c) ⊗ Y_2(u))`` with ``u`` the bond
  axis, to ``ns x 0o + ns x 0e``; the score is a bias-free linear map of the pseudoscalars gated
  by an MLP of the scalars. Y_2(u) = Y_2(-u) and the end atoms enter symmetrically, so the output
  does not depend on which end is called j (nor does the dihedral); it is invariant under
  rotations and translations and changes sign under reflection, as a dihedral does.

Sampling starts from ETKDG local structures with uniformly random torsions and integrates the
reverse SDE (``euler_maruyama``, the geodesic random walk; or the probability-flow ODE with
``euler``/``heun``) with the core ``scidiff.sample``; the conformer follows the torsion state
through ``rotate_torsions`` at every evaluation.

``TorsionalConformers`` is the ``ConformerGenerator``. Two optional guidance terms join the
network's score at every step: ETKDG's experimental torsion terms (``torsion_prior``,
:mod:`.torsion_prior`) and particle guidance (``particle_guidance``, :mod:`.conformer_sets`),
which draws one molecule's conformers as a set that repels itself in torsion space. Molecules
without rotatable bonds, or outside the model's scope (element not in ``featurize.ELEMENTS``,
more than ``max_atoms`` atoms), get ETKDG conformers with a ``UserWarning``. Turning torsions cannot change a
tetrahedral centre, a double bond or a ring, but every written conformer is still checked with
``metrics.stereo_preserved``. Turning them can bring atoms into contact, so with ``clash_free``
(the default) a conformer with a steric clash (``metrics.clashes``: two atoms more than three
bonds apart closer than 0.6 x their van der Waals sum) is turned down too. Failures are redrawn
from new local structures (at most ``max_retries`` rounds), then replaced by ETKDG conformers
with a warning. Each conformer carries the string property ``generator`` ("torsional" or
"etkdg").

``run`` is the ``scidiff train`` task (``domain: molecules-torsional``): ``train_task``'s CCD
pipeline on the molecules with at least one rotatable bond. Training noises the CCD conformer's
own torsions; its local structure is the experimental one, while sampling uses ETKDG's. With
``match_conformers: true`` each training (and validation) conformer is first replaced by an ETKDG
local structure carrying the experimental torsions (:mod:`.matching`, torsional diffusion's
conformer matching), so training sees the local structures sampling will. With
``relax_conformers: true`` each conformer is first minimised to its nearest MMFF94 minimum
(:func:`.relax.relaxed_conformers`): the CCD's experimental conformers often sit between
torsional wells, and a model trained on them learns torsion profiles as broad as theirs. With
``ensemble_conformers: k`` each molecule instead brings an ensemble, its own conformer's minimum
and the MMFF94 minima of k ETKDG embeddings (:func:`.relax.ensemble_conformers`), every one a
training item: the GEOM recipe at the MMFF94 level, where one conformer per molecule shows the
model only one well of each torsion. ``ensemble_window`` keeps only the distinct minima within that
many kcal/mol of the lowest (as CREST/GEOM cut their ensembles), and ``ensemble_smarts`` gives
ensembles only to the molecules that match it; the others keep one conformer (relaxed with
``relax_conformers``).
"""
from __future__ import annotations

import itertools
import math
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from e3nn import o3
from rdkit import Chem
from torch import nn
from torch_geometric.data import Batch

from scidiff.geometry import cosine_cutoff, gaussian_rbf
from scidiff.manifolds import Torus
from scidiff.manifolds.torus import wrap
from scidiff.nn.embeddings import SinusoidalEmbedding
from scidiff.processes.heat import HeatDiffusion
from scidiff.samplers import sample
from scidiff.train.pretrained import Pretrained
from scidiff.train.trainer import OptimConfig, TrainConfig

from . import conformer_sets, torsion_prior
from .featurize import ATOM_DIM, EDGE_DIM, molecule_edges, rotatable_bonds
from .generator import ETKDG, rdkit_seed
from .learned import LearnedConformers
from .metrics import clashes, stereo_preserved
from .tensor_product import EdgeTensorProduct
from .torsions import dihedrals, rotate_torsions


# --- the score network ---------------------------------------------------------------------------
@dataclass
class TorsionNetConfig:
    ns: int = 32                 # scalar (0e) channels; the bond head has ns 0o + ns 0e
    nv: int = 4                  # vector (1o) and pseudovector (1e) channels
    npseudo: int = 0             # pseudoscalar (0o) channels: an atom's handedness (a triple product of
                                 # bond directions) as a feature, as torsional diffusion's deeper layers carry
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
        self.irreps = o3.Irreps(f"{ns}x0e + {c.nv}x1o + {c.nv}x1e" + (f" + {c.npseudo}x0o" if c.npseudo else ""))
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


# --- the model -----------------------------------------------------------------------------------
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
        return self.process.sigma(t.detach().to(torch.float64).cpu()).to(t.device, t.dtype)

    def score(self, pos: torch.Tensor, t: torch.Tensor, data) -> torch.Tensor:
        """Score ``(T,)`` (per radian) of every torsion at conformers ``pos`` and times ``t (B,)``."""
        tb = data.batch[data.torsion_index[1]]
        return self.net(pos, t, data) / self.sigma(t).to(pos.dtype)[tb]

    def noised(self, pos: torch.Tensor, data, t: torch.Tensor, generator: torch.Generator | None = None):
        """Noise the torsions of conformers ``pos (N, 3)`` (graphs ``data``) to times ``t (B,)``:
        ``(pos_t, x0, x_t, target)``, ``x0, x_t (T,)`` radians, ``target (T,)`` the wrapped-normal
        score of x_t around x0 (the core kernel's)."""
        ti, si = data.torsion_index, data.side_index
        x0 = dihedrals(pos, ti)
        sig = self.sigma(t.to(torch.float64))[data.batch[ti[1]]]
        dev = generator.device if generator is not None else pos.device
        z = torch.randn(x0.shape, generator=generator, dtype=torch.float64, device=dev).to(pos.device)
        xt = wrap(x0.to(torch.float64) + sig * z)
        target = self.process.kernel(x0.to(torch.float64)[:, None], sig).score(xt[:, None])[:, 0]
        pos_t = rotate_torsions(pos, ti, si, (sig * z).to(pos.dtype), data.batch[ti[1]])
        return pos_t, x0, xt.to(pos.dtype), target.to(pos.dtype)

    def forward(self, batch, generator: torch.Generator | None = None) -> torch.Tensor:
        """Denoising score matching, ``mean over torsions of sigma^2 |score_pred - score|^2`` (in
        float32 whatever autocast is active)."""
        batch = batch.to(self.device)
        if batch.torsion_index.shape[1] == 0:
            return sum(p.sum() for p in self.parameters()) * 0.0
        dev = generator.device if generator is not None else self.device
        t_min = self.process.t_min
        t = t_min + (1 - t_min) * torch.rand(batch.num_graphs, generator=generator, dtype=torch.float64, device=dev)
        t = t.to(self.device)
        # float32 even under the Trainer's bf16 autocast: the torsion geometry and the pseudoscalar
        # features (small triple products) would be swamped by bf16 rounding
        with torch.autocast(self.device.type, enabled=False):
            pos_t, _, _, target = self.noised(batch.pos.float(), batch, t, generator)
            sig = self.sigma(t.float())[batch.batch[batch.torsion_index[1]]]
            out = self.net(pos_t, t.float(), batch)
            return ((out - sig * target) ** 2).mean()

    @torch.no_grad()
    def sample(self, batch, steps: int | None = None, method: str | None = None,
               generator: torch.Generator | None = None, score_fn=None, return_torsions: bool = False,
               guidance=None):
        """Coordinates ``(N, 3)`` Å (float64, CPU): the local structures ``batch.pos`` with their
        torsions drawn by integrating the reverse process from uniform torsions (a CPU
        ``generator``). ``score_fn(pos, t (B,), batch) -> (T,)`` replaces the network (tests);
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
            return (local.cpu(), x_local.cpu()) if return_torsions else local.cpu()
        x_init = self.process.prior_sample(ti.shape[1], generator=generator)        # (T, 1) uniform

        def model(x, tt):
            pos = rotate_torsions(local, ti, si, x[:, 0].to(dev) - x_local, graph)
            t = torch.full((batch.num_graphs,), float(tt[0]), dtype=torch.float64, device=dev)
            s = score_fn(pos.to(dtype), t.to(dtype), batch)
            if guidance is not None:
                s = s + guidance(pos.to(dtype), batch).to(s.dtype)
            return s.to(torch.float64).cpu()[:, None]

        x = sample(model, self.process, x_init=x_init, steps=steps or self.config.steps,
                   method=method or self.config.method, generator=generator)[:, 0]
        pos = rotate_torsions(local, ti, si, x.to(dev) - x_local, graph).cpu()
        return (pos, x) if return_torsions else pos


def _with_pos(data, pos):
    data = data.clone() if hasattr(data, "clone") else data
    data.pos = pos
    return data


# --- the generator -------------------------------------------------------------------------------
class TorsionalConformers(LearnedConformers):
    """Conformers from a trained ``TorsionalDiffusion`` on ETKDG local structures (module doc);
    options as ``LearnedConformers`` (``max_retries`` counts rounds of new local structures)."""

    name = "torsional-diffusion"
    model_class = TorsionalDiffusion
    default_batch_atoms = 10_000
    rejection = "kept the wrong stereochemistry or a steric clash"

    def __init__(self, model, *, clash_free: bool = True, torsion_prior: float | None = None,
                 particle_guidance: float | None = None, **options):
        """``clash_free``: redraw conformers with a steric clash (module doc); False keeps the
        model's samples as drawn. ``torsion_prior`` w > 0 adds w times the score of ETKDG's
        experimental torsion terms to the network's at every step (:mod:`.torsion_prior`).
        ``particle_guidance`` g > 0 samples each molecule's conformers as one set whose members
        repel each other in torsion space with weight g (:mod:`.conformer_sets`). None takes the
        model's config value for either. ``options``: as ``LearnedConformers``."""
        super().__init__(model, **options)
        weights = {"torsion_prior": torsion_prior, "particle_guidance": particle_guidance}
        for key, w in weights.items():
            w = getattr(model.config, key) if w is None else w
            if w < 0:
                raise ValueError(f"{key} must be >= 0, got {w}")
            setattr(self, key, w)
        self.clash_free = clash_free
        self._set_ids = itertools.count()

    def out_of_scope(self, mol: Chem.Mol) -> str | None:
        """Why the model cannot handle ``mol`` (explicit H), or ``None``."""
        reason = super().out_of_scope(mol)
        if reason is None and not rotatable_bonds(mol):
            reason = "no rotatable bonds (nothing for the torsional model to move)"
        return reason

    def _accept(self, mol, probe, check):
        """Keep the sample when it reproduces every stereo label of ``mol`` (turning torsions keeps
        the local structure's centres; the check catches an ETKDG local structure that was wrong)
        and, with ``clash_free``, has no steric clash."""
        if check and not stereo_preserved(mol, probe):
            return None
        if self.clash_free and clashes(probe) > 0:
            return None
        return "ok", "torsional"

    def _graphs(self, mol, data, k: int, seed: int, attempt: int) -> list:
        """``k`` copies of ``data`` on ETKDG local structures (stream ``attempt``) whose torsions
        the model redraws."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # prepare's note was given once already
            emb = ETKDG().generate(mol, k, seed=rdkit_seed(seed, 100 + attempt) >> 1)
        locals_ = [c.GetPositions() for c in emb.GetConformers()]
        if self.torsion_prior > 0:
            data = torsion_prior.attach(data.clone(), mol)
        graphs = [_with_pos(data, torch.tensor(locals_[i % len(locals_)], dtype=torch.float32))   # ETKDG may embed fewer
                  for i in range(k)]
        if self.particle_guidance == 0:
            return graphs
        return conformer_sets.tag(graphs, next(self._set_ids), conformer_sets.rotor_orders(mol, data.torsion_index))

    def _sample_batch(self, batch, gen):
        """The model's sampler, guided by ``torsion_prior`` times the prior's score and
        ``particle_guidance`` times the repulsion within each conformer set, where those are > 0."""
        terms = []
        if self.torsion_prior > 0:
            terms.append((self.torsion_prior, torsion_prior.prior_score))
        if self.particle_guidance > 0:
            terms.append((self.particle_guidance, conformer_sets.set_repulsion))
        if not terms:
            return super()._sample_batch(batch, gen)
        return self.model.sample(batch, self.steps, self.method, gen,
                                 guidance=lambda pos, data: sum(w * f(pos, data) for w, f in terms))


# --- training ------------------------------------------------------------------------------------
def run(data: dict, out: Path, resume: bool = False) -> dict:
    """``scidiff train`` with ``domain: molecules-torsional``: the CCD task of ``train_task`` with a
    ``TorsionalDiffusion`` (``model:`` its config) on the molecules with rotatable bonds; writes
    ``out/model`` (EMA weights; ``TorsionalConformers.from_pretrained(out / "model")``)."""
    from scidiff.train.config import with_defaults

    from .train_task import fit_on_ccd

    task = with_defaults(TorsionalTask, data)
    if task.ensemble_conformers < 0:
        raise ValueError(f"ensemble_conformers must be >= 0, got {task.ensemble_conformers}")
    if task.ensemble_conformers and task.match_conformers:
        raise ValueError("match_conformers transfers one conformer's torsions; it cannot be combined "
                         "with ensemble_conformers")
    if task.ensemble_window < 0:
        raise ValueError(f"ensemble_window must be >= 0 kcal/mol, got {task.ensemble_window}")
    if task.ensemble_smarts and Chem.MolFromSmarts(task.ensemble_smarts) is None:
        raise ValueError(f"ensemble_smarts is not a valid SMARTS: {task.ensemble_smarts!r}")

    def keep(mols):
        mols = [m for m in mols if rotatable_bonds(m)]
        if not (task.relax_conformers or task.match_conformers or task.ensemble_conformers):
            return mols
        from .data import default_cache_dir

        folder = Path(task.cache_dir or default_cache_dir())
        pattern = Chem.MolFromSmarts(task.ensemble_smarts) if task.ensemble_smarts else None
        chosen = [task.ensemble_conformers > 0 and (pattern is None or m.HasSubstructMatch(pattern)) for m in mols]
        ens = [m for m, c in zip(mols, chosen) if c]
        rest = [m for m, c in zip(mols, chosen) if not c]
        if ens:
            from .relax import ensemble_conformers

            k, window = task.ensemble_conformers, task.ensemble_window or None
            cache = folder / f"mmff94_ensembles_k{k}_seed{task.train.seed}{f'_window{window:g}' if window else ''}.npz"
            ens, counts = ensemble_conformers(ens, k, cache, seed=task.train.seed, window=window,
                                              progress=task.train.progress)
            print(f"MMFF94 ensembles ({cache}): {counts['computed']} computed, {counts['cached']} from the cache, "
                  f"{counts['failed']} kept their own conformer (no MMFF94 parameters or a stereo change); "
                  f"{sum(m.GetNumConformers() for m in ens)} conformers of {len(ens)} molecules", file=sys.stderr)
        if rest and task.relax_conformers:
            from .relax import relaxed_conformers

            cache = folder / "relaxed_mmff94.npz"
            rest, counts = relaxed_conformers(rest, cache, progress=task.train.progress)
            print(f"MMFF94 minima ({cache}): {counts['computed']} minimised, {counts['cached']} from the cache, "
                  f"{counts['failed']} kept their own conformer (no MMFF94 parameters or a stereo change)",
                  file=sys.stderr)
        mols = ens + rest
        if task.match_conformers:
            from .matching import matched_conformers

            cache = folder / f"matched{'_relaxed' if task.relax_conformers else ''}_seed{task.train.seed}.npz"
            mols, counts = matched_conformers(mols, cache, seed=task.train.seed, progress=task.train.progress)
            print(f"conformer matching ({cache}): {counts['computed']} matched, {counts['cached']} from the cache, "
                  f"{counts['failed']} kept their own conformer (ETKDG failed)", file=sys.stderr)
        return mols

    return fit_on_ccd(task, lambda: TorsionalDiffusion(task.model), Path(out), resume, keep=keep)


@dataclass
class TorsionalTask:
    domain: str = "molecules-torsional"
    cache_dir: str = ""              # built CCD cache; "" is data.default_cache_dir()
    max_molecules: int = 0           # 0: the whole train split; else a random subset (seeded by train.seed)
    max_atoms: int = 200
    eval_molecules: int = 256
    relax_conformers: bool = False   # train on the MMFF94 minima nearest the data conformers (.relax)
    match_conformers: bool = False   # train on ETKDG local structures with the data's torsions (.matching)
    ensemble_conformers: int = 0     # k > 0: train on MMFF94 ensembles, the data conformer's minimum and
                                     # the minima of k ETKDG embeddings (.relax.ensemble_conformers)
    ensemble_window: float = 0.0     # > 0: keep only the distinct minima within this many kcal/mol of the
                                     # lowest (.relax.low_energy_distinct; CREST/GEOM cut at 6)
    ensemble_smarts: str = ""        # only molecules matching this SMARTS get ensembles; the others keep
                                     # their own conformer (its MMFF94 minimum with relax_conformers)
    model: TorsionalDiffusionConfig = field(default_factory=TorsionalDiffusionConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=50_000, batch_size=32, eval_every=1000, checkpoint_every=1000, optim=OptimConfig(lr=1e-3, warmup=1000)))
