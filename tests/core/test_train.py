"""The shared Trainer: schedules, EMA, configs, checkpoints, exact resume, DDP, NaN guard."""
import json
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from scidiff.nn import MLPConfig, TimeMLP
from scidiff.train import OptimConfig, TrainConfig, Trainer, ema_decay, load_config, save_config, warmup_cosine
from scidiff.train import checkpoint as ckpt
from scidiff.train.mixture_task import MixtureTask

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def test_ema_decay_power_warmup():
    assert ema_decay(0) == 0.0
    assert ema_decay(1) == pytest.approx(1 - 2**-0.75)
    assert ema_decay(10**9) == 0.9999
    assert all(ema_decay(s) <= ema_decay(s + 1) for s in range(1000))


def test_warmup_cosine():
    assert warmup_cosine(0, 10, 100) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine(55, 10, 100) == pytest.approx(0.5)
    assert warmup_cosine(100, 10, 100, min_ratio=0.1) == pytest.approx(0.1)


def test_config_round_trips_through_yaml(tmp_path):
    cfg = load_config(MixtureTask, None, ["train.optim.lr=3e-4", "train.steps=77", "model.width=32", "process=rf"])
    assert cfg.train.optim.lr == 3e-4 and cfg.train.steps == 77 and cfg.model.width == 32 and cfg.process == "rf"
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(MixtureTask, tmp_path / "c.yaml") == cfg
    with pytest.raises(ValueError, match="unknown config key.*train.stpes"):
        load_config(MixtureTask, None, ["train.stpes=3"])
    with pytest.raises(ValueError, match="train.steps expects int"):
        load_config(MixtureTask, None, ["train.steps=many"])
    with pytest.raises(ValueError, match="key=value"):
        load_config(MixtureTask, None, ["train.steps"])


def _config(tmp_path, **train):
    t = dict(steps=400, batch_size=64, log_every=10, checkpoint_every=50, eval_every=0, progress=False,
             optim={"lr": 2e-3, "warmup": 20})
    t.update(train)
    data = {"domain": "mixture", "data_size": 1000, "model": {"width": 32, "depth": 2, "time_dim": 16}, "train": t}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _train(cfg, out, *extra, resume=False, wait=True, torchrun=0):
    cmd = [sys.executable, "-m", "scidiff.cli", "train", str(cfg), *extra, "--out", str(out)]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(torchrun), "--master_port",
               str(29500 + os.getpid() % 1000), "-m", "scidiff.cli", "train", str(cfg), *extra, "--out", str(out)]
    if resume:
        cmd.append("--resume")
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out_, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    return proc


def _wait_for_step(out, step, proc, timeout=300):
    log = Path(out) / "metrics.jsonl"
    start = time.time()
    while time.time() - start < timeout:
        if log.exists():
            rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            if rows and rows[-1].get("step", 0) >= step:
                return
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    raise TimeoutError(f"training did not reach step {step}")


def _final(out, step=400):
    return load_file(Path(out) / "checkpoints" / f"step_{step:08d}" / "tensors.safetensors")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    out = tmp / "run"
    _train(_config(tmp), out)
    return _final(out)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupted_and_resumed_run_ends_with_identical_weights(how, reference, tmp_path):
    cfg, out = _config(tmp_path), tmp_path / "run"
    proc = _train(cfg, out, wait=False)
    _wait_for_step(out, 130, proc)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=120)
    if how == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 130, err[-2000:]
        assert "continue with --resume" in err
    steps = [int(p.name[5:]) for p in ckpt.list_checkpoints(out / "checkpoints")]
    assert 100 <= max(steps) < 400
    _train(cfg, out, resume=True)
    final = _final(out)
    for key in [k for k in reference if k.startswith(("model.", "ema.", "optim."))]:
        assert torch.equal(final[key], reference[key]), key


def test_two_process_ddp_equals_one_process_with_the_same_global_batch(tmp_path):
    cfg = _config(tmp_path, steps=30, checkpoint_every=30)
    _train(cfg, tmp_path / "one", "train.grad_accum=2")
    _train(cfg, tmp_path / "ddp", "train.grad_accum=1", torchrun=2)
    a, b = _final(tmp_path / "one", 30), _final(tmp_path / "ddp", 30)
    for key in [k for k in a if k.startswith("model.")]:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)
    # and the first step really moved the weights (the comparison is not vacuous)
    init = TimeMLP(MLPConfig(width=32, depth=2, time_dim=16)).state_dict()
    assert any(not torch.allclose(a[f"model.{k}"], v) for k, v in init.items())


def _tiny_trainer(tmp_path, loss_fn, **cfg):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    c = TrainConfig(steps=cfg.pop("steps", 20), batch_size=8, progress=False, log_every=5,
                    checkpoint_every=cfg.pop("checkpoint_every", 5), optim=OptimConfig(lr=1e-2, warmup=1), **cfg)
    return Trainer(model, loss_fn, torch.randn(64, 2), c, tmp_path / "run")


