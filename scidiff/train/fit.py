"""``fit``: the sequence every training recipe shares, from a task config to saved EMA weights."""
from __future__ import annotations

from pathlib import Path

import torch
import yaml

from .config import save_config, to_dict
from .trainer import TrainConfig, Trainer, config_changes


def fit(task, build_model, loss_fn, dataset, out: str | Path, *, resume: bool = False, eval_fn=None,
        eval_metric: str = "loss") -> dict:
    """Write ``out/config.yaml`` (``task``: a config dataclass with a ``train`` section, a
    ``TrainConfig``), seed torch with ``task.train.seed``, build the model with ``build_model()``,
    train it with the :class:`Trainer` (``loss_fn(model, batch, generator)`` on ``dataset``;
    ``eval_fn(ema_model, step) -> metrics`` every ``train.eval_every`` steps, ``eval_metric``
    picking the best checkpoint) and save the EMA weights to ``out/model`` unless the run was
    interrupted. Resuming refuses a config that differs from the run's in anything but
    ``TrainConfig.MAY_CHANGE_ON_RESUME``. Returns the Trainer's last metrics (``"interrupted":
    True`` and the checkpoint's ``step`` when stopped)."""
    out = Path(out)
    saved = out / "config.yaml"
    if resume and saved.is_file():
        allowed = [f"train.{k}" for k in TrainConfig.MAY_CHANGE_ON_RESUME]
        changed = config_changes(yaml.safe_load(saved.read_text()) or {}, to_dict(task), allowed)
        if changed:
            raise ValueError(f"--resume: the config differs from the run's ({saved}) in {', '.join(changed)}; "
                             f"a resumed run may change only {', '.join(allowed)}")
    out.mkdir(parents=True, exist_ok=True)
    save_config(task, saved)
    torch.manual_seed(task.train.seed)
    trainer = Trainer(build_model(), loss_fn, dataset, task.train, out, eval_fn=eval_fn, eval_metric=eval_metric)
    last = trainer.fit(resume=resume)
    if trainer.dist.main and not last.get("interrupted"):
        trainer.ema.model.save_pretrained(out / "model")
    return last
