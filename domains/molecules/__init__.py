"""scidiff.molecules — 3D conformer generation from SMILES (RDKit in, SDF out).

So far: the input reader (``read_molecules``: SMILES, .smi/.csv/.sdf, Mol; bad records are named
and skipped), graph featurisation (``featurize``), the ``ConformerGenerator`` interface with the
ETKDGv3 baseline (``ETKDG``), the conformer metrics (symmetry-aware RMSD, GEOM COV/MAT, bioactive
recovery, stereo and geometry checks) and the commands ``scidiff conformers`` and
``scidiff conformers-eval``. The learned generators arrive with part 2.
"""
from .featurize import featurize
from .generator import ETKDG, ConformerGenerator, prepare
from .inputs import MolRecord, read_molecules

__all__ = ["featurize", "ETKDG", "ConformerGenerator", "prepare", "MolRecord", "read_molecules"]
