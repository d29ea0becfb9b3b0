"""SE(3) flow matching on residue frames: :class:`BackboneGenerator` (FrameFlow's recipe).

Each residue is a frame ``(R, x)`` (:mod:`.frames`); translations are in nm inside the model
(Å x ``path.trans_scale`` = 0.1, as FrameFlow). Time runs t = 0 data -> t = 1 prior. The IPA
trunk (:mod:`.ipa`) maps noisy frames at t to clean frames ``(R^_0, x^_0)`` and a psi angle (for
the O atom at chain ends); the path between data and prior is :mod:`.paths`. The loss is
FrameFlow's, translation MSE and rotation vector-field MSE each divided by max(t, t_clip)^2,

    L = w_x |x^_0 - x_0|^2 / s(t)^2  +  w_R |Log(R_t^T R_0) - Log(R_t^T R^_0)|^2 / s(t)^2
        (+ w_psi |(sin, cos)^ - (sin, cos) psi|^2)

averaged over real residues per chain, then over the batch, plus on chains near the data
(t < ``aux_t_max``) FrameDiff's auxiliary losses (:meth:`BackboneGenerator.aux_losses`) and a
penalty on predicted CA overlaps (:meth:`BackboneGenerator.clash_loss`). Sampling runs the core
``sample`` on the SE(3)^L product of the path (geodesic Euler); motif scaffolding (:mod:`.motif`)
and backbone restraints (:mod:`.restraints`) act on every clean-frame prediction.
The training recipe (``scidiff train`` with ``domain: proteins``) is :mod:`.train`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import scidiff
from scidiff.geometry import superpose
from scidiff.manifolds import SO3
from scidiff.train.config import from_dict
from scidiff.train.pretrained import Pretrained

from .backbone import Backbone
from .frames import C_LOCAL, N_LOCAL, apply_frames, backbone_from_frames, psi_angles
from .ipa import IPATrunk
from .motif import Motif, impose, layout
from .paths import FramePath
from .restraints import Restraints


@dataclass
class TrunkConfig:
    c_s: int = 128              # single representation
    c_z: int = 64               # pair representation
    c_hidden: int = 16          # IPA scalar channels per head
    heads: int = 4              # IPA heads
    qk_points: int = 4
    v_points: int = 8
    blocks: int = 4             # IPA blocks (each: IPA, transition, sequence attention, frame update)
    seq_heads: int = 4
    max_rel: int = 32           # relative sequence positions clipped at +-max_rel
    rbf_bins: int = 16          # CA-CA distance RBF on 0..20 Å


@dataclass
class PathConfig:
    trans_scale: float = 0.1    # the network's length unit: Å x trans_scale (nm)


@dataclass
class LossConfig:
    t_min: float = 0.01         # training times ~ U[t_min, 1 - t_min] ...
    low_t_fraction: float = 0.0  # ... except this fraction of chains, drawn from U[t_min, low_t_max]
    low_t_max: float = 0.1
    t_clip: float = 0.1         # loss normalisation 1 / max(t, t_clip)^2
    trans_weight: float = 2.0   # FrameFlow's translation_loss_weight
    rot_weight: float = 1.0
    psi_weight: float = 0.1     # 0 disables the psi loss
    aux_weight: float = 0.0     # backbone-atom + local distance losses (FrameDiff's 0.25); 0 disables them
    aux_t_max: float = 0.25     # ... applied to chains with t < aux_t_max (near the data)
    aux_cutoff: float = 6.0     # distance loss on atom pairs closer than this in the data (Å)
    clash_weight: float = 0.0   # CA pairs |i-j| >= 3 predicted closer than clash_distance (same chains as aux)
    clash_distance: float = 4.0  # Å; 1e-4 of such pairs in the development chains are closer


@dataclass
class SamplerConfig:
    steps: int = 100            # geodesic Euler steps
    rot_rate: float = 10.0      # c of the exponential rotation schedule (FrameFlow's 10; the bundled weights 6)


@dataclass
class BackboneConfig:
    trunk: TrunkConfig = field(default_factory=TrunkConfig)
    path: PathConfig = field(default_factory=PathConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)


def _masked_center(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over real residues (axis 1) and zero the padding."""
    m = mask[..., None].to(x.dtype)
    mean = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
    return (x - mean) * m


