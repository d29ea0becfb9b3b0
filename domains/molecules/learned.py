"""What every learned conformer generator shares: its model, sampler settings and scope."""
from __future__ import annotations

from pathlib import Path

import torch
from rdkit import Chem

from .featurize import ELEMENTS
from .generator import ConformerGenerator


class LearnedConformers(ConformerGenerator):
    """A ``ConformerGenerator`` around a trained model of class ``model_class``.

    ``steps`` / ``method``: sampler settings (default the model's); ``max_atoms``: larger molecules
    (hydrogens included) are out of scope and go to ETKDG; ``max_retries``: resampling rounds for
    conformers with wrong stereo before the ETKDG fallback; ``batch_atoms``: atoms per sampling batch.
    """

    model_class: type
    default_batch_atoms = 20_000

    def __init__(self, model, steps: int | None = None, method: str | None = None, max_atoms: int = 200,
                 max_retries: int = 3, batch_atoms: int | None = None):
        self.model = model.eval()
        self.steps, self.method = steps, method
        self.max_atoms, self.max_retries = max_atoms, max_retries
        self.batch_atoms = batch_atoms or self.default_batch_atoms
        self.last_stats: dict = {}

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device = "cpu", **kwargs):
        return cls(cls.model_class.from_pretrained(folder, device=device), **kwargs)

    def out_of_scope(self, mol: Chem.Mol) -> str | None:
        """Why the model cannot handle ``mol`` (explicit H), or ``None``."""
        odd = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(ELEMENTS))
        if odd:
            return f"element(s) {', '.join(odd)} outside the model's vocabulary ({' '.join(ELEMENTS)})"
        if mol.GetNumAtoms() > self.max_atoms:
            return f"{mol.GetNumAtoms()} atoms with hydrogens, more than max_atoms = {self.max_atoms}"
        return None
