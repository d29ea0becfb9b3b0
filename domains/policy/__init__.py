"""scidiff.policy — Diffusion Policy for gymnasium environments.

So far: demonstration episodes in Diffusion Policy's replay-buffer layout (zarr, npz, lists),
DP's training windows with edge padding, the min-max normaliser and the temporal U-Net
(``ConditionalUnet1D``), ``DiffusionPolicy`` and PushT features from recorded states
(``scidiff.policy.pusht``). The evaluation runner and the CLI arrive with the rest of the issue.
"""
from .episodes import Episodes
from .normalizer import MinMaxNormalizer
from .policy import DiffusionPolicy, PolicyConfig
from .unet1d import ConditionalUnet1D, UnetConfig
from .windows import WindowDataset, window_frames

__all__ = ["DiffusionPolicy", "PolicyConfig", "Episodes", "WindowDataset", "window_frames", "MinMaxNormalizer", "ConditionalUnet1D", "UnetConfig"]
