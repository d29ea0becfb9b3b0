"""DiffusionPolicy: receding-horizon acting, batching, save/load, training on real PushT windows."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scidiff.policy import DiffusionPolicy, Episodes, PolicyConfig, UnetConfig, WindowDataset
from scidiff.train import OptimConfig, TrainConfig, Trainer
from tests.conftest import SHARED_DATA

PUSHT = SHARED_DATA / "policy" / "pusht"
SMALL = UnetConfig(time_dim=32, down_dims=[32, 64, 128])


def small_policy(**kw):
    torch.manual_seed(0)
    return DiffusionPolicy(PolicyConfig(obs_dim=5, unet=SMALL, **kw))


def test_receding_horizon_replans_every_n_action_steps():
    policy = small_policy(steps=3)
    calls = []
    net_forward = policy.net.forward
    policy.net.forward = lambda *a: calls.append(1) or net_forward(*a)
    policy.reset()
    for _ in range(8):
        a = policy.act(np.zeros(5))
        assert a.shape == (2,)
    assert len(calls) == 3                       # one plan, 3 denoising steps
    policy.act(np.zeros(5))
    assert len(calls) == 6                       # the 9th action needs a new plan
    policy.reset()
    assert policy.act(np.ones((4, 5))).shape == (4, 2)   # a vector env of four


@pytest.mark.parametrize("recipe,method", [("ddpm", "ddim"), ("ddpm", "dpm++2m"), ("flow", "euler")])
def test_plans_stay_in_the_demonstrated_action_range(recipe, method):
    policy = small_policy(recipe=recipe, method=method, steps=5)
    policy.fit_normalizers(np.random.rand(100, 5), np.random.uniform(50, 450, size=(100, 2)))
    plan = policy.predict_action(torch.zeros(3, 2, 5), generator=torch.Generator().manual_seed(0))
    assert plan.shape == (3, 16, 2)
    assert float(plan.min()) >= 50 - 1e-3 and float(plan.max()) <= 450 + 1e-3


def test_save_and_load_keeps_normalizers(tmp_path):
    policy = small_policy()
    policy.fit_normalizers(np.random.rand(50, 5) * 3, np.random.rand(50, 2) * 512)
    policy.save_pretrained(tmp_path / "p")
    again = DiffusionPolicy.from_pretrained(tmp_path / "p")
    obs = torch.rand(2, 2, 5)
    a = policy.eval().predict_action(obs, generator=torch.Generator().manual_seed(1))
    b = again.predict_action(obs, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(again.action_norm.scale, policy.action_norm.scale)


def test_bad_inputs():
    with pytest.raises(ValueError, match="'ddpm', 'flow'"):
        DiffusionPolicy(PolicyConfig(recipe="score", unet=SMALL))
    with pytest.raises(ValueError, match="n_action"):
        DiffusionPolicy(PolicyConfig(n_action=16, unet=SMALL))
    with pytest.raises(ValueError, match=r"\(B, 2, 5\)"):
        small_policy().predict_action(torch.zeros(1, 3, 5))


@pytest.mark.skipif(not PUSHT.exists(), reason=f"PushT demonstrations not found at {PUSHT}")
def test_trains_on_real_pusht_windows_with_the_shared_trainer(tmp_path):
    eps = Episodes.from_npz(PUSHT / "pusht_lowdim_dev.npz", keys=["action", "state"])
    ds = WindowDataset(eps, horizon=16, n_obs=2, n_action=8, obs_key="state")
    policy = small_policy()
    policy.fit_normalizers(eps.data["state"], eps.data["action"])
    cfg = TrainConfig(steps=60, batch_size=64, progress=False, log_every=10, checkpoint_every=1000,
                      optim=OptimConfig(lr=1e-3, warmup=5))
    trainer = Trainer(policy, lambda net, batch, g: net(batch, g), ds, cfg, tmp_path / "run")
    trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < 0.6 * losses[0], losses


def test_half_precision_weights_keep_float32_normalizers(tmp_path):
    policy = small_policy()
    policy.fit_normalizers(np.random.rand(50, 5) * 3, np.random.rand(50, 2) * 512)
    policy.save_pretrained(tmp_path / "h", weights_dtype=torch.float16)
    from safetensors.torch import load_file

    stored = load_file(tmp_path / "h" / "model.safetensors")
    assert {stored[k].dtype for k in stored if k.startswith("net.")} == {torch.float16}
    assert stored["action_norm.scale"].dtype == torch.float32
    again = DiffusionPolicy.from_pretrained(tmp_path / "h")
    assert next(again.parameters()).dtype == torch.float32
    torch.testing.assert_close(again.action_norm.offset, policy.action_norm.offset)
    for a, b in zip(again.parameters(), policy.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_temporal_ensembling_averages_overlapping_plans_with_act_weights():
    policy = small_policy(ensemble=0.5)
    made = []

    def fake_plan(history, **_):             # plan k proposes the value 100 k + i for its horizon index i
        k = len(made)
        made.append(k)
        return (100.0 * k + torch.arange(16.0))[None, :, None].expand(len(history), 16, 2)

    policy.predict_action = fake_plan
    policy.reset()
    got = [float(policy.act(np.zeros(5))[0]) for _ in range(4)]
    assert made == [0, 1, 2, 3]                                # one plan per step
    for t, value in enumerate(got):
        # plan k (made at step k) proposes 100 k + (n_obs - 1) + (t - k) for step t; older plans weigh more
        props = np.array([100.0 * k + 1 + (t - k) for k in range(t + 1)])
        w = np.exp(-0.5 * np.arange(t + 1))
        assert value == pytest.approx((w * props).sum() / w.sum(), rel=1e-6)


@pytest.mark.parametrize("clip", [True, False])
def test_clip_sample_clamps_every_denoised_plan(clip):
    seen = []
    policy = small_policy(steps=4, clip_sample=clip)
    policy.net.forward = lambda x, t, c: torch.full_like(x, 5.0)     # a wild eps prediction

    import scidiff.samplers.driver as driver
    real = driver.sample

    def spy(*a, denoised_transform=None, **kw):
        def watch(x0):
            out = denoised_transform(x0) if denoised_transform else x0
            seen.append(float(out.abs().max()))
            return out
        return real(*a, denoised_transform=watch, **kw)

    import scidiff.policy.policy as module
    module.sample, old = spy, module.sample
    try:
        policy.predict_action(torch.zeros(2, 2, 5))
    finally:
        module.sample = old
    assert len(seen) == 4
    assert (max(seen) <= 1.0) == clip


def test_acting_and_training_keep_to_the_policy_device():
    """With the policy on another device (``tests/device_check.py``) every tensor of ``act`` and
    of the training loss follows it; numpy observations go in and numpy actions come out."""
    from tests.device_check import elsewhere, on_other_device, other_device

    torch.manual_seed(0)
    policy = DiffusionPolicy(PolicyConfig(obs_dim=5, action_dim=2, unet=UnetConfig(down_dims=[16, 32], time_dim=16)))
    policy = elsewhere(policy.fit_normalizers(np.random.randn(50, 5), np.random.randn(50, 2)))
    with other_device():
        policy.reset()
        action = policy.act(np.zeros(5, dtype=np.float32))
        assert isinstance(action, np.ndarray) and action.shape == (2,)
        batch = {"obs": elsewhere(torch.randn(4, 2, 5)), "action": elsewhere(torch.randn(4, 16, 2))}
        assert on_other_device(policy(batch))
