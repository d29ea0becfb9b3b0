"""The package-level loader: the bundled learned conformer generator, or one saved in a folder."""
from __future__ import annotations

from pathlib import Path

import torch

from .torsional_conformers import TorsionalConformers


def from_pretrained(name_or_folder: str | Path | None = None, device: str | torch.device = "cpu",
                    **options) -> TorsionalConformers:
    """The torsional-diffusion generator on the bundled weights (``"torsional-ccd"``, trained on the
    CCD; the default) or on those ``TorsionalDiffusion.save_pretrained`` wrote to a folder.
    ``options`` go to :class:`TorsionalConformers` (``torsion_prior``, ``particle_guidance``,
    ``steps``, ...)."""
    return TorsionalConformers.from_pretrained(name_or_folder, device=device, **options)


__all__ = ["from_pretrained"]
