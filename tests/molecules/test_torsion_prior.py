"""ETKDG's experimental torsion terms as a prior on rotatable torsions: the score is the exact
derivative of the energy along each torsion, the terms batch with their graphs, and guidance by
them pulls the bundled model's backbone phi of a capped threonine into its crystal-structure well."""
import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem, rdDistGeom, rdMolTransforms
from torch_geometric.data import Batch

from scidiff.molecules.featurize import featurize
from scidiff.molecules.torsion_prior import attach, experimental_torsions, prior_energy, prior_score
from scidiff.molecules.torsional_conformers import TorsionalConformers
from scidiff.molecules.torsions import rotate_torsions

f64 = torch.float64
THR = "CNC(=O)[C@@H](NC(C)=O)[C@@H](C)O"          # Ac-Thr-NHMe, a GMTKN55 conformer set
PHI = Chem.MolFromSmarts("C(=O)N[CX4]C(=O)N")      # C'(i-1), O, N, CA, C' of the backbone phi


def graph(smiles, seed=0):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    data = attach(featurize(mol), mol)
    data.pos = torch.tensor(mol.GetConformer().GetPositions(), dtype=f64)
    return mol, data


def test_terms_sit_on_rotatable_bonds_and_keep_rdkits_coefficients():
    mol, data = graph(THR)
    atoms, owner, coef = experimental_torsions(mol, data.torsion_index)
    terms = rdDistGeom.GetExperimentalTorsions(mol)
    assert 0 < atoms.shape[1] <= len(terms) and coef.shape == (atoms.shape[1], 6)
    bonds = {frozenset(b) for b in data.torsion_index[1:3].T.tolist()}
    for (a, b, c, d), t in zip(atoms.T.tolist(), owner.tolist()):
        assert frozenset((b, c)) == frozenset(data.torsion_index[1:3, t].tolist()) and frozenset((b, c)) in bonds
    first = next(x for x in terms if frozenset(list(x["atomIndices"])[1:3]) in bonds)
    np.testing.assert_allclose(coef[0].numpy(), np.array(first["V"]) * np.array(first["signs"]))


def test_score_is_minus_the_energy_derivative_along_each_torsion_in_a_batch():
    """Two different molecules in one batch: turning torsion j by +-h changes the summed energy
    of torsion j only, and (E(+h) - E(-h)) / 2h matches -score to O(h^2)."""
    graphs = [graph(THR)[1], graph("CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O", seed=1)[1]]
    batch = Batch.from_data_list(graphs)
    assert int(batch.prior_torsion.max()) < batch.torsion_index.shape[1]
    assert batch.prior_index.max() >= graphs[0].num_nodes            # the second graph's atoms shifted
    score = prior_score(batch.pos, batch)
    graph_of = batch.batch[batch.torsion_index[1]]
    h = 1e-4
    for t in range(batch.torsion_index.shape[1]):
        delta = torch.zeros(batch.torsion_index.shape[1], dtype=f64)
        delta[t] = h
        up = prior_energy(rotate_torsions(batch.pos, batch.torsion_index, batch.side_index, delta, graph_of), batch)
        down = prior_energy(rotate_torsions(batch.pos, batch.torsion_index, batch.side_index, -delta, graph_of), batch)
        assert float((up - down)[t]) / (2 * h) == pytest.approx(-float(score[t]), abs=1e-6)
    assert (score != 0).any()


def test_guidance_pulls_threonine_phi_into_its_crystal_structure_well():
    """The bundled network alone puts about 17 % of phi on the D side (phi > 0, where ETKDG puts 2 %);
    with the prior at weight 1 nearly every phi is negative and most lie in [-160, -80] deg. The
    bundled default weight (0.25) moves phi the same way, less far."""
    mol = Chem.AddHs(Chem.MolFromSmiles(THR))
    stats = {}
    for w in (0.0, None, 1.0):
        gen = TorsionalConformers.from_pretrained(torsion_prior=w, particle_guidance=0)    # independent draws
        made = gen.generate(mol, 100, seed=0)
        c, _, n, ca, c2 = made.GetSubstructMatch(PHI)[:5]
        phi = np.array([rdMolTransforms.GetDihedralDeg(conf, c, n, ca, c2) for conf in made.GetConformers()])
        stats[gen.torsion_prior] = (np.mean(phi < 0), np.mean((phi > -160) & (phi < -80)))
    assert set(stats) == {0.0, 0.25, 1.0}, stats
    assert stats[0.0][0] < 0.9 and stats[1.0][0] > 0.95, stats
    assert stats[1.0][1] > stats[0.0][1] + 0.2, stats
    assert stats[0.0][1] < stats[0.25][1] < stats[1.0][1], stats
    with pytest.raises(ValueError, match="torsion_prior must be >= 0"):
        TorsionalConformers.from_pretrained(torsion_prior=-1.0)


def test_the_weight_defaults_to_the_models_config():
    from scidiff.molecules.torsion_net import TorsionNetConfig
    from scidiff.molecules.torsional import TorsionalDiffusion, TorsionalDiffusionConfig

    model = TorsionalDiffusion(TorsionalDiffusionConfig(net=TorsionNetConfig(ns=8, nv=2, layers=1), torsion_prior=0.5))
    assert TorsionalConformers(model).torsion_prior == 0.5
    assert TorsionalConformers(model, torsion_prior=0.0).torsion_prior == 0.0
