"""Gradient flow through time: ``‖∂L/∂h_t‖`` for t = T … 1, beside ``ρ(W)``.

For the linear recurrence ``h_t = W h_{t-1} + U x_t`` backpropagation gives

.. math::

    \\frac{\\partial L}{\\partial h_{t-1}} = W^\\top \\frac{\\partial L}{\\partial h_t}
    \\quad\\Rightarrow\\quad
    \\frac{\\partial L}{\\partial h_t} = (W^\\top)^{T-t} \\frac{\\partial L}{\\partial h_T},

the seed's ``δ_t = w^{T-t}`` in matrix form. When ``W`` is orthogonal times
``ρ`` every step multiplies the norm by exactly ``ρ``; for a general ``W`` the
per-step factor tends to ``ρ(W)`` (the largest eigenvalue modulus) as
``T − t`` grows, and is bounded by ``σ_max(W)``. Nonlinear cells multiply by
``diag(φ'(·)) W`` instead, and gates change the picture (Pascanu, Mikolov &
Bengio, "On the difficulty of training recurrent neural networks", 2013).

The loss is the seed's ``L = h_T`` made a scalar: ``L = Σ_b 1ᵀ h_T`` (the sum of
the last state's entries over the batch), so with one unit it is the seed's
system exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from gradguard.errors import InputError
from gradguard.experiments._models import RecurrentNet, recurrent_spectrum
from gradguard.experiments._names import check_cell, check_count, check_init, check_seed, check_T

__all__ = ["FlowResult", "gradient_flow", "measure_flow"]

#: Upper bounds of :func:`gradient_flow`'s sizes.
MAX_FLOW_T = 100_000
MAX_FLOW_HIDDEN = 2048
MAX_FLOW_BATCH = 4096


@dataclass
class FlowResult:
    """Gradient norms through time for one model × init × T.

    Attributes:
      grad_h: ``‖∂L/∂h_t‖`` for t = 1 … T (``grad_h[t-1]``).
      grad_W: ``‖∂L/∂W‖`` (Frobenius), W the recurrent matrix.
      step_factors: ``‖∂L/∂h_{t-1}‖ / ‖∂L/∂h_t‖`` for t = T … 2 — the growth
        (> 1) or decay (< 1) of one backward step.
      factor: their geometric mean, ``(‖∂L/∂h_1‖ / ‖∂L/∂h_T‖)^{1/(T-1)}``
        (0 when no gradient reaches ``h_1``; ``nan`` for ``T = 1``).
      rho: spectral radius of ``W`` (gated cells: largest over gate blocks).
      sigma_max: largest singular value of ``W``.
      rho_target: the ρ asked for (``scaled-orthogonal`` only; ``None`` otherwise).
      model, init, T, hidden, seed, dtype: what was measured.
    """

    model: str
    init: str
    T: int
    hidden: int
    seed: int | None
    dtype: str
    rho_target: float | None
    rho: float
    sigma_max: float
    grad_h: list[float]
    grad_W: float
    step_factors: list[float]
    factor: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (non-finite floats as ``"nan"``/``"inf"`` strings)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def measure_flow(
    net: RecurrentNet, x: torch.Tensor, h0: torch.Tensor | None = None
) -> tuple[list[float], float]:
    """Backpropagate ``L = Σ 1ᵀ h_T`` through ``net`` unrolled on ``x``.

    Args:
      net: the model (run unrolled whatever its ``fused`` flag).
      x: ``(batch, T, input_size)``.
      h0: initial state ``(batch, hidden)``; zeros if ``None``.

    Returns:
      ``(grad_h, grad_W)``: ``‖∂L/∂h_t‖`` for t = 1 … T (norm over the batch and
      units) and ``‖∂L/∂W‖``. With one unit, ``W = [[2]]``, ``U = 0``,
      ``h0 = 1``, ``T = 5`` this is the seed's example: ``grad_W = 80``.
    """
    net.zero_grad(set_to_none=True)
    _, states = net.unroll(x, h0)
    for h in states:
        h.retain_grad()
    loss = states[-1].sum()
    loss.backward()
    grad_h = [float(torch.linalg.vector_norm(h.grad)) for h in states if h.grad is not None]
    w = net.weight_hh
    grad_W = float(torch.linalg.vector_norm(w.grad)) if w.grad is not None else 0.0
    return grad_h, grad_W


def gradient_flow(
    model: str = "linear",
    init: str = "xavier-normal",
    T: int = 50,
    *,
    hidden: int = 64,
    rho: float | None = None,
    seed: int = 0,
    batch: int = 1,
    inputs: str = "random",
    h0: float = 0.0,
    dtype: torch.dtype = torch.float64,
) -> FlowResult:
    """Measure how ``‖∂L/∂h_t‖`` grows or decays through ``T`` steps of a fresh model.

    Args:
      model: cell name, one of ``linear, tanh, relu, lstm, gru``.
      init: recurrent init scheme (see :data:`gradguard.experiments.INITS`).
      T: number of steps, ≥ 1.
      hidden: hidden size ``n``.
      rho: spectral radius for ``scaled-orthogonal``.
      seed: seeds the weights and the inputs.
      batch: number of sequences.
      inputs: ``"random"`` (``x_t ~ N(0, 1)``, one feature) or ``"zero"`` (the
        seed's system: no input, the state only carries ``h0``).
      h0: every entry of the initial state (the seed's ``h_0``; 0 by default).
      dtype: ``torch.float64`` (default, for exact-looking factors) or ``torch.float32``.

    Returns:
      a :class:`FlowResult`.

    Raises:
      InputError: unknown model/init/inputs, ``T`` outside 1…100 000, ``hidden``
        outside 1…2048, ``batch`` outside 1…4096, a seed outside 0…2³²−1, or a
        missing ``rho``.
    """
    check_cell(model)
    check_init(init, rho)
    # Bounds keep a typo from becoming an hour-long run or an out-of-memory crash.
    check_T(T, maximum=MAX_FLOW_T)
    check_count(hidden, "hidden", MAX_FLOW_HIDDEN)
    check_count(batch, "batch", MAX_FLOW_BATCH)
    check_seed(seed)
    if inputs not in ("random", "zero"):
        raise InputError("inputs", inputs, "either", a="'random'", b="'zero'")
    if not math.isfinite(h0):
        raise InputError("h0", h0, "finite")
    if dtype not in (torch.float32, torch.float64):
        raise InputError("dtype", dtype, "either", a="torch.float32", b="torch.float64")
    # rho belongs to scaled-orthogonal only (a CLI list of inits shares one --rho).
    rho = rho if init == "scaled-orthogonal" else None
    gen = torch.Generator().manual_seed(seed)
    net = RecurrentNet(model, 1, hidden, 1, init=init, rho=rho, generator=gen, dtype=dtype)
    if inputs == "random":
        x = torch.randn(batch, T, 1, generator=gen, dtype=dtype)
    else:
        x = torch.zeros(batch, T, 1, dtype=dtype)
    start = torch.full((batch, hidden), float(h0), dtype=dtype)
    grad_h, grad_W = measure_flow(net, x, start)
    factors = [
        grad_h[t - 1] / grad_h[t] if grad_h[t] != 0 else math.nan for t in range(T - 1, 0, -1)
    ]
    if T > 1 and grad_h[-1] > 0 and grad_h[0] > 0:
        factor = math.exp((math.log(grad_h[0]) - math.log(grad_h[-1])) / (T - 1))
    elif T > 1 and grad_h[-1] > 0 and grad_h[0] == 0:
        factor = 0.0  # no gradient reaches h_1 (e.g. every ReLU on the path is off)
    else:
        factor = math.nan
    spectrum = recurrent_spectrum(net)
    return FlowResult(
        model=model,
        init=init,
        T=T,
        hidden=hidden,
        seed=seed,
        dtype=str(dtype).replace("torch.", ""),
        rho_target=rho,
        rho=spectrum.rho,
        sigma_max=spectrum.sigma_max,
        grad_h=grad_h,
        grad_W=grad_W,
        step_factors=factors,
        factor=factor,
    )
