"""SE(3) generative models of residue frames: :class:`BackboneGenerator`.

Each residue is a frame ``(R, x)`` (:mod:`.frames`); translations are in nm inside the model
(Å x ``trans_scale`` = 0.1, as FrameFlow and FrameDiff). Time runs t = 0 data -> t = 1 prior.
One IPA trunk (:mod:`.ipa`) maps noisy frames at t to clean frames ``(R^_0, x^_0)`` and a psi
angle (for the O atom at chain ends); ``recipe`` picks the path between data and prior
(:mod:`.paths`):

* ``"flow"`` (FrameFlow): straight translations from a centred Gaussian and geodesic rotations
  from uniform SO(3); trained with the linear rotation schedule and sampled with the exponential
  one (rotation velocity ``c Log(R_t^T R^_0)``, c = ``sample_rot_rate``, else ``rot_rate`` = 10, so
  rotations settle early; the bundled weights sample at c = 6, see ``weights/backbones/README.md``).
  Training with ``rot_train_schedule="exp"`` too leaves rotations ~95 % clean for t < 0.7 and the
  network learns to read the structure from them (in a short CPU overfit on two chains samples
  collapsed to Rg 0.75x the expected, with ~57 clashes per 48-residue chain).
* ``"diffusion"`` (FrameDiff): VP translations and IGSO(3) Brownian motion on rotations; the
  rotation score is the IGSO(3) score around R^_0; sampled with the geodesic random walk.

The loss is FrameFlow's for both: translation MSE and rotation vector-field MSE, each divided by
the path's noise scale at t (clamped at 0.1),

    L = w_x |x^_0 - x_0|^2 / s_x(t)^2  +  w_R |Log(R_t^T R_0) - Log(R_t^T R^_0)|^2 / s_R(t)^2
        (+ w_psi |(sin, cos)^ - (sin, cos) psi|^2)

averaged over real residues (and x, y, z) per chain, then over the batch. With ``aux_weight`` > 0,
chains at t < ``aux_t_max`` add FrameDiff's auxiliary losses (:meth:`BackboneGenerator.aux_losses`):
the ideal N, CA, C atoms of the predicted frames and their distances below 6 Å, which hold the
chain's local geometry (bond lengths and angles, no overlaps) that the per-frame losses only
reach indirectly. ``clash_weight`` > 0 adds, on the same chains, a penalty on CA pairs at least
3 apart in sequence predicted closer than 4 Å (:meth:`BackboneGenerator.clash_loss`), and
``low_t_fraction`` draws part of the training times near the data
(:meth:`BackboneGenerator.training_times`), where the final clean prediction is made.

Self-conditioning (``self_condition``, FrameFlow's): in training, half the batches first predict
clean frames without gradient and feed those CA positions back into the pair features
(:class:`.ipa.PairFeatures`) of the pass that is trained; in sampling every step after the first
gets the previous step's prediction. It adds a zero-initialised projection, so a model without it
fine-tunes into one with it (``train.init_from``).

Sampling runs ``scidiff.sample`` on the product process of the path (a ``GaussianFactor`` given
x^_0 for the translations and the rotation process): all samples of one call share a length, so
no padding is needed and the core engine fits as is. The returned frames are the clean
prediction of the last evaluation (for flow translations the Euler step into t = 0 lands on it
exactly). Motif scaffolding (:mod:`.motif`) overwrites every clean prediction on the motif
residues by the superposed motif.

The training recipe (``scidiff train`` with ``domain: proteins``) is :mod:`.train`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

import scidiff
from scidiff.geometry import superpose
from scidiff.manifolds import SO3
from scidiff.processes import ProductProcess
from scidiff.train.pretrained import Pretrained

from .backbone import Backbone
from .frames import C_LOCAL, N_LOCAL, apply_frames, backbone_from_frames, psi_angles
from .ipa import IPATrunk
from .motif import Motif, impose, layout
from .paths import make_path
from .restraints import Restraints


@dataclass
class FrameFlowConfig:
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
    trans_scale: float = 0.1    # network length unit: Å x trans_scale (nm)
    recipe: str = "flow"        # "flow" (FrameFlow) | "diffusion" (FrameDiff): see .paths
    rot_rate: float = 10.0      # flow: exponential rotation schedule rate c
    rot_train_schedule: str = "linear"   # "linear" (FrameFlow) | "exp": rotation path in training
    rot_sample_schedule: str = "exp"     # "exp" (FrameFlow's constant rate c) | "linear": rotation velocity
    beta_min: float = 0.1       # diffusion: VP translations, linear beta schedule
    beta_max: float = 20.0
    rot_sigma_min: float = 0.1  # diffusion: IGSO(3) scale, FrameDiff's logarithmic schedule (radians)
    rot_sigma_max: float = 1.5
    t_min: float = 0.01         # training times ~ U[t_min, 1 - t_min] ...
    low_t_fraction: float = 0.0  # ... except this fraction of chains, drawn from U[t_min, low_t_max]
    low_t_max: float = 0.1
    t_clip: float = 0.1         # loss normalisation 1 / max(scale(t), t_clip)^2
    trans_weight: float = 2.0   # FrameFlow's translation_loss_weight
    rot_weight: float = 1.0
    psi_weight: float = 0.1     # 0 disables the psi loss
    aux_weight: float = 0.0     # backbone-atom + local distance losses (FrameDiff's 0.25); 0 disables them
    aux_t_max: float = 0.25     # ... applied to chains with t < aux_t_max (near the data)
    aux_cutoff: float = 6.0     # distance loss on atom pairs closer than this in the data (Å)
    clash_weight: float = 0.0   # CA pairs |i-j| >= 3 predicted closer than clash_distance (same chains as aux)
    clash_distance: float = 4.0  # Å; 1e-4 of such pairs in the development chains are closer
    self_condition: bool = False  # feed the previous clean prediction back (half the training batches)
    sample_steps: int = 100
    sample_noise_scale: float = 1.0  # reverse-SDE noise factor (diffusion recipe; FrameDiff samples at 0.1)
    sample_rot_rate: float | None = None  # flow: rate c of the exponential rotation schedule in sampling (None: rot_rate)


def _masked_center(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over real residues (axis 1) and zero the padding."""
    m = mask[..., None].to(x.dtype)
    mean = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
    return (x - mean) * m


