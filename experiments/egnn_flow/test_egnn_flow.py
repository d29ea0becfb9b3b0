"""The all-atom coordinate flow: EGNN symmetries, the CoM-free prior, training, and conformers whose
stereochemistry is always the input's (mirror fix, resampling, ETKDG fallback)."""
import warnings

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem
from torch_geometric.data import Batch

from experiments.egnn_flow.coordinate_flow import (CoordinateFlow, CoordinateFlowConfig, FlowConformers,
                                                   com_free_noise, fix_mirror_image, kabsch_rotate)
from experiments.egnn_flow.egnn import EGNN, EGNNConfig, mean_per_molecule
from experiments.egnn_flow.train import run
from scidiff.molecules.featurize import featurize
from scidiff.molecules.metrics import stereo_preserved
from scidiff.molecules.train import ConformerDataset, validation_loss
from scidiff.train import OptimConfig, TrainConfig, Trainer

TINY = EGNNConfig(hidden=32, layers=2, rbf=16, time_dim=16)
THREONINE = "C[C@@H](O)[C@H](N)C(=O)O"                 # two stereocentres
SMALL = ["C[C@H](N)C(=O)O", THREONINE, "CC(=O)Oc1ccccc1C(=O)O", "C/C=C/[C@H](O)CC", "CN1CCC[C@H]1c1cccnc1",
         "OCC1OC(O)C(O)C1O"]