class BackboneGenerator(Pretrained, nn.Module):
    """SE(3) flow matching on residue frames with an IPA trunk.

    ``forward(batch, generator) -> loss`` (the Trainer's interface; ``batch`` from
    :meth:`BackboneDataset.get_batch`), ``predict(r, x, t, mask)`` the clean-frame prediction,
    ``sample(length, n, seed, sampler) -> list[Backbone]``.
    """

    config_class = BackboneConfig
    bundled = {"frameflow-cpu": "weights/backbones"}      # trained here on CPU; weights/backbones/README.md
    default = "frameflow-cpu"

    def __init__(self, config: BackboneConfig | None = None):
        super().__init__()
        self.config = config or BackboneConfig()
        c, loss = self.config.trunk, self.config.loss
        if not (0 <= loss.low_t_fraction <= 1 and loss.t_min < loss.low_t_max <= 1 - loss.t_min):
            raise ValueError(f"low_t_fraction must lie in [0, 1] and low_t_max in (t_min, 1 - t_min], got "
                             f"{loss.low_t_fraction} and {loss.low_t_max} (t_min {loss.t_min})")
        self.trunk = IPATrunk(c.c_s, c.c_z, c.c_hidden, c.heads, c.qk_points, c.v_points, c.blocks, c.seq_heads,
                              c.max_rel, c.rbf_bins, length_unit=1.0 / self.config.path.trans_scale)
        self.path = FramePath()

    @classmethod
    def config_from_dict(cls, data: dict) -> BackboneConfig:
        """The config of a ``config.json``: sectioned, or the flat ``FrameFlowConfig`` of models
        saved before the sections (2026-12); a flat config of a recipe no longer shipped (FrameDiff,
        self-conditioning, other rotation schedules) raises ``ValueError`` naming it."""
        if "trunk" in data or not data:
            return from_dict(BackboneConfig, data)
        return from_dict(BackboneConfig, _sectioned(data))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- network -----------------------------------------------------------------------------------
    def predict(self, r: torch.Tensor, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor):
        """Clean frames ``(R^_0 (B, L, 3, 3), x^_0 (B, L, 3) nm)`` and psi ``(sin, cos) (B, L, 2)``
        from noisy frames at times ``t (B,)``."""
        _, r0, x0, psi = self.trunk(r, x, t, mask)
        return r0, x0, psi

    # --- training ----------------------------------------------------------------------------------
    def noisy_frames(self, r0, x0, t, mask, generator=None):
        """Draw ``(R_t, x_t)`` from clean frames (x in nm) at per-chain times ``t (B,)``."""
        eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        rt, xt = self.path.noise(r0, x0, _masked_center(eps, mask), t, generator)
        eye = torch.eye(3, dtype=r0.dtype, device=r0.device)
        return torch.where(mask[..., None, None], rt, eye), xt * mask[..., None].to(x0.dtype)

    def training_times(self, n: int, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """Per-chain training times ``(n,)``: U[t_min, 1 - t_min], and with probability
        ``low_t_fraction`` U[t_min, low_t_max] instead. The final clean-frame prediction of sampling
        is made at t ~ t_min, so the chain's local geometry (CA-CA to 0.1 Å) is set by how well the
        network denoises there; uniform times spend ~10 % of the batch on t < 0.1."""
        c = self.config.loss
        u = torch.rand(n, generator=generator, device=device, dtype=dtype)
        hi = torch.full_like(u, 1 - c.t_min)
        if c.low_t_fraction > 0:
            low = torch.rand(n, generator=generator, device=device, dtype=dtype) < c.low_t_fraction
            hi = torch.where(low, torch.full_like(u, c.low_t_max), hi)
        return c.t_min + (hi - c.t_min) * u

    def loss(self, batch: dict, generator: torch.Generator | None = None, t: torch.Tensor | None = None,
             parts: bool = False):
        """FrameFlow loss on a padded batch (``rotations``, ``translations`` Å, ``mask``, ``coords``)."""
        c = self.config.loss
        mask = batch["mask"].bool()
        dtype = next(self.parameters()).dtype
        r0 = batch["rotations"].to(dtype)
        x0 = _masked_center(batch["translations"].to(dtype) * self.config.path.trans_scale, mask)
        B = mask.shape[0]
        if t is None:
            t = self.training_times(B, generator, mask.device, dtype)
        rt, xt = self.noisy_frames(r0, x0, t, mask, generator)
        r_hat, x_hat, psi_hat = self.predict(rt, xt, t, mask)
        m = mask.to(dtype)
        n_res = m.sum(1).clamp_min(1)
        s_x = s_r = t.to(dtype).clamp_min(c.t_clip)[:, None, None]          # FrameFlow's 1 / max(t, t_clip)
        so3 = SO3()
        trans_err = ((x_hat - x0) / s_x).pow(2).sum(-1)
        rot_err = ((so3.log(rt, r0) - so3.log(rt, r_hat)) / s_r).pow(2).sum(-1)
        trans = (trans_err * m).sum(1) / (3 * n_res)
        rot = (rot_err * m).sum(1) / (3 * n_res)
        total = c.trans_weight * trans + c.rot_weight * rot
        out = {"trans": trans.mean(), "rot": rot.mean()}
        if c.psi_weight > 0 and "coords" in batch:
            psi = psi_angles(batch["coords"].to(dtype))
            valid = mask & torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], 1) & torch.isfinite(psi)
            target = torch.stack([torch.sin(psi), torch.cos(psi)], -1)
            err = torch.where(valid, (psi_hat - target.nan_to_num()).pow(2).sum(-1), torch.zeros_like(psi))
            psi_l = err.sum(1) / valid.sum(1).clamp_min(1)
            total = total + c.psi_weight * psi_l
            out["psi"] = psi_l.mean()
        near = (t < c.aux_t_max).to(dtype)                  # chains that get the aux and overlap losses

        def near_mean(v):
            return (v * near).sum() / near.sum().clamp_min(1)

        if c.aux_weight > 0:
            bb, dist = self.aux_losses(r0, x0, r_hat, x_hat, mask, s_x[:, 0, 0])
            total = total + c.aux_weight * near * (bb + dist)
            out["bb"], out["dist"] = near_mean(bb), near_mean(dist)
        if c.clash_weight > 0:
            clash = self.clash_loss(x0, x_hat, mask, s_x[:, 0, 0])
            total = total + c.clash_weight * near * clash
            out["clash"] = near_mean(clash)
        out["loss"] = total.mean()
        return out if parts else out["loss"]

    def aux_losses(self, r0, x0, r_hat, x_hat, mask, scale):
        """FrameDiff's auxiliary losses per chain ``(B,)``: the squared error of the ideal N, CA, C
        atoms of the predicted frames, and of their pairwise distances over pairs closer than
        ``aux_cutoff`` in the data, both in nm and divided by ``scale (B,)`` squared like the
        translation loss. They tie the frames into a chain: bond lengths, angles, no overlaps."""
        c, unit = self.config.loss, self.config.path.trans_scale
        local = torch.tensor((N_LOCAL, (0.0, 0.0, 0.0), C_LOCAL), dtype=x0.dtype, device=x0.device) * unit
        B, L = mask.shape
        atoms = [apply_frames(r[:, :, None], x[:, :, None], local).reshape(B, 3 * L, 3) for r, x in ((r0, x0), (r_hat, x_hat))]
        m = mask.repeat_interleave(3, 1).to(x0.dtype)
        s2 = scale.pow(2)
        bb = ((atoms[1] - atoms[0]).pow(2).sum(-1) * m).sum(1) / (3 * m.sum(1).clamp_min(1)) / s2
        d_true, d_hat = ((a[:, :, None] - a[:, None]).pow(2).sum(-1).add(1e-10).sqrt() for a in atoms)
        pairs = m[:, :, None] * m[:, None] * (d_true < c.aux_cutoff * unit)
        pairs = pairs * (1 - torch.eye(3 * L, dtype=x0.dtype, device=x0.device))
        dist = ((d_hat - d_true).pow(2) * pairs).sum((1, 2)) / pairs.sum((1, 2)).clamp_min(1) / s2
        return bb, dist

    def clash_loss(self, x0, x_hat, mask, scale):
        """Overlap penalty per chain ``(B,)``: over CA pairs at least 3 apart in sequence, the squared
        shortfall of the predicted distance below ``min(clash_distance, true distance)`` (nm), summed
        and divided by the number of residues and by ``scale (B,)`` squared. Zero on the data; it
        pushes apart predicted segments that overlap, in the spirit of AlphaFold's violation loss.
        Measured: in the stage-5 fine-tune it did not reduce the (long-range) clashes of samples,
        which arise from the sampler's own states rather than from noised real chains."""
        c = self.config.loss
        L = mask.shape[1]
        d_true, d_hat = ((x[:, :, None] - x[:, None]).pow(2).sum(-1).add(1e-10).sqrt() for x in (x0, x_hat))
        idx = torch.arange(L, device=mask.device)
        far = ((idx[None, :] - idx[:, None]).abs() >= 3) & mask[:, :, None] & mask[:, None]
        floor = d_true.clamp_max(c.clash_distance * self.config.path.trans_scale)
        short = torch.relu(floor - d_hat) * far.to(x0.dtype)
        return 0.5 * short.pow(2).sum((1, 2)) / mask.sum(1).clamp_min(1) / scale.pow(2)

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.loss(batch, generator)

    # --- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_frames(self, length: int, n: int = 1, seed: int | None = 0, sampler: SamplerConfig | None = None, *,
                      motif: Motif | None = None, positions: torch.Tensor | None = None,
                      restraints: Restraints | None = None, trajectory: bool = False):
        """``(R (n, L, 3, 3), x (n, L, 3) Å, psi (n, L))`` float64, translations centred.

        ``sampler`` (default ``config.sampler``): the number of geodesic Euler steps and the rate
        c of the exponential rotation schedule (rotation velocity ``c Log(R_t^T R^_0)``; a high c
        settles the rotations early, on predictions made from noisy translations).

        ``restraints`` (:class:`.restraints.Restraints`): every clean-frame prediction made at
        t <= ``restraints.t_max`` is relaxed to ideal peptide links without CA or backbone-atom
        overlaps before the step (motif residues held fixed), so the samples are the network's
        guided by that energy.

        ``motif`` at chain ``positions (M,)``: the clean-frame predictions keep the motif there
        (:func:`.motif.impose`). ``trajectory``: also the list of noisy frames ``(R_t, x_t Å)`` at
        every grid time, from the prior to t = 0."""
        if length < 1 or n < 1:
            raise ValueError(f"length and n must be positive, got length={length}, n={n}")
        if motif is not None and (positions is None or len(positions) != len(motif) or int(positions.max()) >= length):
            raise ValueError("a motif needs one chain position (< length) per motif residue")
        sampler = sampler or self.config.sampler
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        proc = self.path.process(length, sampler.rot_rate)
        x_init = (proc.processes[0].prior_sample(n, generator=g),
                  SO3().random(n * length, generator=g).reshape(n, length, 3, 3))
        dtype, dev = next(self.parameters()).dtype, self.device
        mask = torch.ones(n, length, dtype=torch.bool, device=dev)
        fixed = None
        if motif is not None:
            fixed = torch.zeros(length, dtype=torch.bool)
            fixed[positions] = True
        scale = self.config.path.trans_scale
        last = {}

        def model(x, t):
            xt, rt = x
            r_hat, x_hat, psi = self.predict(rt.to(dev, dtype), xt.to(dev, dtype), t.to(dev, dtype), mask)
            tt = float(t[0])
            x_hat = _masked_center(x_hat.to(torch.float64).cpu(), mask.cpu())
            r_hat = r_hat.to(torch.float64).cpu()
            if motif is not None:
                r_hat, x_hat = impose(motif, positions, r_hat, x_hat, scale)
            if restraints is not None and tt <= restraints.t_max:
                r_hat, x_ang = restraints.relax(r_hat, x_hat / scale, fixed)
                x_hat = _masked_center(x_ang * scale, mask.cpu())
            last.update(psi=psi, r=r_hat, x=x_hat)
            return x_hat, self.path.rotation_velocity(rt, r_hat, sampler.rot_rate)

        was = self.training
        self.eval()
        try:
            out = scidiff.sample(model, proc, (n,), steps=sampler.steps, method="euler", x_init=x_init,
                                 generator=g, return_trajectory=trajectory)
        finally:
            self.train(was)
        psi = torch.atan2(last["psi"][..., 0], last["psi"][..., 1]).to(torch.float64).cpu()
        frames = (last["r"], last["x"] / scale, psi)
        if not trajectory:
            return frames
        path = [(r, x / scale) for x, r in out[1]]
        return (*frames, path)

    def sample(self, length: int | tuple[int, int], n: int = 1, seed: int | None = 0,
               sampler: SamplerConfig | None = None, *, motif: Motif | None = None,
               positions: torch.Tensor | None = None, restraints: Restraints | None = None, trajectory: bool = False):
        """``n`` backbones of ``length`` residues (poly-Ala, CA centroid near the origin).

        With ``motif`` (:func:`.motif.read_motif`) the motif residues sit at chain ``positions``
        (default: :func:`.motif.layout` drawn from ``seed``, ``length`` then an int or a range
        ``(lo, hi)``) with their input atoms and residue types, superposed onto the generated
        scaffold. ``trajectory``: returns ``(backbones, paths)``, ``paths[i]`` the list of sample
        i's noisy backbones from the prior to t = 0. ``sampler``, ``restraints``: see
        :meth:`sample_frames`."""
        if motif is not None and positions is None:
            length, positions = layout(motif, length, np.random.default_rng(seed))
        res = self.sample_frames(length, n, seed, sampler, motif=motif, positions=positions, restraints=restraints,
                                 trajectory=trajectory)
        r, x, psi = res[:3]
        coords = backbone_from_frames(r, x, psi)
        seq = ["A"] * length
        if motif is not None:
            src = motif.coords.to(coords)
            rot, shift = superpose(src[:, 1].expand(n, -1, -1), coords[:, positions, 1])
            placed = src @ rot[:, None].transpose(-1, -2) + shift[:, None, None]
            coords[:, positions] = torch.where(torch.isfinite(placed), placed, coords[:, positions])
            for i, p in enumerate(positions.tolist()):
                seq[p] = motif.sequence[i] if motif.sequence else "A"
        out = [Backbone(c, sequence="".join(seq), name=f"sample_{i}") for i, c in enumerate(coords.float().numpy())]
        if not trajectory:
            return out
        paths = [[Backbone(c, name=f"sample_{i}_t{k}") for k, c in enumerate(cs)]
                 for i, cs in enumerate(torch.stack([backbone_from_frames(rr, xx) for rr, xx in res[3]], 1)
                                        .float().numpy())]
        return out, paths


