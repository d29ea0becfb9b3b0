"""IPA trunk and FrameFlow-style SE(3) flow matching on real backbones (scidiff.proteins.model)."""
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from scidiff.manifolds import SO3
from scidiff.proteins import BackboneDataset, DatasetConfig, read_backbone, write_pdb
from scidiff.proteins.ipa import IPATrunk, quaternion_update, update_frames
from scidiff.proteins.model import BackboneConfig, BackboneGenerator, LossConfig, SamplerConfig, TrunkConfig
from scidiff.proteins.train import run
from tests.conftest import SHARED_DATA

f64 = torch.float64
DATA = SHARED_DATA / "proteins"
CHAINS = ["bm5_unbound/1Z0K_l_u.pdb", "bm5_unbound/1R0R_l_u.pdb"]      # 46 and 51 residues
TINY = dict(c_s=32, c_z=16, c_hidden=8, heads=2, qk_points=2, v_points=2, blocks=2, seq_heads=2, max_rel=8, rbf_bins=8)


def tiny(sampler: SamplerConfig | None = None, **loss) -> BackboneConfig:
    """A small trunk, the loss settings ``loss`` and ``sampler``."""
    return BackboneConfig(trunk=TrunkConfig(**TINY), loss=LossConfig(**loss), sampler=sampler or SamplerConfig())


def steps(k: int, rot_rate: float = 10.0) -> SamplerConfig:
    return SamplerConfig(steps=k, rot_rate=rot_rate)

needs_data = pytest.mark.skipif(not all((DATA / c).is_file() for c in CHAINS), reason="shared protein data absent")


def random_trunk(seed=0):
    """A float64 trunk whose (normally zero-initialised) backbone updates are switched on."""
    torch.manual_seed(seed)
    trunk = IPATrunk(**TINY).double()
    for blk in trunk.blocks:
        torch.nn.init.normal_(blk.update.lin.weight, std=0.2)
        torch.nn.init.normal_(blk.update.lin.bias, std=0.2)
    return trunk.eval()


def random_frames(B, L, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = SO3().random(B * L, generator=g).reshape(B, L, 3, 3)
    x = torch.randn(B, L, 3, generator=g, dtype=f64) * 1.5
    return r, x


def test_ipa_trunk_invariant_single_rep_and_equivariant_frames():
    trunk = random_trunk()
    B, L = 2, 12
    r, x = random_frames(B, L)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, 9:] = False
    time = torch.tensor([0.3, 0.8], dtype=f64)
    q = SO3().random(1, generator=torch.Generator().manual_seed(7))[0]
    d = torch.tensor([3.0, -2.0, 5.0], dtype=f64)
    with torch.no_grad():
        s, r1, x1, psi = trunk(r, x, time, mask)
        s2, r2, x2, psi2 = trunk(q @ r, x @ q.T + d, time, mask)
    m = mask
    assert (r1[m] - r[m]).abs().max() > 1e-2                   # the frames really move
    assert torch.allclose(s2[m], s[m], atol=1e-5)
    assert torch.allclose(psi2[m], psi[m], atol=1e-5)
    assert torch.allclose(r2[m], q @ r1[m], atol=1e-5)
    assert torch.allclose(x2[m], x1[m] @ q.T + d, atol=1e-5)


def test_padding_does_not_change_real_residues():
    trunk = random_trunk(seed=3)
    L, P = 10, 6
    r, x = random_frames(1, L + P, seed=4)
    time = torch.tensor([0.5], dtype=f64)
    with torch.no_grad():
        alone = trunk(r[:, :L], x[:, :L], time, torch.ones(1, L, dtype=torch.bool))
        mask = torch.ones(1, L + P, dtype=torch.bool)
        mask[0, L:] = False
        padded = trunk(r, x * 1.0, time, mask)                 # padded slots hold unrelated frames
    for a, b in zip(alone, padded):
        assert torch.allclose(b[:, :L], a, atol=1e-10)


