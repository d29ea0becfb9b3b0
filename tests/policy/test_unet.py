"""The temporal U-Net: shapes, FiLM conditioning, save/load, and that it can fit."""
import pytest
import torch

import scidiff
from scidiff.policy.unet1d import ConditionalUnet1D, UnetConfig

SMALL = dict(action_dim=2, cond_dim=6, time_dim=32, down_dims=[32, 64, 128])


@pytest.mark.parametrize("horizon", [8, 16, 32])
def test_shapes_and_dp_size(horizon):
    m = ConditionalUnet1D(**SMALL)
    assert m(torch.randn(3, horizon, 2), torch.rand(3), torch.randn(3, 6)).shape == (3, horizon, 2)


def test_full_size_matches_diffusion_policy_scale():
    m = ConditionalUnet1D(UnetConfig())            # PushT low-dim: 2-d actions, 2 x 20-d observations
    n = sum(p.numel() for p in m.parameters())
    assert 6.0e7 < n < 7.0e7, n                     # DP reports ~65 M parameters for this configuration


def test_condition_and_time_change_the_output():
    torch.manual_seed(0)
    m = ConditionalUnet1D(**SMALL).eval()
    x, t, c = torch.randn(2, 16, 2), torch.rand(2), torch.randn(2, 6)
    base = m(x, t, c)
    assert not torch.allclose(base, m(x, t, c + 1.0))
    assert not torch.allclose(base, m(x, t + 0.3, c))
    # samples in a batch do not interact (GroupNorm is per sample)
    torch.testing.assert_close(m(x[:1], t[:1], c[:1]), base[:1], rtol=1e-5, atol=1e-5)


def test_save_and_load(tmp_path):
    m = ConditionalUnet1D(**SMALL, prediction="x0")
    m.save_pretrained(tmp_path / "u")
    again = ConditionalUnet1D.from_pretrained(tmp_path / "u")
    x, t, c = torch.randn(2, 16, 2), torch.rand(2), torch.randn(2, 6)
    torch.testing.assert_close(again(x, t, c), m.eval()(x, t, c))
    assert again.prediction == "x0" and again.config.down_dims == [32, 64, 128]


def test_fits_a_conditional_action_batch():
    """eps-prediction under the squared-cosine VP: the loss on a fixed batch drops 5x in 150 steps."""
    torch.manual_seed(1)
    m = ConditionalUnet1D(**SMALL)
    proc = scidiff.VP("cosine")
    cond = torch.randn(32, 6)
    actions = torch.tanh(cond[:, :2, None] * torch.linspace(0, 1, 16)).transpose(1, 2)   # (32, 16, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    net = lambda x, t: m(x, t, cond)
    losses = []
    for _ in range(150):
        loss = scidiff.diffusion_loss(net, proc, actions, prediction="eps", generator=torch.Generator().manual_seed(3))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0], (losses[0], losses[-1])
