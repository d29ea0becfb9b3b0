"""The core's public functions refuse what they cannot handle, in one sentence naming the rule."""
import math

import pytest
import torch

import scidiff
from scidiff.manifolds import IGSO3, SO3, Torus

f64 = torch.float64


@pytest.mark.parametrize("make, words", [
    (lambda: scidiff.VE(sigma_min=10, sigma_max=1), "sigma_min < sigma_max"),
    (lambda: scidiff.VE(sigma_min=-1), "sigma_min must be"),
    (lambda: scidiff.VP(beta_min=5, beta_max=1), "beta_min < beta_max"),
    (lambda: scidiff.VP(beta_max=math.nan), "beta_max must be a finite number"),
    (lambda: scidiff.VP(t_min=0.5, t_max=0.4), "t_min < t_max"),
    (lambda: scidiff.SubVP(t_min=0), "t_min must be"),
    (lambda: scidiff.EDM(sigma_min=1, sigma_max=0.5), "sigma_min < sigma_max"),
    (lambda: scidiff.EDM(sigma_data=0), "sigma_data must be"),
    (lambda: scidiff.RectifiedFlow(t_min=1.5), "t_min must be"),
    (lambda: scidiff.HeatDiffusion(SO3(), sigma_min=2.0, sigma_max=1.0), "sigma_min < sigma_max"),
    (lambda: scidiff.GeodesicFlow(SO3(), rate=0), "rate must be"),
    (lambda: scidiff.GeodesicFlow(SO3(), prior="gaussian"), "unknown prior"),
])
def test_process_parameters_are_checked(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_only_rotations_are_points_of_so3():
    g = IGSO3(0.5)
    eye = torch.eye(3, dtype=f64)
    assert torch.isfinite(g.log_prob(eye[None])).all()
    for bad, words in ((2 * eye[None], "not rotations"), (torch.randn(4, 3, 3, dtype=f64), "not rotations"),
                       (torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=f64))[None], "det = -1"),
                       (torch.full((1, 3, 3), math.nan, dtype=f64), "NaN"), (torch.eye(4, dtype=f64)[None], "shape")):
        with pytest.raises(ValueError, match=words):
            g.log_prob(bad)
        with pytest.raises(ValueError, match=words):
            g.score(bad)
    with pytest.raises(ValueError, match="IGSO3 mean"):
        IGSO3(0.5, mean=2 * eye)
    SO3().check(SO3().random(8, generator=torch.Generator().manual_seed(0)).float())     # float32 rotations pass


def test_sampler_losses_and_likelihood_check_their_manifold_inputs():
    proc = scidiff.GeodesicFlow(SO3())
    model = lambda x, t: torch.zeros(x.shape[:-2] + (3,), dtype=x.dtype)      # noqa: E731
    with pytest.raises(ValueError, match="x_init hold matrices that are not rotations"):
        scidiff.sample(model, proc, x_init=torch.randn(3, 3, 3, dtype=f64))
    with pytest.raises(ValueError, match="x0 hold matrices"):
        scidiff.manifold_loss(model, proc, 2 * torch.eye(3, dtype=f64).expand(4, 3, 3))
    torus = scidiff.HeatDiffusion(Torus(2))
    with pytest.raises(ValueError, match=r"x0 of Torus\(2\) must have shape \(\.\.\., 2\)"):
        scidiff.manifold_loss(lambda x, t: x, torus, torch.zeros(5, 3, dtype=f64))
    with pytest.raises(ValueError, match="x hold NaN"):
        scidiff.log_prob(lambda x, t: x, torus, torch.full((2, 2), math.nan, dtype=f64))
    frames = scidiff.ProductProcess([scidiff.GaussianFactor(scidiff.RectifiedFlow()), proc])
    with pytest.raises(ValueError, match="tuple of 2 tensors"):
        scidiff.sample(lambda x, t: x, frames, x_init=torch.zeros(2, 3))