# the flat FrameFlowConfig of models saved before the sections: key -> section
_SECTIONS = {**{k: "trunk" for k in ("c_s", "c_z", "c_hidden", "heads", "qk_points", "v_points", "blocks",
                                      "seq_heads", "max_rel", "rbf_bins")},
             "trans_scale": "path",
             **{k: "loss" for k in ("t_min", "low_t_fraction", "low_t_max", "t_clip", "trans_weight", "rot_weight",
                                     "psi_weight", "aux_weight", "aux_t_max", "aux_cutoff", "clash_weight",
                                     "clash_distance")}}
_NOT_SHIPPED = {"recipe": "flow", "self_condition": False, "rot_train_schedule": "linear", "rot_sample_schedule": "exp"}


def _sectioned(flat: dict) -> dict:
    """A flat ``FrameFlowConfig`` dict as a sectioned ``BackboneConfig`` dict (see ``config_from_dict``)."""
    other = {k: flat[k] for k, shipped in _NOT_SHIPPED.items() if k in flat and flat[k] != shipped}
    if other:
        raise ValueError(f"this model was trained with {other}, which the package no longer ships "
                         "(docs/notes/proteins.md; the code is in commit a6cc8d6)")
    out: dict = {"trunk": {}, "path": {}, "loss": {}, "sampler": {}}
    for key, value in flat.items():
        if key in _SECTIONS:
            out[_SECTIONS[key]][key] = value
    if "sample_steps" in flat:
        out["sampler"]["steps"] = flat["sample_steps"]
    rate = flat.get("sample_rot_rate") or flat.get("rot_rate")
    if rate is not None:
        out["sampler"]["rot_rate"] = rate
    return out


__all__ = ["BackboneConfig", "TrunkConfig", "PathConfig", "LossConfig", "SamplerConfig", "BackboneGenerator"]
