"""Neural building blocks shared by the domains (time embeddings, FiLM, U-Nets, equivariant layers)."""
from .embeddings import SinusoidalEmbedding
from .mlp import MLPConfig, TimeMLP

__all__ = ["SinusoidalEmbedding", "TimeMLP", "MLPConfig"]
