"""Backbone training data: a folder of structures -> filtered, cached chains -> padded batches.

``BackboneDataset.from_folder(src, cache_dir)`` reads every structure file under ``src`` (first
protein chain of each), applies ``on_break`` (``"drop"`` chains with a CA-CA gap > 4.2 Å, or
``"split"`` them into segments) and the length range, and caches the result as one
``backbones.npz`` (concatenated coordinates + offsets, sequences, residue numbers; loaded with
``allow_pickle=False``) beside ``manifest.json`` (settings, source files with size and mtime, one
row per kept chain, the reason for every file or chain left out). A later call with the same
settings and unchanged files loads the cache instead of parsing again.

``get_batch(indices)`` (the Trainer's interface) crops each chain to ``crop_length`` at a random
contiguous window (seeded by ``(seed, index, epoch)``, so a batch is reproducible), centres it on
its CA centroid and pads: ``coords (B, L, 4, 3)``, ``mask (B, L)``, ``residue_index``, ``aatype``
(0-19 in ``RESTYPES`` order, 20 unknown), ``rotations (B, L, 3, 3)``/``translations (B, L, 3)``
(residue frames; identity / 0 on padding), ``lengths``. Crops there are fixed per epoch (call
``set_epoch``); for crops that change every optimiser step, leave ``crop_length`` unset and call
``crop_batch(batch, n, generator)`` with the Trainer's per-step generator in the loss function.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .backbone import Backbone, read_backbones, structure_files
from .frames import frames_from_coords

RESTYPES = "ARNDCQEGHILKMFPSTWYV"
CACHE_VERSION = 1


@dataclass
class DatasetConfig:
    min_length: int = 40
    max_length: int = 256          # chains (or segments) outside [min_length, max_length] are left out
    on_break: str = "drop"         # "drop" | "split"
    on_missing: str = "drop"       # residues lacking an N/CA/C/O atom


def _file_key(p: Path, root: Path) -> dict:
    st = p.stat()
    return {"file": p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p),
            "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def build_cache(src, cache_dir, config: DatasetConfig | None = None, progress: bool = True) -> dict:
    """Parse ``src`` and write ``backbones.npz`` + ``manifest.json`` to ``cache_dir``; returns the manifest."""
    config = config or DatasetConfig()
    if config.on_break not in ("drop", "split"):
        raise ValueError(f"on_break must be 'drop' or 'split' for a dataset, got {config.on_break!r}")
    src, cache_dir = Path(src), Path(cache_dir)
    files = structure_files(src)
    if not files:
        raise ValueError(f"{src}: no structure files (.pdb, .cif, .ent, optionally .gz)")
    root = src if src.is_dir() else src.parent
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc=f"reading {src}", leave=False)
    kept: list[Backbone] = []
    rows, skipped = [], []
    for p in it:
        rel = _file_key(p, root)["file"]
        try:
            segs = read_backbones(p, on_break="keep", on_missing=config.on_missing)
        except ValueError as e:
            skipped.append({"file": rel, "reason": str(e)})
            continue
        bb = segs[0]
        if bb.breaks and config.on_break == "drop":
            skipped.append({"file": rel, "reason": f"{len(bb.breaks)} chain break(s) (CA-CA > 4.2 Å)"})
            continue
        for k, seg in enumerate(bb.split() if bb.breaks else [bb]):
            if not config.min_length <= len(seg) <= config.max_length:
                skipped.append({"file": rel, "segment": k, "reason": f"length {len(seg)} outside "
                                f"[{config.min_length}, {config.max_length}]"})
                continue
            kept.append(seg)
            rows.append({"file": rel, "segment": k, "chain_id": seg.chain_id, "length": len(seg),
                         "first_residue": f"{seg.res_num[0]}{seg.ins_code[0]}", "sequence": seg.sequence,
                         "missing": list(seg.missing)})
    if not kept:
        raise ValueError(f"{src}: no chain passed the filters ({len(skipped)} left out; first: "
                         f"{skipped[0]['reason'] if skipped else '-'})")
    lengths = np.array([len(b) for b in kept], dtype=np.int64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache_dir / "backbones.npz",
             coords=np.concatenate([b.coords for b in kept]).astype(np.float32),
             offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
             res_num=np.concatenate([b.res_num for b in kept]).astype(np.int64),
             sequence=np.array([b.sequence for b in kept]),
             chain_id=np.array([b.chain_id for b in kept]))
    digest = hashlib.sha256((cache_dir / "backbones.npz").read_bytes()).hexdigest()
    manifest = {"version": CACHE_VERSION, "source": str(src.resolve()), "config": asdict(config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "npz_sha256": digest,
                "n_chains": len(kept), "n_residues": int(lengths.sum()),
                "files": [_file_key(p, root) for p in files], "chains": rows, "skipped": skipped}
    (cache_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _cache_is_current(src: Path, cache_dir: Path, config: DatasetConfig) -> bool:
    try:
        m = json.loads((cache_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if m.get("version") != CACHE_VERSION or m.get("config") != asdict(config) or not (cache_dir / "backbones.npz").is_file():
        return False
    try:
        files = structure_files(src)
    except FileNotFoundError:        # the source moved away: the cache is all there is
        return True
    root = src if src.is_dir() else src.parent
    return m.get("files") == [_file_key(p, root) for p in files]


class BackboneDataset:
    """Cached backbones with seeded random crops and padded batches (see the module docstring)."""

    def __init__(self, cache_dir, crop_length: int | None = None, seed: int = 0, frames: bool = True):
        cache_dir = Path(cache_dir)
        if not (cache_dir / "manifest.json").is_file():
            raise FileNotFoundError(f"{cache_dir}: no manifest.json (build the cache with BackboneDataset.from_folder)")
        self.manifest = json.loads((cache_dir / "manifest.json").read_text())
        with np.load(cache_dir / "backbones.npz", allow_pickle=False) as z:
            self._coords = z["coords"]
            self._offsets = z["offsets"]
            self._res_num = z["res_num"]
            self.sequences = [str(s) for s in z["sequence"]]
            self.chain_ids = [str(s) for s in z["chain_id"]]
        self.lengths = np.diff(self._offsets)
        self.crop_length, self.seed, self.frames, self.epoch = crop_length, seed, frames, 0
        self.cache_dir = cache_dir

    @classmethod
    def from_folder(cls, src, cache_dir, config: DatasetConfig | None = None, *, crop_length: int | None = None,
                    seed: int = 0, frames: bool = True, rebuild: bool = False, progress: bool = True) -> "BackboneDataset":
        config = config or DatasetConfig()
        if rebuild or not _cache_is_current(Path(src), Path(cache_dir), config):
            build_cache(src, cache_dir, config, progress=progress)
        return cls(cache_dir, crop_length=crop_length, seed=seed, frames=frames)

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        """Crops depend on (seed, index, epoch): change the epoch to draw new windows."""
        self.epoch = int(epoch)

    def backbone(self, i: int) -> Backbone:
        """Chain ``i`` whole, in its deposited frame."""
        a, b = self._offsets[i], self._offsets[i + 1]
        return Backbone(self._coords[a:b], self.sequences[i], self.chain_ids[i], self._res_num[a:b],
                        name=f"{self.manifest['chains'][i]['file']}:{self.chain_ids[i]}")

    def crop_window(self, i: int) -> tuple[int, int]:
        """The ``[start, stop)`` residue window of chain ``i`` in this epoch."""
        n = int(self.lengths[i])
        if self.crop_length is None or n <= self.crop_length:
            return 0, n
        rng = np.random.default_rng([self.seed, int(i), self.epoch])
        start = int(rng.integers(0, n - self.crop_length + 1))
        return start, start + self.crop_length

    def get_batch(self, indices) -> dict[str, torch.Tensor]:
        idx = [int(i) for i in (indices.tolist() if hasattr(indices, "tolist") else indices)]
        windows = [self.crop_window(i) for i in idx]
        lmax = max(b - a for a, b in windows)
        B = len(idx)
        coords = np.zeros((B, lmax, 4, 3), np.float32)
        mask = np.zeros((B, lmax), bool)
        resi = np.zeros((B, lmax), np.int64)
        aatype = np.full((B, lmax), 20, np.int64)
        for k, (i, (a, b)) in enumerate(zip(idx, windows)):
            o = self._offsets[i]
            x = self._coords[o + a: o + b]
            coords[k, : b - a] = x - x[:, 1].mean(0)
            mask[k, : b - a] = True
            resi[k, : b - a] = self._res_num[o + a: o + b]
            aatype[k, : b - a] = [RESTYPES.find(s) if s in RESTYPES else 20 for s in self.sequences[i][a:b]]
        out = {"coords": torch.from_numpy(coords), "mask": torch.from_numpy(mask),
               "residue_index": torch.from_numpy(resi), "aatype": torch.from_numpy(aatype),
               "lengths": torch.tensor([b - a for a, b in windows])}
        return _with_frames(out) if self.frames else out

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.get_batch([i]).items()}


def _with_frames(out: dict) -> dict:
    r, t = frames_from_coords(out["coords"])
    m = out["mask"][..., None]
    out["rotations"] = torch.where(m[..., None], r, torch.eye(3, dtype=r.dtype, device=r.device).expand_as(r))
    out["translations"] = torch.where(m, t, torch.zeros_like(t))
    return out


def crop_batch(batch: dict, crop_length: int, generator: torch.Generator | None = None) -> dict:
    """Random contiguous crop of a padded batch (from ``get_batch`` without ``crop_length``) drawn
    with ``generator`` - e.g. the Trainer's per-step generator inside a loss function, so crops
    change every step and a resumed run repeats them. Re-centres and recomputes frames."""
    lengths = batch["mask"].sum(-1)
    span = (lengths - crop_length).clamp_min(0)
    u = torch.rand(len(lengths), generator=generator, device=generator.device if generator else None)
    start = (u.to(lengths.device) * (span + 1)).floor().long().clamp_max(span)
    lmax = int(lengths.clamp_max(crop_length).max())
    pos = start[:, None] + torch.arange(lmax, device=lengths.device)
    keep = torch.arange(lmax, device=lengths.device)[None] < lengths.clamp_max(crop_length)[:, None]
    pos = torch.where(keep, pos, torch.zeros_like(pos))
    out = {}
    for k, v in batch.items():
        if k in ("lengths", "rotations", "translations"):
            continue
        g = pos.reshape(pos.shape + (1,) * (v.dim() - 2)).expand(pos.shape + v.shape[2:])
        out[k] = torch.gather(v, 1, g)
    out["mask"] = out["mask"] & keep
    m = out["mask"][..., None, None].to(out["coords"].dtype)
    centre = (out["coords"][:, :, 1] * m[..., 0]).sum(1) / m[..., 0].sum(1).clamp_min(1)
    out["coords"] = (out["coords"] - centre[:, None, None]) * m
    out["lengths"] = lengths.clamp_max(crop_length)
    return _with_frames(out) if "rotations" in batch else out


__all__ = ["BackboneDataset", "DatasetConfig", "build_cache", "crop_batch", "RESTYPES"]
