"""Every sampler on every process, driven by the exact denoiser of a Gaussian mixture."""
import math

import pytest
import torch
from scipy.integrate import solve_ivp

import scidiff
from tests.conftest import ALL_PROCESSES
from scidiff.metrics import SlicedW2
from scidiff.samplers import time_grid

f64 = torch.float64
DETERMINISTIC = ["ddim", "euler", "heun", "dpm++2m"]


def ode_reference(mixture, proc, x1):
    """High-accuracy probability-flow solution from t_max to t_min (DOP853, rtol 1e-10),
    followed by the same final denoising step every sampler takes."""
    model = mixture.model(proc, "x0")
    n = x1.shape[0]

    def rhs(t, y):
        x = torch.from_numpy(y).reshape(n, -1)
        a, s, da, ds = (float(c) for c in proc.coefficients(t))
        x0 = model(x, torch.full((n,), t, dtype=f64))
        return (da * x0 + ds * (x - a * x0) / s).flatten().numpy()

    sol = solve_ivp(rhs, (proc.t_max, proc.t_min), x1.flatten().numpy(), method="DOP853", rtol=1e-10, atol=1e-10)
    x = torch.from_numpy(sol.y[:, -1]).reshape(n, -1)
    return model(x, torch.full((n,), proc.t_min, dtype=f64))


@pytest.mark.parametrize("name", ALL_PROCESSES)
def test_deterministic_samplers_converge_to_the_ode_solution(name, mixture):
    proc = ALL_PROCESSES[name]()
    x1 = proc.prior_sample((300, 2), generator=torch.Generator().manual_seed(0), dtype=f64)
    ref = ode_reference(mixture, proc, x1)
    for method in DETERMINISTIC:
        errs = []
        for steps in (10, 40, 160):
            x = scidiff.sample(mixture.model(proc, "x0"), proc, steps=steps, method=method, x_init=x1)
            errs.append(float((x - ref).norm(dim=1).mean()))
        assert errs[2] < errs[1] < errs[0], (method, errs)
        # the observed order of convergence: 4x the steps gives 4^p less error
        order = math.log(errs[1] / errs[2], 4)
        expected = 2 if method in ("heun", "dpm++2m") else 1
        assert abs(order - expected) < 0.25, (method, errs, order)


def _floor(mixture, sw, n, reps=8):
    vals = torch.tensor([sw(mixture.sample(n, generator=torch.Generator().manual_seed(100 + r))) for r in range(reps)])
    return float(vals.mean()), float(vals.std())


@pytest.mark.parametrize("name,method,steps", [
    ("vp-linear", "ddpm", 500), ("vp-cosine", "ddpm", 500), ("rf", "ddpm", 500), ("edm", "ddpm", 500),
    ("vp-linear", "euler_maruyama", 1000), ("subvp", "euler_maruyama", 1000), ("ve", "euler_maruyama", 1000),
    ("vp-linear", "pc", 500), ("ve", "pc", 500),
    ("vp-linear", "heun", 40), ("rf", "dpm++2m", 40),
])
def test_sample_distribution_reaches_the_noise_floor(name, method, steps, mixture):
    n = 6000
    proc = ALL_PROCESSES[name]()
    sw = SlicedW2(mixture, n, n_projections=64, generator=torch.Generator().manual_seed(0))
    floor, spread = _floor(mixture, sw, n)
    coarse = sw(scidiff.sample(mixture.model(proc, "x0"), proc, (n, 2), steps=4, method=method,
                               generator=torch.Generator().manual_seed(1), dtype=f64))
    fine = sw(scidiff.sample(mixture.model(proc, "x0"), proc, (n, 2), steps=steps, method=method,
                             generator=torch.Generator().manual_seed(1), dtype=f64))
    assert fine < floor + 3 * spread, (fine, floor, spread)
    assert coarse > fine


@pytest.mark.parametrize("prediction", ["eps", "v", "score", "velocity"])
def test_any_prediction_gives_the_same_samples(prediction, mixture):
    proc = scidiff.VP()
    kw = dict(steps=12, method="dpm++2m", generator=torch.Generator().manual_seed(3), dtype=f64)
    ref = scidiff.sample(mixture.model(proc, "x0"), proc, (100, 2), **kw)
    kw["generator"] = torch.Generator().manual_seed(3)
    x = scidiff.sample(mixture.model(proc, prediction), proc, (100, 2), prediction=prediction, **kw)
    torch.testing.assert_close(x, ref, rtol=1e-7, atol=1e-7)


def test_ddim_with_eta_one_is_ddpm(mixture):
    proc = scidiff.VP("cosine")
    run = lambda method, **o: scidiff.sample(mixture.model(proc, "x0"), proc, (200, 2), steps=25, method=method,
                                             generator=torch.Generator().manual_seed(5), dtype=f64, **o)
    torch.testing.assert_close(run("ddim", eta=1.0), run("ddpm"))


