"""One Trainer for every domain.

    trainer = Trainer(model, loss_fn, dataset, TrainConfig(steps=5000), out_dir="runs/x")
    trainer.fit(resume=True)

``loss_fn(model, batch, generator) -> scalar`` draws all its randomness from ``generator``, which
the Trainer seeds from (seed, step, micro-batch position): together with step-indexed batches
(``data.py``) and a stateless LR schedule this makes a resumed run — after SIGINT, SIGTERM or a
kill — end with exactly the weights of an uninterrupted one, and a DDP run equal to one process
accumulating the same micro-batches.
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .config import to_dict
from .data import batch_indices, fetch, to_device
from .distributed import Dist, all_true, any_true, barrier, init_distributed
from .ema import EMA
from .pretrained import load_weights
from .schedule import warmup_cosine


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 1e-6
    betas: tuple = (0.95, 0.999)
    eps: float = 1e-8
    warmup: int = 500            # optimiser steps of linear warm-up
    min_lr_ratio: float = 0.0    # cosine decays to this fraction of lr
    grad_clip: float = 1.0       # max global grad norm; 0 disables clipping


@dataclass
class TrainConfig:
    steps: int = 10_000
    batch_size: int = 256        # global: over ranks and accumulation micro-batches
    grad_accum: int = 1
    seed: int = 0
    init_from: str = ""          # a save_pretrained folder to start from (fine-tuning); a resumed run ignores it;
                                 # tensors the folder lacks (modules the new model adds) keep their initial values
    device: str = "auto"         # "auto": cuda when available, else cpu
    bf16: bool = True            # bf16 autocast on CUDA; CPU always trains in float32
    compile: bool = False        # torch.compile the model
    ema_power: float = 0.75
    ema_max_decay: float = 0.9999
    log_every: int = 50
    eval_every: int = 0          # 0: no evaluation callback
    checkpoint_every: int = 1000     # 0: only at the end, on interruption and at a new best
    keep_last: int = 3
    max_nonfinite: int = 10      # consecutive skipped (NaN/Inf) steps before stopping
    progress: bool = True
    optim: OptimConfig = field(default_factory=OptimConfig)

    # what a resumed run may change (the rest must match the checkpoint's: a different seed, batch
    # or optimiser would make the resumed run a different one); ``steps`` extends or shortens it
    MAY_CHANGE_ON_RESUME = ("steps", "device", "bf16", "compile", "log_every", "eval_every", "checkpoint_every",
                            "keep_last", "max_nonfinite", "progress", "init_from")


def config_changes(saved: dict, now: dict, allowed=(), where: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts, except ``allowed`` ones."""
    out = []
    for key in sorted(set(saved) | set(now)):
        name = f"{where}{key}"
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, allowed, f"{name}.")
        elif _plain(a) != _plain(b) and name not in allowed:
            out.append(name)
    return out