class BackboneGenerator(Pretrained, nn.Module):
    """SE(3) flow matching on residue frames with an IPA trunk.

    ``forward(batch, generator) -> loss`` (the Trainer's interface; ``batch`` from
    :meth:`BackboneDataset.get_batch`), ``predict(r, x, t, mask)`` the clean-frame prediction,
    ``sample(length, n, seed, steps) -> list[Backbone]``.
    """

    config_class = FrameFlowConfig
    bundled = {"frameflow-cpu": "weights/backbones"}      # trained here on CPU; weights/backbones/README.md
    default = "frameflow-cpu"

    def __init__(self, config: FrameFlowConfig | None = None, **overrides):
        super().__init__()
        self.config = config or FrameFlowConfig(**overrides)
        c = self.config
        if not (0 <= c.low_t_fraction <= 1 and c.t_min < c.low_t_max <= 1 - c.t_min):
            raise ValueError(f"low_t_fraction must lie in [0, 1] and low_t_max in (t_min, 1 - t_min], got "
                             f"{c.low_t_fraction} and {c.low_t_max} (t_min {c.t_min})")
        self.trunk = IPATrunk(c.c_s, c.c_z, c.c_hidden, c.heads, c.qk_points, c.v_points, c.blocks, c.seq_heads,
                              c.max_rel, c.rbf_bins, length_unit=1.0 / c.trans_scale,
                              self_condition=c.self_condition)
        self.path = make_path(c)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- network -----------------------------------------------------------------------------------
    def predict(self, r: torch.Tensor, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor,
                sc: torch.Tensor | None = None):
        """Clean frames ``(R^_0 (B, L, 3, 3), x^_0 (B, L, 3) nm)`` and psi ``(sin, cos) (B, L, 2)``
        from noisy frames at times ``t (B,)``; ``sc (B, L, 3)`` nm a previous x^_0 (self-conditioning)."""
        _, r0, x0, psi = self.trunk(r, x, t, mask, sc)
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
        c = self.config
        u = torch.rand(n, generator=generator, device=device, dtype=dtype)
        hi = torch.full_like(u, 1 - c.t_min)
        if c.low_t_fraction > 0:
            low = torch.rand(n, generator=generator, device=device, dtype=dtype) < c.low_t_fraction
            hi = torch.where(low, torch.full_like(u, c.low_t_max), hi)
        return c.t_min + (hi - c.t_min) * u

    def loss(self, batch: dict, generator: torch.Generator | None = None, t: torch.Tensor | None = None,
             parts: bool = False):
        """FrameFlow loss on a padded batch (``rotations``, ``translations`` Å, ``mask``, ``coords``)."""
        c = self.config
        mask = batch["mask"].bool()
        dtype = next(self.parameters()).dtype
        r0 = batch["rotations"].to(dtype)
        x0 = _masked_center(batch["translations"].to(dtype) * c.trans_scale, mask)
        B = mask.shape[0]
        if t is None:
            t = self.training_times(B, generator, mask.device, dtype)
        rt, xt = self.noisy_frames(r0, x0, t, mask, generator)
        sc = None
        if c.self_condition and float(torch.rand((), generator=generator, device=mask.device)) < 0.5:
            with torch.no_grad():
                sc = self.predict(rt, xt, t, mask)[1]
        r_hat, x_hat, psi_hat = self.predict(rt, xt, t, mask, sc)
        m = mask.to(dtype)
        n_res = m.sum(1).clamp_min(1)
        s_x, s_r = (s.to(dtype).clamp_min(c.t_clip)[:, None, None] for s in self.path.scales(t))
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
        c = self.config
        local = torch.tensor((N_LOCAL, (0.0, 0.0, 0.0), C_LOCAL), dtype=x0.dtype, device=x0.device) * c.trans_scale
        B, L = mask.shape
        atoms = [apply_frames(r[:, :, None], x[:, :, None], local).reshape(B, 3 * L, 3) for r, x in ((r0, x0), (r_hat, x_hat))]
        m = mask.repeat_interleave(3, 1).to(x0.dtype)
        s2 = scale.pow(2)
        bb = ((atoms[1] - atoms[0]).pow(2).sum(-1) * m).sum(1) / (3 * m.sum(1).clamp_min(1)) / s2
        d_true, d_hat = ((a[:, :, None] - a[:, None]).pow(2).sum(-1).add(1e-10).sqrt() for a in atoms)
        pairs = m[:, :, None] * m[:, None] * (d_true < c.aux_cutoff * c.trans_scale)
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
        c = self.config
        L = mask.shape[1]
        d_true, d_hat = ((x[:, :, None] - x[:, None]).pow(2).sum(-1).add(1e-10).sqrt() for x in (x0, x_hat))
        idx = torch.arange(L, device=mask.device)
        far = ((idx[None, :] - idx[:, None]).abs() >= 3) & mask[:, :, None] & mask[:, None]
        floor = d_true.clamp_max(c.clash_distance * c.trans_scale)
        short = torch.relu(floor - d_hat) * far.to(x0.dtype)
        return 0.5 * short.pow(2).sum((1, 2)) / mask.sum(1).clamp_min(1) / scale.pow(2)

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.loss(batch, generator)

    # --- sampling ----------------------------------------------------------------------------------
    def process(self, length: int) -> ProductProcess:
        """The SE(3)^L product process the sampler integrates (translations nm, rotations)."""
        return self.path.process(length)

    @torch.no_grad()
    def sample_frames(self, length: int, n: int = 1, seed: int | None = 0, steps: int | None = None,
                      method: str | None = None, motif: Motif | None = None,
                      positions: torch.Tensor | None = None, trajectory: bool = False,
                      noise_scale: float | None = None, restraints: Restraints | None = None,
                      rot_rate: float | None = None):
        """``(R (n, L, 3, 3), x (n, L, 3) Å, psi (n, L))`` float64, translations centred.

        ``rot_rate`` (flow recipe; default ``config.sample_rot_rate``, else ``config.rot_rate``): the
        rate c of the exponential rotation schedule, rotation velocity ``c Log(R_t^T R^_0)``. A high
        c settles the rotations early, on the network's predictions from noisy translations.

        ``noise_scale`` (default ``config.sample_noise_scale``) multiplies the noise the reverse SDE
        injects (``method`` "euler_maruyama", the diffusion recipe's sampler); below 1 the sampler is
        colder than the model's distribution, as FrameDiff's ζ = 0.1.

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
        steps = steps or self.config.sample_steps
        method = method or self.path.method
        options = {}
        if method == "euler_maruyama":
            options["noise_scale"] = self.config.sample_noise_scale if noise_scale is None else noise_scale
        elif noise_scale is not None:
            raise ValueError(f"noise_scale is for the reverse SDE (method 'euler_maruyama', the diffusion "
                             f"recipe), not for {method!r}")
        path = self.path
        if rot_rate is not None:
            if not hasattr(path, "with_sample_rate"):
                raise ValueError(f"rot_rate is for the flow recipe's exponential rotation schedule, not {self.config.recipe!r}")
            path = path.with_sample_rate(rot_rate)
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        proc = path.process(length)
        x_init = (proc.processes[0].prior_sample(n, generator=g),
                  SO3().random(n * length, generator=g).reshape(n, length, 3, 3))
        dtype, dev = next(self.parameters()).dtype, self.device
        mask = torch.ones(n, length, dtype=torch.bool, device=dev)
        fixed = None
        if motif is not None:
            fixed = torch.zeros(length, dtype=torch.bool)
            fixed[positions] = True
        scale = self.config.trans_scale
        last = {}

        def model(x, t):
            xt, rt = x
            sc = last["x"].to(dev, dtype) if self.config.self_condition and "x" in last else None
            r_hat, x_hat, psi = self.predict(rt.to(dev, dtype), xt.to(dev, dtype), t.to(dev, dtype), mask, sc)
            tt = float(t[0])
            x_hat = _masked_center(x_hat.to(torch.float64).cpu(), mask.cpu())
            r_hat = r_hat.to(torch.float64).cpu()
            if motif is not None:
                r_hat, x_hat = impose(motif, positions, r_hat, x_hat, scale)
            if restraints is not None and tt <= restraints.t_max:
                r_hat, x_ang = restraints.relax(r_hat, x_hat / scale, fixed)
                x_hat = _masked_center(x_ang * scale, mask.cpu())
            last.update(psi=psi, r=r_hat, x=x_hat)
            return x_hat, path.rotation_output(rt, r_hat, tt)

        was = self.training
        self.eval()
        try:
            out = scidiff.sample(model, proc, (n,), steps=steps, method=method, x_init=x_init,
                                 generator=g, return_trajectory=trajectory, **options)
        finally:
            self.train(was)
        psi = torch.atan2(last["psi"][..., 0], last["psi"][..., 1]).to(torch.float64).cpu()
        frames = (last["r"], last["x"] / scale, psi)
        if not trajectory:
            return frames
        path = [(r, x / scale) for x, r in out[1]]
        return (*frames, path)

    def sample(self, length: int, n: int = 1, seed: int | None = 0, steps: int | None = None,
               method: str | None = None, motif: Motif | None = None, positions: torch.Tensor | None = None,
               trajectory: bool = False, noise_scale: float | None = None,
               restraints: Restraints | None = None, rot_rate: float | None = None):
        """``n`` backbones of ``length`` residues (poly-Ala, CA centroid near the origin).

        With ``motif`` (:func:`.motif.read_motif`) the motif residues sit at chain ``positions``
        (default: :func:`.motif.layout` drawn from ``seed``, ``length`` then an int or a range
        ``(lo, hi)``) with their input atoms and residue types, superposed onto the generated
        scaffold. ``trajectory``: returns ``(backbones,
        paths)``, ``paths[i]`` the list of sample i's noisy backbones from the prior to t = 0.
        ``noise_scale``, ``restraints``, ``rot_rate``: see :meth:`sample_frames`."""
        if motif is not None and positions is None:
            length, positions = layout(motif, length, np.random.default_rng(seed))
        res = self.sample_frames(length, n, seed, steps, method, motif, positions, trajectory, noise_scale,
                                 restraints, rot_rate)
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


__all__ = ["FrameFlowConfig", "BackboneGenerator"]
