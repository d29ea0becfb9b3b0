"""scidiff.proteins — protein backbone generation on SE(3) residue frames (PDB in and out).

Mapped from ``domains/proteins`` by setuptools; I/O, models and CLI arrive with the protein issues.
"""
