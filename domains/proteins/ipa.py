"""Invariant Point Attention and the frame-refining trunk of an SE(3) backbone model.

Written here from the AlphaFold2 supplement (Jumper et al. 2021), Alg. 22 (IPA) and Alg. 23
(backbone update), in the shape FrameFlow (Yim et al. 2023) uses for flow matching:

    s (B, L, c_s) single rep.,  z (B, L, L, c_z) pair rep.,  frames (R (B, L, 3, 3), t (B, L, 3))
    a_ij = w_L [ q_i.k_j / sqrt(c) + b_ij - gamma_h w_C / 2 sum_p |T_i q_ip - T_j k_jp|^2 ]
    o_i  = [sum_j a_ij v_j,  T_i^-1 sum_j a_ij T_j v_jp,  their norms,  sum_j a_ij z_ij]

Translations are in the network's length unit (nm in :mod:`.model`, i.e. Å / 10). The single
representation is invariant and the frames equivariant under a global rigid motion
``R -> Q R, t -> Q t + d`` of the input frames: scalar features see frames only through
distances and frame-local coordinates. Padding (``mask`` False) never reaches real residues:
padded keys get a -1e9 logit and padded residues keep their frames.

The pair features stay fixed through the blocks (FrameFlow also refines the edges per block).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from scidiff.geometry import gaussian_rbf
from scidiff.manifolds.so3 import quaternion_to_matrix

from .frames import apply_frames, invert_apply_frames

NEG = -1e9


# --- rigid transforms as (R, t) pairs ----------------------------------------------------------------
def compose(r1, t1, r2, t2):
    """``T1 o T2``: first T2 (in T1's local frame), then T1."""
    return r1 @ r2, apply_frames(r1, t1, t2)


def quaternion_update(update: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Alg. 23: ``(..., 6) = (b, c, d, tx, ty, tz)`` -> ``R`` of the quaternion ``(1, b, c, d)``
    normalised, and the translation; zero input is the identity transform."""
    q = torch.cat([torch.ones_like(update[..., :1]), update[..., :3]], -1)
    return quaternion_to_matrix(q), update[..., 3:]


def update_frames(r, t, update, mask=None):
    """Compose the local update ``(..., 6)`` onto frames ``(r, t)``; residues with ``mask`` False keep theirs."""
    if mask is not None:
        update = update * mask[..., None].to(update.dtype)
    ru, tu = quaternion_update(update)
    return compose(r, t, ru, tu)


# --- features ----------------------------------------------------------------------------------------
def relative_position_onehot(n: int, max_rel: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(L, L, 2 max_rel + 1)`` one-hot of ``clip(j - i, -max_rel, max_rel)``."""
    idx = torch.arange(n, device=device)
    rel = (idx[None, :] - idx[:, None]).clamp(-max_rel, max_rel) + max_rel
    return F.one_hot(rel, 2 * max_rel + 1).to(dtype)


def sinusoid(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoids of ``x (...)`` -> ``(..., dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    arg = x[..., None].float() * freqs
    return torch.cat([arg.sin(), arg.cos()], -1)


class PairFeatures(nn.Module):
    """Pair representation from relative sequence position (one-hot, clipped at ``max_rel``) and
    the CA-CA distance (RBF, 0..``d_max`` Å) of the current frames (translations in units of
    ``length_unit`` Å), masked to real pairs."""

    def __init__(self, c_z: int, max_rel: int = 32, bins: int = 16, d_max: float = 20.0, length_unit: float = 10.0):
        super().__init__()
        self.max_rel, self.bins, self.d_max, self.length_unit = max_rel, bins, d_max, length_unit
        self.proj = nn.Linear(2 * max_rel + 1 + bins, c_z)

    def distance_rbf(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, L, bins)`` RBF of the pair distances of points ``x (B, L, 3)``."""
        d = (x[:, :, None] - x[:, None]).pow(2).sum(-1).add(1e-10).sqrt() * self.length_unit
        return gaussian_rbf(d, 0.0, self.d_max, self.bins, self.d_max / self.bins, gamma=1.0)

    def forward(self, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, L = mask.shape
        feats = torch.cat([relative_position_onehot(L, self.max_rel, t.device, t.dtype).expand(B, L, L, -1),
                           self.distance_rbf(t)], -1)
        z = self.proj(feats)
        pair_mask = (mask[:, :, None] & mask[:, None])[..., None].to(t.dtype)
        return z * pair_mask


# --- attention -------------------------------------------------------------------------------------
class InvariantPointAttention(nn.Module):
    """Alg. 22. ``forward(s, z, r, t, mask) -> (B, L, c_s)`` (the update to s)."""

    def __init__(self, c_s: int, c_z: int, c_hidden: int = 16, heads: int = 4, qk_points: int = 4, v_points: int = 8):
        super().__init__()
        self.c, self.h, self.pq, self.pv = c_hidden, heads, qk_points, v_points
        self.q = nn.Linear(c_s, heads * c_hidden, bias=False)
        self.kv = nn.Linear(c_s, 2 * heads * c_hidden, bias=False)
        self.q_pts = nn.Linear(c_s, heads * qk_points * 3)
        self.kv_pts = nn.Linear(c_s, heads * (qk_points + v_points) * 3)
        self.bias = nn.Linear(c_z, heads, bias=False)
        self.head_weights = nn.Parameter(torch.full((heads,), math.log(math.e - 1)))   # softplus -> 1
        self.out = nn.Linear(heads * (c_hidden + 4 * v_points + c_z), c_s)

    def forward(self, s, z, r, t, mask):
        B, L, _ = s.shape
        h, c, pq, pv = self.h, self.c, self.pq, self.pv
        q = self.q(s).view(B, L, h, c)
        k, v = self.kv(s).view(B, L, h, 2 * c).split(c, -1)
        # points, generated in each residue's local frame and placed in the global frame
        rr, tt = r[:, :, None, None], t[:, :, None, None]                     # (B, L, 1, 1, ...)
        qp = apply_frames(rr, tt, self.q_pts(s).view(B, L, h, pq, 3))
        kp, vp = apply_frames(rr, tt, self.kv_pts(s).view(B, L, h, pq + pv, 3)).split([pq, pv], -2)

        w_l, w_c = math.sqrt(1 / 3), math.sqrt(2 / (9 * pq))
        gamma = F.softplus(self.head_weights).view(1, h, 1, 1)
        logits = torch.einsum("bihc,bjhc->bhij", q, k) / math.sqrt(c) + self.bias(z).permute(0, 3, 1, 2)
        d2 = (qp[:, :, None] - kp[:, None]).pow(2).sum((-1, -2))                  # (B, L, L, h)
        logits = w_l * (logits - 0.5 * w_c * gamma * d2.permute(0, 3, 1, 2))
        logits = logits.masked_fill(~mask[:, None, None, :], NEG)
        a = torch.softmax(logits, -1)                                           # (B, h, L, L)

        o = torch.einsum("bhij,bjhc->bihc", a, v).reshape(B, L, h * c)
        o_pt = torch.einsum("bhij,bjhpx->bihpx", a, vp)                         # global
        o_pt = invert_apply_frames(rr, tt, o_pt)                                        # local to residue i
        o_norm = o_pt.pow(2).sum(-1).add(1e-8).sqrt()
        o_pair = torch.einsum("bhij,bijc->bihc", a, z).reshape(B, L, -1)
        feats = [o, o_pt.reshape(B, L, h * pv * 3), o_norm.reshape(B, L, h * pv), o_pair]
        return self.out(torch.cat(feats, -1))


class SequenceAttention(nn.Module):
    """Pre-LN multi-head self-attention over residues (padded keys masked) + MLP."""

    def __init__(self, c_s: int, heads: int = 4):
        super().__init__()
        self.h = heads
        self.ln1, self.ln2 = nn.LayerNorm(c_s), nn.LayerNorm(c_s)
        self.qkv = nn.Linear(c_s, 3 * c_s)
        self.proj = nn.Linear(c_s, c_s)
        self.mlp = nn.Sequential(nn.Linear(c_s, 2 * c_s), nn.GELU(), nn.Linear(2 * c_s, c_s))

    def forward(self, s, mask):
        B, L, C = s.shape
        q, k, v = self.qkv(self.ln1(s)).view(B, L, 3, self.h, C // self.h).permute(2, 0, 3, 1, 4)
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(C // self.h)
        a = torch.softmax(logits.masked_fill(~mask[:, None, None, :], NEG), -1)
        s = s + self.proj((a @ v).transpose(1, 2).reshape(B, L, C))
        return s + self.mlp(self.ln2(s))


class BackboneUpdate(nn.Module):
    """Alg. 23: ``s -> (b, c, d, t)`` (zero-initialised, so an untrained block is the identity)."""

    def __init__(self, c_s: int):
        super().__init__()
        self.lin = nn.Linear(c_s, 6)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, s):
        return self.lin(s)


class IPABlock(nn.Module):
    """IPA -> LayerNorm -> transition -> sequence transformer -> backbone update."""

    def __init__(self, c_s, c_z, c_hidden, heads, qk_points, v_points, seq_heads):
        super().__init__()
        self.ipa = InvariantPointAttention(c_s, c_z, c_hidden, heads, qk_points, v_points)
        self.ln_ipa, self.ln_tr = nn.LayerNorm(c_s), nn.LayerNorm(c_s)
        self.transition = nn.Sequential(nn.Linear(c_s, c_s), nn.ReLU(), nn.Linear(c_s, c_s), nn.ReLU(), nn.Linear(c_s, c_s))
        self.seq = SequenceAttention(c_s, seq_heads)
        self.update = BackboneUpdate(c_s)

    def forward(self, s, z, r, t, mask):
        m = mask[..., None].to(s.dtype)
        s = self.ln_ipa(s + self.ipa(s, z, r, t, mask)) * m
        s = self.ln_tr(s + self.transition(s)) * m
        s = self.seq(s, mask) * m
        r, t = update_frames(r, t, self.update(s), mask)
        return s, r, t


class IPATrunk(nn.Module):
    """Node embedding (diffusion time, sequence position) + pair features + ``blocks`` IPA blocks
    + a psi head. ``forward(r, t, time (B,), mask) -> (s, R_out, t_out, psi_sincos (B, L, 2))``."""

    def __init__(self, c_s: int = 128, c_z: int = 64, c_hidden: int = 16, heads: int = 4, qk_points: int = 4,
                 v_points: int = 8, blocks: int = 4, seq_heads: int = 4, max_rel: int = 32, rbf_bins: int = 16,
                 length_unit: float = 10.0):
        super().__init__()
        self.c_s = c_s
        self.node = nn.Sequential(nn.Linear(2 * c_s, c_s), nn.ReLU(), nn.Linear(c_s, c_s), nn.LayerNorm(c_s))
        self.pair = PairFeatures(c_z, max_rel, rbf_bins, length_unit=length_unit)
        self.blocks = nn.ModuleList(IPABlock(c_s, c_z, c_hidden, heads, qk_points, v_points, seq_heads)
                                    for _ in range(blocks))
        self.psi = nn.Sequential(nn.Linear(c_s, c_s), nn.ReLU(), nn.Linear(c_s, 2))

    def forward(self, r, t, time, mask):
        B, L = mask.shape
        pos = torch.arange(L, device=t.device).expand(B, L)
        feats = torch.cat([sinusoid(time * 1000.0, self.c_s)[:, None].expand(B, L, -1), sinusoid(pos, self.c_s)], -1)
        m = mask[..., None].to(t.dtype)
        s = self.node(feats.to(t.dtype)) * m
        z = self.pair(t, mask)
        for blk in self.blocks:
            s, r, t = blk(s, z, r, t, mask)
        psi = self.psi(s)
        psi = psi / psi.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return s, r, t, psi


__all__ = ["compose", "quaternion_update", "update_frames", "relative_position_onehot",
           "PairFeatures", "InvariantPointAttention", "SequenceAttention", "BackboneUpdate", "IPABlock",
           "IPATrunk"]
