"""Training checkpoints as safetensors + JSON, written atomically; never pickle.

A checkpoint is a folder ``step_00001234/`` holding ``tensors.safetensors`` (model, EMA,
optimiser tensors, RNG states) and ``meta.json`` (step, optimiser hyper-parameters, Python and
NumPy RNG states, config, metrics). It is written to ``*.tmp`` and renamed into place, so a run
killed mid-write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

PATTERN = re.compile(r"^step_(\d{8})$")


def save_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write ``folder`` atomically (tmp folder + rename); returns it."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, tmp / "tensors.safetensors")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    for f in tmp.iterdir():                       # flush before the rename makes it visible
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a checkpoint folder; a missing, corrupt or truncated file raises ``ValueError``."""
    folder = Path(folder)
    try:
        tensors = load_file(folder / "tensors.safetensors")
        meta = json.loads((folder / "meta.json").read_text())
    except (SafetensorError, OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"checkpoint {folder} is missing, corrupt or truncated ({e})") from None
    return tensors, meta


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and PATTERN.match(p.name))


def latest_valid(root: Path) -> tuple[Path, dict, dict] | None:
    """The newest checkpoint that loads, warning about (and skipping) broken newer ones."""
    for folder in reversed(list_checkpoints(root)):
        try:
            tensors, meta = load_checkpoint(folder)
            return folder, tensors, meta
        except ValueError as e:
            warnings.warn(f"{e}; trying the previous checkpoint")
    return None


def prune(root: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step folders (``best/`` is separate and kept)."""
    for folder in list_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(folder, ignore_errors=True)


# --- the pieces of state that go in and out --------------------------------------------------------
def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser state dict into tensors (``optim.<param>.<name>``) and JSON."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{name}"] = v
            else:
                scalars[f"{pid}.{name}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    py = random.getstate()
    np_state = np.random.get_state()
    meta = {"python": [py[0], list(py[1]), py[2]],
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}
    return tensors, meta


def set_rng_state(tensors: dict, meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    v, state, gauss = meta["python"]
    random.setstate((v, tuple(state), gauss))
    n = meta["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
