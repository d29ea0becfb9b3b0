"""Manifolds for the Riemannian engine: Euclidean, Torus, SO3, Product and SE3, with the heat
kernels of the torus (wrapped normal) and of SO(3) (IGSO(3))."""
from . import so3
from .base import Manifold
from .euclidean import Euclidean
from .igso3 import IGSO3
from .product import SE3, Product
from .so3 import SO3
from .torus import Torus, wrap
from .wrapped_normal import WrappedNormal

__all__ = ["Manifold", "Euclidean", "Torus", "SO3", "Product", "SE3", "WrappedNormal", "IGSO3", "so3", "wrap"]
