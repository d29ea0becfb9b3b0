"""scidiff: diffusion and flow-matching generative models for science.

The core (this package) knows processes, samplers, guidance, likelihoods and training; the
domains ``scidiff.molecules``, ``scidiff.proteins`` and ``scidiff.policy`` build on it.
Time runs from t = 0 (data) to t = 1 (noise) everywhere.
"""
from .guidance import Inpaint, classifier_free, dynamic_threshold
from .likelihood import bits_per_dim, log_prob
from .losses import diffusion_loss, flow_matching_loss, manifold_loss, ot_pair, sample_time
from .mixture import GaussianMixture
from .parameterization import PREDICTIONS, convert
from .precond import EDMPrecond
from .processes import (EDM, VE, VP, GaussianFactor, GaussianProcess, GeodesicFlow, HeatDiffusion,
                        ManifoldProcess, ProductProcess, RectifiedFlow, SubVP)
from .samplers import METHODS, sample, time_grid

__version__ = "0.1.0"

__all__ = [
    "VP", "VE", "SubVP", "EDM", "RectifiedFlow", "GaussianProcess",
    "ManifoldProcess", "HeatDiffusion", "GeodesicFlow", "GaussianFactor", "ProductProcess",
    "sample", "METHODS", "time_grid", "log_prob", "bits_per_dim",
    "convert", "PREDICTIONS", "diffusion_loss", "flow_matching_loss", "manifold_loss", "ot_pair", "sample_time",
    "EDMPrecond", "classifier_free", "dynamic_threshold", "Inpaint", "GaussianMixture",
]
