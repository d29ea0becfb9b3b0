"""What every learned conformer generator shares: its model, sampler settings, scope, and the
ETKDG fallback for out-of-scope molecules and for conformers whose stereo could not be fixed."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem
from torch_geometric.data import Batch

from .chem import describe, has_stereo_labels, prepare
from .featurize import ELEMENTS, featurize
from .generator import ETKDG, ConformerGenerator, per_molecule
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
    rejection = "kept the wrong stereochemistry"          # what ``_accept`` turns down, for the warning

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
        result = self.generate_many([mol_or_smiles], n, seed)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def generate_many(self, mols: list, n, seed: int = 0) -> list:
        """``generate`` for several molecules (``n`` conformers each, or ``n[i]`` for molecule i),
        their first round sampled in shared batches (of up to ``batch_atoms`` atoms): many small
        molecules cost few network calls. Reproducible for the same list and ``seed``, though not
        identical to one ``generate`` call per molecule (the noise is drawn for the batch). A
        molecule that fails gets its exception in its slot; the others are still made.
        ``self.last_stats`` sums the counts over the molecules."""
        ns = per_molecule(n, len(mols))
        if seed < 0:
            raise ValueError(f"seed must be >= 0 for reproducible output, got {seed}")
        out: list = [None] * len(mols)
        jobs = []
        totals = dict.fromkeys(self.stat_keys, 0)
        for i, m in enumerate(mols):
            try:
                mol = prepare(m)
                reason = self.out_of_scope(mol)
                if reason is not None:
                    out[i] = self._etkdg_instead(mol, ns[i], seed, reason)
                    totals["etkdg"] += ns[i]
                    totals["reason"] = reason
                else:
                    jobs.append(_Job(i, mol, has_stereo_labels(mol), featurize(mol), ns[i], self.stat_keys))
            except (ValueError, RuntimeError) as e:
                out[i] = e
        gen = self._generator(seed)
        first = {}
        for job in jobs:
            try:
                first[job.index] = self._graphs(job.mol, job.data, ns[job.index], seed, 0)
            except (ValueError, RuntimeError) as e:           # e.g. no ETKDG local structure
                out[job.index] = e
        jobs = [job for job in jobs if job.index in first]
        samples = iter(self._sample_graphs([g for job in jobs for g in first[job.index]], gen))
        for job in jobs:
            job.take([next(samples) for _ in range(ns[job.index])], 0, self._accept)
            try:
                for attempt in range(1, 1 + self.max_retries):
                    if not job.todo:
                        break
                    job.take(self._sample_graphs(self._graphs(job.mol, job.data, len(job.todo), seed, attempt), gen),
                             attempt, self._accept)
                out[job.index] = self._finish(job.mol, job.results, job.todo, seed, job.stats,
                                              f"{self.name} conformers {self.rejection} after "
                                              f"{self.max_retries} resampling rounds")
            except (ValueError, RuntimeError) as e:
                out[job.index] = e
                continue
            for k in self.stat_keys:
                totals[k] += job.stats[k]
        self.last_stats = totals
        return out

    def _generator(self, seed: int) -> torch.Generator:
        """The sampling noise's generator, on the model's device."""
        return torch.Generator(next(self.model.parameters()).device).manual_seed(seed)

    def _graphs(self, mol: Chem.Mol, data, k: int, seed: int, attempt: int) -> list:
        """The ``k`` graphs (``featurize`` data, with starting positions where the model needs
        them) whose samples are round ``attempt``'s conformers of ``mol``."""
        raise NotImplementedError

    def _sample_graphs(self, graphs: list, gen) -> list[np.ndarray]:
        """One conformer ``(N_i, 3)`` Å per graph, from ``self.model.sample`` on batches of up to
        ``batch_atoms`` atoms (one graph at least)."""
        out: list[np.ndarray] = []
        start = 0
        while start < len(graphs):
            stop, atoms = start + 1, graphs[start].num_nodes
            while stop < len(graphs) and atoms + graphs[stop].num_nodes <= self.batch_atoms:
                atoms += graphs[stop].num_nodes
                stop += 1
            chunk = graphs[start:stop]
            pos = self._sample_batch(Batch.from_data_list(chunk), gen).cpu().double().numpy()
            out.extend(np.split(pos, np.cumsum([g.num_nodes for g in chunk])[:-1]))
            start = stop
        return out

    def _sample_batch(self, batch: Batch, gen) -> torch.Tensor:
        """Coordinates ``(N, 3)`` Å of one batch of graphs, from the model's sampler."""
        return self.model.sample(batch, self.steps, self.method, gen)

    def _accept(self, mol: Chem.Mol, probe: Chem.Mol, check: bool) -> tuple[str, str] | None:
        """``(stats key, conformer label)`` for the conformer on ``probe`` (which it may fix in
        place), or ``None`` to redraw it; ``check``: whether ``mol`` has stereo labels."""
        raise NotImplementedError

    def _etkdg_instead(self, mol: Chem.Mol, n: int, seed: int, reason: str) -> Chem.Mol:
        """All ``n`` conformers from ETKDG, with a warning naming ``reason``."""
        warnings.warn(f"{describe(mol)}: {reason}; using ETKDG conformers instead", UserWarning, stacklevel=3)
        return _write(mol, [(p, "etkdg") for p in _etkdg_positions(mol, n, seed)])

    def _finish(self, mol: Chem.Mol, results: list, todo: list, seed: int, stats: dict, failure: str) -> Chem.Mol:
        """Fill the ``todo`` slots of ``results`` with stereo-checked ETKDG conformers (warning
        ``failure``), count them in ``stats`` and write the conformers onto a copy of ``mol``."""
        if todo:
            warnings.warn(f"{describe(mol)}: {len(todo)} of {len(results)} {failure}; replaced by ETKDG conformers",
                          UserWarning, stacklevel=3)
            for slot, pos in zip(todo, _etkdg_positions(mol, len(todo), seed)):
                results[slot] = (pos, "etkdg")
            stats["etkdg"] = len(todo)
        return _write(mol, results)


class _Job:
    """One molecule's conformer slots through the sampling rounds of ``generate_many``."""

    def __init__(self, index: int, mol: Chem.Mol, check: bool, data, n: int, stat_keys):
        self.index, self.mol, self.check, self.data = index, mol, check, data
        self.results: list = [None] * n
        self.todo = list(range(n))
        self.stats = dict.fromkeys(stat_keys, 0)
        self.probe = Chem.Mol(mol)
        self.probe.AddConformer(Chem.Conformer(mol.GetNumAtoms()), assignId=True)

    def take(self, samples: list[np.ndarray], attempt: int, accept) -> None:
        """Fill the open slots with ``samples`` (one each) that ``accept`` keeps."""
        still = []
        for slot, pos in zip(self.todo, samples):
            self.probe.GetConformer().SetPositions(np.asarray(pos, dtype=np.float64))
            verdict = accept(self.mol, self.probe, self.check)
            if verdict is None:
                still.append(slot)
                continue
            key, source = verdict
            self.results[slot] = (self.probe.GetConformer().GetPositions(), source)
            self.stats[key] += 1
            self.stats["resampled"] += attempt > 0
        self.todo = still


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
    raise ValueError(f"ETKDG gave only {len(out)} of {k} conformers with the stereochemistry of {describe(mol)}")


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
