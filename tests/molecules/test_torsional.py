"""Torsional diffusion: score-network symmetries, the torsion-noising path, the wrapped-normal
target, the sampler's wiring (exact score -> known torsions), training, and the generator."""
import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem, rdMolTransforms
from torch_geometric.data import Batch

from scidiff.manifolds.torus import wrap
from scidiff.manifolds.wrapped_normal import WrappedNormal
from scidiff.molecules.featurize import featurize
from scidiff.molecules.metrics import clashes, stereo_preserved
from scidiff.molecules.torsion_net import TorsionNetConfig, TorsionScoreNet
from scidiff.molecules.torsional import TorsionalDiffusion
from scidiff.molecules.torsional_conformers import TorsionalConformers
from scidiff.molecules.torsions import dihedrals
from scidiff.molecules.train import ConformerDataset
from scidiff.train import OptimConfig, TrainConfig, Trainer

f64 = torch.float64
TINY = TorsionNetConfig(ns=16, nv=4, layers=2, rbf=8, time_dim=8)
IBUPROFEN = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"
SMALL = ["CCCCO", IBUPROFEN, "CCOC(=O)c1ccccc1", "OCCN1CCOCC1", "CC(=O)NCCc1ccccc1"]


def embedded(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol


def random_rotation(gen, proper=True):
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=f64))
    if (torch.linalg.det(q) > 0) != proper:
        q = q * torch.tensor([-1.0, 1.0, 1.0], dtype=f64)
    return q


def bonds_and_angles(mol):
    bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    angles = [(n.GetIdx(), a.GetIdx(), m.GetIdx()) for a in mol.GetAtoms()
              for n in a.GetNeighbors() for m in a.GetNeighbors() if n.GetIdx() < m.GetIdx()]
    return torch.tensor(bonds).T, torch.tensor(angles).T


def geometry(pos, bonds, angles):
    lengths = (pos[bonds[0]] - pos[bonds[1]]).norm(dim=-1)
    u, v = pos[angles[0]] - pos[angles[1]], pos[angles[2]] - pos[angles[1]]
    return lengths, torch.atan2(torch.cross(u, v, dim=-1).norm(dim=-1), (u * v).sum(-1))


@pytest.fixture(scope="module")
def pair():
    """A batch of two molecules (float64 conformers) with their torsions turned at random."""
    gen = torch.Generator().manual_seed(0)
    batch = Batch.from_data_list([featurize(embedded(IBUPROFEN)), featurize(embedded("OCCN1CCOCC1"))])
    batch.pos = batch.pos.double()
    model = TorsionalDiffusion(net=TINY).double()
    pos, _ = model.noised(batch.pos, batch, torch.tensor([0.7, 0.9], dtype=f64), gen)
    return batch, pos


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return TorsionScoreNet(TINY).double()


def test_score_net_is_invariant_to_rigid_motions_and_odd_under_reflection(pair, net):
    batch, pos = pair
    gen = torch.Generator().manual_seed(1)
    t = torch.tensor([0.3, 0.8], dtype=f64)
    out = net(pos, t, batch)
    assert out.shape == (batch.torsion_index.shape[1],)
    assert out.abs().max() > 1e-4                                  # not trivially zero
    for _ in range(2):
        q = random_rotation(gen)
        shift = 10 * torch.randn(batch.num_graphs, 3, generator=gen, dtype=f64)[batch.batch]
        torch.testing.assert_close(net(pos @ q.T + shift, t, batch), out, atol=1e-5, rtol=0)
    # a mirror image has the opposite dihedrals, so the torsion score must change sign
    torch.testing.assert_close(net(pos @ random_rotation(gen, proper=False).T, t, batch), -out, atol=1e-5, rtol=0)


def test_score_net_is_permutation_invariant_and_blind_to_bond_direction(pair, net):
    batch, pos = pair
    data = batch.get_example(0)
    p = pos[batch.batch == 0]
    t = torch.tensor([0.4], dtype=f64)
    out = net(p, t, Batch.from_data_list([data]))
    gen = torch.Generator().manual_seed(2)
    perm = torch.randperm(data.num_nodes, generator=gen)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(len(perm))
    shuffled = data.clone()
    shuffled.x, shuffled.z = data.x[perm], data.z[perm]
    shuffled.edge_index, shuffled.torsion_index = inverse[data.edge_index], inverse[data.torsion_index]
    shuffled.side_index = torch.stack([data.side_index[0], inverse[data.side_index[1]]])
    torch.testing.assert_close(net(p[perm], t, Batch.from_data_list([shuffled])), out, atol=1e-5, rtol=0)
    # naming the bond k-j instead of j-k (quadruple l, k, j, i) describes the same dihedral
    flipped = data.clone()
    flipped.torsion_index = data.torsion_index.flip(0)
    torch.testing.assert_close(net(p, t, Batch.from_data_list([flipped])), out, atol=1e-5, rtol=0)


