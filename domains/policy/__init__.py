"""scidiff.policy — Diffusion Policy for gymnasium environments.

Demonstrations (``Episodes``: DP zarr replay buffers, npz, lists) are cut into DP's windows
(``WindowDataset``), normalised, and fitted by ``DiffusionPolicy`` (temporal U-Net
``ConditionalUnet1D`` + a core process) with the shared trainer; ``policy.reset()`` /
``policy.act(obs)`` then act in any gymnasium loop. ``evaluate`` rolls a policy out and reports
Diffusion Policy's score and the success rate with confidence intervals. Environments known by
name (``get_task``): ``"pusht"`` (gym-pusht, real human demos) and ``"mountaincar"`` (gymnasium,
demos from the project's controller). ``DiffusionPolicy.from_pretrained("pusht")`` loads the
bundled PushT weights. Command line: ``scidiff policy train | eval | collect | export``.

Layers, lowest first (``LAYERS``; a module imports only from its own layer or those below, checked
by ``tests/test_layers.py``): demonstrations, windows and the normaliser → the temporal U-Net →
the policy → environments and evaluation → the training recipe → the command line and demo.
"""
LAYERS = (
    ("episodes", "normalizer", "windows"),
    ("unet1d",),
    ("policy",),
    ("pusht", "mountain_car", "envs", "video", "evaluate"),
    ("train",),
    ("cli", "demo"),
)

from .envs import flatten_space, get_task  # noqa: E402
from .episodes import Episodes  # noqa: E402
from .evaluate import EvalResult, evaluate  # noqa: E402
from .normalizer import MinMaxNormalizer  # noqa: E402
from .policy import DiffusionPolicy, PolicyConfig  # noqa: E402
from .unet1d import ConditionalUnet1D, UnetConfig  # noqa: E402
from .windows import WindowDataset, window_frames  # noqa: E402

__all__ = ["DiffusionPolicy", "PolicyConfig", "Episodes", "WindowDataset", "window_frames", "MinMaxNormalizer",
           "ConditionalUnet1D", "UnetConfig", "evaluate", "EvalResult", "get_task", "flatten_space"]
