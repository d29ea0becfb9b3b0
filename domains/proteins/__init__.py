"""scidiff.proteins — protein backbone generation on SE(3) residue frames (PDB in and out).

Mapped from ``domains/proteins`` by setuptools.

* ``backbone``: :class:`Backbone` (N, CA, C, O ``(L, 4, 3)`` Å), ``read_backbone(s)`` (PDB / mmCIF,
  ``.gz``), ``write_pdb`` / ``write_cif`` (full backbone or CA-only, MODELs for trajectories);
* ``frames``: residue frames ``(R, t)`` from N, CA, C (Gram-Schmidt) and ideal atoms back from frames;
* ``dataset``: :class:`BackboneDataset` (folder -> filtered npz cache + JSON manifest -> padded batches);
* ``evaluate``: offline metrics (bond validity, clashes, backbone-atom overlaps, Rg, P-SEA, W1 of CA geometry, TM diversity);
* ``ipa`` / ``model`` / ``paths``: Invariant Point Attention trunk and :class:`BackboneGenerator`, one
  network for two SE(3) recipes: FrameFlow-style flow matching (translations from a centred
  Gaussian, rotations geodesic from uniform SO(3)) and FrameDiff-style diffusion (VP translations,
  IGSO(3) rotations);
* ``restraints``: :class:`Restraints`, ideal peptide links and CA / backbone-atom repulsion that
  relax the sampler's clean predictions (on by default in ``scidiff backbones`` and the demo);
* ``motif``: motif scaffolding (``FILE:A10-25`` specs, layouts, the motif imposed while sampling);
* ``train``: the training recipe (``scidiff train`` with ``domain: proteins``);
* ``cli`` / ``sample_cli``: ``scidiff backbones-eval`` and ``scidiff backbones``.

Layers, lowest first (``LAYERS``; a module imports only from its own layer or those below, checked
by ``tests/test_layers.py``): backbone I/O, frames and datasets → the IPA trunk → the paths and
the sampling-time restraints and motifs → the model → evaluation → the training recipe → the
command line and demo.
"""
LAYERS = (
    ("backbone", "frames", "dataset"),
    ("ipa",),
    ("paths", "restraints", "motif"),
    ("model",),
    ("evaluate", "real_band"),
    ("train",),
    ("cli", "sample_cli", "demo"),
)

from .backbone import Backbone, read_backbone, read_backbones, write_cif, write_pdb, write_structure  # noqa: E402
from .dataset import BackboneDataset, DatasetConfig, crop_batch  # noqa: E402
from .frames import backbone_from_frames, frames_from_backbone, frames_from_coords  # noqa: E402
from .model import BackboneConfig, BackboneGenerator, SamplerConfig  # noqa: E402
from .restraints import Restraints  # noqa: E402

__all__ = ["Backbone", "read_backbone", "read_backbones", "write_pdb", "write_cif", "write_structure",
           "frames_from_backbone", "frames_from_coords", "backbone_from_frames",
           "BackboneDataset", "DatasetConfig", "crop_batch", "BackboneGenerator", "BackboneConfig", "SamplerConfig",
           "Restraints"]
