"""Samplers: pure step functions (Gaussian and manifold processes), time grids, and the ``sample`` driver."""
from .ancestral import ddim_step, ddpm_step
from .denoiser import Denoiser
from .dpm_solver import dpmpp_2m_step
from .driver import METHODS, sample
from .geodesic import MANIFOLD_METHODS, Field
from .grids import GRIDS, check_grid, time_grid
from .ode import euler_step, heun_step, velocity
from .sde import euler_maruyama_step, pc_step

__all__ = ["sample", "METHODS", "MANIFOLD_METHODS", "Field", "time_grid", "check_grid", "GRIDS", "Denoiser", "ddpm_step", "ddim_step",
           "euler_maruyama_step", "pc_step", "euler_step", "heun_step", "dpmpp_2m_step", "velocity"]
