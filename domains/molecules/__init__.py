"""scidiff.molecules — 3D conformers from SMILES (RDKit in, SDF out) by torsional diffusion.

``from_pretrained()`` gives the bundled generator: torsional diffusion (an e3nn score network on
the torsions of an ETKDG local structure, trained on the CCD), guided by ETKDG's torsion terms
and particle guidance; ``ETKDG`` is the RDKit baseline and ``MMFFRelaxed`` minimises any
generator's conformers. Every generator keeps the input's stereochemistry.

Layers, lowest first; a module imports only from its own layer or those below (``LAYERS``,
checked by ``tests/test_layers.py``):

1. chemistry I/O and RDKit helpers — ``chem`` (prepare, seeds), ``inputs`` (SMILES, .smi, .csv,
   .sdf; bad records named), ``metrics`` (symmetry-aware RMSD, COV/MAT, stereo and clash checks),
   ``ensembles`` (SDF ensembles for ``conformers-eval``), ``mmff``, ``conformer_cache``, ``data``
   (the CCD training set);
2. featurisation and networks — ``featurize``, ``torsions``, ``tensor_product``, ``torsion_net``;
3. the torsional model — ``torsional`` (process, loss, sampler wiring), ``torsion_prior`` and
   ``conformer_sets`` (its guidance terms);
4. generators — ``generator`` (interface, ETKDG, MMFF-relaxed), ``learned`` (what learned
   generators share), ``torsional_conformers``, ``pretrained`` (the package-level loader);
5. the training recipe — ``train`` (``scidiff train`` with ``domain: molecules-torsional``);
6. command line and demo — ``cli`` (``scidiff conformers``, ``conformers-eval``), ``demo``.
"""
LAYERS = (
    ("chem", "inputs", "metrics", "ensembles", "mmff", "conformer_cache", "data"),
    ("featurize", "torsions", "tensor_product", "torsion_net"),
    ("torsional", "torsion_prior", "conformer_sets"),
    ("generator", "learned", "torsional_conformers", "pretrained"),
    ("train",),
    ("cli", "demo"),
)

from .featurize import featurize  # noqa: E402
from .generator import ETKDG, ConformerGenerator, MMFFRelaxed  # noqa: E402
from .inputs import MolRecord, read_molecules  # noqa: E402
from .mmff import mmff_relax  # noqa: E402
from .pretrained import from_pretrained  # noqa: E402
from .torsional import TorsionalDiffusion  # noqa: E402
from .torsional_conformers import TorsionalConformers  # noqa: E402

__all__ = ["from_pretrained", "ConformerGenerator", "ETKDG", "MMFFRelaxed", "TorsionalConformers",
           "TorsionalDiffusion", "featurize", "MolRecord", "read_molecules", "mmff_relax"]
