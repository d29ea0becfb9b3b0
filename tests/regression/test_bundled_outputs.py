"""The bundled models and the core samplers give, seed for seed, what they gave before the
rebuild of the house (issue 29): ``tests/data/bundled_outputs_a6cc8d6.npz`` was recorded at
commit a6cc8d6 by these same calls (written there against that commit's API).

Conformers, backbones and actions must agree within 1e-5 (Å or action units); the ETKDG local
structures that the torsional model starts from depend on the RDKit release, so the conformer
part runs only with the RDKit release of the recording (see ``__meta__``)."""
from __future__ import annotations

import ast
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import scidiff
from scidiff.manifolds import SO3, Torus, WrappedNormal

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "bundled_outputs_a6cc8d6.npz"
TOL = 1e-5


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as f:
        out = {k: f[k] for k in f.files}
    out["__meta__"] = ast.literal_eval(str(out["__meta__"]))
    return out


def _close(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, recorded {want.shape}"
    err = float(np.abs(got - want).max()) if got.size else 0.0
    assert err <= TOL, f"{what}: largest difference {err:.3g} from the recorded output"


def test_euclidean_samplers_on_the_demo_mixture(reference):
    from scidiff.demo import SAMPLERS, ring_mixture

    target = ring_mixture()
    for label, make, method, steps, opts in SAMPLERS:
        proc = make()
        x = scidiff.sample(target.model(proc, "x0"), proc, (64, 2), steps=steps, method=method,
                           generator=torch.Generator().manual_seed(0), dtype=torch.float64, **opts)
        _close(x, reference[f"core/{label}"], label)


def test_manifold_samplers_on_exact_fields(reference):
    proc = scidiff.HeatDiffusion(Torus(2))
    mu = torch.tensor([0.5, -1.0], dtype=torch.float64)

    def torus_score(x, t):
        s = proc.sigma(t.to(torch.float64))[:, None]
        return WrappedNormal(mu, (s**2 + 0.3**2).sqrt()).score(x)

    for method in ("euler", "heun", "euler_maruyama"):
        x = scidiff.sample(torus_score, proc, (32,), steps=20, method=method, generator=torch.Generator().manual_seed(1))
        _close(x, reference[f"manifold/torus/{method}"], f"torus {method}")
    flow = scidiff.GeodesicFlow(SO3(), schedule="exp", rate=10.0)
    target = SO3().random(1, generator=torch.Generator().manual_seed(5))[0]

    def so3_velocity(x, t):
        tt = float(t[0])
        rate = float(flow.data_fraction_rate(tt)) / max(1 - float(flow.data_fraction(tt)), 1e-9)
        return SO3().log(x, target.expand_as(x)) * rate

    for method in ("euler", "heun"):
        x = scidiff.sample(so3_velocity, flow, (16,), steps=20, method=method, generator=torch.Generator().manual_seed(2))
        _close(x, reference[f"manifold/so3/{method}"], f"SO(3) {method}")


def test_bundled_conformer_model(reference):
    rdkit = pytest.importorskip("rdkit")
    if rdkit.__version__ != reference["__meta__"]["rdkit"]:
        pytest.skip(f"recorded with RDKit {reference['__meta__']['rdkit']}, this is {rdkit.__version__} "
                    "(ETKDG's local structures differ between releases)")
    from scidiff.molecules import ETKDG, from_pretrained

    gen = from_pretrained()
    unguided = type(gen)(gen.model, torsion_prior=0.0, particle_guidance=0.0)
    for name, smiles in [("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("ibuprofen", "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O")]:
        for key, g, n, seed in (("torsional", gen, 4, 0), ("torsional_unguided", unguided, 3, 1), ("etkdg", ETKDG(), 3, 0)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mol = g.generate(smiles, n, seed=seed)
            _close(np.stack([c.GetPositions() for c in mol.GetConformers()]), reference[f"molecules/{key}/{name}"],
                   f"{key} conformers of {name}")


def test_bundled_backbone_model(reference):
    pytest.importorskip("Bio")
    from scidiff.proteins import BackboneGenerator, Restraints

    model = BackboneGenerator.from_pretrained()
    bbs = model.sample(40, n=2, seed=0, sampler=replace(model.config.sampler, steps=30), restraints=Restraints())
    _close(np.stack([b.coords for b in bbs]), reference["proteins/restrained"], "restrained backbones")
    bbs = model.sample(30, n=2, seed=3, sampler=replace(model.config.sampler, steps=20))
    _close(np.stack([b.coords for b in bbs]), reference["proteins/network"], "backbones of the network alone")


def test_bundled_pusht_policy(reference):
    pytest.importorskip("gym_pusht")
    from scidiff.policy import DiffusionPolicy, get_task

    policy = DiffusionPolicy.from_pretrained("pusht")
    task = get_task(policy.config.env, obs_type=policy.config.obs_type)
    env = task.make()
    obs, _ = env.reset(seed=100_000)
    obs = task.observe(obs)
    policy.reset()
    g = torch.Generator().manual_seed(0)
    actions = []
    for _ in range(20):
        a = policy.act(obs, generator=g)
        actions.append(a)
        obs = task.observe(env.step(a)[0])
    env.close()
    _close(np.stack(actions), reference["policy/pusht_actions"], "PushT actions")
    history = torch.tensor(np.stack([obs, obs]))[None].float()
    for method, steps in [("ddim", 10), ("dpm++2m", 5), ("ddpm", 10)]:
        plan = policy.predict_action(history, steps=steps, method=method, generator=torch.Generator().manual_seed(3))
        _close(plan, reference[f"policy/plan/{method}"], f"PushT plan ({method})")
