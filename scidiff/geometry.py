"""Geometry of point sets shared by every domain: superposition and RMSD, bond and dihedral
angles, radius graphs and radial bases.

Coordinates are tensors ``(..., 3)`` in any length unit (the domains use Å); angles are radians.
Every function batches over leading dimensions and works in the dtype and on the device of its
input.
"""
from __future__ import annotations

import math

import torch


# --- superposition --------------------------------------------------------------------------------
def superpose(x: torch.Tensor, y: torch.Tensor, *, reflection: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The rigid motion ``(R (..., 3, 3), t (..., 3))`` minimising ``sum_i |R x_i + t - y_i|^2``
    over point sets ``x, y (..., M, 3)`` (Kabsch). ``R`` is a proper rotation unless
    ``reflection`` allows an improper one (then the fit ignores handedness)."""
    cx, cy = x.mean(-2, keepdim=True), y.mean(-2, keepdim=True)
    u, _, vt = torch.linalg.svd((x - cx).transpose(-1, -2) @ (y - cy))
    r = vt.transpose(-1, -2) @ u.transpose(-1, -2)
    if not reflection:
        d = torch.sign(torch.linalg.det(r))
        d = torch.where(d == 0, torch.ones_like(d), d)
        fix = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
        r = vt.transpose(-1, -2) @ fix @ u.transpose(-1, -2)
    return r, (cy - cx @ r.transpose(-1, -2))[..., 0, :]


def rmsd(x: torch.Tensor, y: torch.Tensor, *, align: bool = True, reflection: bool = False) -> torch.Tensor:
    """Root-mean-square deviation ``(...)`` of point sets ``x, y (..., M, 3)``, after the optimal
    superposition of x onto y (``align``; proper rotations unless ``reflection``), or as they lie."""
    if align:
        r, t = superpose(x, y, reflection=reflection)
        x = x @ r.transpose(-1, -2) + t[..., None, :]
    return ((x - y) ** 2).sum(-1).mean(-1).sqrt()


# --- angles ---------------------------------------------------------------------------------------
def angle(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The angle a-b-c ``(...)`` in radians, [0, pi], of points ``(..., 3)``."""
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
    return torch.acos(cos.clamp(-1, 1))


def dihedral(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """The dihedral angle a-b-c-d ``(...)`` in radians, (-pi, pi], of points ``(..., 3)`` (IUPAC
    sign convention, as RDKit's ``GetDihedralRad``)."""
    b0, b1, b2 = a - b, c - b, d - c
    b1 = b1 / b1.norm(dim=-1, keepdim=True)
    v = b0 - (b0 * b1).sum(-1, keepdim=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdim=True) * b1
    return torch.atan2((torch.linalg.cross(b1, v, dim=-1) * w).sum(-1), (v * w).sum(-1))


# --- graphs and radial features -------------------------------------------------------------------
def radius_graph(pos: torch.Tensor, cutoff: float, batch: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ordered pairs ``(j, i)``, i != j, of one graph closer than ``cutoff``: ``edge_index (2, E)``
    (source j, target i) and their distances ``(E,)``, ordered by graph, then j, then i.

    ``pos (N, 3)``; ``batch (N,)`` the graph of each point, sorted (as a torch-geometric
    ``Batch`` keeps it; default: one graph). Distances are computed densely per graph
    (``B x n_max^2``), never over all ``N^2`` pairs of the batch."""
    n = pos.shape[0]
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=pos.device)
    counts = torch.bincount(batch)
    start = torch.cumsum(counts, 0) - counts                             # first point of each graph
    slot = torch.arange(n, device=pos.device) - start[batch]
    n_max = int(counts.max()) if n else 0
    dense = pos.new_zeros(len(counts), n_max, 3)
    dense[batch, slot] = pos
    mask = torch.zeros(len(counts), n_max, dtype=torch.bool, device=pos.device)
    mask[batch, slot] = True
    dist = torch.cdist(dense, dense)
    close = (dist < cutoff) & mask[:, :, None] & mask[:, None, :]
    close &= ~torch.eye(n_max, dtype=torch.bool, device=pos.device)
    g, j, i = close.nonzero(as_tuple=True)
    return torch.stack([start[g] + j, start[g] + i]), dist[g, j, i]


def gaussian_rbf(d: torch.Tensor, d_min: float, d_max: float, n: int, width: float,
                 gamma: float = 0.5) -> torch.Tensor:
    """``n`` Gaussians ``exp(-gamma ((d - mu) / width)^2)`` with centres mu evenly on
    [d_min, d_max]: ``d (...) -> (..., n)``. With ``gamma = 1/2`` (the default) ``width`` is each
    Gaussian's standard deviation."""
    centres = torch.linspace(d_min, d_max, n, dtype=d.dtype, device=d.device)
    return torch.exp(-gamma * ((d[..., None] - centres) / width) ** 2)


def cosine_cutoff(d: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Smooth envelope ``0.5 (cos(pi d / cutoff) + 1)`` for d < cutoff, 0 beyond: edges fade out
    continuously as they leave a radius graph."""
    return torch.where(d < cutoff, 0.5 * (torch.cos(math.pi * d / cutoff) + 1), torch.zeros_like(d))


__all__ = ["superpose", "rmsd", "angle", "dihedral", "radius_graph", "gaussian_rbf", "cosine_cutoff"]