def test_zero_quaternion_update_is_identity():
    rot, tr = quaternion_update(torch.zeros(5, 6, dtype=f64))
    assert torch.equal(rot, torch.eye(3, dtype=f64).expand(5, 3, 3))
    assert torch.equal(tr, torch.zeros(5, 3, dtype=f64))
    r, x = random_frames(1, 5)
    r2, x2 = update_frames(r, x, torch.zeros(1, 5, 6, dtype=f64))
    assert torch.allclose(r2, r, atol=1e-15) and torch.allclose(x2, x, atol=1e-15)
    # a masked residue keeps its frame whatever the update
    mask = torch.tensor([[True, True, False, True, True]])
    r3, x3 = update_frames(r, x, torch.randn(1, 5, 6, dtype=f64), mask)
    assert torch.allclose(r3[0, 2], r[0, 2]) and torch.allclose(x3[0, 2], x[0, 2])
    # an untrained trunk (zero-initialised backbone updates) returns its input frames
    trunk = IPATrunk(**TINY).double()
    with torch.no_grad():
        _, r4, x4, _ = trunk(r, x, torch.tensor([0.5], dtype=f64), torch.ones(1, 5, dtype=torch.bool))
    assert torch.allclose(r4, r) and torch.allclose(x4, x)


@pytest.fixture(scope="module")
def two_chains(tmp_path_factory):
    src = tmp_path_factory.mktemp("pdb")
    for c in CHAINS:
        shutil.copy(DATA / c, src / Path(c).name)
    ds = BackboneDataset.from_folder(src, tmp_path_factory.mktemp("cache"), DatasetConfig(min_length=40),
                                     crop_length=48, progress=False)
    return src, ds


def fixed_loss(model, batch, n=6):
    """Mean loss over fixed times and noise draws."""
    with torch.no_grad():
        return sum(float(model.loss(batch, torch.Generator().manual_seed(100 + k), t=torch.full((2,), (k + 0.5) / n)))
                   for k in range(n)) / n