def test_nonfinite_steps_are_skipped_then_stop(tmp_path):
    calls = {"n": 0}

    def sometimes_nan(model, batch, gen):
        calls["n"] += 1
        loss = (model(batch) ** 2).mean()
        return loss * math.nan if calls["n"] % 4 == 0 else loss

    t = _tiny_trainer(tmp_path, sometimes_nan)
    before = t.model.weight.detach().clone()
    last = t.fit()
    assert t.skipped == 5 and last["skipped"] == 5 and not torch.equal(before, t.model.weight)
    always = _tiny_trainer(tmp_path / "b", lambda m, b, g: (m(b) ** 2).mean() * math.inf, max_nonfinite=3)
    with pytest.raises(FloatingPointError, match="3 consecutive steps"):
        always.fit()


def test_checkpoints_pruned_refused_and_corruption_skipped(tmp_path):
    loss = lambda m, b, g: ((m(b) - b) ** 2).mean()
    t = _tiny_trainer(tmp_path, loss, keep_last=2)
    t.fit()
    folders = ckpt.list_checkpoints(t.ckpt_dir)
    assert [p.name for p in folders] == ["step_00000015", "step_00000020"]
    with pytest.raises(ValueError, match="pass resume=True"):
        _tiny_trainer(tmp_path, loss, keep_last=2).fit()
    tensors = folders[-1] / "tensors.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:100])                 # a truncated newest checkpoint
    with pytest.raises(ValueError, match="corrupt or truncated"):
        ckpt.load_checkpoint(folders[-1])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        folder, _, meta = ckpt.latest_valid(t.ckpt_dir)
    assert folder.name == "step_00000015" and meta["step"] == 15 and "trying the previous" in str(w[0].message)


def test_save_and_load_pretrained(tmp_path):
    model = TimeMLP(width=16, depth=1, time_dim=8, prediction="v")
    model.save_pretrained(tmp_path / "m")
    again = TimeMLP.from_pretrained(tmp_path / "m")
    x, t = torch.randn(5, 2), torch.rand(5)
    torch.testing.assert_close(again(x, t), model(x, t))
    assert again.prediction == "v"
    assert not any(p.suffix in (".pt", ".pth", ".pkl", ".bin") for p in (tmp_path / "m").iterdir())
    f = tmp_path / "m" / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        TimeMLP.from_pretrained(tmp_path / "m")
    TimeMLP(width=8, depth=1, time_dim=8).save_pretrained(tmp_path / "small")
    cfg = json.loads((tmp_path / "small" / "config.json").read_text())
    cfg["config"]["width"] = 16
    (tmp_path / "small" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match TimeMLP"):
        TimeMLP.from_pretrained(tmp_path / "small")
    with pytest.raises(ValueError, match="not a folder and not a bundled TimeMLP"):
        TimeMLP.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no default bundled weights"):
        TimeMLP.from_pretrained()


def test_init_from_starts_a_new_run_from_saved_weights(tmp_path):
    """Fine-tuning: ``init_from`` loads a save_pretrained folder before the first step (the EMA
    starts there too); a mismatched model is refused by name; a resumed run keeps its checkpoint."""
    src = TimeMLP(width=16, depth=1, time_dim=8)
    src.save_pretrained(tmp_path / "src")
    loss = lambda m, b, g: (m(b, torch.zeros(len(b))) ** 2).mean()
    cfg = TrainConfig(steps=0, batch_size=8, progress=False, init_from=str(tmp_path / "src"))
    torch.manual_seed(1)
    t = Trainer(TimeMLP(width=16, depth=1, time_dim=8), loss, torch.randn(64, 2), cfg, tmp_path / "run")
    for k, v in src.state_dict().items():
        torch.testing.assert_close(t.model.state_dict()[k], v)
        torch.testing.assert_close(t.ema.model.state_dict()[k], v)
    with pytest.raises(ValueError, match="does not match TimeMLP"):
        Trainer(TimeMLP(width=8, depth=1, time_dim=8), loss, torch.randn(64, 2), cfg, tmp_path / "run2")
    cfg.steps = 5
    t = Trainer(TimeMLP(width=16, depth=1, time_dim=8), loss, torch.randn(64, 2), cfg, tmp_path / "run3")
    t.fit()
    trained = {k: v.clone() for k, v in t.model.state_dict().items()}
    assert any(not torch.equal(src.state_dict()[k], v) for k, v in trained.items())
    again = Trainer(TimeMLP(width=16, depth=1, time_dim=8), loss, torch.randn(64, 2), cfg, tmp_path / "run3")
    again.fit(resume=True)
    assert all(torch.equal(again.model.state_dict()[k], v) for k, v in trained.items())


def test_train_cli_bad_config(tmp_path, capsys):
    from scidiff.cli import main

    (tmp_path / "c.yaml").write_text("domain: chemistry\n")
    assert main(["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o")]) == 1
    assert "'domain' must name a training task" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 1


