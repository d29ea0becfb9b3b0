"""scidiff.policy data: DP replay buffers (real PushT demos), DP windows, min-max normaliser."""
from pathlib import Path

import numpy as np
import pytest
import torch

from scidiff.policy.episodes import Episodes
from scidiff.policy.normalizer import MinMaxNormalizer
from scidiff.policy.windows import WindowDataset, window_frames
from tests.conftest import SHARED_DATA

PUSHT = SHARED_DATA / "policy" / "pusht"
needs_pusht = pytest.mark.skipif(not PUSHT.exists(), reason=f"PushT demonstrations not found at {PUSHT}")


@needs_pusht
def test_zarr_and_npz_hold_the_same_real_demonstrations():
    z = Episodes.from_zarr(PUSHT / "pusht_cchi_v7_replay_dev.zarr", keys=["action", "state", "keypoint"])
    n = Episodes.load(PUSHT / "pusht_lowdim_dev.npz", keys=["action", "state", "keypoint"])
    assert z.n_episodes == n.n_episodes == 176 and len(z.data["action"]) == 21882
    np.testing.assert_array_equal(z.episode_ends, n.episode_ends)
    for k in ("action", "state", "keypoint"):
        np.testing.assert_array_equal(z.data[k], n.data[k])
    card = np.genfromtxt(PUSHT / "episodes_dev.csv", delimiter=",", names=True)   # the data card's lengths
    np.testing.assert_array_equal(z.lengths, card["length"].astype(int))


def dp_reference_indices(episode_ends, sequence_length, pad_before, pad_after):
    """Diffusion Policy's create_indices, transcribed as a loop, turned into frame lists."""
    frames = []
    for i, end in enumerate(episode_ends):
        start_idx = 0 if i == 0 else episode_ends[i - 1]
        length = end - start_idx
        for idx in range(-pad_before, length - sequence_length + pad_after + 1):
            buf_start, buf_end = max(idx, 0) + start_idx, min(idx + sequence_length, length) + start_idx
            start_offset = buf_start - (idx + start_idx)
            end_offset = (idx + sequence_length + start_idx) - buf_end
            window = list(range(buf_start, buf_end))
            frames.append([window[0]] * start_offset + window + [window[-1]] * end_offset)
    return np.array(frames)


def test_windows_match_diffusion_policy_sampler():
    eps = Episodes.from_lists([{"action": np.random.rand(n, 2), "state": np.random.rand(n, 5)} for n in (20, 16, 31)])
    got = window_frames(eps, horizon=16, n_obs=2, n_action=8)
    np.testing.assert_array_equal(got, dp_reference_indices(eps.episode_ends, 16, 1, 7))
    assert len(got) == sum(n - 16 + 2 + 8 - 1 for n in (20, 16, 31))


def test_window_batches_and_edge_padding():
    act = np.arange(20, dtype=np.float32)[:, None].repeat(2, 1)
    eps = Episodes.from_lists([{"action": act, "state": act[:, :1] * 10}])
    ds = WindowDataset(eps, horizon=16, n_obs=2, n_action=8)
    b = ds.get_batch([0, len(ds) - 1])
    assert b["obs"].shape == (2, 2, 1) and b["action"].shape == (2, 16, 2)
    torch.testing.assert_close(b["obs"][0, :, 0], torch.tensor([0.0, 0.0]))          # first frame repeated
    torch.testing.assert_close(b["action"][1, -1], torch.tensor([19.0, 19.0]))       # last frame repeated
    assert ds[3]["action"].shape == (16, 2)


def test_normalizer_maps_to_unit_box_and_inverts():
    x = np.random.RandomState(0).uniform(-5, 300, size=(1000, 3))
    x[:, 2] = 7.0                                                 # a constant feature
    norm = MinMaxNormalizer(3).fit(x)
    y = norm.normalize(torch.as_tensor(x, dtype=torch.float32))
    torch.testing.assert_close(y[:, :2].min(0).values, torch.tensor([-1.0, -1.0]))
    torch.testing.assert_close(y[:, :2].max(0).values, torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(y[:, 2], torch.zeros(1000))
    torch.testing.assert_close(norm.unnormalize(y), torch.as_tensor(x, dtype=torch.float32), rtol=1e-5, atol=1e-4)


@needs_pusht
def test_real_pusht_actions_normalise_within_bounds():
    eps = Episodes.from_npz(PUSHT / "pusht_lowdim_dev.npz")
    ds = WindowDataset(eps, obs_fn=lambda d, f: np.concatenate(
        [d["keypoint"][f].reshape(f.shape + (18,)), d["state"][f][..., :2]], -1))     # DP's 20-d low-dim obs
    norm = MinMaxNormalizer(20).fit(ds.all_obs())
    b = ds.get_batch(np.arange(0, len(ds), 97))
    assert b["obs"].shape[1:] == (2, 20)
    o = norm.normalize(b["obs"])
    assert float(o.min()) >= -1 - 1e-5 and float(o.max()) <= 1 + 1e-5


def test_bad_episode_inputs(tmp_path):
    with pytest.raises(ValueError, match="same number of steps"):
        Episodes({"a": np.zeros(3), "b": np.zeros(4)}, [3])
    with pytest.raises(ValueError, match="episode_ends"):
        Episodes({"a": np.zeros(5)}, [2, 4])
    with pytest.raises(FileNotFoundError):
        Episodes.from_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "x.npz", action=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="no 'episode_ends'"):
        Episodes.from_npz(tmp_path / "x.npz")
    with pytest.raises(ValueError, match="expected a .zarr"):
        Episodes.load(tmp_path / "x.csv")
    eps = Episodes.from_lists([{"action": np.zeros((20, 2))}])
    with pytest.raises(ValueError, match="no 'state' array"):
        WindowDataset(eps)
    with pytest.raises(ValueError, match="n_obs"):
        window_frames(eps, 4, 5, 2)


def test_demonstrations_with_nan_or_objects_are_refused_naming_the_episode_and_step(tmp_path):
    """A NaN in the demonstrations would train a NaN normaliser and fail only at evaluation; an
    object array in a zarr would be unpickled on read."""
    action = np.random.default_rng(0).random((20, 2))
    action[13, 1] = np.nan
    with pytest.raises(ValueError, match=r"'action' holds NaN or Inf: episode 2, step 1 \(row 13"):
        Episodes({"action": action, "obs": np.zeros((20, 3))}, [5, 12, 20])
    with pytest.raises(ValueError, match="holds object values"):
        Episodes({"action": np.array([None] * 20, dtype=object)}, [20])
    np.savez(tmp_path / "inf.npz", action=np.full((4, 2), np.inf), episode_ends=np.array([4]))
    with pytest.raises(ValueError, match="episode 0, step 0"):
        Episodes.load(tmp_path / "inf.npz")
