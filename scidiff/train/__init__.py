"""Training: one Trainer for every domain (EMA, safetensors checkpoints, DDP via torchrun)."""
from .config import apply_overrides, from_dict, load_config, save_config, to_dict, with_defaults
from .ema import EMA, ema_decay
from .fit import fit
from .pretrained import Pretrained
from .schedule import warmup_cosine
from .trainer import OptimConfig, TrainConfig, Trainer

__all__ = ["fit", "Trainer", "TrainConfig", "OptimConfig", "EMA", "ema_decay", "warmup_cosine", "Pretrained",
           "load_config", "save_config", "to_dict", "from_dict", "apply_overrides", "with_defaults"]
