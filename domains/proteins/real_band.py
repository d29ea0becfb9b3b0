"""How far real chains land from the reference at the size of a sample set (the W1 null band).

The Wasserstein distance between a small set and a large one is biased upwards and noisy: the
CA angles and dihedrals of one chain are correlated (a helix contributes hundreds of nearly equal
dihedrals), so 24 chains are far fewer independent draws than their ~2400 dihedrals suggest.
The real-vs-real line of two halves of the development set (110 chains each) is therefore not
what a perfect generator would score with 24 samples.

:func:`real_subset_w1` measures that directly: it draws, many times, one window of real chain per
sample, with the samples' lengths (each from a distinct reference chain at least that long, the
window's start uniform), and scores the windows against the reference chains that were not drawn,
exactly as the samples are scored against the whole reference (linear W1 of the CA virtual angle,
circular W1 of the CA virtual dihedral, degrees). :func:`band_summary` places the samples'
values in that distribution: its median and 5-95 % range, and the fraction of real draws that
land at least as far as the samples.
"""
from __future__ import annotations

import numpy as np

from .evaluate import ca_angles, ca_dihedrals, ca_of, wasserstein_circular, wasserstein_linear

METRICS = ("ca_angle_w1", "ca_dihedral_w1")


def draw_windows(reference_lengths, lengths, rng: np.random.Generator) -> list[tuple[int, int]]:
    """One ``(chain index, start)`` per entry of ``lengths``, in that order: distinct chains with
    ``reference_lengths[chain] >= length``, the start uniform over the chain. Longest lengths are
    served first so that the long chains are not used up by short windows. Raises ValueError when
    too few chains are long enough."""
    ref_len = np.asarray(reference_lengths)
    free = np.ones(len(ref_len), dtype=bool)
    out: list[tuple[int, int] | None] = [None] * len(lengths)
    for k in np.argsort(-np.asarray(lengths), kind="stable"):
        length = int(lengths[k])
        eligible = np.flatnonzero(free & (ref_len >= length))
        if len(eligible) == 0:
            raise ValueError(f"the reference has too few chains of at least {length} residues for a real "
                             f"subset of these {len(lengths)} lengths")
        chain = int(rng.choice(eligible))
        free[chain] = False
        out[k] = (chain, int(rng.integers(0, ref_len[chain] - length + 1)))
    return out


def real_subset_w1(reference, lengths, draws: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """W1 distances (degrees, ``(draws,)`` per metric of :data:`METRICS`) of real subsets with the
    given lengths against the rest of ``reference`` (a list of Backbones; chain breaks are left
    out of the geometry, as for a reference in ``evaluate_set(respect_breaks=True)``)."""
    reference = list(reference)
    lengths = [int(n) for n in lengths]
    if len(lengths) >= len(reference):
        raise ValueError(f"a real subset of {len(lengths)} chains needs a reference of more than "
                         f"{len(lengths)}, got {len(reference)}")
    angles = [ca_angles(s, True) for s in reference]
    dihedrals = [ca_dihedrals(s, True) for s in reference]
    ref_len = [len(ca_of(s)) for s in reference]
    rng = np.random.default_rng(seed)
    out = {m: np.empty(draws) for m in METRICS}
    for d in range(draws):
        picks = draw_windows(ref_len, lengths, rng)
        windows = [reference[c][s:s + n] for (c, s), n in zip(picks, lengths)]
        rest = np.setdiff1d(np.arange(len(reference)), [c for c, _ in picks])
        out["ca_angle_w1"][d] = wasserstein_linear(np.concatenate([ca_angles(w, True) for w in windows]),
                                                   np.concatenate([angles[i] for i in rest]))
        out["ca_dihedral_w1"][d] = wasserstein_circular(np.concatenate([ca_dihedrals(w, True) for w in windows]),
                                                        np.concatenate([dihedrals[i] for i in rest]))
    return out


def band_summary(sample_w1: dict, band: dict[str, np.ndarray]) -> dict[str, float]:
    """For each metric: the real draws' median, 5th and 95th percentiles (``<metric>_real_median``,
    ``_real_p05``, ``_real_p95``) and the fraction of draws at least as far as the samples
    (``_real_above``; near 0: the samples are farther than real chains of their size)."""
    out: dict[str, float] = {}
    for m in METRICS:
        b = band[m]
        out[f"{m}_real_median"] = float(np.median(b))
        out[f"{m}_real_p05"], out[f"{m}_real_p95"] = (float(v) for v in np.percentile(b, [5, 95]))
        if m in sample_w1:
            out[f"{m}_real_above"] = float((b >= sample_w1[m]).mean())
    return out
