"""Samplers: pure step functions, time grids, and the ``sample`` driver."""
from .ancestral import ddim_step, ddpm_step
from .denoiser import Denoiser
from .dpm_solver import dpmpp_2m_step
from .driver import METHODS, sample
from .grids import GRIDS, check_grid, time_grid
from .ode import euler_step, heun_step, velocity
from .sde import euler_maruyama_step, pc_step

__all__ = ["sample", "METHODS", "time_grid", "check_grid", "GRIDS", "Denoiser", "ddpm_step", "ddim_step",
           "euler_maruyama_step", "pc_step", "euler_step", "heun_step", "dpmpp_2m_step", "velocity"]
