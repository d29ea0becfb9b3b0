"""scidiff.molecules — 3D conformer generation from SMILES (RDKit in, SDF out).

Mapped from ``domains/molecules`` by setuptools; the adapters, models and CLI arrive with the
molecule issues.
"""
