"""``TorsionalConformers``: the conformer generator around a trained ``TorsionalDiffusion``.

Each round samples torsions on fresh ETKDG local structures; two optional guidance terms join the
network's score at every step, ETKDG's experimental torsion terms (``torsion_prior``,
:mod:`.torsion_prior`) and particle guidance (``particle_guidance``, :mod:`.conformer_sets`),
which draws one molecule's conformers as a set that repels itself in torsion space. A conformer
that loses a stereo label of the input, or with ``clash_free`` has a steric clash
(``metrics.clashes``), is redrawn; after ``max_retries`` rounds ETKDG fills in, with a warning.
Molecules without rotatable bonds, or outside the model's scope, get ETKDG conformers with a
warning. Each conformer carries the property ``generator`` ("torsional" or "etkdg").
"""
from __future__ import annotations

import itertools
import warnings

import torch
from rdkit import Chem

from . import conformer_sets, torsion_prior
from .chem import rdkit_seed
from .featurize import rotatable_bonds
from .generator import ETKDG
from .learned import LearnedConformers
from .metrics import clashes, stereo_preserved
from .torsional import TorsionalDiffusion


def _with_pos(data, pos):
    data = data.clone() if hasattr(data, "clone") else data
    data.pos = pos
    return data


class TorsionalConformers(LearnedConformers):
    """Conformers from a trained ``TorsionalDiffusion`` on ETKDG local structures (module doc);
    options as ``LearnedConformers`` (``max_retries`` counts rounds of new local structures)."""

    name = "torsional-diffusion"
    model_class = TorsionalDiffusion
    default_batch_atoms = 10_000
    rejection = "kept the wrong stereochemistry or a steric clash"

    def __init__(self, model, *, clash_free: bool = True, torsion_prior: float | None = None,
                 particle_guidance: float | None = None, **options):
        """``clash_free``: redraw conformers with a steric clash (module doc); False keeps the
        model's samples as drawn. ``torsion_prior`` w > 0 adds w times the score of ETKDG's
        experimental torsion terms to the network's at every step (:mod:`.torsion_prior`).
        ``particle_guidance`` g > 0 samples each molecule's conformers as one set whose members
        repel each other in torsion space with weight g (:mod:`.conformer_sets`). None takes the
        model's config value for either. ``options``: as ``LearnedConformers``."""
        super().__init__(model, **options)
        weights = {"torsion_prior": torsion_prior, "particle_guidance": particle_guidance}
        for key, w in weights.items():
            w = getattr(model.config, key) if w is None else w
            if w < 0:
                raise ValueError(f"{key} must be >= 0, got {w}")
            setattr(self, key, w)
        self.clash_free = clash_free
        self._set_ids = itertools.count()

    def out_of_scope(self, mol: Chem.Mol) -> str | None:
        """Why the model cannot handle ``mol`` (explicit H), or ``None``."""
        reason = super().out_of_scope(mol)
        if reason is None and not rotatable_bonds(mol):
            reason = "no rotatable bonds (nothing for the torsional model to move)"
        return reason

    def _accept(self, mol, probe, check):
        """Keep the sample when it reproduces every stereo label of ``mol`` (turning torsions keeps
        the local structure's centres; the check catches an ETKDG local structure that was wrong)
        and, with ``clash_free``, has no steric clash."""
        if check and not stereo_preserved(mol, probe):
            return None
        if self.clash_free and clashes(probe) > 0:
            return None
        return "ok", "torsional"

    def _graphs(self, mol, data, k: int, seed: int, attempt: int) -> list:
        """``k`` copies of ``data`` on ETKDG local structures (stream ``attempt``) whose torsions
        the model redraws."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # prepare's note was given once already
            emb = ETKDG().generate(mol, k, seed=rdkit_seed(seed, 100 + attempt) >> 1)
        locals_ = [c.GetPositions() for c in emb.GetConformers()]
        if self.torsion_prior > 0:
            data = torsion_prior.attach(data.clone(), mol)
        graphs = [_with_pos(data, torch.tensor(locals_[i % len(locals_)], dtype=torch.float32))   # ETKDG may embed fewer
                  for i in range(k)]
        if self.particle_guidance == 0:
            return graphs
        return conformer_sets.tag(graphs, next(self._set_ids), conformer_sets.rotor_orders(mol, data.torsion_index))

    def _sample_batch(self, batch, gen):
        """The model's sampler, guided by ``torsion_prior`` times the prior's score and
        ``particle_guidance`` times the repulsion within each conformer set, where those are > 0."""
        terms = []
        if self.torsion_prior > 0:
            terms.append((self.torsion_prior, torsion_prior.prior_score))
        if self.particle_guidance > 0:
            terms.append((self.particle_guidance, conformer_sets.set_repulsion))
        if not terms:
            return super()._sample_batch(batch, gen)
        return self.model.sample(batch, self.steps, self.method, gen,
                                 guidance=lambda pos, data: sum(w * f(pos, data) for w, f in terms))


__all__ = ["TorsionalConformers"]
