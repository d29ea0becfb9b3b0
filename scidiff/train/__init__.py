"""Training: one Trainer for every domain (EMA, safetensors checkpoints, DDP via torchrun)."""
