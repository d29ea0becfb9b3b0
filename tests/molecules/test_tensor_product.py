"""EdgeTensorProduct: e3nn's fully connected tensor product with per-edge weights, the same
values, gradients, equivariance and state-dict keys, evaluated with one weight split."""
import pytest
import torch
from e3nn import o3

from scidiff.molecules.tensor_product import EdgeTensorProduct

CASES = [
    # the torsional convolution: node features x spherical harmonics -> node features
    ("16x0e + 4x1o + 4x1e", "0e + 1o + 2e", "16x0e + 4x1o + 4x1e"),
    # the bond head: node features x (Y(r) ⊗ Y_2(axis)) -> pseudoscalars and scalars
    ("16x0e + 4x1o + 4x1e", str(o3.FullTensorProduct("0e + 1o + 2e", "2e").irreps_out), "16x0o + 16x0e"),
    # multiplicities above one on both inputs, and an output no path reaches (3e)
    ("3x0e + 2x1o + 2x2e", "2x0e + 2x1o", "4x0e + 3x1o + 2x1e + 2x2e + 1x3e"),
]


@pytest.mark.parametrize("irreps", CASES)
def test_matches_e3nn_values_and_gradients(irreps):
    torch.manual_seed(0)
    ref = o3.FullyConnectedTensorProduct(*irreps, shared_weights=False)
    new = EdgeTensorProduct(*irreps)
    n = 257
    x1 = torch.randn(n, ref.irreps_in1.dim, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(n, ref.irreps_in2.dim, dtype=torch.float64, requires_grad=True)
    w = torch.randn(n, ref.weight_numel, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(n, ref.irreps_out.dim, dtype=torch.float64)
    outs = []
    for m in (ref.double(), new.double()):
        y = m(x1, x2, w)
        outs.append((y, torch.autograd.grad((y * probe).sum(), (x1, x2, w))))
    (y0, g0), (y1, g1) = outs
    # e3nn builds its Wigner 3j constants in float32; ours are float64, hence 1e-6 and not 1e-12
    torch.testing.assert_close(y1, y0, rtol=1e-6, atol=1e-6)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert y0.abs().max() > 0.1          # not a comparison of zeros


@pytest.fixture
def float64():
    """e3nn builds its Wigner D matrices at the default dtype."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_equivariant_under_rotation_and_inversion(float64):
    torch.manual_seed(1)
    tp = EdgeTensorProduct(*CASES[0])
    n = 64
    x1 = tp.irreps_in1.randn(n, -1, dtype=torch.float64)
    x2 = tp.irreps_in2.randn(n, -1, dtype=torch.float64)
    w = torch.randn(n, tp.weight_numel, dtype=torch.float64)
    for parity in (1, -1):
        R = o3.rand_matrix(dtype=torch.float64) * parity
        d = [irreps.D_from_matrix(R) for irreps in (tp.irreps_in1, tp.irreps_in2, tp.irreps_out)]
        torch.testing.assert_close(tp(x1 @ d[0].T, x2 @ d[1].T, w), tp(x1, x2, w) @ d[2].T, rtol=1e-10, atol=1e-10)


def test_state_dict_is_e3nn_s():
    ref = o3.FullyConnectedTensorProduct(*CASES[0], shared_weights=False)
    new = EdgeTensorProduct(*CASES[0])
    assert new.state_dict().keys() == ref.state_dict().keys()
    new.load_state_dict(ref.state_dict())