def test_last_step_returns_the_denoised_output(mixture):
    proc = scidiff.EDM()
    model = mixture.model(proc, "x0")
    x, traj = scidiff.sample(model, proc, (50, 2), steps=8, method="heun", dtype=f64,
                             generator=torch.Generator().manual_seed(0), return_trajectory=True)
    assert len(traj) == 9 + 1 - 1 and torch.equal(traj[-1], x)
    torch.testing.assert_close(x, model(traj[-2], torch.full((50,), proc.t_min, dtype=f64)))


def test_float64_all_the_way(mixture):
    proc = scidiff.VP()
    exact = mixture.model(proc, "eps")
    seen = []

    def model(x, t):
        seen.append((x.dtype, t.dtype))
        return exact(x, t)

    x = scidiff.sample(model, proc, steps=5, method="pc", prediction="eps",
                       x_init=torch.randn(10, 2, dtype=f64))
    assert x.dtype == f64 and set(seen) == {(f64, f64)}
    x32 = scidiff.sample(model, proc, (10, 2), steps=3, method="ddim", prediction="eps")
    assert x32.dtype == torch.float32 and seen[-1] == (torch.float32, torch.float32)


def test_non_image_shapes(mixture):
    """Samples of any shape (n, ...) flow through; the model sees them unchanged."""
    proc = scidiff.RectifiedFlow()
    x = scidiff.sample(lambda x, t: -x, proc, (4, 3, 5, 2), steps=3, method="euler", prediction="velocity")
    assert x.shape == (4, 3, 5, 2)


def test_grids():
    edm = scidiff.EDM()
    t = time_grid(edm, 18, "karras")
    assert t[0] == 1 and t[-1] == 0 and bool((t[1:] < t[:-1]).all()) and len(t) == 19
    i = torch.arange(18, dtype=f64)
    karras = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7     # EDM eq. (5)
    torch.testing.assert_close(edm.sigma(t[:-1]), karras, rtol=1e-9, atol=1e-12)
    vp = scidiff.VP()
    lam = vp.log_snr(time_grid(vp, 10, "logsnr")[:-1])
    torch.testing.assert_close(lam.diff(), torch.full((9,), float(lam.diff()[0]), dtype=f64), rtol=1e-6, atol=1e-9)
    rf = time_grid(scidiff.RectifiedFlow(), 6, "logsnr")   # alpha = 0 at t = 1: first time is t_max
    assert rf[0] == 1 and bool((rf[1:] < rf[:-1]).all())
    assert time_grid(vp, 1).tolist() == [1.0, 0.0]


def test_bad_inputs_are_named(mixture):
    proc = scidiff.VP()
    model = mixture.model(proc, "x0")
    with pytest.raises(ValueError, match="'ddpm', 'ddim'.*'dpm\\+\\+2m'"):
        scidiff.sample(model, proc, (2, 2), method="plms")
    with pytest.raises(ValueError, match="'uniform', 'karras', 'logsnr'"):
        scidiff.sample(model, proc, (2, 2), grid="cosine")
    with pytest.raises(ValueError, match="'eps', 'x0'"):
        scidiff.sample(model, proc, (2, 2), prediction="noise")
    with pytest.raises(ValueError, match="prediction="):
        scidiff.sample(lambda x, t: x, proc, (2, 2))
    with pytest.raises(ValueError, match="expected \\(2, 2\\)"):
        scidiff.sample(lambda x, t: x[:, :1], proc, (2, 2), prediction="eps")
    with pytest.raises(ValueError, match="does not match"):
        scidiff.sample(model, proc, (3, 2), x_init=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="valid: \\['eta'\\]"):
        scidiff.sample(model, proc, (2, 2), method="ddim", churn=1.0)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        scidiff.sample(model, proc, (2, 2), grid=torch.tensor([1.5, 0.5, 0.0]))
    with pytest.raises(ValueError, match="end at exactly t = 0"):
        scidiff.sample(model, proc, (2, 2), grid=torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="singular"):
        scidiff.sample(model, scidiff.RectifiedFlow(), (2, 2), method="euler_maruyama")
    with pytest.raises(ValueError, match="positive integer"):
        scidiff.sample(model, proc, (2, 2), steps=0)


def test_nan_from_model_names_step_and_time(mixture):
    proc = scidiff.VP()
    exact = mixture.model(proc, "x0")
    model = lambda x, t: exact(x, t) if float(t[0]) > 0.5 else torch.full_like(x, math.nan)
    with pytest.raises(FloatingPointError, match=r"step 5 \(t = 0.445 -> 0.334\).*NaN or Inf at t = 0.445"):
        scidiff.sample(model, proc, (4, 2), steps=10, method="ddim", grid="uniform", prediction="x0")
