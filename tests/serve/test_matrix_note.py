"""The explorer's matrix note is true of every W it is shown beside (numpy as the reference).

The note says: σ_max(W) bounds one step's growth, ρ(W) is the long-run growth per step;
always σ_max ≥ ρ, equal for a normal W and for some others; where σ_max > 1 > ρ, ‖δ_t‖ can
grow before it decays. Each part is checked on random matrices (hypothesis) with numpy's
eigenvalues and singular values — including non-normal ones where σ_max = ρ, which an
earlier note ("for others σ_max > ρ") got wrong.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard._catalog import load_catalog

TOL = 1e-9


def _rho_sigma(W: np.ndarray) -> tuple[float, float]:
    return float(np.abs(np.linalg.eigvals(W)).max()), float(np.linalg.svd(W, compute_uv=False)[0])


def _normal(W: np.ndarray) -> bool:
    return bool(np.allclose(W @ W.T, W.T @ W, atol=1e-12))


@st.composite
def matrices(draw: st.DrawFn) -> np.ndarray:
    n = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["gauss", "triangular", "orthogonal", "symmetric", "block"]))
    scale = draw(st.sampled_from([0.1, 0.5, 0.9, 1.0, 1.5]))
    A = rng.standard_normal((n, n))
    if kind == "triangular":  # non-normal, eigenvalues on the diagonal
        return scale * np.triu(A)
    if kind == "orthogonal":  # ρ·Q, as the explorer's scaled-orthogonal init
        return scale * np.linalg.qr(A)[0]
    if kind == "symmetric":
        return scale * (A + A.T) / 2
    if kind == "block":  # a normal block carrying the largest |λ| and σ beside a nilpotent one
        W = np.zeros((n + 2, n + 2))
        W[:n, :n] = (A + A.T) / 2
        top = np.abs(np.linalg.eigvals(W[:n, :n])).max()
        W[n, n + 1] = draw(st.floats(0, 1)) * top
        return scale * W
    return scale * A / np.sqrt(n)


@settings(max_examples=80, deadline=None)
@given(matrices())
def test_sigma_max_is_never_below_rho_and_equal_for_a_normal_W(W):
    rho, sigma = _rho_sigma(W)
    assert sigma >= rho - TOL * max(1.0, sigma)  # "Always σ_max ≥ ρ"
    if _normal(W):
        assert abs(sigma - rho) <= 1e-8 * max(1.0, sigma)  # "equal for a normal W"
    # "σ_max bounds one step's growth": ‖Wᵀδ‖ ≤ σ_max·‖δ‖ for every δ (here: random ones)
    rng = np.random.default_rng(0)
    for delta in rng.standard_normal((8, W.shape[0])):
        assert np.linalg.norm(W.T @ delta) <= sigma * np.linalg.norm(delta) * (1 + TOL) + TOL
    # "ρ is the growth per step in the long run": ‖(Wᵀ)^k‖^(1/k) → ρ (Gelfand's formula)
    # (k = 1000 steps, each renormalised; its error (k^n·(σ/ρ)^n)^(1/k) ≤ 6 % for ρ ≥ σ/5)
    if rho >= sigma / 5 > 0:
        M, log_norm, k = np.eye(W.shape[0]), 0.0, 1000
        for _ in range(k):
            M = W.T @ M
            size = np.linalg.norm(M, 2)
            log_norm, M = log_norm + np.log(size), M / size
        assert abs(np.exp(log_norm / k) - rho) <= 0.08 * rho


def test_some_non_normal_W_has_sigma_max_equal_to_rho():
    # "… and for some others": diag(1) ⊕ a nilpotent block with σ ≤ 1 is not normal
    W = np.array([[1.0, 0, 0], [0, 0, 0.5], [0, 0, 0]])
    assert not _normal(W)
    rho, sigma = _rho_sigma(W)
    assert rho == sigma == 1.0


@settings(max_examples=100, deadline=None)
@given(matrices())
def test_where_sigma_exceeds_one_above_rho_the_norm_can_grow_before_it_decays(W):
    rho, sigma = _rho_sigma(W)
    if not sigma > 1 + 1e-6 > 1 - 1e-6 > rho:
        return
    # the top left singular vector u grows in one step back (‖Wᵀu‖ = σ_max > 1) …
    u = np.linalg.svd(W)[0][:, 0]
    assert np.linalg.norm(W.T @ u) > 1
    # … and every δ decays in the long run (ρ < 1): after enough steps that ρ^n ≤ e^−60
    # (2,000 steps left ‖(Wᵀ)^n u‖ at 5e-6 for ρ = 0.9938)
    n = 2000 if rho <= 0 else max(2000, int(np.ceil(60 / -np.log(rho))))
    assert np.linalg.norm(np.linalg.matrix_power(W.T, n) @ u) < 1e-6


def test_the_note_states_what_is_checked_here():
    for lang in ("en", "bn"):
        note = load_catalog(lang, "report").section("explorer")["mx_sigma_note"]
        assert "σ_max ≥ ρ" in note and "σ_max > 1 > ρ" in note
        assert "σ_max > ρ" not in note.replace("σ_max > 1 > ρ", "")
