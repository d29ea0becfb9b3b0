"""PushT features from recorded states agree with what the environment produces when replayed."""
from pathlib import Path

import numpy as np
import pytest

from scidiff.policy.episodes import Episodes
from tests.conftest import SHARED_DATA

PUSHT = SHARED_DATA / "policy" / "pusht"
pytestmark = pytest.mark.skipif(not PUSHT.exists(), reason=f"PushT demonstrations not found at {PUSHT}")
pusht = pytest.importorskip("scidiff.policy.pusht")


@pytest.fixture(scope="module")
def episodes():
    return Episodes.from_npz(PUSHT / "pusht_lowdim_dev.npz", keys=["action", "state"])


@pytest.mark.parametrize("ep", [0, 7])
def test_replaying_recorded_actions_reproduces_the_recorded_features(episodes, ep):
    e = episodes.episode(ep)
    recorded = pusht.features_from_states(e["state"])
    assert recorded.shape == (len(e["state"]), 18)
    env = pusht.make_env()
    replay = [pusht.flatten_obs(pusht.set_state(env, e["state"][0]))]
    for a in e["action"][:-1]:
        obs, *_ = env.step(a)
        replay.append(pusht.flatten_obs(obs))
    assert float(np.abs(np.stack(replay) - recorded).max()) < 1e-2          # pixels


def test_state_observation_reads_back_the_recorded_state(episodes):
    states = episodes.data["state"][::997]
    back = pusht.features_from_states(states, obs_type="state").astype(np.float64)
    d = back - states
    d[:, 4] = (d[:, 4] + np.pi) % (2 * np.pi) - np.pi
    assert float(np.abs(d).max()) < 1e-3


def test_unknown_obs_type():
    with pytest.raises(ValueError, match="'state', 'environment_state_agent_pos'"):
        pusht.make_env("pixels_depth")
