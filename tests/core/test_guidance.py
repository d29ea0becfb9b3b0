import pytest
import torch

import scidiff

f64 = torch.float64


def conditional_model(mixture, proc):
    """model(x, t, c): class c < K selects component c, c == K (the null class) is the mixture."""
    K = len(mixture.weights)
    parts = [scidiff.GaussianMixture(mixture.means[k:k + 1], mixture.covs[k:k + 1]).model(proc, "eps") for k in range(K)]
    full = mixture.model(proc, "eps")

    def model(x, t, c):
        out = full(x, t)
        for k in range(K):
            sel = c == k
            if sel.any():
                out[sel] = parts[k](x[sel], t[sel])
        return out
    return model


def test_cfg_scale_zero_and_one_are_the_plain_models(mixture):
    proc = scidiff.VP()
    cond_model = conditional_model(mixture, proc)
    n, K = 300, len(mixture.weights)
    c, null = torch.full((n,), 1), torch.tensor(K)
    run = lambda m: scidiff.sample(m, proc, (n, 2), steps=15, prediction="eps", dtype=f64,
                                   generator=torch.Generator().manual_seed(0))
    uncond = run(lambda x, t: cond_model(x, t, torch.full((len(x),), K)))
    cond = run(lambda x, t: cond_model(x, t, c))
    torch.testing.assert_close(run(scidiff.classifier_free(cond_model, c, null, 0.0)), uncond)
    torch.testing.assert_close(run(scidiff.classifier_free(cond_model, c, null, 1.0)), cond)
    guided = run(scidiff.classifier_free(cond_model, c, null, 4.0))
    # guidance raises the class posterior p(c = 1 | x) (it samples roughly p(x|c) p(c|x)^(w-1))
    comps = torch.distributions.MultivariateNormal(mixture.means, mixture.covs)
    post = lambda x: torch.softmax(comps.log_prob(x[:, None, :]) + mixture.weights.log(), dim=1)[:, 1]
    assert float(post(guided).mean()) > float(post(cond).mean()) + 0.02


def test_cfg_rescale_matches_conditional_std():
    cond_out, uncond_out = torch.randn(4, 8) * 2.0, torch.randn(4, 8)
    model = lambda x, t, c: torch.where(c[:, None] == 1, cond_out.repeat(2, 1), uncond_out.repeat(2, 1))
    f = scidiff.classifier_free(model, torch.ones(4, dtype=torch.long), torch.tensor(0), 5.0, rescale=1.0)
    out = f(torch.zeros(4, 8), torch.zeros(4))
    torch.testing.assert_close(out.std(dim=1), cond_out.std(dim=1))


def test_dynamic_threshold():
    f = scidiff.dynamic_threshold(0.9, max_value=1.0)
    inside = torch.rand(3, 100) * 1.8 - 0.9
    torch.testing.assert_close(f(inside), inside)                    # quantile < 1: plain clip, no-op
    big = torch.randn(3, 1000) * 5
    out = f(big)
    assert float(out.abs().max()) <= 1.0 + 1e-6
    s = torch.quantile(big.abs(), 0.9, dim=1, keepdim=True)
    torch.testing.assert_close(out, big.clamp(-s, s) / s)


@pytest.mark.parametrize("method,resample", [("ddpm", 1), ("ddpm", 4), ("dpm++2m", 3), ("heun", 3)])
def test_inpainting_keeps_known_values_and_fills_the_conditional(method, resample):
    """Two components far apart in x; knowing x = 2 leaves y ~ N(-1, 0.3^2)."""
    mix = scidiff.GaussianMixture([[-2.0, 1.0], [2.0, -1.0]], stds=[0.3, 0.3])
    proc = scidiff.VP()
    n = 2000
    mask = torch.tensor([True, False]).expand(n, 2)
    values = torch.tensor([2.0, 0.0], dtype=f64).expand(n, 2)
    x = scidiff.sample(mix.model(proc, "x0"), proc, (n, 2), steps=60, method=method, dtype=f64,
                       generator=torch.Generator().manual_seed(0),
                       inpaint=scidiff.Inpaint(mask, values, resample=resample))
    assert torch.equal(x[:, 0], torch.full((n,), 2.0, dtype=f64))
    assert abs(float(x[:, 1].mean()) + 1.0) < 0.1
    assert 0.2 < float(x[:, 1].std()) < 0.45


def test_inpaint_rejects_bad_resample():
    with pytest.raises(ValueError, match="resample"):
        scidiff.Inpaint(torch.ones(1, dtype=torch.bool), torch.zeros(1), resample=0)
