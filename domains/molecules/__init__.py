"""scidiff.molecules — 3D conformer generation from SMILES (RDKit in, SDF out).

The input reader (``read_molecules``: SMILES, .smi/.csv/.sdf, Mol; bad records are named and
skipped), graph featurisation (``featurize``), the ``ConformerGenerator`` interface
(``generate``, ``generate_many``) with the ETKDGv3 baseline (``ETKDG``) and two learned
generators: ``TorsionalConformers`` (torsional diffusion, an e3nn score network on the torsions
of an ETKDG local structure; bundled weights trained on the CCD, ``ConformerGenerator.from_pretrained()``)
and ``FlowConformers`` (E(3)-equivariant EGNN flow matching on all-atom coordinates). Both keep
the input's stereochemistry (check, reflect or resample, then ETKDG). ``MMFFRelaxed`` minimises
any generator's conformers with MMFF94. Also: the conformer metrics (symmetry-aware RMSD, GEOM
COV/MAT, bioactive recovery), the CCD training set (``scidiff.molecules.data``) and the commands
``scidiff conformers`` and ``scidiff conformers-eval``.
"""
from .coords import CoordinateFlow, FlowConformers
from .torsional import TorsionalConformers, TorsionalDiffusion
from .featurize import featurize
from .generator import ETKDG, ConformerGenerator, prepare
from .inputs import MolRecord, read_molecules
from .relax import MMFFRelaxed, mmff_relax

__all__ = ["CoordinateFlow", "FlowConformers", "TorsionalDiffusion", "TorsionalConformers", "featurize", "ETKDG", "ConformerGenerator", "prepare", "MolRecord", "read_molecules", "MMFFRelaxed", "mmff_relax"]
