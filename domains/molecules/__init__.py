"""scidiff.molecules — 3D conformer generation from SMILES (RDKit in, SDF out).

So far: the input reader (``read_molecules``: SMILES, .smi/.csv/.sdf, Mol; bad records are named
and skipped), graph featurisation (``featurize``), the ``ConformerGenerator`` interface with the
ETKDGv3 baseline (``ETKDG``), the conformer metrics (symmetry-aware RMSD, GEOM COV/MAT, bioactive
recovery, stereo and geometry checks) and the commands ``scidiff conformers`` and
``scidiff conformers-eval``; the CCD training set (``scidiff.molecules.data``) and the first
learned generator, ``CoordinateFlow`` (E(3)-equivariant EGNN flow matching on all-atom
coordinates, with a stereo check that reflects, resamples or falls back to ETKDG) and
``TorsionalDiffusion`` (an e3nn score network for heat diffusion on the torsions of an ETKDG
local structure). Neither ships trained weights yet.
"""
from .coords import CoordinateFlow, FlowConformers
from .torsional import TorsionalConformers, TorsionalDiffusion
from .featurize import featurize
from .generator import ETKDG, ConformerGenerator, prepare
from .inputs import MolRecord, read_molecules

__all__ = ["CoordinateFlow", "FlowConformers", "TorsionalDiffusion", "TorsionalConformers", "featurize", "ETKDG", "ConformerGenerator", "prepare", "MolRecord", "read_molecules"]
