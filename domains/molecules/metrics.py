"""Conformer-ensemble metrics: symmetry-aware RMSD, GEOM coverage/matching, bioactive recovery, sanity checks.

RMSD. Heavy-atom RMSD (Å) after optimal rigid superposition, minimised over the atom mappings
between the two molecules, computed as RDKit's ``rdMolAlign.GetBestRMS`` on hydrogen-free copies
(the published GeoMol / Torsional Diffusion protocol). The mappings are enumerated once per
molecule pair exactly as ``GetBestRMS`` does internally (substructure matches, ``uniquify=False``,
chirality ignored, conjugated terminal groups such as carboxylate, nitro and amidine treated as
symmetric) and then handed to ``GetBestRMS`` in chunks, which (a) avoids repeating the search for
every conformer pair of a matrix and (b) lets us enforce limits. Highly symmetric molecules
(e.g. four CF3 groups on one carbon: 31 104 mappings) can make the exhaustive search slow, so the
enumeration stops at ``max_matches`` mappings and the evaluation at ``timeout`` seconds. The
first mapping evaluated is always the fixed one, i.e. ``rdMolAlign.AlignMol``'s (the identity when
both molecules list their heavy atoms in the same order, else the first substructure match), so a
truncated result is the minimum over a subset: an upper bound on the true value, never above the
fixed-mapping RMSD, always finite. Truncation is flagged (``RMSDResult.exhaustive``, a
``RuntimeWarning``, the mask of ``rmsd_matrix(..., return_exhaustive=True)``), never silent.

GEOM protocol (GeoMol, Torsional Diffusion). For one molecule with K reference conformers and
(usually 2K) generated ones, ``R[i, j]`` is the RMSD of reference i to generated j, shape
(K_ref, K_gen), Å. With threshold delta (0.75 Å on GEOM-DRUGS, 0.5 Å on GEOM-QM9):

- COV-R = fraction of references i with min_j R[i, j] < delta (strict), MAT-R = mean_i min_j R[i, j];
- COV-P = fraction of generated j with min_i R[i, j] < delta (strict), MAT-P = mean_j min_i R[i, j].

Ensembles are summarised by the mean and the median over molecules.

Bioactive recovery (PDBBind / Platinum-style benchmarks). For each ligand, the minimum RMSD of
its first n generated conformers to the bioactive (crystal) conformer; reported as the median and
the fractions at or below 0.5, 1.0 and 2.0 Å.

Sanity checks (coarse; they catch broken geometry, not force-field quality). ``stereo_preserved``
compares CIP labels (R/S, r/s, E/Z) of the input with those perceived from a conformer's 3D
coordinates. ``bond_geometry_ok`` compares bond lengths with UFF rest lengths and bond angles with
UFF rest angles (regular-polygon angles inside 3-, 4- and 5-membered rings). ``clashes`` counts
atom pairs more than three bonds apart that sit closer than a fraction of their van der Waals
radii sum.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import ChemicalForceFields, rdCIPLabeler, rdMolAlign

DEFAULT_MAX_MATCHES = 10_000   # atom mappings enumerated per molecule pair at most
DEFAULT_TIMEOUT = 10.0         # seconds of alignment per conformer pair at most
_CHUNK = 64                    # mappings per GetBestRMS call between clock checks

# RDKit's MolAlign::details::symmetrizeTerminalAtoms: a terminal O/N conjugated with another
# terminal O/N on the same atom (carboxylate, nitro, amidine) loses its charge and bond order.
_TERMINAL_GROUP = Chem.MolFromSmarts(
    "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]")
_SINGLE_OR_DOUBLE = Chem.MolFromSmarts("*-,=*").GetBondWithIdx(0)


# --------------------------------------------------------------------------------------------
# RMSD
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RMSDResult:
    rmsd: float          # Å, minimum over the mappings evaluated
    n_mappings: int      # atom mappings evaluated
    exhaustive: bool     # False: enumeration or evaluation was cut short (upper bound, fallback)


@dataclass(frozen=True)
class _Mappings:
    maps: list           # list of [(probe heavy-atom idx, reference heavy-atom idx), ...]
    complete: bool       # every symmetry mapping is in ``maps``


def _heavy(mol: Chem.Mol) -> Chem.Mol:
    """Hydrogen-free copy with all conformers (the input is untouched). Substance groups are
    dropped first: RDKit keeps every hydrogen an SGroup mentions (the Platinum SDF has them)."""
    copy = Chem.Mol(mol)
    Chem.ClearMolSubstanceGroups(copy)
    return Chem.RemoveAllHs(copy, sanitize=False)


def _symmetrized(mol: Chem.Mol) -> Chem.Mol:
    query = Chem.RWMol(mol)
    for terminal, centre in query.GetSubstructMatches(_TERMINAL_GROUP):
        query.GetAtomWithIdx(terminal).SetFormalCharge(0)
        query.ReplaceBond(query.GetBondBetweenAtoms(terminal, centre).GetIdx(), _SINGLE_OR_DOUBLE)
    return query


def _identity_is_isomorphism(probe: Chem.Mol, ref: Chem.Mol) -> bool:
    if probe.GetNumAtoms() != ref.GetNumAtoms() or probe.GetNumBonds() != ref.GetNumBonds():
        return False
    if any(a.GetAtomicNum() != b.GetAtomicNum() for a, b in zip(probe.GetAtoms(), ref.GetAtoms())):
        return False
    return all(probe.GetBondBetweenAtoms(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) is not None
               for b in ref.GetBonds())


def _mappings(probe: Chem.Mol, ref: Chem.Mol, max_matches: int) -> _Mappings:
    """Atom mappings between two hydrogen-free molecules, fixed mapping first."""
    if max_matches < 1:
        raise ValueError(f"max_matches must be >= 1, got {max_matches}")
    if probe.GetNumAtoms() != ref.GetNumAtoms():
        raise ValueError(f"different molecules: {probe.GetNumAtoms()} vs {ref.GetNumAtoms()} heavy atoms "
                         f"({Chem.MolToSmiles(probe)} vs {Chem.MolToSmiles(ref)})")
    matches = ref.GetSubstructMatches(_symmetrized(probe), uniquify=False, useChirality=False,
                                      maxMatches=max_matches + 1)
    if not matches:
        raise ValueError(f"different molecules: no atom mapping between {Chem.MolToSmiles(probe)} "
                         f"and {Chem.MolToSmiles(ref)}")
    complete = len(matches) <= max_matches
    matches = list(matches[:max_matches])
    if _identity_is_isomorphism(probe, ref):       # AlignMol's fixed mapping: same atom order
        identity = tuple(range(ref.GetNumAtoms()))
        matches = [m for m in matches if m != identity]
        if len(matches) == max_matches:
            matches.pop()
            complete = False
        matches.insert(0, identity)
    return _Mappings([list(enumerate(m)) for m in matches], complete)


def _best_over(probe: Chem.Mol, ref: Chem.Mol, probe_id: int, ref_id: int, mappings: _Mappings,
               timeout: float) -> RMSDResult:
    """Minimum RMSD over ``mappings``; ``probe`` must be a private copy (restored after use).

    GetBestRMS leaves the probe conformer aligned; we put it back after every call so that no
    result depends on earlier ones (round-off from repeated moves reaches ~1e-6 Å).
    """
    conf = probe.GetConformer(probe_id)
    original = conf.GetPositions()
    deadline = time.perf_counter() + timeout
    best, done = np.inf, 0
    for start in range(0, len(mappings.maps), _CHUNK):
        chunk = mappings.maps[start:start + _CHUNK]
        best = min(best, rdMolAlign.GetBestRMS(probe, ref, probe_id, ref_id, map=chunk))
        conf.SetPositions(original)
        done += len(chunk)
        if time.perf_counter() > deadline:
            break
    return RMSDResult(float(best), done, mappings.complete and done == len(mappings.maps))


def _warn_truncated(what: str, max_matches: int, timeout: float) -> None:
    warnings.warn(f"{what}: symmetry search cut short (max_matches={max_matches}, timeout={timeout} s); "
                  "reported RMSD is the best over the mappings tried (an upper bound)",
                  RuntimeWarning, stacklevel=3)


def best_rms_detail(probe: Chem.Mol, ref: Chem.Mol, probe_id: int = -1, ref_id: int = -1, *,
                    max_matches: int = DEFAULT_MAX_MATCHES,
                    timeout: float = DEFAULT_TIMEOUT) -> RMSDResult:
    """Symmetry-aware heavy-atom RMSD (Å) of one conformer pair, with how it was obtained.

    ``probe`` and ``ref`` are the same molecule (atom orders may differ; hydrogens are ignored).
    Neither input is modified. ``exhaustive`` is False when ``max_matches`` or ``timeout``
    (seconds) cut the symmetry search short; ``rmsd`` is then an upper bound (see module doc).
    """
    probe_h, ref_h = _heavy(probe), _heavy(ref)
    mappings = _mappings(probe_h, ref_h, max_matches)
    return _best_over(probe_h, ref_h, probe_id, ref_id, mappings, timeout)


def best_rms(probe: Chem.Mol, ref: Chem.Mol, probe_id: int = -1, ref_id: int = -1, *,
             max_matches: int = DEFAULT_MAX_MATCHES, timeout: float = DEFAULT_TIMEOUT) -> float:
    """Symmetry-aware heavy-atom RMSD in Å after optimal alignment (``GetBestRMS`` on H-free copies).

    Inputs are not modified. A cut-short search (see ``best_rms_detail``) warns with a
    ``RuntimeWarning`` and returns the best RMSD over the mappings tried.
    """
    result = best_rms_detail(probe, ref, probe_id, ref_id, max_matches=max_matches, timeout=timeout)
    if not result.exhaustive:
        _warn_truncated("best_rms", max_matches, timeout)
    return result.rmsd


def rmsd_matrix(generated: Chem.Mol, reference: Chem.Mol, *, max_matches: int = DEFAULT_MAX_MATCHES,
                timeout: float = DEFAULT_TIMEOUT, return_exhaustive: bool = False):
    """RMSD (Å) of every reference conformer to every generated one: array (n_ref, n_gen).

    Both Mols hold conformers of the same molecule; their atom orders may differ. Mappings are
    enumerated once; ``timeout`` applies per conformer pair. With ``return_exhaustive`` the result
    is ``(rmsd, exhaustive)`` with ``exhaustive`` a bool array (n_ref, n_gen); pairs whose search
    was cut short also raise one ``RuntimeWarning``.
    """
    gen_h, ref_h = _heavy(generated), _heavy(reference)
    gen_ids = [c.GetId() for c in gen_h.GetConformers()]
    ref_ids = [c.GetId() for c in ref_h.GetConformers()]
    if not gen_ids or not ref_ids:
        raise ValueError(f"need conformers on both sides, got {len(ref_ids)} reference and "
                         f"{len(gen_ids)} generated")
    mappings = _mappings(gen_h, ref_h, max_matches)
    rmsd = np.empty((len(ref_ids), len(gen_ids)))
    exhaustive = np.empty(rmsd.shape, dtype=bool)
    for i, rid in enumerate(ref_ids):
        for j, gid in enumerate(gen_ids):
            result = _best_over(gen_h, ref_h, gid, rid, mappings, timeout)
            rmsd[i, j], exhaustive[i, j] = result.rmsd, result.exhaustive
    if not exhaustive.all():
        _warn_truncated(f"rmsd_matrix ({int((~exhaustive).sum())} of {exhaustive.size} pairs)",
                        max_matches, timeout)
    return (rmsd, exhaustive) if return_exhaustive else rmsd


# --------------------------------------------------------------------------------------------
# GEOM coverage / matching
# --------------------------------------------------------------------------------------------

def coverage_matching(rmsd: np.ndarray, delta: float) -> dict:
    """COV-R, MAT-R, COV-P, MAT-P of one molecule from its RMSD matrix (n_ref, n_gen), Å.

    COV are fractions in [0, 1] with a strict ``< delta`` (Å); MAT are mean minimum RMSDs in Å.
    R (recall) runs over reference conformers, P (precision) over generated ones.
    """
    rmsd = np.asarray(rmsd, dtype=float)
    if rmsd.ndim != 2 or rmsd.size == 0:
        raise ValueError(f"rmsd must be a non-empty (n_ref, n_gen) matrix, got shape {rmsd.shape}")
    if np.isnan(rmsd).any():
        raise ValueError("rmsd matrix contains NaN")
    min_per_ref, min_per_gen = rmsd.min(axis=1), rmsd.min(axis=0)
    return {"COV-R": float(np.mean(min_per_ref < delta)), "MAT-R": float(min_per_ref.mean()),
            "COV-P": float(np.mean(min_per_gen < delta)), "MAT-P": float(min_per_gen.mean())}


def _subset_min_weights(pool: int, n: int) -> np.ndarray:
    """``w[i]``: the chance that the (i+1)-th smallest of ``pool`` values is the minimum of a
    uniformly random ``n``-subset, ``C(pool - i - 1, n - 1) / C(pool, n)`` (sums to 1)."""
    w = np.zeros(pool)
    w[0] = n / pool
    for i in range(1, pool - n + 1):
        w[i] = w[i - 1] * (pool - i - n + 1) / (pool - i)
    return w


def expected_coverage_matching(rmsd: np.ndarray, delta: float, n: int) -> dict:
    """The expected ``coverage_matching`` of ``n`` conformers drawn from a larger pool of the same
    generator: its exact mean over every ``n``-subset of the pool's columns.

    ``rmsd`` (n_ref, pool) Å, ``pool >= n``. For a reference with ``h`` of ``pool`` conformers
    within ``delta``, a random ``n``-subset misses it with chance ``C(pool - h, n) / C(pool, n)``;
    its expected minimum weighs the pool's sorted RMSDs by ``_subset_min_weights``. COV-P and
    MAT-P are means over generated conformers, whose expectation is the pool's mean. With
    i.i.d. conformers this estimates the figure of ``n`` conformers without its sampling noise
    (the noise of which ``n`` conformers happened to be drawn).
    """
    whole_pool = coverage_matching(rmsd, delta)          # checks rmsd; its COV-P and MAT-P are the answer
    rmsd = np.asarray(rmsd, dtype=float)
    pool = rmsd.shape[1]
    if not 1 <= n <= pool:
        raise ValueError(f"need 1 <= n <= pool size {pool}, got n = {n}")
    hits = (rmsd < delta).sum(axis=1)
    miss = np.ones(len(hits))
    for j in range(n):                       # prod_j (pool - h - j) / (pool - j), clipped at 0
        miss *= np.clip(pool - hits - j, 0, None) / (pool - j)
    mat_r = np.sort(rmsd, axis=1) @ _subset_min_weights(pool, n)
    return {**whole_pool, "COV-R": float(np.mean(1.0 - miss)), "MAT-R": float(mat_r.mean())}


def summarize_ensembles(results: Sequence[dict]) -> dict:
    """Mean and median over molecules of every metric of ``coverage_matching``-style dicts.

    Returns ``{"n_molecules": N, "mean": {metric: value}, "median": {metric: value}}``; all dicts
    must carry the keys of the first one.
    """
    if not results:
        raise ValueError("no results to summarise")
    keys = list(results[0])
    missing = [k for r in results for k in keys if k not in r]
    if missing:
        raise KeyError(f"results lack metrics {sorted(set(missing))}")
    table = {k: np.array([r[k] for r in results], dtype=float) for k in keys}
    return {"n_molecules": len(results),
            "mean": {k: float(v.mean()) for k, v in table.items()},
            "median": {k: float(np.median(v)) for k, v in table.items()}}


# --------------------------------------------------------------------------------------------
# Bioactive-conformer recovery
# --------------------------------------------------------------------------------------------

def recovery(min_rmsds, thresholds: Sequence[float] = (0.5, 1.0, 2.0)) -> dict:
    """Median minimum RMSD (Å) and fraction of ligands with min RMSD <= each threshold (Å).

    ``min_rmsds``: array (n_ligands,), one minimum RMSD to the bioactive conformer per ligand.
    Keys: ``n``, ``median``, and ``frac_le_<t>`` per threshold (e.g. ``frac_le_0.5``).
    """
    values = np.asarray(min_rmsds, dtype=float).ravel()
    if values.size == 0 or np.isnan(values).any():
        raise ValueError("min_rmsds must be a non-empty array without NaN")
    out = {"n": int(values.size), "median": float(np.median(values))}
    out.update({f"frac_le_{t}": float(np.mean(values <= t)) for t in thresholds})
    return out


def min_rmsd_to_reference(generated: Chem.Mol, reference: Chem.Mol, n: int | None = None, *,
                          ref_id: int = -1, max_matches: int = DEFAULT_MAX_MATCHES,
                          timeout: float = DEFAULT_TIMEOUT) -> float:
    """Minimum RMSD (Å) of the first ``n`` generated conformers (all if None) to one reference one."""
    if n is not None and n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    gen_h, ref_h = _heavy(generated), _heavy(reference)
    gen_ids = [c.GetId() for c in gen_h.GetConformers()][:n]
    if not gen_ids:
        raise ValueError("no generated conformers to compare")
    mappings = _mappings(gen_h, ref_h, max_matches)
    results = [_best_over(gen_h, ref_h, gid, ref_id, mappings, timeout) for gid in gen_ids]
    if not all(r.exhaustive for r in results):
        _warn_truncated("min_rmsd_to_reference", max_matches, timeout)
    return min(r.rmsd for r in results)


# --------------------------------------------------------------------------------------------
# Sanity checks
# --------------------------------------------------------------------------------------------

def _cip_labels(mol: Chem.Mol) -> tuple[dict, dict]:
    """({atom idx: R/S/r/s}, {(begin, end): E/Z}) from RDKit's new CIP labeller, on a copy."""
    mol = Chem.Mol(mol)
    rdCIPLabeler.AssignCIPLabels(mol)
    atoms = {a.GetIdx(): a.GetProp("_CIPCode") for a in mol.GetAtoms() if a.HasProp("_CIPCode")}
    bonds = {(b.GetBeginAtomIdx(), b.GetEndAtomIdx()): b.GetProp("_CIPCode")
             for b in mol.GetBonds() if b.HasProp("_CIPCode")}
    return atoms, bonds


