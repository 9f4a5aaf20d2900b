"""The explorer's LSTM/GRU panel: gate bias → per-step factors, measured with torch.

The page cannot run torch, so these figures are measured here and shipped as
``static/flow.json`` (``python -m gradguard.serve._flow_data`` rewrites it;
``tests/serve/test_flow_data.py`` recomputes them and compares).

For a fresh cell (``gradguard flow``'s model: :class:`~gradguard.experiments.RecurrentNet`,
hidden size 64, ``T = 50``, seed 0, random inputs, float64) with its forget gate
(LSTM) or update gate (GRU) bias set to ``b`` (``None``: the default init, exactly
what ``gradguard flow --model lstm --init default`` measures):

* ``gate``: the gate's mean value over units and steps. The cell path's per-step
  factor — LSTM: ``∂c_t/∂c_{t−1} = diag(f_t)`` along ``c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t``;
  GRU: ``∂h_t/∂h_{t−1} ⊇ diag(z_t)`` along ``h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}``.
  At initialisation the gate sits near ``σ(0) = ½``; only a large bias — learned, or
  set at init as Jozefowicz, Zaremba & Sutskever (2015) advise for the forget gate —
  brings it, and the factor, near 1.
* ``factor``: ``gradguard flow``'s per-step factor of ``‖∂L/∂h_t‖`` (the geometric mean
  of ``‖∂L/∂h_{t−1}‖ / ‖∂L/∂h_t‖``) for ``L = 1ᵀ h_T``, measured by
  :func:`gradguard.experiments.measure_flow`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: The gate biases the panel offers (``None``: the default init, ±1/√n uniform).
BIASES: tuple[float | None, ...] = (None, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
T, HIDDEN, SEED = 50, 64, 0
#: The gate the panel moves, by cell: its block in torch's stacked gate layout.
GATE_BLOCK = {"lstm": 1, "gru": 1}  # LSTM: i, f, g, o; GRU: r, z, n


def gate_point(cell: str, bias: float | None) -> dict[str, Any]:
    """Measure ``gate`` and ``factor`` (see the module docstring) for one cell and bias."""
    import torch

    from gradguard.experiments import RecurrentNet, measure_flow

    dtype = torch.float64
    gen = torch.Generator().manual_seed(SEED)
    # the same construction order as gradguard.experiments.gradient_flow: same seed, same net
    net = RecurrentNet(cell, 1, HIDDEN, 1, init="default", generator=gen, dtype=dtype)
    x = torch.randn(1, T, 1, generator=gen, dtype=dtype)
    start = torch.zeros(1, HIDDEN, dtype=dtype)
    b_ih: torch.Tensor = getattr(net.rnn, "bias_ih_l0")  # noqa: B009  (typed access)
    b_hh: torch.Tensor = getattr(net.rnn, "bias_hh_l0")  # noqa: B009
    w_ih: torch.Tensor = getattr(net.rnn, "weight_ih_l0")  # noqa: B009
    w_hh: torch.Tensor = getattr(net.rnn, "weight_hh_l0")  # noqa: B009
    block = slice(GATE_BLOCK[cell] * HIDDEN, (GATE_BLOCK[cell] + 1) * HIDDEN)
    if bias is not None:
        with torch.no_grad():
            b_ih[block] = bias
            b_hh[block] = 0.0
    grad_h, _ = measure_flow(net, x, start)
    factor = math.exp((math.log(grad_h[0]) - math.log(grad_h[-1])) / (T - 1))
    with torch.no_grad():
        _, states = net.unroll(x, start)
        prev = torch.stack([start, *states[:-1]], dim=1)  # h_{t−1} for t = 1 … T
        pre = x @ w_ih[block].T + b_ih[block] + prev @ w_hh[block].T + b_hh[block]
        gate = float(torch.sigmoid(pre).mean())
    return {"bias": bias, "gate": round(gate, 6), "factor": round(factor, 6)}


def measure() -> dict[str, Any]:
    """Return the panel's data: settings and, per cell, one point per bias of :data:`BIASES`."""
    return {
        "T": T,
        "hidden": HIDDEN,
        "seed": SEED,
        "cells": {cell: [gate_point(cell, b) for b in BIASES] for cell in ("lstm", "gru")},
    }


def write(path: Path | None = None) -> Path:
    """Measure and write ``static/flow.json`` (atomically)."""
    from gradguard._atomic import write_text_atomic

    out = path or Path(__file__).parent / "static" / "flow.json"
    return write_text_atomic(out, json.dumps(measure(), indent=1) + "\n")


if __name__ == "__main__":
    print(write())