def embedded(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


def random_rotation(gen, proper=True):
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    if (torch.linalg.det(q) > 0) != proper:
        q = q * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    return q


@pytest.fixture(scope="module")
def pair():
    """A batch of two different molecules and noisy coordinates (float64)."""
    gen = torch.Generator().manual_seed(0)
    batch = Batch.from_data_list([featurize(embedded("CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O")), featurize(embedded(THREONINE))])
    pos = batch.pos.double() + 0.7 * torch.randn(batch.pos.shape, generator=gen, dtype=torch.float64)
    return batch, pos


@pytest.fixture(scope="module")
def egnn():
    torch.manual_seed(0)
    net = EGNN(TINY).double()
    for layer in net.layers:          # give the coordinate head real weight (it starts at gain 0.01)
        torch.nn.init.normal_(layer.coord_mlp[-1].weight, std=0.3)
    return net


def test_egnn_is_rotation_reflection_and_translation_equivariant(pair, egnn):
    batch, pos = pair
    gen = torch.Generator().manual_seed(1)
    t = torch.rand(batch.num_graphs, generator=gen, dtype=torch.float64)[batch.batch]
    out = egnn(pos, t, batch)
    assert out.abs().max() > 1e-2                               # not trivially zero
    for proper in (True, False):
        q = random_rotation(gen, proper)
        shift = 10 * torch.randn(batch.num_graphs, 3, generator=gen, dtype=torch.float64)[batch.batch]
        moved = egnn(pos @ q.T + shift, t, batch)
        torch.testing.assert_close(moved, out @ q.T, atol=1e-5, rtol=0)


def test_egnn_is_permutation_equivariant(egnn):
    mol = embedded(THREONINE)
    data = featurize(mol)
    gen = torch.Generator().manual_seed(2)
    pos = data.pos.double() + 0.5 * torch.randn(data.pos.shape, generator=gen, dtype=torch.float64)
    t = torch.full((data.num_nodes,), 0.4, dtype=torch.float64)
    perm = torch.randperm(data.num_nodes, generator=gen)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    shuffled = data.clone()
    shuffled.x, shuffled.edge_index = data.x[perm], inverse[data.edge_index]
    out = egnn(pos, t, Batch.from_data_list([data]))
    out_perm = egnn(pos[perm], t, Batch.from_data_list([shuffled]))
    torch.testing.assert_close(out_perm, out[perm], atol=1e-10, rtol=0)


def test_egnn_output_and_prior_are_com_free_per_molecule(pair, egnn):
    batch, pos = pair
    out = egnn(pos, torch.full((pos.shape[0],), 0.5, dtype=torch.float64), batch)
    assert mean_per_molecule(out, batch.batch).abs().max() < 1e-10
    noise = com_free_noise(batch.batch, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert mean_per_molecule(noise, batch.batch).abs().max() < 1e-12
    assert 0.7 < float(noise.std()) < 1.3


def test_kabsch_rotates_properly_and_never_reflects(pair):
    batch, pos = pair
    x = pos - mean_per_molecule(pos, batch.batch)[batch.batch]
    gen = torch.Generator().manual_seed(3)
    q = random_rotation(gen, proper=True)
    torch.testing.assert_close(kabsch_rotate(x, x @ q.T, batch.batch, 2), x @ q.T, atol=1e-8, rtol=0)
    mirror = -x @ q.T                                            # an improper target: best proper fit only
    fit = kabsch_rotate(x, mirror, batch.batch, 2)
    vol = lambda p: torch.linalg.det(torch.stack([p[1] - p[0], p[2] - p[0], p[3] - p[0]]))
    for k in range(2):                                           # rigid per molecule, chirality kept
        a, b = fit[batch.batch == k], x[batch.batch == k]
        torch.testing.assert_close(torch.cdist(a, a), torch.cdist(b, b), atol=1e-6, rtol=0)
        assert torch.sign(vol(a)) == torch.sign(vol(b))


def test_sampling_gives_centred_coordinates_in_angstrom():
    torch.manual_seed(0)
    model = CoordinateFlow(egnn=TINY)
    batch = Batch.from_data_list([featurize(embedded(s)) for s in SMALL[:2]])
    for method in ("euler", "heun"):
        pos = model.sample(batch, steps=4, method=method, generator=torch.Generator().manual_seed(0))
        assert pos.shape == (batch.num_nodes, 3) and torch.isfinite(pos).all()
        assert mean_per_molecule(pos, batch.batch).abs().max() < 1e-5
        assert 1.0 < float(pos.std()) < 5.0                   # the 2.5 Å prior, barely moved by an untrained net


def test_loss_decreases_when_training_a_tiny_model(tmp_path):
    mols = [embedded(s, seed=i) for i, s in enumerate(SMALL)]
    ds = ConformerDataset(mols)
    torch.manual_seed(0)
    model = CoordinateFlow(CoordinateFlowConfig(egnn=TINY))
    before = validation_loss(model, ds, batch_size=6)
    cfg = TrainConfig(steps=100, batch_size=6, log_every=50, checkpoint_every=1000, progress=False,
                      optim=OptimConfig(lr=1e-2, warmup=10))
    trainer = Trainer(model, lambda net, b, g: net(b, g), ds, cfg, tmp_path / "run")
    trainer.fit()
    after = validation_loss(trainer.model, ds, batch_size=6)
    assert after < 0.7 * before, (before, after)         # seed 0: 0.87 -> 0.45


def test_run_trains_from_a_ccd_style_cache_and_saves_a_loadable_model(tmp_path):
    cache = tmp_path / "ccd"
    cache.mkdir()
    for split, smiles in (("train", SMALL), ("val", SMALL[:2]), ("test", SMALL[:1])):
        with Chem.SDWriter(str(cache / f"{split}.sdf")) as w:
            for i, s in enumerate(smiles):
                w.write(embedded(s, seed=i))
    cfg = {"domain": "molecules", "cache_dir": str(cache), "eval_molecules": 2,
           "model": {"egnn": {"hidden": 16, "layers": 1, "rbf": 8, "time_dim": 8}},
           "train": {"steps": 4, "batch_size": 3, "eval_every": 2, "log_every": 2, "progress": False}}
    last = run(cfg, tmp_path / "out")
    assert last["step"] == 4 and np.isfinite(last["loss"])
    model = CoordinateFlow.from_pretrained(tmp_path / "out" / "model")
    assert model.config.egnn.hidden == 16
    mol = FlowConformers(model, steps=3).generate("CCO", 2, seed=0)
    assert mol.GetNumConformers() == 2


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return FlowConformers(CoordinateFlow(egnn=TINY), steps=5)


@pytest.mark.parametrize("smiles", ["C[C@H](N)C(=O)O", THREONINE, "C/C=C/[C@H](O)CC"])
def test_generated_conformers_keep_the_stereochemistry_even_untrained(untrained, smiles):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # an untrained model may need the ETKDG fallback
        mol = untrained.generate(smiles, 8, seed=0)
    ref = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert mol.GetNumConformers() == 8 and mol.GetNumAtoms() == ref.GetNumAtoms()
    assert all(stereo_preserved(ref, mol, c.GetId()) for c in mol.GetConformers())
    stats = untrained.last_stats
    assert stats["ok"] + stats["reflected"] + stats["etkdg"] == 8
    assert {c.GetProp("generator") for c in mol.GetConformers()} <= {"flow", "flow-reflected", "etkdg"}


def test_generation_is_reproducible(untrained):
    a = untrained.generate("C[C@H](N)C(=O)O", 3, seed=5)
    b = untrained.generate("C[C@H](N)C(=O)O", 3, seed=5)
    c = untrained.generate("C[C@H](N)C(=O)O", 3, seed=6)
    pos = lambda m: np.stack([x.GetPositions() for x in m.GetConformers()])
    np.testing.assert_array_equal(pos(a), pos(b))
    assert not np.allclose(pos(a), pos(c))


def test_a_model_that_never_gets_the_stereo_right_falls_back_to_etkdg(monkeypatch):
    gen = FlowConformers(CoordinateFlow(egnn=TINY), steps=2, max_retries=1)
    flat = lambda batch, *a, **k: torch.zeros(batch.num_nodes, 3)       # collapsed: no stereo at all
    monkeypatch.setattr(gen.model, "sample", flat)
    with pytest.warns(UserWarning, match="replaced by ETKDG"):
        mol = gen.generate(THREONINE, 4, seed=0)
    assert gen.last_stats["etkdg"] == 4
    assert all(stereo_preserved(Chem.MolFromSmiles(THREONINE), mol, c.GetId()) for c in mol.GetConformers())


@pytest.mark.parametrize("smiles,reason", [("C[Sn](C)(C)CC", "Sn"), ("F[Xe]F", "Xe"),
                                           ("CCCCCCCCCC[C@H](N)C", "max_atoms = 30")])
def test_out_of_scope_molecules_warn_and_get_etkdg(untrained, smiles, reason):
    gen = FlowConformers(untrained.model, steps=2, max_atoms=30)
    with pytest.warns(UserWarning, match=reason):
        mol = gen.generate(smiles, 2, seed=0)
    ref = Chem.MolFromSmiles(smiles)
    assert mol.GetNumConformers() == 2 and mol.GetNumAtoms() == Chem.AddHs(ref).GetNumAtoms()
    assert {c.GetProp("generator") for c in mol.GetConformers()} == {"etkdg"}
    assert all(stereo_preserved(ref, mol, c.GetId()) for c in mol.GetConformers())


def test_mirror_fix_restores_a_fully_inverted_conformer_and_refuses_a_diastereomer():
    ref = Chem.AddHs(Chem.MolFromSmiles(THREONINE))
    mol = embedded(THREONINE)
    assert fix_mirror_image(ref, mol) == "ok"
    good = mol.GetConformer().GetPositions()
    mol.GetConformer().SetPositions(good * np.array([-1.0, 1.0, 1.0]))      # the enantiomer
    assert not stereo_preserved(ref, mol)
    assert fix_mirror_image(ref, mol) == "reflected"
    assert stereo_preserved(ref, mol)
    diastereomer = embedded("C[C@H](O)[C@H](N)C(=O)O")                      # one centre flipped, same atom order
    before = diastereomer.GetConformer().GetPositions()
    assert fix_mirror_image(ref, diastereomer) == "failed"
    np.testing.assert_array_equal(diastereomer.GetConformer().GetPositions(), before)