def _heavy_indices(mol: Chem.Mol) -> list[int]:
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() != 1]


def stereo_preserved(input_mol: Chem.Mol, conformer_mol: Chem.Mol, conf_id: int = -1) -> bool:
    """True when every stereo label assigned in ``input_mol`` is reproduced by the 3D conformer.

    Compares CIP labels of stereocentres (R/S, r/s) and double bonds (E/Z): the input's as given,
    the conformer's perceived from coordinates (``AssignStereochemistryFrom3D`` on a copy).
    Heavy atoms must appear in the same order in both Mols (hydrogens may be added or
    interleaved, as ``AddHs`` does); unassigned centres of the input are not checked.
    """
    heavy_in, heavy_conf = _heavy_indices(input_mol), _heavy_indices(conformer_mol)
    if [input_mol.GetAtomWithIdx(i).GetAtomicNum() for i in heavy_in] != \
            [conformer_mol.GetAtomWithIdx(i).GetAtomicNum() for i in heavy_conf]:
        raise ValueError("input and conformer Mols list different heavy atoms (or in another order)")
    to_conf = dict(zip(heavy_in, heavy_conf))
    perceived = Chem.Mol(conformer_mol)
    Chem.AssignStereochemistryFrom3D(perceived, confId=conf_id, replaceExistingTags=True)
    want_atoms, want_bonds = _cip_labels(input_mol)
    got_atoms, got_bonds = _cip_labels(perceived)
    for idx, label in want_atoms.items():
        if idx in to_conf and got_atoms.get(to_conf[idx]) != label:
            return False
    got_bonds = {frozenset(k): v for k, v in got_bonds.items()}
    for (a, b), label in want_bonds.items():
        if a in to_conf and b in to_conf and got_bonds.get(frozenset((to_conf[a], to_conf[b]))) != label:
            return False
    return True


