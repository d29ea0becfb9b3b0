"""Backbone restraints: relax residue frames towards ideal peptide geometry without overlaps.

The network predicts each residue's frame; nothing but training ties neighbouring frames into a
chain. :class:`Restraints` is a small physical energy on the ideal N, CA, C atoms of the frames
(:mod:`.frames`), in Å²:

* the peptide link between residues i and i+1, as four harmonic distances: C(i)-N(i+1) (the
  bond, 1.329 Å), CA(i)-N(i+1) and C(i)-CA(i+1) (the two bond angles CA-C-N 116.6° and
  C-N-CA 121.4°, AlphaFold's ideal values) and CA(i)-CA(i+1) (3.80 Å, trans peptide);
* a repulsion, the squared shortfall below a floor, between CA atoms at least 3 apart in the
  sequence closer than ``ca_distance`` (4.0 Å; in the development chains 1e-4 of such pairs are),
  and between any backbone heavy atoms (N, CA, C and the O placed in the peptide plane) of
  residues at least 2 apart closer than ``atom_distance`` (2.5 Å; 0.8 such pairs per development
  chain, hydrogen-bonded N...O lie at 2.8-3.0 Å).

:meth:`Restraints.relax` minimises it over a rigid motion of every residue (L-BFGS on a
rotation vector and a translation per residue, from the given frames, until the energy per
residue is below a tolerance or an iteration budget is spent; the repulsion runs over a Verlet
list of nearby pairs, made again whenever an atom has moved far enough to reach one outside
it). L-BFGS moves only along the energy's gradients, never along the rigid motions of whole
segments that the energy does not see, so each frame moves only as far as its links and contacts
demand.

In sampling (``BackboneGenerator.sample(restraints=...)``) every clean-frame prediction made at
flow time t <= ``t_max`` is relaxed before the step, so the rest of the trajectory follows the
corrected chain, as motif scaffolding follows its replaced residues. This is guidance by a
physical prior, in the spirit of RFdiffusion's auxiliary potentials: the samples are then no
longer the network's distribution alone, and results must say which of the two they report.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from scidiff.manifolds.so3 import rotvec_to_matrix

from .frames import C_LOCAL, CA_C_N, CN_BOND, N_LOCAL, apply_frames, oxygen_from_peptide_plane

C_N_CA = math.acos(-0.5203)          # AlphaFold's between-residue C-N-CA, 121.35 deg
MARGIN = 2.0                          # Å, the Verlet list's reach beyond each floor
CHUNK = 5                             # L-BFGS iterations between the stopping and list checks


def _peptide_distances() -> tuple[float, float, float, float]:
    """Ideal C(i)-N(i+1), CA(i)-N(i+1), C(i)-CA(i+1) and CA(i)-CA(i+1) of a planar trans
    peptide with the frames' bond lengths (Å)."""
    ca_c, n_ca = math.dist(C_LOCAL, (0, 0, 0)), math.dist(N_LOCAL, (0, 0, 0))
    # in the peptide plane: C at the origin, N(i+1) on +x, CA(i) above, CA(i+1) below (trans)
    ca_i = (ca_c * math.cos(CA_C_N), ca_c * math.sin(CA_C_N))
    ca_j = (CN_BOND - n_ca * math.cos(C_N_CA), -n_ca * math.sin(C_N_CA))
    return (CN_BOND, math.dist(ca_i, (CN_BOND, 0.0)), math.dist((0.0, 0.0), ca_j), math.dist(ca_i, ca_j))


PEPTIDE = _peptide_distances()


