import math

import torch

import scidiff

f64 = torch.float64


def test_density_integrates_to_one(mixture):
    u = torch.linspace(-5, 5, 801, dtype=f64)
    xx, yy = torch.meshgrid(u, u, indexing="ij")
    p = mixture.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp()
    assert math.isclose(float(p.sum() * (u[1] - u[0]) ** 2), 1.0, abs_tol=1e-6)


def test_log_prob_matches_torch_distributions(mixture):
    comps = torch.distributions.MultivariateNormal(mixture.means, mixture.covs)
    ref = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(mixture.weights), comps)
    x = torch.randn(100, 2, dtype=f64) * 2
    torch.testing.assert_close(mixture.log_prob(x), ref.log_prob(x))


def test_score_is_gradient_of_noised_log_density(mixture):
    """Tweedie: (alpha E[x0|x] - x) / sigma^2 = grad log p_t(x)."""
    x = (torch.randn(50, 2, dtype=f64) * 1.5).requires_grad_(True)
    for a, s in [(0.9, 0.3), (0.3, 0.95), (1.0, 2.0)]:
        (g,) = torch.autograd.grad(mixture.marginal_log_prob(x, a, s).sum(), x)
        torch.testing.assert_close(mixture.score(x.detach(), a, s), g)


def test_denoiser_matches_monte_carlo_posterior_mean(mixture):
    """E[x0 | x_t] by importance weighting exact prior draws with the Gaussian likelihood."""
    g = torch.Generator().manual_seed(0)
    x0 = mixture.sample(400_000, generator=g)
    a, s = 0.7, 0.5
    xt = torch.tensor([[0.3, -0.2], [-0.8, 0.4]], dtype=f64)
    logw = -((xt[:, None, :] - a * x0[None]) ** 2).sum(-1) / (2 * s**2)
    w = torch.softmax(logw, dim=1)
    mc = w @ x0
    torch.testing.assert_close(mixture.denoise(xt, a, s), mc, atol=2e-2, rtol=0)


def test_samples_have_the_mixture_moments(mixture):
    x = mixture.sample(200_000, generator=torch.Generator().manual_seed(1))
    mean = (mixture.weights[:, None] * mixture.means).sum(0)
    second = (mixture.weights[:, None, None] * (mixture.covs + mixture.means[:, :, None] * mixture.means[:, None, :])).sum(0)
    torch.testing.assert_close(x.mean(0), mean, atol=1e-2, rtol=0)
    torch.testing.assert_close(x.T @ x / len(x) - mean[:, None] * mean, second - mean[:, None] * mean, atol=2e-2, rtol=0)


def test_exact_model_predicts_each_kind_consistently(mixture):
    proc = scidiff.VP()
    x = torch.randn(20, 2, dtype=f64)
    t = torch.full((20,), 0.4, dtype=f64)
    x0 = mixture.model(proc, "x0")(x, t)
    for p in scidiff.PREDICTIONS:
        out = mixture.model(proc, p)(x, t)
        a, s, da, ds = proc.coefficients(t)
        torch.testing.assert_close(scidiff.convert(out, p, "x0", x, a, s, da, ds), x0)