def test_noising_turns_only_torsions_and_keeps_bond_lengths_and_angles():
    mols = [embedded(IBUPROFEN), embedded("CC(=O)NCCc1ccccc1")]
    batch = Batch.from_data_list([featurize(m) for m in mols])
    batch.pos = batch.pos.double()
    model = TorsionalDiffusion(net=TINY).double()
    gen = torch.Generator().manual_seed(3)
    pos_t, path = model.noised(batch.pos, batch, torch.tensor([1.0, 0.6], dtype=f64), gen)
    x0, xt = dihedrals(batch.pos, batch.torsion_index), path.x[:, 0]
    torch.testing.assert_close(wrap(x0 + path.tangent[:, 0]), xt, atol=1e-9, rtol=0)
    torch.testing.assert_close(wrap(dihedrals(pos_t, batch.torsion_index) - xt), torch.zeros_like(xt), atol=1e-9, rtol=0)
    assert wrap(xt - x0).abs().min() > 1e-3                         # the torsions did move
    offset = 0
    for mol in mols:
        bonds, angles = bonds_and_angles(mol)
        n = mol.GetNumAtoms()
        before = geometry(batch.pos[offset:offset + n], bonds, angles)
        after = geometry(pos_t[offset:offset + n], bonds, angles)
        torch.testing.assert_close(after[0], before[0], atol=1e-10, rtol=0)
        torch.testing.assert_close(after[1], before[1], atol=1e-10, rtol=0)
        offset += n


def test_target_is_the_derivative_of_the_log_heat_kernel():
    batch = Batch.from_data_list([featurize(embedded(IBUPROFEN)), featurize(embedded("CCCCO"))])
    batch.pos = batch.pos.double()
    model = TorsionalDiffusion(net=TINY).double()
    gen = torch.Generator().manual_seed(4)
    n_fourier = torch.arange(1, 400, dtype=f64)

    def log_kernel(x, x0, sigma):   # Fourier series of the heat kernel on the circle: independent of the core
        terms = torch.exp(-0.5 * n_fourier**2 * sigma[:, None] ** 2) * torch.cos(n_fourier * (x - x0)[:, None])
        return torch.log((1 + 2 * terms.sum(-1)) / (2 * math.pi))

    for t in (0.2, 0.5, 0.8, 1.0):
        tt = torch.full((2,), t, dtype=f64)
        _, path = model.noised(batch.pos, batch, tt, gen)
        x0, xt, target = dihedrals(batch.pos, batch.torsion_index), path.x[:, 0], path.target[:, 0]
        sigma = model.sigma(tt)[batch.batch[batch.torsion_index[1]]]
        h = 1e-5 * sigma
        fd = (log_kernel(xt + h, x0, sigma) - log_kernel(xt - h, x0, sigma)) / (2 * h)
        torch.testing.assert_close(target, fd, atol=1e-4 / sigma.min().item(), rtol=1e-5)


@pytest.mark.parametrize("method", ["euler_maruyama", "euler"])
def test_sampler_with_the_exact_score_reaches_a_point_mass(method):
    """Target: every torsion at tau*. Its exact score at t is the wrapped-normal score around tau*
    with sigma(t), evaluated on the dihedrals of the conformer the sampler built."""
    mol = embedded(IBUPROFEN, seed=1)
    data = featurize(mol)
    data.pos = data.pos.double()
    batch = Batch.from_data_list([data, data.clone()])
    model = TorsionalDiffusion(net=TINY)
    ti = batch.torsion_index
    tau = torch.linspace(-2.5, 2.8, ti.shape[1], dtype=f64)
    calls = []

    def exact(pos, t, b):
        calls.append(float(t[0]))
        sigma = model.sigma(t)[b.batch[b.torsion_index[1]]]
        return WrappedNormal(tau, sigma).score(dihedrals(pos, b.torsion_index))

    pos, x = model.sample(batch, steps=20, method=method, generator=torch.Generator().manual_seed(5),
                          score_fn=exact, return_torsions=True)
    assert len(calls) == 20
    torch.testing.assert_close(wrap(dihedrals(pos, ti) - x), torch.zeros_like(x), atol=1e-9, rtol=0)
    assert wrap(x - tau).abs().max() < 0.05
    bonds, angles = bonds_and_angles(mol)
    n = mol.GetNumAtoms()
    for k in range(2):
        got, want = geometry(pos[k * n:(k + 1) * n], bonds, angles), geometry(data.pos, bonds, angles)
        torch.testing.assert_close(got[0], want[0], atol=1e-9, rtol=0)
        torch.testing.assert_close(got[1], want[1], atol=1e-9, rtol=0)


