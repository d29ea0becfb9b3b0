"""Offline evaluation of backbone sets (generated samples against a reference set).

Per set: CA-CA bond validity (fraction of consecutive CA-CA within 3.80 ± 0.10 Å), N-CA-C angle
(mean, sd; full-backbone sets only), clashes (CA pairs |i-j| >= 3 closer than 3.0 Å; clash-free
fraction), backbone-atom overlaps (N, CA, C, O of residues |i-j| >= 2 closer than 2.5 Å, below any
hydrogen bond; full-backbone sets only), radius of gyration as a ratio to 2.2 N^0.38 Å, P-SEA secondary structure (biotite;
helix / strand / coil fractions, the mean over samples), pairwise TM-score diversity (mean pairwise
TM, single-linkage clusters at TM 0.5). Against the reference: 1-D Wasserstein-1 distances of the
CA virtual bond angle (linear) and CA virtual dihedral (circular); :mod:`.real_band` gives the
spread of those distances for real chains at the samples' set size, to read them against.

Why circular W1 for dihedrals: a dihedral lives on the circle, and the usual cut at ±180 deg runs
straight through the beta region (CA dihedrals near ±180..±190). On the line, -179 and +179 deg
are 358 deg apart, so a set whose strands sit a degree to one side of the cut is charged for
moving mass across the whole line. The circular W1 (optimal transport with arc length cost) is
``min_a ∫ |F(θ) - G(θ) - a| dθ`` (Rabin, Delon & Gousseau 2011), exact here from the two
empirical CDFs; it does not depend on where the circle is cut and is never larger than the linear
one. The linear value is reported as well (``*_linear``) for comparison with published numbers.

TM-score: TM-align through ``tmtools`` when it is installed (pair score = mean of the scores
normalised by either chain: symmetric, and both are equal for equal lengths). Without it a
documented fallback: gapless TM-score (every offset of the shorter chain along the longer, the
TM-score program's iterative superposition search from fragment seeds) - a lower bound of
TM-align's score, equal for equal-length chains aligned residue by residue.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from scidiff.geometry import angle, dihedral, superpose

from .backbone import Backbone

CA_CA, CA_CA_TOL = 3.80, 0.10
CLASH_DIST, CLASH_SEP = 3.0, 3
OVERLAP_DIST, OVERLAP_SEP = 2.5, 2


def _coords(x) -> np.ndarray:
    """float64 ``(L, 4, 3)`` (NaN where absent) of a Backbone or array (L, 4, 3) / (L, 3)."""
    if isinstance(x, Backbone):
        return x.coords.astype(np.float64)
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim == 2:
        full = np.full((len(a), 4, 3), np.nan)
        full[:, 1] = a
        return full
    return a


def ca_of(x) -> np.ndarray:
    return _coords(x)[:, 1]


def _breaks(x, respect_breaks: bool) -> tuple[int, ...]:
    return tuple(x.breaks) if respect_breaks and isinstance(x, Backbone) else ()


def _valid_windows(n: int, width: int, breaks) -> np.ndarray:
    """Start indices of windows of ``width`` consecutive residues not spanning a break."""
    ok = np.ones(max(n - width + 1, 0), bool)
    for b in breaks:                       # break between b and b+1
        ok[max(b - width + 2, 0): b + 1] = False
    return np.nonzero(ok)[0]


# ---------------------------------------------------------------------------- geometry


def _degrees(f, *points: np.ndarray) -> np.ndarray:
    """``f`` (:func:`scidiff.geometry.angle` or ``dihedral``) of float64 points, in degrees."""
    return np.degrees(f(*(torch.from_numpy(np.ascontiguousarray(p)) for p in points)).numpy())


def _angle(a, b, c) -> np.ndarray:
    return _degrees(angle, a, b, c)


def _dihedral(a, b, c, d) -> np.ndarray:
    return _degrees(dihedral, a, b, c, d)


def ca_bonds(x, respect_breaks: bool = False) -> np.ndarray:
    """Consecutive CA-CA distances (Å)."""
    ca = ca_of(x)
    i = _valid_windows(len(ca), 2, _breaks(x, respect_breaks))
    return np.linalg.norm(ca[i + 1] - ca[i], axis=-1)


def ca_angles(x, respect_breaks: bool = False) -> np.ndarray:
    """CA(i-1)-CA(i)-CA(i+1) virtual bond angles (degrees)."""
    ca = ca_of(x)
    i = _valid_windows(len(ca), 3, _breaks(x, respect_breaks))
    return _angle(ca[i], ca[i + 1], ca[i + 2])


def ca_dihedrals(x, respect_breaks: bool = False) -> np.ndarray:
    """CA(i-1..i+2) virtual dihedrals (degrees, (-180, 180])."""
    ca = ca_of(x)
    i = _valid_windows(len(ca), 4, _breaks(x, respect_breaks))
    return _dihedral(ca[i], ca[i + 1], ca[i + 2], ca[i + 3])


def ca_angle_dihedral_pairs(x, respect_breaks: bool = False) -> np.ndarray:
    """``(M, 2)``: for every CA(j..j+3) window, the virtual angle at CA(j+1) and the dihedral (degrees)."""
    ca = ca_of(x)
    i = _valid_windows(len(ca), 4, _breaks(x, respect_breaks))
    return np.stack([_angle(ca[i], ca[i + 1], ca[i + 2]), _dihedral(ca[i], ca[i + 1], ca[i + 2], ca[i + 3])], -1)


def ncac_angles(x) -> np.ndarray:
    """N-CA-C angles (degrees) of residues having all three atoms."""
    c = _coords(x)
    a = _angle(c[:, 0], c[:, 1], c[:, 2])
    return a[np.isfinite(a)]


def clashes(x, threshold: float = CLASH_DIST, min_separation: int = CLASH_SEP) -> int:
    """Number of CA pairs with |i-j| >= ``min_separation`` closer than ``threshold`` Å."""
    ca = ca_of(x)
    d = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
    i, j = np.triu_indices(len(ca), k=min_separation)
    return int((d[i, j] < threshold).sum())


def atom_overlaps(x, threshold: float = OVERLAP_DIST, min_separation: int = OVERLAP_SEP) -> int:
    """Number of backbone-atom pairs (N, CA, C, O, those present) of residues with |i-j| >=
    ``min_separation`` closer than ``threshold`` Å. Hydrogen-bonded N...O lie at 2.8-3.0 Å; the
    development chains have 0.8 such pairs per chain at 2.5 Å."""
    c = _coords(x)
    xyz = c.reshape(-1, 3)
    res = np.repeat(np.arange(len(c)), c.shape[1])
    ok = np.isfinite(xyz).all(-1)
    xyz, res = xyz[ok], res[ok]
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    return int(((d < threshold) & (res[None] - res[:, None] >= min_separation)).sum())


def radius_of_gyration(x) -> float:
    """CA radius of gyration (Å)."""
    ca = ca_of(x)
    return float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(-1).mean()))


def rg_ratio(x) -> float:
    """Rg / (2.2 N^0.38 Å): about 1 for compact globular chains, >> 1 for extended ones."""
    return radius_of_gyration(x) / (2.2 * len(ca_of(x)) ** 0.38)


def secondary_structure(x, respect_breaks: bool = False) -> np.ndarray:
    """P-SEA (biotite) per residue: ``'a'`` helix, ``'b'`` strand, ``'c'`` coil."""
    import biotite.structure as struc

    ca = ca_of(x).astype(np.float32)
    n = len(ca)
    arr = struc.AtomArray(n)
    arr.coord = ca
    res_id = np.arange(1, n + 1)
    for b in _breaks(x, respect_breaks):          # a numbering gap tells P-SEA about the break
        res_id[b + 1:] += 1
    arr.res_id = res_id
    arr.res_name = np.full(n, "ALA")
    arr.atom_name = np.full(n, "CA")
    arr.element = np.full(n, "C")
    arr.chain_id = np.full(n, "A")
    return struc.annotate_sse(arr)


# ---------------------------------------------------------------------------- distances


def wasserstein_linear(a, b) -> float:
    """1-D Wasserstein-1 (scipy)."""
    return float(wasserstein_distance(np.asarray(a, float), np.asarray(b, float)))


def wasserstein_circular(a, b, period: float = 360.0) -> float:
    """Wasserstein-1 on the circle of circumference ``period`` (arc-length cost), exact:
    ``min_alpha ∫ |F - G - alpha|`` over one turn, alpha the length-weighted median of F - G."""
    a = np.sort(np.mod(np.asarray(a, float), period))
    b = np.sort(np.mod(np.asarray(b, float), period))
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    z = np.unique(np.concatenate([a, b, [0.0]]))
    widths = np.diff(np.append(z, period))                     # [z_k, z_{k+1}) up to the end of the turn
    diff = np.searchsorted(a, z, "right") / len(a) - np.searchsorted(b, z, "right") / len(b)
    order = np.argsort(diff)
    cum = np.cumsum(widths[order])
    alpha = diff[order][np.searchsorted(cum, cum[-1] / 2)]
    return float((np.abs(diff - alpha) * widths).sum())


# ---------------------------------------------------------------------------- TM-score


def _have_tmtools() -> bool:
    import importlib

    try:
        importlib.import_module("tmtools")
    except ImportError:
        return False
    return True


def _d0(n: int) -> float:
    return max(1.24 * (n - 15) ** (1 / 3) - 1.8, 0.5) if n > 21 else 0.5


def _kabsch(x: np.ndarray, y: np.ndarray):
    """Rotation and translation moving x onto y (least squares; :func:`scidiff.geometry.superpose`)."""
    r, t = superpose(torch.from_numpy(x), torch.from_numpy(y))
    return r.numpy(), t.numpy()


def _tm_paired(x: np.ndarray, y: np.ndarray, d0: float, n_norm: int, quick: bool = False) -> float:
    """TM-score of paired points under the best rigid motion found by the TM-score program's search:
    seeds are fragments of length n, n/2, n/4, ... (>= 4); each is refined by superposing the pairs
    within d0 (growing the cutoff until 3 pairs qualify) until the selection stops changing.
    ``quick``: seeds n, n/2, n/4 without overlap and 4 refinements (to rank offsets)."""
    n = len(x)
    best = 0.0
    depth, iters = (3, 4) if quick else (8, 20)
    lengths = sorted({max(n >> k, min(4, n)) for k in range(depth)}, reverse=True)
    for lf in lengths:
        for start in range(0, n - lf + 1, lf if quick else max(lf // 2, 1)):
            sel = np.zeros(n, bool)
            sel[start: start + lf] = True
            for _ in range(iters):
                r, t = _kabsch(x[sel], y[sel])
                d = np.linalg.norm(x @ r.T + t - y, axis=-1)
                best = max(best, float((1 / (1 + (d / d0) ** 2)).sum() / n_norm))
                cut = d0
                new = d < cut
                while new.sum() < 3 and cut < 50:
                    cut += 0.5
                    new = d < cut
                if (new == sel).all():
                    break
                sel = new
    return best


def tm_score_gapless(a, b) -> float:
    """Fallback TM-score without alignment gaps: the shorter chain slides along the longer one
    (every offset ranked by a quick search, the best three searched fully); mean of the scores
    normalised by either length."""
    x, y = ca_of(a), ca_of(b)
    if len(x) > len(y):
        x, y = y, x
    d0 = _d0(len(x))
    offsets = range(len(y) - len(x) + 1)
    if len(offsets) > 3:
        quick = [_tm_paired(x, y[o: o + len(x)], d0, len(x), quick=True) for o in offsets]
        offsets = np.argsort(quick)[::-1][:3]
    s = max(_tm_paired(x, y[o: o + len(x)], d0, len(x)) for o in offsets)
    return 0.5 * (s + s * len(x) / len(y))


def tm_score(a, b, method: str = "auto") -> float:
    """TM-score of two chains (CA): ``"tmalign"`` (tmtools), ``"gapless"`` or ``"auto"``."""
    if method == "auto":
        method = "tmalign" if _have_tmtools() else "gapless"
    if method == "gapless":
        return tm_score_gapless(a, b)
    if method != "tmalign":
        raise ValueError(f"method must be 'auto', 'tmalign' or 'gapless', got {method!r}")
    from tmtools import tm_align

    x, y = np.ascontiguousarray(ca_of(a)), np.ascontiguousarray(ca_of(b))
    sa = a.sequence if isinstance(a, Backbone) else "A" * len(x)
    sb = b.sequence if isinstance(b, Backbone) else "A" * len(y)
    r = tm_align(x, y, sa, sb)
    return 0.5 * (float(r.tm_norm_chain1) + float(r.tm_norm_chain2))


def pairwise_tm(structures, method: str = "auto", progress: bool = False) -> np.ndarray:
    """Symmetric matrix of pairwise TM-scores (diagonal 1)."""
    n = len(structures)
    tm = np.eye(n)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if progress:
        from tqdm import tqdm

        pairs = tqdm(pairs, desc="pairwise TM-score", leave=False)
    for i, j in pairs:
        tm[i, j] = tm[j, i] = tm_score(structures[i], structures[j], method)
    return tm


def tm_clusters(tm: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Single-linkage cluster labels: chains joined when their TM-score is >= ``threshold``."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    adj = np.asarray(tm) >= threshold
    return connected_components(csr_matrix(adj), directed=False)[1]


# ---------------------------------------------------------------------------- sets


@dataclass
class SetStats:
    """Everything measured on one set; ``summary()`` gives the scalar metrics."""

    n: int
    lengths: np.ndarray
    ca_bonds: np.ndarray
    ca_angles: np.ndarray
    ca_dihedrals: np.ndarray
    ncac_angles: np.ndarray
    clashes: np.ndarray
    atom_overlaps: np.ndarray          # (n,) backbone-atom pairs closer than 2.5 Å; all 0 for CA-only sets
    rg_ratio: np.ndarray
    ss: np.ndarray                     # (n, 3) helix, strand, coil fractions per structure
    angle_dihedral: np.ndarray         # (M, 2) paired CA angle / dihedral (degrees) for the 2-D histogram
    tm: np.ndarray | None = None       # pairwise TM of the (sub)set used for diversity
    tm_threshold: float = 0.5
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        lo, hi = CA_CA - CA_CA_TOL, CA_CA + CA_CA_TOL
        out = {
            "n_structures": self.n,
            "length_mean": float(self.lengths.mean()),
            "ca_ca_valid": float(((self.ca_bonds >= lo) & (self.ca_bonds <= hi)).mean()),
            "ca_ca_mean": float(self.ca_bonds.mean()),
            "ncac_angle_mean": float(self.ncac_angles.mean()) if len(self.ncac_angles) else float("nan"),
            "ncac_angle_sd": float(self.ncac_angles.std()) if len(self.ncac_angles) else float("nan"),
            "clash_free": float((self.clashes == 0).mean()),
            "clashes_per_structure": float(self.clashes.mean()),
            "overlap_free": float((self.atom_overlaps == 0).mean()),
            "overlaps_per_structure": float(self.atom_overlaps.mean()),
            "rg_ratio_median": float(np.median(self.rg_ratio)),
            "rg_ratio_mean": float(self.rg_ratio.mean()),
            "helix": float(self.ss[:, 0].mean()),
            "strand": float(self.ss[:, 1].mean()),
            "coil": float(self.ss[:, 2].mean()),
            "ca_angle_mean": float(self.ca_angles.mean()),
        }
        if self.tm is not None and len(self.tm) > 1:
            iu = np.triu_indices(len(self.tm), 1)
            labels = tm_clusters(self.tm, self.tm_threshold)
            out |= {"tm_structures": len(self.tm), "pairwise_tm_mean": float(self.tm[iu].mean()),
                    "pairwise_tm_max": float(self.tm[iu].max()),
                    "tm_clusters": int(labels.max() + 1),
                    "tm_cluster_fraction": float((labels.max() + 1) / len(self.tm))}
        return out | self.extra


def evaluate_set(structures, *, respect_breaks: bool = False, tm_samples: int | None = 100,
                 tm_method: str = "auto", tm_threshold: float = 0.5, seed: int = 0,
                 progress: bool = False) -> SetStats:
    """Measure a list of Backbones (or coordinate arrays). ``respect_breaks``: leave out CA pairs,
    angles and dihedrals spanning a listed chain break (for a reference read from the PDB; a
    generated chain has no breaks, only bad bonds). ``tm_samples``: pairwise TM-score over at most
    that many structures (a seeded random subset; None = all, 0 = skip)."""
    structures = list(structures)
    if not structures:
        raise ValueError("no structures to evaluate")
    ss = []
    for s in structures:
        sse = secondary_structure(s, respect_breaks)
        sse = sse[sse != ""]
        ss.append([(sse == k).mean() if len(sse) else np.nan for k in "abc"])
    tm = None
    if tm_samples != 0 and len(structures) > 1:
        idx = np.arange(len(structures))
        if tm_samples is not None and len(idx) > tm_samples:
            idx = np.sort(np.random.default_rng(seed).choice(idx, tm_samples, replace=False))
        tm = pairwise_tm([structures[i] for i in idx], tm_method, progress)
    cat = lambda f: np.concatenate([f(s) for s in structures])  # noqa: E731
    return SetStats(
        n=len(structures), lengths=np.array([len(ca_of(s)) for s in structures]),
        ca_bonds=cat(lambda s: ca_bonds(s, respect_breaks)), ca_angles=cat(lambda s: ca_angles(s, respect_breaks)),
        ca_dihedrals=cat(lambda s: ca_dihedrals(s, respect_breaks)), ncac_angles=cat(ncac_angles),
        clashes=np.array([clashes(s) for s in structures]),
        atom_overlaps=np.array([atom_overlaps(s) for s in structures]), rg_ratio=np.array([rg_ratio(s) for s in structures]),
        ss=np.array(ss, dtype=float), angle_dihedral=np.concatenate(
            [ca_angle_dihedral_pairs(s, respect_breaks) for s in structures]).reshape(-1, 2),
        tm=tm, tm_threshold=tm_threshold)


def compare(samples: SetStats, reference: SetStats) -> dict:
    """Wasserstein-1 distances (degrees) of the samples' CA geometry to the reference's."""
    return {
        "ca_angle_w1": wasserstein_linear(samples.ca_angles, reference.ca_angles),
        "ca_dihedral_w1": wasserstein_circular(samples.ca_dihedrals, reference.ca_dihedrals),
        "ca_dihedral_w1_linear": wasserstein_linear(samples.ca_dihedrals, reference.ca_dihedrals),
    }


# (key, label, format) rows of the printed table
ROWS = [
    ("n_structures", "structures", "{:.0f}"),
    ("length_mean", "mean length", "{:.1f}"),
    ("ca_ca_valid", "CA-CA within 3.80±0.10 Å", "{:.3f}"),
    ("ca_ca_mean", "CA-CA mean (Å)", "{:.3f}"),
    ("ncac_angle_mean", "N-CA-C mean (deg)", "{:.2f}"),
    ("ncac_angle_sd", "N-CA-C sd (deg)", "{:.2f}"),
    ("clash_free", "clash-free fraction (CA<3.0 Å, |i-j|>=3)", "{:.3f}"),
    ("clashes_per_structure", "clashes per structure", "{:.2f}"),
    ("overlap_free", "free of backbone-atom overlaps (<2.5 Å, |i-j|>=2)", "{:.3f}"),
    ("overlaps_per_structure", "backbone-atom overlaps per structure", "{:.2f}"),
    ("rg_ratio_median", "Rg / 2.2N^0.38, median", "{:.3f}"),
    ("rg_ratio_mean", "Rg / 2.2N^0.38, mean", "{:.3f}"),
    ("helix", "helix fraction (P-SEA)", "{:.3f}"),
    ("strand", "strand fraction (P-SEA)", "{:.3f}"),
    ("coil", "coil fraction (P-SEA)", "{:.3f}"),
    ("ca_angle_mean", "CA virtual angle mean (deg)", "{:.2f}"),
    ("ca_angle_w1", "W1 CA angle vs reference (deg)", "{:.3f}"),
    ("ca_dihedral_w1", "W1 CA dihedral vs reference, circular (deg)", "{:.3f}"),
    ("ca_dihedral_w1_linear", "W1 CA dihedral vs reference, linear (deg)", "{:.3f}"),
    # real_band: real chains with the samples' lengths, scored the same way (the W1 null band)
    ("ca_angle_w1_real_median", "W1 CA angle of real subsets this size, median", "{:.3f}"),
    ("ca_angle_w1_real_p05", "  5th percentile", "{:.3f}"),
    ("ca_angle_w1_real_p95", "  95th percentile", "{:.3f}"),
    ("ca_angle_w1_real_above", "  fraction of real subsets as far as the samples", "{:.3f}"),
    ("ca_dihedral_w1_real_median", "W1 CA dihedral of real subsets this size, median", "{:.3f}"),
    ("ca_dihedral_w1_real_p05", "  5th percentile", "{:.3f}"),
    ("ca_dihedral_w1_real_p95", "  95th percentile", "{:.3f}"),
    ("ca_dihedral_w1_real_above", "  fraction of real subsets as far as the samples", "{:.3f}"),
    ("tm_structures", "structures in pairwise TM", "{:.0f}"),
    ("pairwise_tm_mean", "pairwise TM-score, mean", "{:.3f}"),
    ("pairwise_tm_max", "pairwise TM-score, max", "{:.3f}"),
    ("tm_clusters", "clusters (single linkage, TM>=0.5)", "{:.0f}"),
    ("tm_cluster_fraction", "clusters / structures", "{:.3f}"),
]


def format_table(samples: dict, reference: dict | None = None) -> str:
    """Two-column text table: metric, samples, reference ('-' where not applicable)."""
    def fmt(d, key, f):
        v = None if d is None else d.get(key)
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f.format(v)
    w = max(len(label) for _, label, _ in ROWS)
    lines = [f"{'metric':<{w}}  {'samples':>10}  {'reference':>10}", "-" * (w + 24)]
    for key, label, f in ROWS:
        if key in samples or (reference and key in reference):
            lines.append(f"{label:<{w}}  {fmt(samples, key, f):>10}  {fmt(reference, key, f):>10}")
    return "\n".join(lines)


def plot_comparison(samples: SetStats, reference: SetStats | None, out_dir, labels=("samples", "reference")) -> list:
    """PNGs: CA angle-dihedral 2-D histograms side by side (shared log colour scale), secondary
    structure composition bars, Rg against length with the 2.2 N^0.38 curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sets = [(labels[0], samples)] + ([(labels[1], reference)] if reference is not None else [])
    paths = []

    bins = [np.linspace(60, 180, 61), np.linspace(-180, 180, 73)]
    hists = [np.histogram2d(*s.angle_dihedral.T, bins=bins, density=True)[0] for _, s in sets]
    pos = [h[h > 0] for h in hists]
    vmin = min((p.min() for p in pos if len(p)), default=1e-6)
    vmax = max((p.max() for p in pos if len(p)), default=1.0)
    fig, axes = plt.subplots(1, len(sets), figsize=(5.2 * len(sets), 4.4), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, (name, s), h in zip(axes[0], sets, hists):
        im = ax.pcolormesh(bins[0], bins[1], np.where(h > 0, h, np.nan).T, norm=LogNorm(vmin, vmax), cmap="viridis")
        ax.set(xlabel="CA virtual angle (deg)", title=f"{name} (n={s.n}, {len(s.angle_dihedral)} residues)")
    axes[0, 0].set_ylabel("CA virtual dihedral (deg)")
    fig.colorbar(im, ax=axes[0].tolist(), label="density")
    p = out / "ca_angle_dihedral.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    width = 0.8 / len(sets)
    for k, (name, s) in enumerate(sets):
        vals = np.nanmean(s.ss, 0)
        err = np.nanstd(s.ss, 0)
        ax.bar(np.arange(3) + (k - (len(sets) - 1) / 2) * width, vals, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(range(3), ["helix", "strand", "coil"])
    ax.set(ylabel="fraction of residues (mean ± sd over structures)", title="secondary structure (P-SEA)")
    ax.legend()
    paths.append(_save(fig, out / "secondary_structure.png"))

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, s in sets:
        ax.scatter(s.lengths, s.rg_ratio * 2.2 * s.lengths ** 0.38, s=10, alpha=0.6, label=name)
    n = np.linspace(max(1, min(s.lengths.min() for _, s in sets)), max(s.lengths.max() for _, s in sets), 100)
    ax.plot(n, 2.2 * n ** 0.38, "k--", label="2.2 N^0.38")
    ax.set(xlabel="residues", ylabel="CA radius of gyration (Å)", title="compactness")
    ax.legend()
    paths.append(_save(fig, out / "radius_of_gyration.png"))
    return paths


__all__ = ["ca_bonds", "ca_angles", "ca_dihedrals", "ca_angle_dihedral_pairs", "ncac_angles", "clashes", "atom_overlaps", "radius_of_gyration", "rg_ratio",
           "secondary_structure", "wasserstein_linear", "wasserstein_circular", "tm_score", "tm_score_gapless",
           "pairwise_tm", "tm_clusters", "SetStats", "evaluate_set", "compare", "format_table", "plot_comparison"]


def _save(fig, path: Path) -> Path:
    """Lay out, write at 120 dpi and close ``fig``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
