"""scidiff.policy — Diffusion Policy for gymnasium environments.

So far: demonstration episodes in Diffusion Policy's replay-buffer layout (zarr, npz, lists),
DP's training windows with edge padding, and the min-max normaliser. The temporal U-Net, the
agent and the CLI arrive with the rest of the policy issue.
"""
from .episodes import Episodes
from .normalizer import MinMaxNormalizer
from .windows import WindowDataset, window_frames

__all__ = ["Episodes", "WindowDataset", "window_frames", "MinMaxNormalizer"]
