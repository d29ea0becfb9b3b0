"""scidiff.policy — Diffusion Policy for gymnasium environments.

Demonstrations (``Episodes``: DP zarr replay buffers, npz, lists) are cut into DP's windows
(``WindowDataset``), normalised, and fitted by ``DiffusionPolicy`` (temporal U-Net
``ConditionalUnet1D`` + a core process) with the shared trainer; ``policy.reset()`` /
``policy.act(obs)`` then act in any gymnasium loop. ``evaluate`` rolls a policy out and reports
Diffusion Policy's score and the success rate with confidence intervals. Environments known by
name (``get_task``): ``"pusht"`` (gym-pusht, real human demos) and ``"mountaincar"`` (gymnasium,
demos from the project's controller). ``DiffusionPolicy.from_pretrained("pusht")`` loads the
bundled PushT weights. Command line: ``scidiff policy train | eval | collect | export``.
"""
from .envs import flatten_space, get_task
from .episodes import Episodes
from .evaluate import EvalResult, evaluate
from .normalizer import MinMaxNormalizer
from .policy import DiffusionPolicy, PolicyConfig
from .unet1d import ConditionalUnet1D, UnetConfig
from .windows import WindowDataset, window_frames

__all__ = ["DiffusionPolicy", "PolicyConfig", "Episodes", "WindowDataset", "window_frames", "MinMaxNormalizer",
           "ConditionalUnet1D", "UnetConfig", "evaluate", "EvalResult", "get_task", "flatten_space"]
