"""Recurrent models, unrolled so every hidden state's gradient can be read, and their inits.

Cells (``CELLS``):

- ``linear`` — the seed's system in matrix form, ``h_t = W h_{t-1} + U x_t``
  (no bias, no nonlinearity: with one unit, ``W = w`` and ``U = 0`` it *is*
  the seed's ``h_t = w·h_{t-1}``);
- ``tanh``, ``relu`` — Elman RNNs, ``h_t = φ(W h_{t-1} + b_hh + U x_t + b_ih)``;
- ``lstm`` — Hochreiter & Schmidhuber, "Long Short-Term Memory" (1997), with
  the forget gate of Gers et al. (2000), torch's gate order ``i, f, g, o``;
- ``gru`` — Cho et al., "Learning Phrase Representations using RNN
  Encoder–Decoder for Statistical Machine Translation" (2014), torch's order
  ``r, z, n``.

The ``tanh``/``relu``/``lstm``/``gru`` parameters live in a torch ``nn.RNN``/
``nn.LSTM``/``nn.GRU`` module, so the same weights run either unrolled (a
Python loop over steps written with the cell equations, every ``h_t`` a node
of the graph) or fused (torch's own kernel, faster, no per-step states).
A test checks that both give the same outputs and gradients.

Recurrent-matrix initializations (``INITS``), applied to ``W`` (for gated
cells, to each gate's ``n × n`` block of ``W_hh``):

- ``default`` — PyTorch's ``U(−1/√n, 1/√n)``; spectral radius ``ρ ≈ 1/√3 ≈ 0.58``
  for large ``n`` (circular law: entries of variance ``1/(3n)``);
- ``xavier-uniform``, ``xavier-normal`` — Glorot & Bengio, "Understanding the
  difficulty of training deep feedforward neural networks" (2010): variance
  ``2/(fan_in + fan_out) = 1/n`` for a square matrix, so ``ρ ≈ 1``;
- ``he`` — He et al., "Delving Deep into Rectifiers" (2015), normal, fan-in,
  ReLU gain: variance ``2/n``, so ``ρ ≈ √2`` — made for ReLU feed-forward
  layers, it makes a *linear* recurrence explode like ``√2^T``;
- ``orthogonal`` — Saxe, McClelland & Ganguli, "Exact solutions to the
  nonlinear dynamics of learning in deep linear neural networks" (2013): all
  singular values 1, ``ρ = 1``;
- ``identity`` — Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent
  Networks of Rectified Linear Units" (2015) (IRNN; biases set to 0 as in the paper);
- ``scaled-orthogonal`` — an orthogonal matrix times ``ρ``: every singular
  value and every eigenvalue's modulus equal ``ρ`` — the seed's ``w`` in matrix form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gradguard.errors import InputError
from gradguard.experiments._names import CELLS, GATES, INITS, check_cell, check_init

__all__ = [
    "CELLS",
    "GATES",
    "INITS",
    "RecurrentNet",
    "RecurrentSpectrum",
    "init_recurrent_",
    "recurrent_spectrum",
]


def init_recurrent_(
    weight: torch.Tensor,
    scheme: str,
    *,
    rho: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Initialize a (stacked) recurrent matrix in place, one ``n × n`` block per gate.

    Args:
      weight: ``(G·n, n)`` — ``G = 1`` for a plain RNN, 4 for LSTM, 3 for GRU.
      scheme: one of :data:`INITS`.
      rho: the spectral radius for ``scaled-orthogonal`` (ignored otherwise).
      generator: seeded source of randomness.

    Returns:
      ``weight``.

    Raises:
      InputError: unknown ``scheme``, missing or invalid ``rho``, or ``weight``
        not made of square blocks.
    """
    check_init(scheme, rho)
    n = weight.shape[1]
    if weight.dim() != 2 or weight.shape[0] % n:
        raise InputError("weight", tuple(weight.shape), "square_blocks")
    init = nn.init
    with torch.no_grad():
        for k in range(weight.shape[0] // n):
            block = weight[k * n : (k + 1) * n]
            if scheme == "default":
                bound = 1 / math.sqrt(n)
                init.uniform_(block, -bound, bound, generator=generator)
            elif scheme == "xavier-uniform":
                init.xavier_uniform_(block, generator=generator)
            elif scheme == "xavier-normal":
                init.xavier_normal_(block, generator=generator)
            elif scheme == "he":
                init.kaiming_normal_(block, nonlinearity="relu", generator=generator)
            elif scheme == "orthogonal":
                init.orthogonal_(block, generator=generator)
            elif scheme == "identity":
                block.copy_(torch.eye(n, dtype=block.dtype))
            else:  # scaled-orthogonal
                assert rho is not None  # checked above
                init.orthogonal_(block, gain=float(rho), generator=generator)
    return weight


@dataclass
class RecurrentSpectrum:
    """Spectral radius and largest singular value of a model's recurrent matrix.

    For gated cells ``rho`` and ``sigma_max`` are the largest over the gate
    blocks; ``blocks`` holds each gate's ``(ρ, σ_max)``.
    """

    rho: float
    sigma_max: float
    blocks: dict[str, tuple[float, float]]


def recurrent_spectrum(net: RecurrentNet) -> RecurrentSpectrum:
    """Return ``ρ(W) = max |λ_i(W)|`` and ``σ_max(W) = ‖W‖₂`` of ``net``'s recurrent matrix."""
    weight = net.weight_hh.detach().to(device="cpu", dtype=torch.float64)
    n = weight.shape[1]
    blocks: dict[str, tuple[float, float]] = {}
    for k, gate in enumerate(GATES[net.cell]):
        block = weight[k * n : (k + 1) * n]
        rho = float(torch.linalg.eigvals(block).abs().max())
        sigma = float(torch.linalg.matrix_norm(block, ord=2))
        blocks[gate] = (rho, sigma)
    return RecurrentSpectrum(
        rho=max(r for r, _ in blocks.values()),
        sigma_max=max(s for _, s in blocks.values()),
        blocks=blocks,
    )


class RecurrentNet(nn.Module):
    """One recurrent layer and a linear readout, runnable unrolled or fused.

    Args:
      cell: one of :data:`CELLS`.
      input_size: features per step.
      hidden_size: ``n``, the size of ``h_t``.
      output_size: readout size.
      init: recurrent-matrix scheme, one of :data:`INITS` (other weights keep
        PyTorch's default ``U(±1/√n)``, drawn from ``generator``).
      rho: spectral radius for ``init="scaled-orthogonal"``.
      per_step_output: read out every step (copy task) instead of only ``h_T``.
      fused: run torch's fused kernel in :meth:`forward` (not for ``linear``).
      forget_bias: ``lstm`` only: start the forget gate's bias at this value (Gers,
        Schmidhuber & Cummins, "Learning to Forget", 2000): torch keeps two bias
        vectors, so ``b_ih`` gets the value and ``b_hh`` 0 on the forget gate's block.
      generator: seeded source of randomness for every parameter.
      dtype: parameter dtype.

    Raises:
      InputError: unknown cell or init, bad sizes, or ``fused`` with ``linear``.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        output_size: int = 1,
        *,
        init: str = "default",
        rho: float | None = None,
        per_step_output: bool = False,
        fused: bool = False,
        forget_bias: float | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        check_cell(cell)
        check_init(init, rho)
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("output_size", output_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(name, value, "whole", min=1)
        if fused and cell == "linear":
            raise InputError("fused", fused, "unfused_linear")
        if forget_bias is not None and cell != "lstm":
            raise InputError("forget_bias", forget_bias, "forget_bias")
        self.cell = cell
        self.init = init
        self.rho = rho
        self.hidden_size = hidden_size
        self.per_step_output = per_step_output
        self.fused = fused
        self.rnn: nn.RNNBase | None
        if cell == "linear":
            self.rnn = None
            self.linear_ih = nn.Parameter(torch.empty(hidden_size, input_size, dtype=dtype))
            self.linear_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, dtype=dtype))
        elif cell in ("tanh", "relu"):
            self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=cell, batch_first=True)
        elif cell == "lstm":
            self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        else:
            self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)
        if self.rnn is not None:
            self.rnn.to(dtype)
        self.readout = nn.Linear(hidden_size, output_size, dtype=dtype)
        bound = 1 / math.sqrt(hidden_size)
        with torch.no_grad():
            # Every parameter from `generator`, in a fixed order: same seed, same net.
            for p in self.parameters():
                nn.init.uniform_(p, -bound, bound, generator=generator)
        init_recurrent_(self.weight_hh, init, rho=rho, generator=generator)
        if init == "identity" and self.rnn is not None:
            # Le et al. (2015) start the IRNN with zero biases.
            with torch.no_grad():
                self._rnn_param("bias_ih_l0").zero_()
                self._rnn_param("bias_hh_l0").zero_()
        if forget_bias is not None:
            forget = slice(hidden_size, 2 * hidden_size)  # torch's gate order i, f, g, o
            with torch.no_grad():
                self._rnn_param("bias_ih_l0")[forget] = forget_bias
                self._rnn_param("bias_hh_l0")[forget] = 0.0

    def _rnn_param(self, name: str) -> torch.Tensor:
        assert self.rnn is not None
        value: torch.Tensor = getattr(self.rnn, name)
        return value

    @property
    def weight_hh(self) -> torch.Tensor:
        """The recurrent matrix ``W`` (gated cells: the gate blocks stacked, torch's layout)."""
        return self.linear_hh if self.rnn is None else self._rnn_param("weight_hh_l0")

    @property
    def weight_ih(self) -> torch.Tensor:
        """The input matrix ``U`` (gated cells: stacked gate blocks)."""
        return self.linear_ih if self.rnn is None else self._rnn_param("weight_ih_l0")

    def recurrent_parameter_name(self) -> str:
        """Return the name of ``W`` in :meth:`named_parameters`."""
        return "linear_hh" if self.rnn is None else "rnn.weight_hh_l0"

    def unroll(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the cell step by step; return ``(h_1..h_T stacked, [h_1, …, h_T])``.

        Every ``h_t`` in the list is a node of the autograd graph: call
        ``retain_grad()`` on it before ``backward()`` to read ``∂L/∂h_t``.

        Args:
          x: ``(batch, T, input_size)``.
          h0: ``(batch, hidden_size)`` initial state (zeros if ``None``).
        """
        batch, T, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0
        states: list[torch.Tensor] = []
        if self.rnn is None:
            # U x_t for every t in one matmul, then one view per step: unbind's backward
            # stacks the steps' gradients once, where T slices ``inputs[:, t]`` would each
            # add a gradient of the whole (batch, T, ·) tensor (O(T²); the same numbers).
            inputs = (x @ self.linear_ih.T).unbind(1)
            for t in range(T):
                h = h @ self.linear_hh.T + inputs[t]
                states.append(h)
            return torch.stack(states, dim=1), states
        inputs = (x @ self._rnn_param("weight_ih_l0").T + self._rnn_param("bias_ih_l0")).unbind(1)
        w_hh, b_hh = self._rnn_param("weight_hh_l0"), self._rnn_param("bias_hh_l0")
        if self.cell in ("tanh", "relu"):
            act = torch.tanh if self.cell == "tanh" else torch.relu
            for t in range(T):
                h = act(inputs[t] + h @ w_hh.T + b_hh)
                states.append(h)
        elif self.cell == "lstm":
            c = torch.zeros_like(h)
            for t in range(T):
                i, f, g, o = (inputs[t] + h @ w_hh.T + b_hh).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                states.append(h)
        else:  # gru
            for t in range(T):
                x_r, x_z, x_n = inputs[t].chunk(3, dim=1)
                h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=1)
                r = torch.sigmoid(x_r + h_r)
                z = torch.sigmoid(x_z + h_z)
                n = torch.tanh(x_n + r * h_n)
                h = (1 - z) * n + z * h
                states.append(h)
        return torch.stack(states, dim=1), states

    def hidden_states(
        self, x: torch.Tensor, h0: torch.Tensor | None = None, *, fused: bool | None = None
    ) -> torch.Tensor:
        """Return ``h_1..h_T`` as ``(batch, T, hidden_size)``, fused or unrolled."""
        if not (self.fused if fused is None else fused) or self.rnn is None:
            return self.unroll(x, h0)[0]
        if h0 is None:
            out, _ = self.rnn(x)
        elif self.cell == "lstm":
            out, _ = self.rnn(x, (h0.unsqueeze(0), torch.zeros_like(h0).unsqueeze(0)))
        else:
            out, _ = self.rnn(x, h0.unsqueeze(0))
        return out

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Return the readout of ``h_T`` ``(batch, out)``, or of every step ``(batch, T, out)``."""
        hs = self.hidden_states(x, h0)
        return self.readout(hs if self.per_step_output else hs[:, -1])
