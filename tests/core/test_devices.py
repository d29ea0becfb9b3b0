"""Device follows the input: samplers, losses and likelihoods run with every tensor on the
device of their input, checked on a stand-in second device (``tests/device_check.py``)."""
import pytest
import torch

import scidiff
from tests.conftest import make_mixture
from tests.device_check import FAKE, elsewhere, on_other_device, other_device
from scidiff.manifolds import IGSO3, SO3, Torus, WrappedNormal


def test_the_checker_catches_a_tensor_made_on_the_default_device():
    x = elsewhere(torch.randn(4, 3))
    with other_device():
        assert x.device == FAKE
        y = torch.zeros(4, 3, device=x.device) + x          # made where x lives: fine
        assert on_other_device(y) and on_other_device(torch.ones(3).to(x.device)) and not on_other_device(x.cpu())
        assert on_other_device(x * torch.tensor(2.0))       # a 0-d CPU scalar is allowed, as on CUDA
        with pytest.raises(RuntimeError, match="mixes"):
            x + torch.zeros(4, 3)
        with pytest.raises(RuntimeError, match="CPU generator"):
            torch.randn(3, generator=torch.Generator(), device=x.device)


@pytest.mark.parametrize("method", list(scidiff.METHODS))
def test_gaussian_samplers_keep_to_the_input_device(method):
    mix = make_mixture()
    proc = scidiff.VP("cosine") if method != "euler_maruyama" else scidiff.VP()
    x_init = elsewhere(proc.prior_sample((16, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    with other_device():
        x = scidiff.sample(mix.model(proc, "eps"), proc, steps=5, method=method, x_init=x_init)
        assert on_other_device(x) and x.shape == (16, 2)
        inpaint = scidiff.Inpaint(elsewhere(torch.tensor([True, False])), elsewhere(torch.zeros(2)), resample=2)
        assert on_other_device(scidiff.sample(mix.model(proc, "x0"), proc, steps=4, x_init=x_init, inpaint=inpaint))


def test_gaussian_losses_and_likelihood_keep_to_the_input_device():
    mix = make_mixture()
    proc = scidiff.VP()
    x0 = elsewhere(mix.sample(8, generator=torch.Generator().manual_seed(1)))
    with other_device():
        for weighting in ("uniform", "min_snr", "edm"):
            loss = scidiff.diffusion_loss(mix.model(proc, "eps"), proc, x0, prediction="eps", weighting=weighting)
            assert on_other_device(loss)
        assert on_other_device(scidiff.flow_matching_loss(mix.model(scidiff.RectifiedFlow(), "velocity"), x0))
        assert on_other_device(scidiff.log_prob(mix.model(proc, "x0"), proc, x0, steps=4))


def test_manifold_samplers_losses_and_likelihood_keep_to_the_input_device():
    torus = scidiff.HeatDiffusion(Torus(2))
    mu = elsewhere(torch.tensor([0.5, -1.0], dtype=torch.float64))

    def torus_score(x, t):
        return WrappedNormal(mu, (torus.sigma(t)[:, None] ** 2 + 0.3**2).sqrt()).score(x)

    rot = scidiff.HeatDiffusion(SO3(), "logarithmic", 0.1, 1.5)
    mean = elsewhere(SO3().random(1, generator=torch.Generator().manual_seed(2))[0])

    def so3_score(x, t):
        return IGSO3((rot.sigma(t) ** 2 + 0.2**2).sqrt(), mean=mean).score(x)

    with other_device():
        flow = scidiff.GeodesicFlow(SO3(), prior=IGSO3(elsewhere(torch.tensor(1.0, dtype=torch.float64))))
        for method in ("euler", "heun", "euler_maruyama"):
            assert on_other_device(scidiff.sample(torus_score, torus, (8,), steps=4, method=method, device=FAKE))
            assert on_other_device(scidiff.sample(so3_score, rot, (8,), steps=4, method=method, device=FAKE))
        assert on_other_device(scidiff.sample(lambda x, t: torch.zeros_like(x[..., 0]), flow, (4,), steps=3, device=FAKE))
        x0 = elsewhere(Torus(2).random(6, generator=torch.Generator().manual_seed(3)))
        assert on_other_device(scidiff.manifold_loss(torus_score, torus, x0))
        r0 = elsewhere(SO3().random(6, generator=torch.Generator().manual_seed(4)))
        assert on_other_device(scidiff.manifold_loss(so3_score, rot, r0))
        assert on_other_device(scidiff.log_prob(torus_score, torus, x0, steps=3))