def test_train_cli_takes_overrides_before_or_after_the_options(tmp_path, capsys):
    from scidiff.cli import main
    cfg = _config(tmp_path, steps=400)
    assert main(["train", str(cfg), "--out", str(tmp_path / "a"), "train.steps=3", "model.width=8"]) == 0
    saved = load_config(MixtureTask, tmp_path / "a" / "config.yaml")
    assert saved.train.steps == 3 and saved.model.width == 8
    assert main(["train", str(cfg), "train.steps=2", "--out", str(tmp_path / "b"), "model.width=8"]) == 0
    saved = load_config(MixtureTask, tmp_path / "b" / "config.yaml")
    assert saved.train.steps == 2 and saved.model.width == 8
    with pytest.raises(SystemExit):
        main(["train", str(cfg), "--out", str(tmp_path / "c"), "--stpes", "3"])
    assert "unrecognized arguments: --stpes" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_model_trains(tmp_path):
    """torch.compile on CPU (about 30 s of compilation), same loop."""
    t = _tiny_trainer(tmp_path, lambda m, b, g: ((m(b) - b) ** 2).mean(), compile=True)
    first = t.model.weight.detach().clone()
    t.fit()
    assert not torch.equal(first, t.model.weight)


def test_checkpoint_every_zero_saves_only_at_the_end(tmp_path):
    from scidiff.train import checkpoint as ckpt

    cfg = TrainConfig(steps=5, batch_size=8, checkpoint_every=0, progress=False, log_every=5)
    Trainer(torch.nn.Linear(2, 2), lambda net, b, g: net(b).pow(2).mean(), torch.randn(32, 2), cfg, tmp_path).fit()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "checkpoints")] == ["step_00000005"]


def test_ema_pairs_parameters_by_name_not_position():
    class Swapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 3), torch.nn.Linear(3, 2)

    from scidiff.train.ema import EMA

    model = Swapped()
    ema = EMA(model)
    ema.model._modules = dict(reversed(list(ema.model._modules.items())))   # same names, other order
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model, step=0)                                                 # decay 0: copy exactly
    for name, p in model.named_parameters():
        torch.testing.assert_close(dict(ema.model.named_parameters())[name], p)


def test_resume_needs_a_checkpoint_and_the_same_config(tmp_path):
    """--resume without a usable checkpoint, or with a train config other than the checkpoint's
    (a changed batch, seed, optimiser), is refused naming what it found or what differs; the
    number of steps may change. A model that no longer fits the checkpoint is one sentence too."""
    loss = lambda m, b, g: ((m(b) - b) ** 2).mean()           # noqa: E731
    with pytest.raises(ValueError, match=r"holds no usable checkpoint \(found: nothing\)"):
        _tiny_trainer(tmp_path, loss).fit(resume=True)
    _tiny_trainer(tmp_path, loss, steps=10).fit()
    with pytest.raises(ValueError, match="differs from the checkpoint's in batch_size, optim.lr"):
        t = _tiny_trainer(tmp_path, loss, steps=10)
        t.cfg.batch_size, t.cfg.optim.lr = 16, 1e-3
        t.fit(resume=True)
    assert _tiny_trainer(tmp_path, loss, steps=15).fit(resume=True)["step"] == 15     # more steps: fine
    torch.manual_seed(0)
    wider = Trainer(torch.nn.Linear(2, 3), loss, torch.randn(64, 2), _tiny_trainer(tmp_path, loss, steps=20).cfg,
                    tmp_path / "run")
    with pytest.raises(ValueError, match="does not hold this model"):
        wider.fit(resume=True)
    for f in (tmp_path / "run" / "checkpoints").glob("step_*/meta.json"):
        f.write_text("{")                                                              # every checkpoint broken
    with pytest.raises(ValueError, match="found: step_00000005, step_00000010, step_00000015, none of them readable"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _tiny_trainer(tmp_path, loss, steps=20).fit(resume=True)


def test_a_resumed_task_may_not_change_its_model(tmp_path):
    from scidiff.train.mixture_task import run

    cfg = {"domain": "mixture", "data_size": 200, "model": {"width": 16, "depth": 1, "time_dim": 8},
           "train": {"steps": 3, "batch_size": 16, "progress": False, "log_every": 1, "checkpoint_every": 3}}
    run(cfg, tmp_path / "o")
    changed = {**cfg, "model": {**cfg["model"], "width": 32}}
    with pytest.raises(ValueError, match=r"differs from the run's .* in model.width"):
        run(changed, tmp_path / "o", resume=True)
    assert run({**cfg, "train": {**cfg["train"], "steps": 5}}, tmp_path / "o", resume=True)["step"] == 5


def test_an_interrupted_run_reports_the_step_of_its_checkpoint(tmp_path):
    """The metrics returned on interruption name the step the checkpoint holds (7 here), not the
    last logged one (5)."""
    holder = {}

    def loss(model, batch, gen):
        if holder["t"].step == 6:
            holder["t"]._stop = True                   # as SIGINT would, during step 7
        return ((model(batch) - batch) ** 2).mean()

    holder["t"] = t = _tiny_trainer(tmp_path, loss, steps=20, checkpoint_every=0)
    last = t.fit()
    assert last["interrupted"] and last["step"] == 7 and (t.ckpt_dir / "step_00000007").is_dir()
