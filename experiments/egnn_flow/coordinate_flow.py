"""All-atom conformers by flow matching on Cartesian coordinates (GeoDiff / ET-Flow style);
measured, not shipped (``docs/notes/molecules.md``, "The all-atom EGNN flow").

``CoordinateFlow`` learns the straight-path (rectified-flow) velocity from a centre-of-mass-free
Gaussian prior to the atom coordinates of a molecule, with the E(3)-equivariant ``EGNN`` as the
velocity field. Units: the model works in Å / ``scale`` (default ``scale = 2.5`` Å); CCD conformers
(explicit H, centred) have a per-coordinate spread of about 2.7 Å, so the data are O(1) there and
the prior N(0, I) in model units is an isotropic Gaussian of 2.5 Å per coordinate, centred on each
molecule (its mean over the atoms removed). With ``align`` each data conformer is first rotated
(a proper rotation, Kabsch) onto its noise draw, which shortens and straightens the paths (ET-Flow).

``FlowConformers`` is the ``ConformerGenerator`` around a trained model. An E(3)-equivariant field
cannot tell a molecule from its mirror image, so about half the raw samples of a chiral molecule
are its enantiomer; every conformer is therefore checked with ``metrics.stereo_preserved`` and

1. kept when every R/S and E/Z label of the input is reproduced;
2. else reflected (inverted through its centroid) when that restores every label;
3. else resampled, at most ``max_retries`` rounds;
4. else replaced by an ETKDG conformer (itself checked), with a ``UserWarning``.

Molecules outside the model's scope (an element not in ``featurize.ELEMENTS``, more than
``max_atoms`` atoms with hydrogens) get ETKDG conformers and a ``UserWarning`` naming the reason.
Every written conformer carries the string property ``generator`` ("flow", "flow-reflected" or
"etkdg").
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from rdkit import Chem
from torch import nn
from torch_geometric.data import Batch

from torch_geometric.utils import to_dense_batch

from scidiff.geometry import superpose
from scidiff.losses import flow_matching_loss, sample_time
from scidiff.molecules.learned import LearnedConformers
from scidiff.molecules.metrics import stereo_preserved
from scidiff.processes import RectifiedFlow
from scidiff.samplers import sample
from scidiff.train.pretrained import Pretrained

from .egnn import EGNN, EGNNConfig, mean_per_molecule, remove_mean


@dataclass
class CoordinateFlowConfig:
    egnn: EGNNConfig = field(default_factory=EGNNConfig)
    scale: float = 2.5           # Å per model unit; the prior is N(0, scale^2) Å per coordinate, CoM-free
    align: bool = True           # Kabsch-rotate each data conformer onto its noise draw (ET-Flow)
    steps: int = 20              # default sampling steps
    method: str = "euler"        # default sampler ("euler" or "heun")


def com_free_noise(batch: torch.Tensor, n_mol: int, *, generator: torch.Generator | None = None,
                   dtype=torch.float32, device=None) -> torch.Tensor:
    """Standard normal ``(N, 3)`` with each molecule's mean removed (the prior in model units)."""
    eps = torch.randn(batch.shape[0], 3, generator=generator, dtype=dtype, device=device)
    return remove_mean(eps, batch, n_mol)


@torch.no_grad()
def kabsch_rotate(x: torch.Tensor, y: torch.Tensor, batch: torch.Tensor, n_mol: int) -> torch.Tensor:
    """``x (N, 3)`` rotated, molecule by molecule, by the proper rotation that best fits it onto
    ``y`` (least squares; both CoM-free). Never a reflection: chirality is kept."""
    xd, _ = to_dense_batch(x.double(), batch, batch_size=n_mol)          # zero padding: both CoM-free,
    yd, _ = to_dense_batch(y.double(), batch, batch_size=n_mol)          # so pads change neither fit
    rot, _ = superpose(xd, yd)
    return torch.einsum("nij,nj->ni", rot[batch], x.double()).to(x.dtype)