@functools.lru_cache(maxsize=8)
def _floors(length: int, ca_distance: float, atom_distance: float) -> torch.Tensor:
    """Distance floors (Å) between the heavy atoms of :meth:`Restraints.terms` (N, CA, C of each
    residue, then O of all but the last), upper triangle only so that each pair counts once:
    ``atom_distance`` for residues at least 2 apart, ``ca_distance`` for CA pairs at least 3 apart."""
    res = torch.cat([torch.arange(length).repeat_interleave(3), torch.arange(length - 1)])
    is_ca = torch.cat([torch.tensor([False, True, False]).repeat(length), torch.zeros(length - 1, dtype=torch.bool)])
    sep = (res[None] - res[:, None]).abs()
    floor = torch.where(sep >= 2, atom_distance, 0.0).double()
    ca_pair = is_ca[:, None] & is_ca[None] & (sep >= 3)
    floor = torch.where(ca_pair, torch.clamp(floor, min=ca_distance), floor)
    return torch.triu(floor, diagonal=1)


@dataclass
class Restraints:
    """Ideal peptide links plus CA and backbone-atom repulsion (see the module docstring); Å.

    ``iterations``: at most this many L-BFGS iterations per relaxation; ``tolerance``: stop
    sooner once every chain's energy is at most this many Å² per residue (1e-3: the four link
    distances within about 0.02 Å); ``t_max``: in sampling, relax the clean predictions made at
    flow times t <= t_max (1 relaxes all of them)."""

    ca_distance: float = 4.0
    atom_distance: float = 2.5
    link_weight: float = 1.0
    repulsion_weight: float = 1.0
    iterations: int = 200
    tolerance: float = 1e-3
    t_max: float = 1.0

    def __post_init__(self):
        if min(self.ca_distance, self.atom_distance) < 0 or self.iterations < 1:
            raise ValueError(f"restraints need distances >= 0 and iterations >= 1, got ca_distance "
                             f"{self.ca_distance}, atom_distance {self.atom_distance}, iterations {self.iterations}")
        if min(self.link_weight, self.repulsion_weight, self.tolerance) < 0 or not 0 <= self.t_max <= 1:
            raise ValueError("restraint weights and tolerance must be >= 0 and t_max in [0, 1]")

    def atoms(self, r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Ideal N, CA, C ``(..., L, 3, 3)`` Å of frames ``R (..., L, 3, 3)``, ``x (..., L, 3)`` Å."""
        local = torch.tensor((N_LOCAL, (0.0, 0.0, 0.0), C_LOCAL), dtype=x.dtype, device=x.device)
        return apply_frames(r[..., None, :, :], x[..., None, :], local)

    def heavy_atoms(self, r: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, CA, C (n, L, 3, 3), heavy (n, 4 L - 1, 3))`` Å: the heavy atoms are N, CA, C of every
        residue, then O of all but the last (whose O needs the next residue's N)."""
        a = self.atoms(r, x)
        o = oxygen_from_peptide_plane(a[:, :-1, 1], a[:, :-1, 2], a[:, 1:, 0])
        return a, torch.cat([a.flatten(1, 2), o], 1)

    def contacts(self, r: torch.Tensor, x: torch.Tensor, margin: float = MARGIN) -> tuple[torch.Tensor, ...]:
        """The atom pairs that the repulsion could reach after moves of up to ``margin`` / 2 Å: the
        pairs within their floor + ``margin``, as ``(chain, atom, atom, floor)`` index tensors into
        :meth:`heavy_atoms` (no gradient)."""
        with torch.no_grad():
            heavy = self.heavy_atoms(r, x)[1]
            floor = _floors(x.shape[-2], self.ca_distance, self.atom_distance).to(heavy)
            d = torch.cdist(heavy, heavy)
            b, i, j = torch.nonzero((floor > 0) & (d < floor + margin), as_tuple=True)
        return b, i, j, floor[i, j]

    def terms(self, r: torch.Tensor, x: torch.Tensor, contacts: tuple[torch.Tensor, ...] | None = None
              ) -> dict[str, torch.Tensor]:
        """Per-chain energies ``(n,)`` Å² of frames ``(n, L, 3, 3)``, ``(n, L, 3)`` Å: ``link`` (the sum
        of squared deviations of the four peptide distances) and ``repulsion`` (the sum, over each
        pair once, of squared shortfalls below the pair's floor; over ``contacts`` only when given,
        which is exact while no other pair comes within its floor)."""
        a, heavy = self.heavy_atoms(r, x)
        n_, ca, c = a[..., 0, :], a[..., 1, :], a[..., 2, :]
        pairs = ((c[:, :-1], n_[:, 1:]), (ca[:, :-1], n_[:, 1:]), (c[:, :-1], ca[:, 1:]), (ca[:, :-1], ca[:, 1:]))
        link = sum(((p - q).norm(dim=-1) - d).pow(2).sum(-1) for (p, q), d in zip(pairs, PEPTIDE))
        if contacts is None:
            floor = _floors(x.shape[-2], self.ca_distance, self.atom_distance).to(heavy)
            d = torch.cdist(heavy, heavy, compute_mode="donot_use_mm_for_euclid_dist")
            rep = torch.relu(floor - d).pow(2).sum((1, 2))
        else:
            b, i, j, floor = contacts
            d = (heavy[b, i] - heavy[b, j]).pow(2).sum(-1).add(1e-12).sqrt()
            rep = torch.zeros_like(link).index_add(0, b, torch.relu(floor - d).pow(2))
        return {"link": link, "repulsion": rep}

    def energy(self, r: torch.Tensor, x: torch.Tensor, contacts: tuple[torch.Tensor, ...] | None = None
               ) -> torch.Tensor:
        """``link_weight * link + repulsion_weight * repulsion`` per chain ``(n,)`` Å²."""
        t = self.terms(r, x, contacts)
        return self.link_weight * t["link"] + self.repulsion_weight * t["repulsion"]

    def relax(self, r: torch.Tensor, x: torch.Tensor, fixed: torch.Tensor | None = None):
        """Frames ``(R (n, L, 3, 3), x (n, L, 3) Å)`` moved to lower :meth:`energy`: each residue by
        ``R exp(w) , x + d`` with ``(w, d)`` found by L-BFGS (at most ``iterations``, fewer once every
        chain is within ``tolerance``). ``fixed (L,)`` bool marks residues that stay put (a motif). Computed in float64; returns the input dtype."""
        dtype = x.dtype
        r64, x64 = r.detach().to(torch.float64), x.detach().to(torch.float64)
        move = torch.ones(x.shape[-2], 1, dtype=torch.float64, device=x.device)
        if fixed is not None:
            move = (~torch.as_tensor(fixed, dtype=torch.bool, device=x.device)).to(torch.float64)[:, None]
        params = torch.zeros(*x.shape[:-1], 6, dtype=torch.float64, device=x.device, requires_grad=True)

        def moved():
            w, d = params[..., :3] * move, params[..., 3:] * move
            return r64 @ rotvec_to_matrix(w), x64 + d

        # L-BFGS in chunks of CHUNK iterations over a Verlet list: the pairs within floor + MARGIN
        # of the atoms' positions when the list was made hold every pair that can come within its
        # floor until some atom has moved MARGIN / 2; then the list is made again (the optimiser
        # keeps its history: the new pairs change the energy little where it is)
        def relist():
            with torch.no_grad():
                r1, x1 = moved()
                return self.heavy_atoms(r1, x1)[1], self.contacts(r1, x1)

        listed, contacts = relist()
        opt = torch.optim.LBFGS([params], lr=1.0, max_iter=CHUNK, max_eval=2 * CHUNK, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-14)

        def closure():
            opt.zero_grad()
            e = self.energy(*moved(), contacts).sum()
            e.backward()
            return e

        tol = self.tolerance * x.shape[-2]
        for _ in range(0, self.iterations, CHUNK):
            with torch.enable_grad():
                opt.step(closure)
            with torch.no_grad():
                r1, x1 = moved()
                if (self.heavy_atoms(r1, x1)[1] - listed).norm(dim=-1).max() > MARGIN / 2:
                    listed, contacts = relist()
                elif self.energy(r1, x1, contacts).max() <= tol:
                    break
        return r1.to(r.dtype), x1.to(dtype)


__all__ = ["Restraints", "PEPTIDE"]
