"""Demonstration episodes: Diffusion Policy's replay-buffer layout, in memory.

All episodes are concatenated along the first axis of each array in ``data`` (``action (N, 2)``,
``state (N, 5)``, ...), and ``episode_ends`` holds the exclusive cumulative ends, exactly as
DP's ``ReplayBuffer`` stores them in zarr (``data/…``, ``meta/episode_ends``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Episodes:
    data: dict[str, np.ndarray]
    episode_ends: np.ndarray

    def __post_init__(self):
        self.episode_ends = np.asarray(self.episode_ends, dtype=np.int64)
        if not len(self.data):
            raise ValueError("episodes need at least one array")
        n = {len(v) for v in self.data.values()}
        if len(n) != 1:
            raise ValueError(f"all arrays must have the same number of steps, got {sorted(n)}")
        total = n.pop()
        ends = self.episode_ends
        if len(ends) == 0 or ends[-1] != total or np.any(np.diff(ends) <= 0) or ends[0] <= 0:
            raise ValueError(f"episode_ends must increase strictly and end at the number of steps ({total}); "
                             f"got {ends[:3]}...{ends[-3:]}")
        for key, value in self.data.items():
            if value.dtype.kind not in "biuf":
                raise ValueError(f"array {key!r} holds {value.dtype} values; demonstrations are numbers")
            bad = ~np.isfinite(value.reshape(len(value), -1)).all(1) if value.dtype.kind == "f" else None
            if bad is not None and bad.any():
                step = int(np.flatnonzero(bad)[0])
                episode = int(np.searchsorted(ends, step, side="right"))
                start = int(ends[episode - 1]) if episode else 0
                raise ValueError(f"array {key!r} holds NaN or Inf: episode {episode}, step {step - start} "
                                 f"(row {step}; {int(bad.sum())} rows in all)")

    # --- readers ----------------------------------------------------------------------------------
    @classmethod
    def from_zarr(cls, path: str | Path, keys: list[str] | None = None) -> "Episodes":
        """Read a DP replay buffer (zarr v2 or v3); ``keys`` limits which ``data/`` arrays load."""
        import zarr

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        root = zarr.open(str(path), mode="r")
        try:
            names = keys or list(root["data"].keys())
            objects = [k for k in names if root["data"][k].dtype.kind == "O"]
            if objects:                     # object arrays decode through pickle: never read them
                raise ValueError(f"{path}: arrays {objects} hold Python objects, which would be unpickled; "
                                 "a replay buffer holds numbers")
            data = {k: np.asarray(root["data"][k][:]) for k in names}
            ends = np.asarray(root["meta"]["episode_ends"][:])
        except KeyError as e:
            raise ValueError(f"{path} is not in Diffusion Policy's replay-buffer layout (missing {e})") from None
        return cls(data, ends)

    @classmethod
    def from_npz(cls, path: str | Path, keys: list[str] | None = None) -> "Episodes":
        """Read an ``.npz`` with the same arrays plus ``episode_ends``."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        with np.load(path) as f:
            if "episode_ends" not in f.files:
                raise ValueError(f"{path} has no 'episode_ends' array")
            names = keys or [k for k in f.files if k not in ("episode_ends", "source_episode_index")]
            return cls({k: f[k] for k in names}, f["episode_ends"])

    @classmethod
    def from_lists(cls, episodes: list[dict[str, np.ndarray]]) -> "Episodes":
        """From in-memory episodes, each a dict of arrays with equal first dimension."""
        if not episodes:
            raise ValueError("no episodes given")
        keys = list(episodes[0])
        data = {k: np.concatenate([np.asarray(e[k]) for e in episodes]) for k in keys}
        return cls(data, np.cumsum([len(e[keys[0]]) for e in episodes]))

    @classmethod
    def load(cls, path: str | Path, keys: list[str] | None = None) -> "Episodes":
        """``.zarr`` folder or ``.npz`` file, by its name."""
        path = Path(path)
        if path.suffix == ".npz":
            return cls.from_npz(path, keys)
        if path.suffix == ".zarr" or (path / "meta").exists():
            return cls.from_zarr(path, keys)
        raise ValueError(f"{path}: expected a .zarr replay buffer or an .npz file")

    def to_npz(self, path: str | Path) -> Path:
        """Write every array plus ``episode_ends`` to ``path`` (read back by ``from_npz``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, episode_ends=self.episode_ends, **self.data)
        return path

    # --- access -----------------------------------------------------------------------------------
    @property
    def n_episodes(self) -> int:
        return len(self.episode_ends)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], self.episode_ends[:-1]])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.concatenate([[0], self.episode_ends]))

    def episode(self, i: int) -> dict[str, np.ndarray]:
        s, e = self.starts[i], self.episode_ends[i]
        return {k: v[s:e] for k, v in self.data.items()}

    def select(self, indices) -> "Episodes":
        """A new ``Episodes`` with the episodes at ``indices`` (in that order)."""
        return Episodes.from_lists([self.episode(int(i)) for i in indices])
