"""The evaluation runner: DP's score and success on real demonstrations, intervals, videos, CLI."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from scidiff.policy.evaluate import EvalResult, evaluate, wilson_interval
from tests.conftest import SHARED_DATA

PUSHT = SHARED_DATA / "policy" / "pusht"
needs_pusht = pytest.mark.skipif(not PUSHT.exists(), reason=f"PushT demonstrations not found at {PUSHT}")


class Replay:
    """A 'policy' that plays recorded action sequences, one per episode of the batch."""

    def __init__(self, actions: list[np.ndarray]):
        self.actions = actions

    def reset(self):
        self.t = 0

    def act(self, obs, **_):
        assert obs.shape == (len(self.actions), 18)
        out = np.stack([a[min(self.t, len(a) - 1)] for a in self.actions])
        self.t += 1
        return out


def test_wilson_interval_matches_the_closed_form():
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and round(hi, 4) == 0.2775
    assert wilson_interval(50, 50)[1] == 1.0


def test_score_interval_covers_the_mean_and_shrinks_with_more_episodes():
    rng = np.random.default_rng(1)
    small = EvalResult(rng.uniform(0.5, 1, 20), np.zeros(20, bool), np.full(20, 300))
    large = EvalResult(rng.uniform(0.5, 1, 500), np.zeros(500, bool), np.full(500, 300))
    for r in (small, large):
        lo, hi = r.score_ci()
        assert lo < r.score < hi
    assert np.diff(large.score_ci()) < 0.5 * np.diff(small.score_ci())
    assert set(small.summary()) >= {"score", "score_ci95", "success_rate", "success_ci95"}


@needs_pusht
@pytest.mark.parametrize("ep", [0, 5, 21])
def test_replayed_demo_from_its_recorded_state_scores_its_measured_coverage(ep):
    from scidiff.policy.episodes import Episodes
    from scidiff.policy.pusht import PushT

    e = Episodes.from_npz(PUSHT / "pusht_lowdim_dev.npz", keys=["action", "state"]).episode(ep)
    row = list(csv.DictReader(open(PUSHT / "episodes_dev.csv")))[ep]
    result = evaluate(Replay([e["action"]]), PushT(), states=e["state"][:1], max_steps=len(e["action"]))
    expected = min(float(row["replay_max_coverage"]) / 0.95, 1.0)
    assert abs(result.score - expected) < 2e-4                  # the card rounds to 4 digits
    assert result.success_rate == (float(row["replay_max_coverage"]) > 0.95)


@needs_pusht
def test_seeded_episodes_start_where_the_env_starts_and_videos_have_every_step(tmp_path):
    from scidiff.policy.pusht import PushT, flatten_obs

    task = PushT()
    starts = []

    class Still(Replay):
        def act(self, obs, **kw):
            starts.append(obs.copy()) if self.t == 0 else None
            return super().act(obs)

    hold = [np.full((1, 2), 256.0)] * 3                                   # the agent target stays put
    result = evaluate(Still(hold), task, seeds=[3, 4, 5], max_steps=7, video=tmp_path / "r.gif")
    env = task.make()
    for i, s in enumerate([3, 4, 5]):
        np.testing.assert_allclose(starts[0][i], flatten_obs(env.reset(seed=s)[0]), atol=1e-5)
    assert result.lengths.tolist() == [7, 7, 7]
    from PIL import Image

    gif = Image.open(tmp_path / "r.gif")
    assert gif.n_frames == 8 and gif.size == (256, 256)               # the reset frame and 7 steps


def test_needs_seeds_or_states():
    with pytest.raises(ValueError, match="exactly one"):
        evaluate(Replay([]), None)


@needs_pusht
def test_eval_command_on_a_saved_policy(tmp_path, capsys):
    import torch

    from scidiff.cli import main
    from scidiff.policy import DiffusionPolicy, PolicyConfig, UnetConfig

    torch.manual_seed(0)
    policy = DiffusionPolicy(PolicyConfig(obs_dim=18, env="pusht", obs_type="environment_state_agent_pos",
                                          unet=UnetConfig(time_dim=16, down_dims=[16, 32])))
    policy.fit_normalizers(np.random.rand(10, 18) * 512, np.random.rand(10, 2) * 512)
    policy.save_pretrained(tmp_path / "run" / "model")
    code = main(["policy", "eval", str(tmp_path / "run"), "--episodes", "3", "--max-steps", "9", "--steps", "2",
                 "--quiet", "--json", str(tmp_path / "s.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "DP score" in out and "success rate" in out and "ddim x 2 steps" in out
    assert json.loads((tmp_path / "s.json").read_text())["episodes"] == 3
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    assert main(["policy", "eval", str(tmp_path / "run"), "--states", str(tmp_path / "bad.txt"), "--quiet"]) == 1
    assert "5 numbers per row" in capsys.readouterr().err


@needs_pusht
def test_train_command_trains_resumes_and_refuses_to_overwrite(tmp_path, capsys):
    from scidiff.cli import main
    from scidiff.policy import DiffusionPolicy
    from scidiff.policy.episodes import Episodes

    eps = Episodes.from_npz(PUSHT / "pusht_lowdim_dev.npz", keys=["action", "state"]).select([0, 1, 2])
    np.savez(tmp_path / "demos.npz", action=eps.data["action"], state=eps.data["state"], episode_ends=eps.episode_ends)
    small = ["policy.unet.down_dims=[16,32]", "policy.unet.time_dim=16", "train.batch_size=8", "train.progress=false",
             "train.checkpoint_every=2"]
    args = ["policy", "train", "--demos", str(tmp_path / "demos.npz"), "--out", str(tmp_path / "run")]
    assert main(args + ["--steps", "2"] + small) == 0
    first = DiffusionPolicy.from_pretrained(tmp_path / "run" / "model")
    assert (first.config.env, first.config.obs_dim, first.config.unet.down_dims) == ("pusht", 18, [16, 32])
    assert main(args + ["--steps", "4"] + small) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(args + ["--steps", "4", "--resume"] + small) == 0
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 4
    assert main(["policy", "train", "--demos", str(tmp_path / "none.npz"), "--out", str(tmp_path / "r2")]) == 1
    assert "none.npz do not exist" in capsys.readouterr().err


def test_bundled_pusht_policy_pushes_the_block_home():
    """The shipped weights on ten unseen initial states (the full figures are in RESULTS.md)."""
    from scidiff.policy import DiffusionPolicy, get_task

    policy = DiffusionPolicy.from_pretrained("pusht")
    assert (policy.config.env, policy.config.obs_dim, policy.config.steps) == ("pusht", 18, 10)
    result = evaluate(policy, get_task("pusht"), seeds=range(100_000, 100_010))
    assert result.score >= 0.7, result.table()