def test_loss_decreases_on_a_handful_of_molecules():
    torch.manual_seed(0)
    batch = Batch.from_data_list([featurize(embedded(s)) for s in SMALL])
    model = TorsionalDiffusion(net=TorsionNetConfig(ns=16, nv=4, layers=2))

    def evaluate():
        with torch.no_grad():
            return np.mean([float(model(batch, torch.Generator().manual_seed(100 + i))) for i in range(16)])

    def zero_predictor():          # the loss of a network that outputs 0, with the same noise
        out = []
        for i in range(16):
            g = torch.Generator().manual_seed(100 + i)
            t = model.process.t_min + (1 - model.process.t_min) * torch.rand(len(SMALL), generator=g, dtype=f64)
            target = model.noised(batch.pos, batch, t, g)[1].target[:, 0]
            out.append(float(((model.sigma(t.float())[batch.batch[batch.torsion_index[1]]] * target) ** 2).mean()))
        return np.mean(out)

    before, baseline = evaluate(), zero_predictor()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(100):
        loss = model(batch, torch.Generator().manual_seed(step))
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate()
    assert after < 0.92 * before and after < 0.92 * baseline, (before, baseline, after)


def test_trainer_drives_the_model_and_weights_round_trip(tmp_path):
    ds = ConformerDataset([embedded(s) for s in SMALL[:3]])
    torch.manual_seed(0)
    model = TorsionalDiffusion(net=TINY)
    cfg = TrainConfig(steps=3, batch_size=2, log_every=1, checkpoint_every=100, device="cpu",
                      optim=OptimConfig(lr=1e-3, warmup=1))
    last = Trainer(model, lambda net, batch, g: net(batch, g), ds, cfg, tmp_path / "run").fit()
    assert math.isfinite(last["loss"])
    model.save_pretrained(tmp_path / "model")
    loaded = TorsionalDiffusion.from_pretrained(tmp_path / "model")
    batch = ds.get_batch([0, 1])
    t = torch.tensor([0.3, 0.6])
    torch.testing.assert_close(loaded.net(batch.pos, t, batch), model.eval().net(batch.pos, t, batch))


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return TorsionalConformers(TorsionalDiffusion(net=TINY, steps=8), clash_free=False)   # an untrained net clashes often


def test_generate_gives_n_conformers_with_the_input_stereo(generator):
    smiles = "C/C=C/[C@H](O)CC[C@@H](C)N"                   # E double bond and two stereocentres
    mol = generator.generate(smiles, n=3, seed=0)
    assert mol.GetNumConformers() == 3
    reference = Chem.MolFromSmiles(smiles)
    for conf in mol.GetConformers():
        assert conf.GetProp("generator") == "torsional"
        assert stereo_preserved(reference, mol, conf.GetId())
    assert generator.last_stats["ok"] == 3
    again = generator.generate(smiles, n=3, seed=0)
    np.testing.assert_allclose(again.GetConformer(2).GetPositions(), mol.GetConformer(2).GetPositions())
    other = generator.generate(smiles, n=3, seed=1)
    assert not np.allclose(other.GetConformer(0).GetPositions(), mol.GetConformer(0).GetPositions())


def test_amide_bonds_keep_the_planar_local_structure(generator):
    """Amide C–N bonds are not sampled: every written amide dihedral is ETKDG's planar cis or trans."""
    smiles = "CNC(=O)[C@H](C)NC(C)=O"                       # Ac-Ala-NHMe: two amides
    mol = generator.generate(smiles, n=6, seed=0)
    amides = mol.GetSubstructMatches(Chem.MolFromSmarts("[#6]-[NX3]-[CX3]=[OX1]"))
    assert len(amides) == 2 and generator.last_stats["ok"] == 6
    for conf in mol.GetConformers():
        for quad in amides:
            omega = math.radians(rdMolTransforms.GetDihedralDeg(conf, *quad))
            assert abs(math.sin(omega)) < math.sin(math.radians(15))


