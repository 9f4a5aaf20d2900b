"""Models and inits: unrolled cells equal torch's fused kernels; inits have their spectra."""

import math

import pytest
import torch

from gradguard.errors import InputError
from gradguard.experiments import (
    INITS,
    RecurrentNet,
    init_recurrent_,
    recurrent_spectrum,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("cell", ["tanh", "relu", "lstm", "gru"])
@pytest.mark.parametrize("with_h0", [False, True])
def test_unrolled_matches_fused(cell, with_h0):
    # Reference: torch's own nn.RNN/LSTM/GRU kernel on the same weights, float64.
    net = RecurrentNet(cell, 3, 5, 2, dtype=torch.float64, generator=gen(1))
    x = torch.randn(4, 7, 3, generator=gen(2), dtype=torch.float64)
    h0 = torch.randn(4, 5, generator=gen(3), dtype=torch.float64) if with_h0 else None
    grads = []
    outs = []
    for fused in (False, True):
        net.zero_grad()
        hs = net.hidden_states(x, h0, fused=fused)
        out = net.readout(hs).sum() + hs.pow(2).sum()
        out.backward()
        outs.append(hs.detach())
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_linear_cell_is_the_seed_system():
    net = RecurrentNet("linear", 1, 1, 1, dtype=torch.float64)
    with torch.no_grad():
        net.weight_hh.fill_(2.0)
        net.weight_ih.zero_()
    hs, states = net.unroll(torch.zeros(1, 5, 1, dtype=torch.float64), torch.ones(1, 1).double())
    # h_t = 2 h_{t-1}, h_0 = 1: 2, 4, 8, 16, 32 (the seed's forward pass)
    assert hs.flatten().tolist() == [2, 4, 8, 16, 32]
    assert len(states) == 5
    with pytest.raises(InputError, match="fused"):
        RecurrentNet("linear", 1, 1, fused=True)


def test_same_generator_same_weights():
    a = RecurrentNet("lstm", 2, 8, init="orthogonal", generator=gen(7))
    b = RecurrentNet("lstm", 2, 8, init="orthogonal", generator=gen(7))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("rho", [0.5, 1.0, 2.0, 3.7])
@pytest.mark.parametrize("cell", ["linear", "tanh", "lstm", "gru"])
def test_scaled_orthogonal_has_every_singular_value_rho(cell, rho):
    net = RecurrentNet(cell, 1, 16, init="scaled-orthogonal", rho=rho, dtype=torch.float64)
    n = 16
    for k in range(net.weight_hh.shape[0] // n):
        block = net.weight_hh.detach()[k * n : (k + 1) * n]
        s = torch.linalg.svdvals(block)
        torch.testing.assert_close(s, torch.full_like(s, rho))
        eig = torch.linalg.eigvals(block).abs()
        torch.testing.assert_close(eig, torch.full_like(eig, rho))
    spec = recurrent_spectrum(net)
    assert spec.rho == pytest.approx(rho) and spec.sigma_max == pytest.approx(rho)


def test_orthogonal_identity_and_irnn_biases():
    net = RecurrentNet("relu", 2, 12, init="identity", generator=gen())
    assert torch.equal(net.weight_hh.detach(), torch.eye(12))
    assert not net.rnn.bias_hh_l0.any() and not net.rnn.bias_ih_l0.any()
    ortho = RecurrentNet("tanh", 2, 12, init="orthogonal", dtype=torch.float64).weight_hh.detach()
    torch.testing.assert_close(ortho @ ortho.T, torch.eye(12, dtype=torch.float64))


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        # circular law: i.i.d. entries of variance s²/n → ρ → s.
        ("default", 1 / math.sqrt(3)),  # U(±1/√n): variance 1/(3n)
        ("xavier-normal", 1.0),  # 2/(n + n)
        ("xavier-uniform", 1.0),
        ("he", math.sqrt(2)),  # 2/n: made for ReLU feed-forward layers
    ],
)
def test_random_inits_spectral_radius(scheme, expected):
    # Mean over 5 draws of a 256 × 256 matrix; finite-n fluctuations are a few percent.
    radii = []
    for seed in range(5):
        w = init_recurrent_(torch.empty(256, 256, dtype=torch.float64), scheme, generator=gen(seed))
        radii.append(float(torch.linalg.eigvals(w).abs().max()))
    assert sum(radii) / 5 == pytest.approx(expected, rel=0.06)


def test_init_rejects_bad_names_and_rho():
    w = torch.empty(4, 4)
    with pytest.raises(InputError, match="init must be one of"):
        init_recurrent_(w, "glorot")
    with pytest.raises(InputError, match="rho"):
        init_recurrent_(w, "scaled-orthogonal")
    with pytest.raises(InputError, match="rho must be a finite number > 0, got -1"):
        init_recurrent_(w, "scaled-orthogonal", rho=-1.0)
    with pytest.raises(InputError, match="model must be one of"):
        RecurrentNet("transformer", 1, 4)
    with pytest.raises(InputError, match="hidden_size must be a whole number"):
        RecurrentNet("gru", 1, 0)
    assert "scaled-orthogonal" in INITS


def test_experiments_package_imports_torch_lazily():
    # The CLI checks names from gradguard.experiments without paying for torch.
    import subprocess
    import sys

    code = (
        "import sys, gradguard.experiments as e; e.CELLS; e.format_summary;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
