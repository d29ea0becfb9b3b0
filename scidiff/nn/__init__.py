"""Neural building blocks shared by the domains (time embeddings, FiLM, U-Nets, equivariant layers)."""