def test_conformers_with_a_steric_clash_are_redrawn(generator):
    """An untrained network turns torsions at random and folds a long chain onto itself; the
    generator redraws those conformers (or, after its rounds, takes ETKDG's)."""
    smiles = "c1ccccc1CCCCCCCCc1ccccc1"
    raw = generator.generate(smiles, 8, seed=0)
    assert sum(clashes(raw, c.GetId()) > 0 for c in raw.GetConformers()) >= 4
    checked = TorsionalConformers(generator.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # the ETKDG fallback warns
        mol = checked.generate(smiles, 8, seed=0)
    assert mol.GetNumConformers() == 8
    assert all(clashes(mol, c.GetId()) == 0 for c in mol.GetConformers())
    assert checked.last_stats["resampled"] > 0


def test_molecules_without_rotatable_bonds_fall_back_to_etkdg_with_a_warning(generator):
    with pytest.warns(UserWarning, match="no rotatable bonds"):
        mol = generator.generate("c1ccccc1", n=2, seed=0)
    assert mol.GetNumConformers() == 2
    assert {c.GetProp("generator") for c in mol.GetConformers()} == {"etkdg"}
    with pytest.warns(UserWarning, match="outside the model's vocabulary"):
        mol = generator.generate("CCC[Ge](C)(C)C", n=1, seed=0)
    assert mol.GetConformer(0).GetProp("generator") == "etkdg"


def test_bundled_weights_load_by_default_and_keep_stereo():
    from scidiff.molecules import from_pretrained
    from scidiff.molecules.metrics import stereo_preserved

    gen = from_pretrained()
    assert isinstance(gen, TorsionalConformers) and gen.model.config.steps == 20
    smiles = "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O"
    mol = gen.generate(smiles, 4, seed=0)
    assert mol.GetNumConformers() == 4 and gen.last_stats["ok"] == 4
    assert all(stereo_preserved(Chem.MolFromSmiles(smiles), mol, c.GetId()) for c in mol.GetConformers())
    again = gen.generate(smiles, 4, seed=0)
    assert all(np.allclose(a.GetPositions(), b.GetPositions()) for a, b in zip(mol.GetConformers(), again.GetConformers()))


def test_generate_many_shares_network_calls_and_keeps_every_molecule(generator):
    """Several molecules' first round goes through one batch; a bad SMILES and an out-of-scope
    molecule keep their slots (an error, ETKDG conformers) without costing the others."""
    calls = []
    sample = generator.model.sample

    def counting(batch, *args, **kwargs):
        calls.append(batch.num_graphs)
        return sample(batch, *args, **kwargs)

    generator.model.sample = counting
    try:
        smiles = ["C/C=C/[C@H](O)CC[C@@H](C)N", "not a smiles", "c1ccccc1", IBUPROFEN, "CCCCO"]
        with pytest.warns(UserWarning, match="no rotatable bonds"):
            out = generator.generate_many(smiles, 3, seed=4)
    finally:
        del generator.model.sample
    assert calls == [9]                                   # 3 molecules x 3 conformers, one batch
    assert isinstance(out[1], ValueError)
    assert {c.GetProp("generator") for c in out[2].GetConformers()} == {"etkdg"}
    for i in (0, 3, 4):
        assert out[i].GetNumConformers() == 3
        assert {c.GetProp("generator") for c in out[i].GetConformers()} == {"torsional"}
        assert all(stereo_preserved(Chem.MolFromSmiles(smiles[i]), out[i], c.GetId()) for c in out[i].GetConformers())
    assert generator.last_stats["ok"] == 9 and generator.last_stats["etkdg"] == 3
    with pytest.warns(UserWarning):
        again = generator.generate_many(smiles, 3, seed=4)
    np.testing.assert_array_equal(again[3].GetConformer(1).GetPositions(), out[3].GetConformer(1).GetPositions())
    with pytest.raises(ValueError, match="not a smiles|SMILES"):
        generator.generate("not a smiles", 2)


def test_generate_many_keeps_going_when_one_molecule_has_no_local_structure(generator, monkeypatch):
    real = generator._graphs

    def picky(mol, data, k, seed, attempt):
        if mol.GetNumHeavyAtoms() == 5:                       # butanol
            raise ValueError("ETKDG could not embed any conformer")
        return real(mol, data, k, seed, attempt)

    monkeypatch.setattr(generator, "_graphs", picky)
    out = generator.generate_many(["CCCCO", IBUPROFEN], 2)
    assert isinstance(out[0], ValueError) and out[1].GetNumConformers() == 2


def test_generate_many_takes_a_conformer_count_per_molecule(generator):
    out = generator.generate_many(["CCCCO", IBUPROFEN], [1, 3], seed=0)
    assert [m.GetNumConformers() for m in out] == [1, 3]
    with pytest.raises(ValueError, match="2 conformer counts for 3 molecules"):
        generator.generate_many(["CCCCO", IBUPROFEN, "CCO"], [1, 3])
    with pytest.raises(ValueError, match="n must be >= 1"):
        generator.generate_many(["CCCCO"], 0)


def test_training_and_sampling_keep_to_the_model_device():
    """The loss and the sampler run with every tensor on the model's device (a stand-in second
    device, ``tests/device_check.py``)."""
    from tests.device_check import elsewhere, on_other_device, other_device

    torch.manual_seed(0)
    batch = Batch.from_data_list([featurize(embedded(s)) for s in ("CCCCO", IBUPROFEN)])
    model = elsewhere(TorsionalDiffusion(net=TINY))
    with other_device():
        on_model = batch.to(model.device)
        assert on_other_device(model(on_model)) and on_other_device(model.sample(on_model, steps=3))