def _ring_sizes_of_angle(mol: Chem.Mol, i: int, j: int, k: int) -> list[int]:
    return [len(r) for r in mol.GetRingInfo().AtomRings() if i in r and j in r and k in r]


def bond_length_deviations(mol: Chem.Mol, conf_id: int = -1) -> np.ndarray:
    """|length - reference| per bond, array (n_bonds,), Å.

    Reference: the UFF rest length (bond order and electronegativity corrected); the covalent
    radius sum where UFF has no parameters.
    """
    pos = mol.GetConformer(conf_id).GetPositions()
    table = Chem.GetPeriodicTable()
    out = np.empty(mol.GetNumBonds())
    with rdBase.BlockLogs():
        for n, bond in enumerate(mol.GetBonds()):
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            params = ChemicalForceFields.GetUFFBondStretchParams(mol, i, j)
            ref = params[1] if params else (table.GetRcovalent(bond.GetBeginAtom().GetAtomicNum())
                                            + table.GetRcovalent(bond.GetEndAtom().GetAtomicNum()))
            out[n] = abs(np.linalg.norm(pos[i] - pos[j]) - ref)
    return out


_HYBRID_ANGLE = {Chem.HybridizationType.SP: 180.0, Chem.HybridizationType.SP2: 120.0,
                 Chem.HybridizationType.SP3: 109.47}