class CoordinateFlow(Pretrained, nn.Module):
    """Rectified flow on all-atom coordinates. ``forward(batch, generator)`` is the training loss
    (a ``Batch`` of ``featurize`` graphs with ``pos`` in Å); ``sample(batch, ...)`` draws
    coordinates (Å) for the graphs of a batch."""

    config_class = CoordinateFlowConfig
    prediction = "velocity"

    def __init__(self, config: CoordinateFlowConfig | None = None, **overrides):
        super().__init__()
        c = replace(config) if config is not None else CoordinateFlowConfig(**overrides)
        if c.scale <= 0:
            raise ValueError(f"scale must be positive (Å per model unit), got {c.scale}")
        self.config = c
        self.process = RectifiedFlow()
        self.net = EGNN(c.egnn)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def velocity(self, x: torch.Tensor, t: torch.Tensor, data) -> torch.Tensor:
        """Velocity in model units at ``x (N, 3)`` (model units), ``t (N,)``; CoM-free per molecule."""
        s = self.config.scale
        return self.net(x * s, t, data) / s

    def forward(self, batch, generator: torch.Generator | None = None) -> torch.Tensor:
        """Flow-matching loss: mean over molecules of the per-atom squared velocity error."""
        batch = batch.to(self.device)
        b, n_mol = batch.batch, batch.num_graphs
        x0 = remove_mean(batch.pos.float() / self.config.scale, b, n_mol)
        eps = com_free_noise(b, n_mol, generator=generator, device=x0.device)
        if self.config.align:
            x0 = kabsch_rotate(x0, eps, b, n_mol)
        t = sample_time(self.process, n_mol, generator=generator, device=x0.device)[b]
        per_atom = flow_matching_loss(lambda x, tt: self.velocity(x, tt, batch), x0, proc=self.process,
                                      t=t, noise=eps, reduction="none")
        return mean_per_molecule(per_atom[:, None], b, n_mol).mean()

    @torch.no_grad()
    def sample(self, batch, steps: int | None = None, method: str | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Coordinates ``(N, 3)`` Å (each molecule centred) for the graphs of ``batch``, integrated
        with ``scidiff.sample`` from a CoM-free prior draw (``steps`` <= 50 is plenty)."""
        batch = batch.to(self.device)
        if getattr(batch, "batch", None) is None:
            batch = Batch.from_data_list([batch])
        x_init = com_free_noise(batch.batch, batch.num_graphs, generator=generator, device=self.device)
        x = sample(lambda x, t: self.velocity(x, t, batch), self.process, x_init=x_init,
                   steps=steps or self.config.steps, method=method or self.config.method,
                   prediction="velocity", generator=generator)
        return remove_mean(x, batch.batch, batch.num_graphs) * self.config.scale


# --- stereochemistry ---------------------------------------------------------------------------
def fix_mirror_image(reference: Chem.Mol, mol: Chem.Mol, conf_id: int = -1) -> str:
    """Make conformer ``conf_id`` of ``mol`` reproduce the stereo labels of ``reference`` if it can.

    Returns ``"ok"`` (it already does), ``"reflected"`` (its mirror image, inverted through the
    centroid, does; the conformer now holds that) or ``"failed"`` (neither; left unchanged).
    ``reference`` carries the wanted stereo (e.g. from SMILES); heavy atoms in the same order.
    """
    if stereo_preserved(reference, mol, conf_id):
        return "ok"
    conf = mol.GetConformer(conf_id)
    pos = conf.GetPositions()
    conf.SetPositions(2 * pos.mean(0) - pos)
    if stereo_preserved(reference, mol, conf_id):
        return "reflected"
    conf.SetPositions(pos)
    return "failed"


# --- the generator -----------------------------------------------------------------------------
class FlowConformers(LearnedConformers):
    """Conformers from a trained ``CoordinateFlow`` with guaranteed stereochemistry (module doc);
    options as ``LearnedConformers``."""

    name = "coordinate-flow"
    model_class = CoordinateFlow
    stat_keys = ("ok", "reflected", "resampled", "etkdg")

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(self.model.device).manual_seed(seed)

    def _accept(self, mol, probe, check):
        """Keep the sample, or its mirror image where that fixes every stereo label."""
        status = fix_mirror_image(mol, probe) if check else "ok"
        if status == "failed":
            return None
        return ("ok", "flow") if status == "ok" else ("reflected", "flow-reflected")

    def _graphs(self, mol, data, k: int, seed: int, attempt: int) -> list:
        """``k`` copies of the graph: the flow draws fresh noise for each, every round."""
        return [data] * k