def _plain(value):
    """Tuples as lists, as YAML and JSON give them back."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


class Trainer:
    """Train ``model`` on ``dataset`` (a tensor, a map-style dataset, or anything with
    ``get_batch(indices)``) by minimising ``loss_fn``; runs, logs and checkpoints in ``out_dir``."""

    def __init__(self, model: nn.Module, loss_fn, dataset, config: TrainConfig, out_dir: str | Path,
                 eval_fn=None, eval_metric: str = "loss"):
        self.cfg, self.out = config, Path(out_dir)
        self.loss_fn, self.dataset, self.eval_fn, self.eval_metric = loss_fn, dataset, eval_fn, eval_metric
        dev = config.device
        self.device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if dev == "auto" else dev)
        self.dist: Dist = init_distributed(self.device)
        if self.device.type == "cuda" and self.dist.world > 1:
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        share = config.batch_size // self.dist.world
        if config.batch_size % (self.dist.world * config.grad_accum):
            raise ValueError(f"batch_size {config.batch_size} must divide into {self.dist.world} ranks x "
                             f"{config.grad_accum} accumulation steps")
        self.micro = share // config.grad_accum
        if config.init_from:
            new = load_weights(model, config.init_from, allow_missing=True)
            if new and self.dist.main:
                print(f"init_from {config.init_from}: {len(new)} new tensors keep their initial values "
                      f"({', '.join(new[:4])}{', ...' if len(new) > 4 else ''})", file=sys.stderr)
        self.model = model.to(self.device)
        self.ema = EMA(self.model, config.ema_power, config.ema_max_decay)
        o = config.optim
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=tuple(o.betas), eps=o.eps,
                                     weight_decay=o.weight_decay)
        self.step, self.skipped, self.nonfinite_run, self.best = 0, 0, 0, math.inf
        self._stop = False

    # --- state -------------------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"

    def state(self) -> tuple[dict, dict]:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"ema.{k}": v for k, v in self.ema.model.state_dict().items()})
        opt_t, opt_m = ckpt.optimizer_to_flat(self.opt)
        rng_t, rng_m = ckpt.rng_state()
        tensors.update(opt_t)
        tensors.update(rng_t)
        meta = {"step": self.step, "skipped": self.skipped, "nonfinite_run": self.nonfinite_run,
                "best": None if math.isinf(self.best) else self.best, "optimizer": opt_m, "rng": rng_m,
                "config": to_dict(self.cfg)}
        return tensors, meta

    def load_state(self, tensors: dict, meta: dict) -> None:
        pick = lambda prefix: {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        self.model.load_state_dict(pick("model."))
        self.ema.model.load_state_dict(pick("ema."))
        ckpt.optimizer_from_flat(self.opt, tensors, meta["optimizer"])
        ckpt.set_rng_state(tensors, meta["rng"])
        self.step, self.skipped, self.nonfinite_run = meta["step"], meta["skipped"], meta["nonfinite_run"]
        self.best = math.inf if meta["best"] is None else meta["best"]

    def save(self, best: bool = False) -> None:
        """Checkpoint on rank 0 (and the best one when asked); every rank waits for it."""
        if self.dist.main:
            tensors, meta = self.state()
            ckpt.save_checkpoint(self.ckpt_dir / f"step_{self.step:08d}", tensors, meta)
            if best:
                ckpt.save_checkpoint(self.ckpt_dir / "best", tensors, meta)
            ckpt.prune(self.ckpt_dir, self.cfg.keep_last)
        barrier(self.dist)

    # --- the loop ----------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        """Train to ``config.steps``. ``resume`` continues from the newest valid checkpoint; without
        it an output folder that already holds checkpoints is refused. Returns the last metrics."""
        found = ckpt.latest_valid(self.ckpt_dir)
        if found and not resume:
            raise ValueError(f"{self.out} already holds checkpoints; pass resume=True (--resume) to continue "
                             f"or choose another output folder")
        if resume and not found:
            names = [p.name for p in ckpt.list_checkpoints(self.ckpt_dir)]
            raise ValueError(f"--resume: {self.ckpt_dir} holds no usable checkpoint (found: "
                             f"{', '.join(names) + ', none of them readable' if names else 'nothing'}); "
                             "start without --resume")
        if found:
            changed = config_changes(found[2].get("config", {}), to_dict(self.cfg), TrainConfig.MAY_CHANGE_ON_RESUME)
            if changed:
                raise ValueError(f"--resume: the train config differs from the checkpoint's in {', '.join(changed)}; "
                                 f"only {', '.join(TrainConfig.MAY_CHANGE_ON_RESUME)} may change")
            try:
                self.load_state(found[1], found[2])
            except (RuntimeError, KeyError) as e:
                raise ValueError(f"--resume: {found[0]} does not hold this model (a changed model config?): "
                                 f"{str(e).splitlines()[0]}") from None
        self.out.mkdir(parents=True, exist_ok=True)
        net = self._wrap()
        log = _Log(self.out, self.dist.main)
        restore = self._install_signal_handlers()
        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=not (self.cfg.progress and self.dist.main),
                   desc="training")
        last: dict = {}
        try:
            tic, done = time.perf_counter(), 0
            while self.step < self.cfg.steps:
                loss, gnorm, ok = self._train_step(net)
                self.step += 1
                done += 1
                bar.update(1)
                if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                    rate = done / (time.perf_counter() - tic)
                    last = {"step": self.step, "loss": loss, "lr": self.opt.param_groups[0]["lr"],
                            "grad_norm": gnorm, "it_per_s": rate, "skipped": self.skipped}
                    log.write(last)
                    bar.set_postfix(loss=f"{loss:.4g}", lr=f"{last['lr']:.2e}")
                    tic, done = time.perf_counter(), 0
                is_best = False
                if self.eval_fn is not None and self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
                    metrics = self.eval_fn(self.ema.model, self.step) if self.dist.main else {}
                    log.write({"step": self.step, **{f"eval/{k}": v for k, v in metrics.items()}})
                    value = metrics.get(self.eval_metric, math.inf)
                    if value < self.best:
                        self.best, is_best = value, True
                    is_best = any_true(is_best, self.dist, self.device)   # rank 0 decides; all save together
                stop = not all_true(not self._stop, self.dist, self.device)
                periodic = self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0
                if periodic or self.step == self.cfg.steps or stop or is_best:
                    self.save(best=is_best)
                if stop:
                    last = {**last, "step": self.step, "interrupted": True}     # the step the checkpoint holds
                    break
        finally:
            bar.close()
            log.close()
            restore()
        return last

    def _train_step(self, net) -> tuple[float, float, bool]:
        cfg, d = self.cfg, self.dist
        lr = cfg.optim.lr * warmup_cosine(self.step, cfg.optim.warmup, cfg.steps, cfg.optim.min_lr_ratio)
        for g in self.opt.param_groups:
            g["lr"] = lr
        idx = batch_indices(_length(self.dataset), cfg.batch_size, self.step, cfg.seed)
        share = idx[d.rank * self.micro * cfg.grad_accum:(d.rank + 1) * self.micro * cfg.grad_accum]
        total = 0.0
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda" and cfg.bf16)
        for j in range(cfg.grad_accum):
            batch = to_device(fetch(self.dataset, share[j * self.micro:(j + 1) * self.micro]), self.device)
            position = d.rank * cfg.grad_accum + j           # this micro-batch's place in the global batch
            gen = torch.Generator(self.device).manual_seed(hash((cfg.seed, self.step, position)) % 2**62)
            sync = contextlib.nullcontext() if (d.world == 1 or j == cfg.grad_accum - 1) else net.no_sync()
            with sync, autocast:
                loss = self.loss_fn(net, batch, gen) / cfg.grad_accum
            loss.backward()
            total += float(loss.detach())
        clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
        gnorm = float(nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        ok = all_true(math.isfinite(gnorm) and math.isfinite(total), d, self.device)
        if ok:
            self.opt.step()
            self.ema.update(self.model, self.step)
            self.nonfinite_run = 0
        else:
            self.skipped += 1
            self.nonfinite_run += 1
            if self.nonfinite_run >= cfg.max_nonfinite:
                raise FloatingPointError(f"{self.nonfinite_run} consecutive steps had a NaN/Inf loss or gradient "
                                         f"(last at step {self.step}); lower the learning rate or check the data")
        self.opt.zero_grad(set_to_none=True)
        return total, gnorm, ok

    def _wrap(self):
        net = self.model
        if self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            net = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.cfg.compile:
            net = torch.compile(net)
        return net

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            self._stop = True

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]


def _length(dataset) -> int:
    return dataset.shape[0] if torch.is_tensor(dataset) else len(dataset)


class _Log:
    """metrics.jsonl on rank 0, and TensorBoard when it is installed."""

    def __init__(self, out: Path, enabled: bool):
        self.file = open(out / "metrics.jsonl", "a") if enabled else None
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                pass

    def write(self, row: dict) -> None:
        if self.file is None:
            return
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row["step"])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb.close()