def train_steps(model, batch, steps: int) -> list[float]:
    """Adam (lr 3e-3, clipped gradients) on one batch; the loss curve."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    curve = []
    for step in range(steps):
        loss = model(batch, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append(float(loss.detach()))
    return curve


@pytest.fixture(scope="module")
def overfit(two_chains):
    _, ds = two_chains
    batch = ds.get_batch([0, 1])
    torch.manual_seed(0)
    model = BackboneGenerator(tiny())
    before = fixed_loss(model, batch)
    curve = train_steps(model, batch, 150)
    return model, batch, before, fixed_loss(model, batch), curve


@needs_data
def test_batch_is_padded_and_loss_finite(two_chains, overfit):
    _, ds = two_chains
    model, batch, before, _, curve = overfit
    assert sorted(batch["mask"].sum(1).tolist()) == [46, 48]                        # one chain padded by 2
    with torch.no_grad():
        parts = model.loss(batch, torch.Generator().manual_seed(0), parts=True)
    assert all(math.isfinite(float(v)) for v in parts.values()) and set(parts) == {"loss", "trans", "rot", "psi"}
    assert all(math.isfinite(v) for v in curve)


@needs_data
def test_loss_decreases_when_overfitting_two_chains(overfit):
    _, _, before, after, curve = overfit
    assert after < 0.8 * before, (before, after)          # measured 4.27 -> 3.00
    assert sum(curve[-10:]) < sum(curve[:10]), curve


@needs_data
def test_sample_returns_centred_backbones_that_round_trip_through_pdb(overfit, tmp_path):
    model = overfit[0]
    bbs = model.sample(length=30, n=3, seed=0, sampler=steps(12))
    assert len(bbs) == 3 and all(len(b) == 30 for b in bbs)
    for i, bb in enumerate(bbs):
        assert bb.is_complete
        assert abs(bb.ca.mean(0)).max() < 1e-3
        path = write_pdb(tmp_path / f"s{i}.pdb", bb)
        back = read_backbone(path)
        assert len(back) == 30 and abs(back.coords - bb.coords).max() < 1e-3
    again = model.sample(length=30, n=3, seed=0, sampler=steps(12))
    assert all((a.coords == b.coords).all() for a, b in zip(bbs, again))


@needs_data
def test_save_load_and_training_recipe(overfit, two_chains, tmp_path):
    model = overfit[0]
    model.save_pretrained(tmp_path / "m")
    loaded = BackboneGenerator.from_pretrained(tmp_path / "m")
    a, b = model.sample(20, n=1, seed=1, sampler=steps(4))[0], loaded.sample(20, n=1, seed=1, sampler=steps(4))[0]
    assert abs(a.coords - b.coords).max() < 1e-5
    src, _ = two_chains
    cfg = {"domain": "proteins", "data_dir": str(src), "crop_length": 32, "model": {"trunk": dict(TINY)},
           "train": {"steps": 2, "batch_size": 2, "progress": False, "checkpoint_every": 2, "log_every": 1,
                     "optim": {"warmup": 1}}}
    last = run(cfg, tmp_path / "run")
    assert last["step"] == 2 and math.isfinite(last["loss"])
    assert len(BackboneGenerator.from_pretrained(tmp_path / "run" / "model").sample(16, n=1, sampler=steps(3))[0]) == 16


@needs_data
def test_sampler_paths_end_on_what_an_oracle_network_predicts():
    """With a network that always predicts one real chain, the sampler's own state at t = 0 (not
    the returned prediction) must land on that chain: this checks the signs and scales of the
    translation and rotation velocities."""
    from scidiff.proteins import frames_from_coords

    bb = read_backbone(DATA / CHAINS[0])
    r0, x0 = frames_from_coords(torch.tensor(bb.coords, dtype=f64))
    x0 = (x0 - x0.mean(0)) * 0.1                                           # nm, centred
    model = BackboneGenerator(tiny())

    def oracle(r, x, t, mask):
        n = len(x)
        return r0.expand(n, -1, -1, -1).to(r), x0.expand(n, -1, -1).to(x), torch.zeros(n, len(x0), 2)

    model.predict = oracle
    *_, path = model.sample_frames(len(x0), n=2, seed=0, sampler=steps(200), trajectory=True)
    r_end, x_end = path[-1]
    ca_rmsd = float(((x_end - x0 * 10) ** 2).sum(-1).mean().sqrt())
    angle = SO3().dist(r_end, r0.expand(2, -1, -1, -1))
    assert ca_rmsd < 0.5 and float(angle.mean()) < 0.06 and float(angle.max()) < 0.3, (ca_rmsd, angle)
    # and the prior end is far from it
    r_start, x_start = path[0]
    assert float(((x_start - x0 * 10) ** 2).sum(-1).mean().sqrt()) > 5.0


def test_the_rotation_rate_sets_how_fast_sampled_rotations_settle():
    """The flow recipe's exponential rotation schedule: with an oracle network, each Euler step of
    size dt shrinks the geodesic distance to the predicted rotations by the factor 1 - c dt, for
    the rate c of the sampler config (by default the model's)."""
    L = 12
    g = torch.Generator().manual_seed(0)
    r0, x0 = SO3().random(L, generator=g), torch.randn(L, 3, dtype=f64, generator=g)

    def shrink(model, sampler=None):
        model.predict = lambda r, x, t, mask: (r0.expand(len(x), -1, -1, -1).to(r),
                                               x0.expand(len(x), -1, -1).to(x), torch.zeros(len(x), L, 2))
        *_, path = model.sample_frames(L, n=2, seed=0, sampler=sampler, trajectory=True)
        d = torch.stack([SO3().dist(r, r0.expand(2, -1, -1, -1)).mean() for r, _ in path])
        return 1 - d[1:10] / d[:9]                      # c dt on the uniform part of the time grid

    model = BackboneGenerator(tiny(steps(20)))          # rot_rate 10
    c_dt = {c: shrink(model, steps(20, c)) for c in (3.0, 10.0)}
    dt = c_dt[10.0] / 10
    assert 0.04 < float(dt.mean()) < 0.06
    torch.testing.assert_close(c_dt[3.0], 3 * dt)
    torch.testing.assert_close(shrink(model), c_dt[10.0])
    torch.testing.assert_close(shrink(BackboneGenerator(tiny(steps(20, 3.0)))), c_dt[3.0])
    with pytest.raises(ValueError, match="rotation rate must be positive"):
        BackboneGenerator(tiny()).sample_frames(10, sampler=steps(5, 0.0))


def test_bundled_weights_load_by_default_and_sample():
    model = BackboneGenerator.from_pretrained()
    assert model.config.trunk.blocks == 4 and model.config.sampler == SamplerConfig(steps=100, rot_rate=6.0)
    a = model.sample(40, n=2, seed=3, sampler=steps(20, 6.0))
    b = model.sample(40, n=2, seed=3, sampler=steps(20, 6.0))
    assert all(x.is_complete and len(x) == 40 for x in a)
    assert all((x.coords == y.coords).all() for x, y in zip(a, b))
    ca = a[0].ca
    assert 2.5 < float(np.linalg.norm(np.diff(ca, axis=0), axis=1).mean()) < 5.0     # a chain, not a cloud


@needs_data
def test_aux_losses_vanish_at_the_data_and_measure_a_displaced_residue(two_chains):
    """Zero for the true frames; moving one residue by d nm costs exactly d^2 / (3 L) in the atom
    term (3 of its atoms, averaged over 3 L atoms and x, y, z); the distance term is blind to a
    rigid motion of the whole prediction and sees the displaced residue."""
    _, ds = two_chains
    batch = ds.get_batch([0])
    model = BackboneGenerator(tiny(aux_weight=0.25)).double()
    mask = batch["mask"].bool()
    r0, x0 = batch["rotations"].to(f64), batch["translations"].to(f64) * 0.1
    one = torch.ones(1, dtype=f64)
    bb, dist = model.aux_losses(r0, x0, r0, x0, mask, one)
    assert float(bb) == 0 and float(dist) < 1e-12
    L = int(mask.sum())
    moved = x0.clone()
    moved[0, 10] += torch.tensor([0.03, -0.04, 0.0], dtype=f64)      # d = 0.05 nm
    bb, dist = model.aux_losses(r0, x0, r0, moved, mask, one)
    assert float(bb) == pytest.approx(0.05 ** 2 / (3 * L), rel=1e-9)
    assert float(dist) > 0
    rot = SO3().random(1, generator=torch.Generator().manual_seed(3))[0]
    bb_rigid, dist_rigid = model.aux_losses(r0, x0, rot @ r0, x0 @ rot.T + 0.7, mask, one)
    assert float(dist_rigid) < 1e-12 and float(bb_rigid) > 1e-3
    assert float(model.aux_losses(r0, x0, r0, moved, mask, 0.5 * one)[0]) == pytest.approx(4 * float(bb))


@needs_data
@pytest.mark.parametrize("extra, terms, weight", [({"aux_weight": 0.25}, ("bb", "dist"), 0.25),
                                                  ({"clash_weight": 2.0}, ("clash",), 2.0)])
def test_extra_losses_join_the_training_loss_only_near_the_data(two_chains, extra, terms, weight):
    """The auxiliary and overlap losses add ``weight x term`` for chains at t < aux_t_max and
    nothing above (an untrained trunk's prediction is off and overlaps, so the terms are > 0)."""
    _, ds = two_chains
    batch = ds.get_batch([0, 1])
    torch.manual_seed(0)
    plain = BackboneGenerator(tiny())
    with_terms = BackboneGenerator(tiny(**extra, aux_t_max=0.25))
    with_terms.load_state_dict(plain.state_dict())
    with torch.no_grad():
        for t, joins in ((0.1, True), (0.6, False)):
            tt = torch.full((2,), t)
            a = with_terms.loss(batch, torch.Generator().manual_seed(1), t=tt, parts=True)
            p = plain.loss(batch, torch.Generator().manual_seed(1), t=tt, parts=True)
            added = weight * sum(a[k] for k in terms) if joins else 0.0
            assert float(a["loss"]) == pytest.approx(float(p["loss"] + added), rel=1e-5)
            assert all((float(a[k]) > 0) == joins for k in terms)


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_training_times_follow_the_low_t_mixture(fraction):
    """Times are U[t_min, 1 - t_min], a fraction ``low_t_fraction`` of them U[t_min, low_t_max]:
    the empirical CDF matches the mixture's exact one (Kolmogorov-Smirnov bound)."""
    from scipy.stats import kstest

    c = LossConfig(low_t_fraction=fraction, low_t_max=0.1)
    model = BackboneGenerator(BackboneConfig(trunk=TrunkConfig(c_s=16, c_z=8, blocks=1), loss=c))
    t = model.training_times(20_000, torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    lo, hi, cut = c.t_min, 1 - c.t_min, c.low_t_max

    def cdf(x):
        wide = np.clip((x - lo) / (hi - lo), 0, 1)
        narrow = np.clip((x - lo) / (cut - lo), 0, 1)
        return (1 - fraction) * wide + fraction * narrow

    assert t.min() >= lo and t.max() <= hi
    assert kstest(t, cdf).pvalue > 1e-3
    assert abs(np.mean(t < cut) - cdf(cut)) < 0.01


@pytest.mark.parametrize("bad", [{"low_t_fraction": 1.5}, {"low_t_max": 0.005}])
def test_low_t_settings_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match="low_t_fraction must lie in"):
        BackboneGenerator(BackboneConfig(trunk=TrunkConfig(c_s=16, c_z=8, blocks=1), loss=LossConfig(**bad)))


@needs_data
def test_clash_loss_is_zero_on_the_data_and_prices_an_overlap_exactly(two_chains):
    """Real chains have no CA pair 3+ apart closer than 4 Å: zero loss. Moving residue j to 1 Å
    from residue i (|i - j| >= 3) costs 0.5 (0.4 - 0.1)^2 / L nm^2 for that pair, plus the pairs
    it now crowds elsewhere, as counted independently with cdist; a gradient step pulls i and j
    apart."""
    _, ds = two_chains
    batch = ds.get_batch([0])
    model = BackboneGenerator(tiny(clash_weight=1.0)).double()
    mask = batch["mask"].bool()
    x0 = batch["translations"].to(f64) * 0.1
    one = torch.ones(1, dtype=f64)
    assert float(model.clash_loss(x0, x0, mask, one)) == 0
    L = int(mask.sum())
    d = torch.cdist(x0[0], x0[0])
    i, j = 5, L - 6                       # far apart in sequence; put j 0.1 nm from i
    moved = x0.clone()
    moved[0, j] = x0[0, i] + torch.tensor([0.1, 0.0, 0.0], dtype=f64)
    d_new = torch.cdist(moved[0], moved[0])
    idx = torch.arange(L)
    far = (idx[None] - idx[:, None]).abs() >= 3
    short = torch.relu(torch.minimum(d, torch.full_like(d, 0.4)) - d_new) * far
    expected = 0.5 * float(short.pow(2).sum()) / L
    assert expected > 0.5 * 0.3 ** 2 / L - 1e-12          # at least the planted pair
    moved.requires_grad_(True)
    loss = model.clash_loss(x0, moved, mask, one)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    (g,) = torch.autograd.grad(loss, moved)
    step = moved.detach() - 0.1 * g
    assert float(torch.dist(step[0, i], step[0, j])) > 0.1
    assert float(model.clash_loss(x0, moved.detach(), mask, 0.5 * one)) == pytest.approx(4 * expected)


def test_models_saved_with_the_flat_config_still_load(tmp_path):
    """A ``config.json`` written before the config had sections loads into the same model; one of
    a recipe the package no longer ships is refused in one sentence."""
    import json

    flat = {**TINY, "trans_scale": 0.1, "recipe": "flow", "rot_rate": 10.0, "rot_train_schedule": "linear",
            "rot_sample_schedule": "exp", "t_clip": 0.05, "aux_weight": 1.0, "self_condition": False,
            "sample_steps": 50, "sample_rot_rate": 6.0, "beta_min": 0.1, "sample_noise_scale": 1.0}
    model = BackboneGenerator(tiny())
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"class": "BackboneGenerator", "config": flat}))
    loaded = BackboneGenerator.from_pretrained(tmp_path / "m")
    assert loaded.config == BackboneConfig(trunk=TrunkConfig(**TINY), loss=LossConfig(t_clip=0.05, aux_weight=1.0),
                                           sampler=SamplerConfig(steps=50, rot_rate=6.0))
    for key, value in (("recipe", "diffusion"), ("self_condition", True)):
        (tmp_path / "m" / "config.json").write_text(json.dumps({"class": "BackboneGenerator",
                                                                "config": {**flat, key: value}}))
        with pytest.raises(ValueError, match="no longer ships"):
            BackboneGenerator.from_pretrained(tmp_path / "m")


def test_sampling_feeds_the_network_on_its_own_device():
    """The sampler integrates on the host (the restraints and motifs work there in float64) and
    hands the network its inputs on the network's device (a stand-in, ``tests/device_check.py``)."""
    from tests.device_check import elsewhere, other_device

    model = elsewhere(BackboneGenerator(tiny()))
    with other_device():
        r, x, psi = model.sample_frames(12, n=2, seed=None, sampler=steps(3))
    assert r.shape == (2, 12, 3, 3) and x.shape == (2, 12, 3) and bool(torch.isfinite(x).all())
