"""Gradient flow through time over training: the data of the flow heat map.

Composes :mod:`gradguard.experiments` (models, the adding task, the flow
measurement); needs the ``[torch]`` extra. Used by ``gradguard tour``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["flow_over_training"]


def flow_over_training(
    model: str = "tanh",
    init: str = "xavier-normal",
    T: int = 50,
    *,
    steps: int = 300,
    every: int = 20,
    hidden: int = 64,
    batch: int = 64,
    lr: float = 3e-3,
    max_norm: float | None = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``model`` on the adding problem and measure ``‖∂L/∂h_t‖`` every ``every`` steps.

    The flow is measured as :func:`gradguard.experiments.measure_flow` does
    (``L = Σ 1ᵀh_T`` backpropagated through a fixed probe batch), so rows differ
    only through the weights training changed. Training uses Adam and, when
    ``max_norm`` is set, norm clipping (Pascanu et al., "On the difficulty of
    training recurrent neural networks", 2013).

    Returns:
      ``{"matrix": [[‖∂L/∂h_t‖ for t = 1…T] per measured step], "steps": [...],
      "label": "tanh × xavier-normal, adding T = 50"}``.
    """
    import torch

    from gradguard.experiments import RecurrentNet, adding_problem, measure_flow

    gen = torch.Generator().manual_seed(seed)
    # fused: torch's RNN kernel for training (same math); measure_flow unrolls it anyway.
    net = RecurrentNet(model, 2, hidden, 1, init=init, generator=gen, fused=model != "linear")
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    probe = adding_problem(T, 8, torch.Generator().manual_seed(10_000 + seed))
    data_gen = torch.Generator().manual_seed(20_000 + seed)
    matrix: list[list[float]] = []
    measured: list[int] = []
    for step in range(steps + 1):
        if step % every == 0:
            grad_h, _ = measure_flow(net, probe.x)
            matrix.append([float(g) for g in grad_h])
            measured.append(step)
        if step == steps:
            break
        b = adding_problem(T, batch, data_gen)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(net(b.x), b.y)
        loss.backward()
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
        opt.step()
    return {
        "matrix": matrix,
        "steps": measured,
        "label": f"{model} × {init}, adding T = {T}",
    }
