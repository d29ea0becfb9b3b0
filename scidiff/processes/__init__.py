"""Forward processes / probability paths. Time convention: t = 0 data, t = 1 noise."""
from .base import GaussianProcess, as_time
from .gaussian import EDM, VE, VP, RectifiedFlow, SubVP
from .gaussian_factor import GaussianFactor
from .geodesic_flow import GeodesicFlow
from .heat import HeatDiffusion
from .manifold import ManifoldProcess, ProductProcess

__all__ = ["GaussianProcess", "as_time", "VP", "SubVP", "VE", "EDM", "RectifiedFlow",
           "ManifoldProcess", "HeatDiffusion", "GeodesicFlow", "GaussianFactor", "ProductProcess"]