def bond_angle_deviations(mol: Chem.Mol, conf_id: int = -1) -> np.ndarray:
    """|angle - reference| per bond angle i-j-k, array (n_angles,), degrees.

    Reference: the interior angle of the regular polygon (60, 90, 108 degrees) when i, j, k lie in
    a common 3-, 4- or 5-membered ring; otherwise UFF's rest angle at j, or the ideal sp/sp2/sp3
    angle where UFF has no parameters (angles at other centres are skipped).
    """
    pos = mol.GetConformer(conf_id).GetPositions()
    out = []
    with rdBase.BlockLogs():
        for centre in mol.GetAtoms():
            j = centre.GetIdx()
            nbrs = [a.GetIdx() for a in centre.GetNeighbors()]
            for x, i in enumerate(nbrs):
                for k in nbrs[x + 1:]:
                    small = [s for s in _ring_sizes_of_angle(mol, i, j, k) if s <= 5]
                    if small:
                        ref = 180.0 * (min(small) - 2) / min(small)
                    else:
                        params = ChemicalForceFields.GetUFFAngleBendParams(mol, i, j, k)
                        ref = params[1] if params else _HYBRID_ANGLE.get(centre.GetHybridization())
                        if ref is None:
                            continue
                    u, v = pos[i] - pos[j], pos[k] - pos[j]
                    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
                    out.append(abs(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) - ref))
    return np.asarray(out)


