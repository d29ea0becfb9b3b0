"""What every learned conformer generator shares: its model, sampler settings, scope, and the
ETKDG fallback for out-of-scope molecules and for conformers whose stereo could not be fixed."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem

from .featurize import ELEMENTS, featurize
from .generator import ETKDG, ConformerGenerator, _describe, prepare
from .metrics import stereo_preserved


class LearnedConformers(ConformerGenerator):
    """A ``ConformerGenerator`` around a trained model of class ``model_class``.

    ``steps`` / ``method``: sampler settings (default the model's); ``max_atoms``: larger molecules
    (hydrogens included) are out of scope and go to ETKDG; ``max_retries``: resampling rounds for
    conformers with wrong stereo before the ETKDG fallback; ``batch_atoms``: atoms per sampling batch.
    """

    model_class: type
    default_batch_atoms = 20_000
    stat_keys: tuple = ("ok", "resampled", "etkdg")      # how ``last_stats`` counts the conformers

    def __init__(self, model, steps: int | None = None, method: str | None = None, max_atoms: int = 200,
                 max_retries: int = 3, batch_atoms: int | None = None):
        self.model = model.eval()
        self.steps, self.method = steps, method
        self.max_atoms, self.max_retries = max_atoms, max_retries
        self.batch_atoms = batch_atoms or self.default_batch_atoms
        self.last_stats: dict = {}

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None, device: str | torch.device = "cpu", **kwargs):
        """The generator around ``model_class.from_pretrained(folder)`` (None: its default bundled weights)."""
        return cls(cls.model_class.from_pretrained(folder, device=device), **kwargs)

    def out_of_scope(self, mol: Chem.Mol) -> str | None:
        """Why the model cannot handle ``mol`` (explicit H), or ``None``."""
        odd = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(ELEMENTS))
        if odd:
            return f"element(s) {', '.join(odd)} outside the model's vocabulary ({' '.join(ELEMENTS)})"
        if mol.GetNumAtoms() > self.max_atoms:
            return f"{mol.GetNumAtoms()} atoms with hydrogens, more than max_atoms = {self.max_atoms}"
        return None

    def generate(self, mol_or_smiles: Chem.Mol | str, n: int, seed: int = 0) -> Chem.Mol:
        """``n`` conformers (Å) on a Mol with explicit hydrogens, every one with the input's
        stereochemistry; reproducible for a given ``seed`` (>= 0). Out-of-scope molecules get ETKDG
        conformers with a warning; samples that fail ``_accept`` are redrawn up to ``max_retries``
        rounds, then replaced by ETKDG ones. ``self.last_stats`` counts how they were obtained
        (``stat_keys``)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 for reproducible output, got {seed}")
        mol = prepare(mol_or_smiles)
        reason = self.out_of_scope(mol)
        if reason is not None:
            return self._etkdg_instead(mol, n, seed, reason)
        check = has_stereo_labels(mol)
        data = featurize(mol)
        gen = self._generator(seed)
        results: list = [None] * n
        todo = list(range(n))
        stats = dict.fromkeys(self.stat_keys, 0)
        probe = Chem.Mol(mol)
        probe.AddConformer(Chem.Conformer(mol.GetNumAtoms()), assignId=True)
        for attempt in range(1 + self.max_retries):
            if not todo:
                break
            still = []
            for slot, pos in zip(todo, self._sample(mol, data, len(todo), seed, attempt, gen)):
                probe.GetConformer().SetPositions(np.asarray(pos, dtype=np.float64))
                verdict = self._accept(mol, probe, check)
                if verdict is None:
                    still.append(slot)
                    continue
                key, source = verdict
                results[slot] = (probe.GetConformer().GetPositions(), source)
                stats[key] += 1
                stats["resampled"] += attempt > 0
            todo = still
        return self._finish(mol, results, todo, seed, stats,
                            f"{self.name} conformers kept the wrong stereochemistry after {self.max_retries} "
                            "resampling rounds")

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    def _sample(self, mol: Chem.Mol, data, k: int, seed: int, attempt: int, gen) -> list[np.ndarray]:
        """``k`` raw conformers ``(N, 3)`` Å of ``mol`` (featurised as ``data``) in round ``attempt``."""
        raise NotImplementedError

    def _accept(self, mol: Chem.Mol, probe: Chem.Mol, check: bool) -> tuple[str, str] | None:
        """``(stats key, conformer label)`` for the conformer on ``probe`` (which it may fix in
        place), or ``None`` to redraw it; ``check``: whether ``mol`` has stereo labels."""
        raise NotImplementedError

    def _etkdg_instead(self, mol: Chem.Mol, n: int, seed: int, reason: str) -> Chem.Mol:
        """All ``n`` conformers from ETKDG, with a warning naming ``reason``."""
        warnings.warn(f"{_describe(mol)}: {reason}; using ETKDG conformers instead", UserWarning, stacklevel=3)
        self.last_stats = {**dict.fromkeys(self.stat_keys, 0), "etkdg": n, "reason": reason}
        return _write(mol, [(p, "etkdg") for p in _etkdg_positions(mol, n, seed)])

    def _finish(self, mol: Chem.Mol, results: list, todo: list, seed: int, stats: dict, failure: str) -> Chem.Mol:
        """Fill the ``todo`` slots of ``results`` with stereo-checked ETKDG conformers (warning
        ``failure``), record ``stats`` and write the conformers onto a copy of ``mol``."""
        if todo:
            warnings.warn(f"{_describe(mol)}: {len(todo)} of {len(results)} {failure}; replaced by ETKDG conformers",
                          UserWarning, stacklevel=3)
            for slot, pos in zip(todo, _etkdg_positions(mol, len(todo), seed)):
                results[slot] = (pos, "etkdg")
            stats["etkdg"] = len(todo)
        self.last_stats = stats
        return _write(mol, results)


def has_stereo_labels(mol: Chem.Mol) -> bool:
    """Whether ``mol`` has any specified stereocentre or stereo double bond."""
    return any(info.specified == Chem.StereoSpecified.Specified for info in Chem.FindPotentialStereo(mol))


def _etkdg_positions(mol: Chem.Mol, k: int, seed: int, rounds: int = 3) -> list[np.ndarray]:
    """``k`` ETKDG conformers of ``mol`` (explicit H) whose stereo matches it; ``ValueError`` if
    ``rounds`` embeddings with different seeds do not give enough."""
    out: list[np.ndarray] = []
    check = has_stereo_labels(mol)
    for r in range(rounds):
        sub = int(np.random.SeedSequence([seed, 7, r]).generate_state(1)[0] >> 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # prepare's and ETKDG's own notes: we check the result here
            emb = ETKDG().generate(mol, k - len(out), seed=sub)
        for conf in emb.GetConformers():
            if not check or stereo_preserved(mol, emb, conf.GetId()):
                out.append(conf.GetPositions())
        if len(out) >= k:
            return out[:k]
    raise ValueError(f"ETKDG gave only {len(out)} of {k} conformers with the stereochemistry of {_describe(mol)}")


def _write(mol: Chem.Mol, results: list[tuple[np.ndarray, str]]) -> Chem.Mol:
    out = Chem.Mol(mol)
    out.RemoveAllConformers()
    for i, (pos, source) in enumerate(results):
        conf = Chem.Conformer(out.GetNumAtoms())
        conf.SetPositions(np.asarray(pos, dtype=np.float64))
        conf.Set3D(True)
        conf.SetId(i)
        conf.SetProp("generator", source)
        out.AddConformer(conf, assignId=False)
    return out
