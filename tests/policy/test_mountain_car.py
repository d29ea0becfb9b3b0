"""The second environment: scripted MountainCar demonstrations, explicit resets, and a policy
learned from them."""
import numpy as np
import pytest

from scidiff.cli import main
from scidiff.policy.episodes import Episodes
from scidiff.policy.evaluate import evaluate
from scidiff.policy.mountain_car import MountainCar


def test_controller_demonstrations_all_reach_the_flag_and_hold_both_strategies(tmp_path, capsys):
    assert main(["policy", "collect", "--env", "mountaincar", "--episodes", "40", "--seed", "7",
                 "--out", str(tmp_path / "mc.npz")]) == 0
    assert "40 mountaincar demonstrations" in capsys.readouterr().out
    eps = Episodes.from_npz(tmp_path / "mc.npz")
    assert eps.n_episodes == 40 and eps.data["obs"].shape[1] == 2 and eps.data["action"].shape[1] == 1
    task = MountainCar()
    first = []
    for i in range(eps.n_episodes):
        e = eps.episode(i)
        env = task.make()
        obs = task.reset(env, state=e["obs"][0])
        for a in e["action"]:                                   # replaying the actions re-reaches the flag
            obs = task.observe(env.step(a)[0])
        assert obs[0] >= task.goal
        first.append(np.sign(e["action"][:3].mean()))
    assert 0.2 < np.mean(np.array(first) > 0) < 0.8              # both pushes from rest occur
    assert np.abs(eps.data["action"]).max() <= 1


def test_explicit_initial_state_is_where_the_episode_starts():
    task = MountainCar()
    env = task.make()
    obs = task.reset(env, state=[-0.3, 0.01])
    np.testing.assert_allclose(obs, [-0.3, 0.01], rtol=1e-6)
    nxt = task.observe(env.step(np.zeros(1, np.float32))[0])
    np.testing.assert_allclose(nxt[1], 0.01 - 0.0025 * np.cos(3 * -0.3), rtol=1e-5)   # the env's own physics


def test_doing_nothing_never_succeeds():
    class Idle:
        def reset(self):
            pass

        def act(self, obs, **_):
            return np.zeros((len(obs), 1), np.float32)

    r = evaluate(Idle(), MountainCar(), seeds=range(4), max_steps=200)
    assert r.success_rate == 0 and r.score == 0


@pytest.mark.slow
def test_a_policy_trained_on_the_demonstrations_reaches_the_flag(tmp_path):
    """About 3 minutes on one CPU thread."""
    assert main(["policy", "collect", "--env", "mountaincar", "--episodes", "100", "--out", str(tmp_path / "d.npz")]) == 0
    assert main(["policy", "train", "--demos", str(tmp_path / "d.npz"), "--out", str(tmp_path / "run"),
                 "--steps", "1000", "env=mountaincar", "policy.unet.down_dims=[32,64,128]", "policy.unet.time_dim=64",
                 "train.batch_size=128", "train.progress=false", "train.optim.warmup=100", "train.optim.lr=1e-3"]) == 0
    from scidiff.policy.cli import load_policy

    r = evaluate(load_policy(str(tmp_path / "run")), MountainCar(), seeds=range(100_000, 100_030))
    assert r.success_rate >= 0.9, r.table()


def test_observation_adapters_for_box_and_dict_spaces():
    from gymnasium import spaces

    from scidiff.policy.envs import flatten_space
    from scidiff.policy.pusht import PushT, flatten_obs

    flat, dim = flatten_space(spaces.Box(-1, 1, (3, 2)))
    assert dim == 6 and flat(np.ones((3, 2))).shape == (6,)
    env = PushT().make()
    flat, dim = flatten_space(env.observation_space, keys=["environment_state", "agent_pos"])
    obs = env.reset(seed=1)[0]
    assert dim == 18
    np.testing.assert_array_equal(flat(obs), flatten_obs(obs))          # the PushT adapter's own layout
    with pytest.raises(ValueError, match="no key"):
        flatten_space(env.observation_space, keys=["pixels"])
    with pytest.raises(ValueError, match="only Box"):
        flatten_space(spaces.Dict({"a": spaces.Discrete(3)}))
    with pytest.raises(ValueError, match="Discrete"):
        flatten_space(spaces.Discrete(3))
