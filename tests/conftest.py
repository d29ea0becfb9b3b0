"""Shared fixtures. Small tensors run fastest on one thread (oversubscription slowed them 100x).

``SHARED_DATA`` is the development data beside the repository (``../shared/data``); tests that
need it skip with a reason when it is absent."""
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import scidiff  # noqa: E402

torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_mixture() -> scidiff.GaussianMixture:
    """Three anisotropic, overlapping components in 2-D with unequal weights."""
    rot = lambda a: torch.tensor([[torch.cos(torch.tensor(a)), -torch.sin(torch.tensor(a))],
                                  [torch.sin(torch.tensor(a)), torch.cos(torch.tensor(a))]], dtype=torch.float64)
    covs = []
    for a, (l1, l2) in zip([0.3, -0.8, 1.2], [(0.30, 0.05), (0.15, 0.10), (0.40, 0.08)]):
        r = rot(a)
        covs.append(r @ torch.diag(torch.tensor([l1, l2], dtype=torch.float64)) @ r.T)
    means = [[-1.0, 0.5], [1.2, 0.8], [0.2, -1.1]]
    return scidiff.GaussianMixture(means, torch.stack(covs), weights=[0.5, 0.3, 0.2])


@pytest.fixture(scope="session")
def mixture():
    return make_mixture()


ALL_PROCESSES = {
    "vp-linear": lambda: scidiff.VP(),
    "vp-cosine": lambda: scidiff.VP("cosine"),
    "subvp": lambda: scidiff.SubVP(),
    "ve": lambda: scidiff.VE(),
    "edm": lambda: scidiff.EDM(),
    "rf": lambda: scidiff.RectifiedFlow(),
}
