"""scidiff.policy — Diffusion Policy for gymnasium environments.

Mapped from ``domains/policy`` by setuptools; data, the temporal U-Net and the agent arrive with
the policy issue.
"""