def bond_geometry_ok(mol: Chem.Mol, conf_id: int = -1, tol_length: float = 0.15,
                     tol_angle: float = 20.0) -> bool:
    """Every bond within ``tol_length`` Å and every bond angle within ``tol_angle`` degrees of reference.

    See ``bond_length_deviations`` / ``bond_angle_deviations`` for the references. Defaults: ETKDG
    conformers of drug-like molecules sit within 0.06 Å / 16 degrees of them and MMFF-relaxed
    ones within 0.09 Å / 16 degrees (e.g. amide C-N, P=O, fused-ring junctions), so the check
    catches broken geometry rather than force-field disagreement.
    """
    lengths = bond_length_deviations(mol, conf_id)
    angles = bond_angle_deviations(mol, conf_id)
    return bool((lengths <= tol_length).all() and (angles <= tol_angle).all())


def clashes(mol: Chem.Mol, conf_id: int = -1, scale: float = 0.6) -> int:
    """Number of atom pairs more than 3 bonds apart closer than ``scale`` x (sum of vdW radii), Å.

    Pairs in different fragments count as non-bonded. Hydrogen-bond pairs (a hydrogen on N/O and
    an N/O/F acceptor) are exempt. ETKDG keeps 1-5 pairs at >= 0.7 x the vdW sum (its own lower
    bound, reached exactly in practice), hence the default 0.6.
    """
    pos = mol.GetConformer(conf_id).GetPositions()
    table = Chem.GetPeriodicTable()
    radii = np.array([table.GetRvdw(a.GetAtomicNum()) for a in mol.GetAtoms()])
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    close = np.triu(Chem.GetDistanceMatrix(mol) > 3, 1) & (dist < scale * (radii[:, None] + radii[None]))
    polar_h = np.array([a.GetAtomicNum() == 1 and any(n.GetAtomicNum() in (7, 8) for n in a.GetNeighbors())
                        for a in mol.GetAtoms()])
    acceptor = np.array([a.GetAtomicNum() in (7, 8, 9) for a in mol.GetAtoms()])
    hbond = (polar_h[:, None] & acceptor[None]) | (acceptor[:, None] & polar_h[None])
    return int((close & ~hbond).sum())
