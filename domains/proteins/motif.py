"""Motif scaffolding: keep the frames of given residues of an input structure, generate the rest.

A motif spec names a structure file and residue ranges of one or more of its chains,
``"FILE:A10-25"`` or ``"FILE:A10-25,B40-48"`` (chain letter, author residue numbers, ends
included; without a letter the file's first chain). The segments keep their order in the new
chain; :func:`layout` draws the total length from a range and spreads the scaffold residues
over the gaps before, between and after them.

During sampling (:meth:`BackboneGenerator.sample_frames` with ``motif=``) every clean-frame
prediction is overwritten on the motif residues by the motif itself, rigidly superposed onto
what the network predicted there (so the motif sits where the scaffold expects it, and the
centred frame of the sample is kept). With the x0-replacement the straight translation path and
the geodesic rotation path of each motif residue end exactly on the motif, so the written
motif atoms are the input atoms up to one rigid motion per sample.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scidiff.geometry import superpose

from .backbone import Backbone, read_backbones
from .frames import frames_from_coords

_SEGMENT = re.compile(r"^([A-Za-z]?)(-?\d+)-(-?\d+)$")


@dataclass
class Motif:
    """Motif residues of a source structure: ``coords (M, 4, 3)`` Å (N, CA, C, O), their frames
    ``rotations (M, 3, 3)`` / ``translations (M, 3)`` Å, ``segments`` (lengths, in order) and
    ``labels`` (``"A 12"``, for messages) and ``sequence`` (one-letter, kept in the output)."""

    coords: torch.Tensor
    rotations: torch.Tensor
    translations: torch.Tensor
    segments: tuple[int, ...]
    labels: tuple[str, ...]
    sequence: str = ""

    def __len__(self) -> int:
        return len(self.coords)


def parse_spec(spec: str) -> tuple[Path, list[tuple[str, int, int]]]:
    """``"FILE:A10-25,B3-9"`` -> ``(Path(FILE), [("A", 10, 25), ("B", 3, 9)])``. A segment
    without a chain letter (``"10-25"``) takes the file's first chain."""
    path, sep, ranges = spec.rpartition(":")
    if not sep or not path:
        raise ValueError(f"motif {spec!r}: expected FILE:A10-25[,A30-40]")
    segments = []
    for part in ranges.split(","):
        m = _SEGMENT.match(part.strip())
        if not m:
            raise ValueError(f"motif {spec!r}: segment {part!r} is not like A10-25")
        chain, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        if b < a:
            raise ValueError(f"motif {spec!r}: segment {part!r} ends before it starts")
        segments.append((chain, a, b))
    return Path(path), segments


def read_motif(spec: str) -> Motif:
    """The motif a spec names; a missing residue or atom names the file and the residue."""
    path, segments = parse_spec(spec)
    chains = {bb.chain_id: bb for bb in read_backbones(path, on_break="keep", on_missing="nan", all_chains=True)}
    if not chains:
        raise ValueError(f"{path}: no protein chain")
    coords, labels, lengths, seq = [], [], [], []
    for chain, a, b in segments:
        chain = chain or next(iter(chains))
        if chain not in chains:
            raise ValueError(f"{path}: no chain {chain!r} (chains: {', '.join(chains)})")
        bb: Backbone = chains[chain]
        for num in range(a, b + 1):
            hits = np.flatnonzero(bb.res_num == num)
            if len(hits) == 0:
                raise ValueError(f"{path}: chain {chain} has no residue {num}")
            xyz = bb.coords[hits[0]]
            if not np.isfinite(xyz[:3]).all():
                raise ValueError(f"{path}: chain {chain} residue {num} lacks N, CA or C")
            coords.append(xyz)
            seq.append(bb.sequence[hits[0]])
            labels.append(f"{chain} {num}")
        lengths.append(b - a + 1)
    xyz = torch.tensor(np.stack(coords), dtype=torch.float64)
    if not torch.isfinite(xyz[:, 3]).all():                  # O absent: rebuilt from the frames later
        xyz[:, 3] = float("nan")
    rot, trans = frames_from_coords(xyz)
    return Motif(xyz, rot, trans, tuple(lengths), tuple(labels), "".join(seq))


def layout(motif: Motif, length: int | tuple[int, int], generator: np.random.Generator) -> tuple[int, torch.Tensor]:
    """Total length (drawn uniformly from ``(lo, hi)``, or given) and the chain positions ``(M,)``
    of the motif residues: segments in order, scaffold residues split at random over the gaps."""
    lo, hi = (length, length) if isinstance(length, int) else length
    m = len(motif)
    if hi < max(lo, m):
        raise ValueError(f"length {lo}-{hi} cannot hold the {m} motif residues")
    total = int(generator.integers(max(lo, m), hi + 1))
    gaps = len(motif.segments) + 1
    cuts = np.sort(generator.integers(0, total - m + 1, gaps - 1))
    sizes = np.diff(np.concatenate([[0], cuts, [total - m]]))
    positions, at = [], 0
    for gap, seg in zip(sizes, motif.segments):
        at += int(gap)
        positions.extend(range(at, at + seg))
        at += seg
    return total, torch.tensor(positions, dtype=torch.long)


def impose(motif: Motif, positions: torch.Tensor, r_hat: torch.Tensor, x_hat: torch.Tensor, scale: float = 1.0):
    """Clean-frame predictions ``R (n, L, 3, 3)``, ``x (n, L, 3)`` (length unit Å x ``scale``) with
    the motif residues at ``positions`` replaced by the motif superposed on the predicted ones."""
    mt = motif.translations.to(x_hat) * scale
    rot, shift = superpose(mt.expand(len(x_hat), -1, -1), x_hat[:, positions])
    x_hat, r_hat = x_hat.clone(), r_hat.clone()
    x_hat[:, positions] = mt @ rot.transpose(-1, -2) + shift[:, None]
    r_hat[:, positions] = rot[:, None] @ motif.rotations.to(r_hat)
    return r_hat, x_hat


__all__ = ["Motif", "parse_spec", "read_motif", "layout", "impose"]
