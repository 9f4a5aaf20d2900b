"""Benchmark re-run to attribute: what ``closure=`` costs on a clean step and on a bad one.

$ python benchmarks/bench_rerun.py            # ~1 min on one CPU thread
$ python benchmarks/bench_rerun.py --quick    # fewer repeats

Measured in this run, side by side, with ``torch.set_num_threads(1)``: the min and median
of interleaved repeats (each repeat times every variant once, so a slow moment of the
machine hits all of them alike), in thread CPU time (``--wall`` for wall-clock time).
Each timed unit is one training iteration — zero the gradients, forward, backward,
``guard.step`` — of a model on a fixed batch:

- ``plain``: ``guard.step(loss)``;
- ``closure``: ``guard.step(loss, closure=closure)`` on a clean step (the closure is not
  called; the guard keeps the RNG states the next re-run would start from);
- ``rerun``: ``guard.step(loss, closure=closure)`` on a step whose first backward puts
  an inf into one gradient (a transient fault): the guard re-runs it and takes it;
- ``skip``: the same fault without a closure: the guard skips the step;
- ``fwd+bwd``: the forward and backward alone (what a re-run adds).

It prints ``closure / plain`` (the cost of passing a closure when nothing goes wrong),
``(rerun − plain) / fwd+bwd`` (what a bad step costs with a re-run, against a clean step,
in forward+backward passes: the re-run, and the first run's non-finite norm measured a
second time to tell NaN/inf from an overflow) and ``(rerun − skip) / fwd+bwd`` (against
skipping the same bad step: the re-run's forward, backward and measurement, and the step
it takes).
Workloads: an MLP (4 layers of 1,024, batch 256), an LSTM language model (Embedding
10k×256, 2-layer LSTM 512, Linear to 10k; batch 16 × 35), a CNN with BatchNorm (6 blocks
of a 3×3 convolution with 32 channels, BatchNorm2d and ReLU; batch 16 × 3×32×32: buffers
the forward changes, which the guard keeps at each step's start), and a single ``Linear(8, 1)``,
where the guard's own work is nearly all of an iteration and the closure's fixed cost
(keeping the RNG states) shows.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch

from gradguard.torch import SpikeGuard


class LSTMLM(torch.nn.Module):
    def __init__(self, vocab: int = 10_000, emb: int = 256, hidden: int = 512) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.lstm = torch.nn.LSTM(emb, hidden, num_layers=2)
        self.out = torch.nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.emb(x))
        return self.out(h)


def workloads() -> dict[str, tuple[torch.nn.Module, Callable[[torch.nn.Module], torch.Tensor]]]:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        *[m for _ in range(4) for m in (torch.nn.Linear(1024, 1024), torch.nn.Tanh())],
        torch.nn.Dropout(0.1),
        torch.nn.Linear(1024, 1),
    )
    x, y = torch.randn(256, 1024, generator=g), torch.randn(256, 1, generator=g)
    lm = LSTMLM()
    tokens = torch.randint(0, 10_000, (36, 16), generator=g)

    def mlp_loss(m: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.mse_loss(m(x), y)

    def lm_loss(m: torch.nn.Module) -> torch.Tensor:
        out = m(tokens[:-1])
        return torch.nn.functional.cross_entropy(
            out.reshape(-1, out.shape[-1]), tokens[1:].reshape(-1)
        )

    # BatchNorm: buffers its forward updates (running mean and variance, a counter),
    # which the guard copies at each step's start for a re-run to start from.
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        *[
            m
            for _ in range(6)
            for m in (
                torch.nn.Conv2d(32, 32, 3, padding=1),
                torch.nn.BatchNorm2d(32),
                torch.nn.ReLU(),
            )
        ],
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 10),
    )
    images = torch.randn(16, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (16,), generator=g)

    def cnn_loss(m: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(m(images), labels)

    tiny = torch.nn.Linear(8, 1)
    xs, ys = torch.randn(4, 8, generator=g), torch.randn(4, 1, generator=g)

    def tiny_loss(m: torch.nn.Module) -> torch.Tensor:
        return torch.nn.functional.mse_loss(m(xs), ys)

    return {
        "MLP 4×1024, batch 256": (mlp, mlp_loss),
        "LSTM LM, batch 16×35": (lm, lm_loss),
        "CNN 6×(conv 32, BatchNorm), batch 16×32×32": (cnn, cnn_loss),
        # Where the guard's own work is all there is: the closure's fixed cost shows.
        "Linear 8→1, batch 4": (tiny, tiny_loss),
    }


def bench(name: str, model: torch.nn.Module, loss_of: Callable, reps: int, clock) -> dict:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    # The guard's defaults, with clipping as most runs use it; no rollback: every step runs.
    guard = SpikeGuard(model, opt, clipper=1.0, rollback_after=None)
    first = next(model.parameters())
    fault = {"on": False}

    def poison(grad: torch.Tensor) -> torch.Tensor:
        if fault["on"]:
            fault["on"] = False  # the first backward only: the re-run is clean
            grad = grad.clone()
            grad.view(-1)[0] = math.inf
        return grad

    first.register_hook(poison)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model)
        loss.backward()
        return loss

    def plain() -> None:
        guard.step(closure())

    def with_closure() -> None:
        guard.step(closure(), closure=closure)

    def rerun() -> None:
        fault["on"] = True
        record = guard.step(closure(), closure=closure)
        assert record.extra["rerun"]["verdict"] == "transient", record

    def skip() -> None:
        fault["on"] = True
        record = guard.step(closure())
        assert record.action == "skip", record

    def fwd_bwd() -> None:
        closure()

    variants = {
        "plain": plain,
        "closure": with_closure,
        "rerun": rerun,
        "skip": skip,
        "fwd+bwd": fwd_bwd,
    }
    for f in variants.values():  # warm-up, and the spike rule's history
        for _ in range(3):
            f()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, f in variants.items():
            t0 = clock()
            f()
            times[k].append(clock() - t0)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not CPU time")
    parser.add_argument("--reps", type=int, default=None, help="repeats per variant")
    parser.add_argument("--only", default=None, help="the workloads whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    reps = args.reps or (5 if args.quick else 25)
    clock = time.perf_counter if args.wall else time.thread_time
    unit = "wall" if args.wall else "CPU"
    print(f"re-run to attribute — {unit} ms per iteration, min (median) of {reps} repeats")
    print("(the Linear 8→1 workload: 40 times as many)")
    for name, (model, loss_of) in workloads().items():
        if args.only is not None and args.only not in name:
            continue
        # A tiny model's iteration is short and noisy: time it many more times.
        r = bench(name, model, loss_of, reps * (40 if "Linear" in name else 1), clock)
        ms = {k: (a * 1e3, m * 1e3) for k, (a, m) in r.items()}
        print(f"\n{name}")
        for k, (a, m) in ms.items():
            print(f"  {k:8s} {a:9.2f} ({m:.2f})")
        ratio = (r["closure"][0] / r["plain"][0], r["closure"][1] / r["plain"][1])
        extra = (
            (r["rerun"][0] - r["plain"][0]) / r["fwd+bwd"][0],
            (r["rerun"][1] - r["plain"][1]) / r["fwd+bwd"][1],
        )
        print(f"  closure / plain: {ratio[0]:.3f}× ({ratio[1]:.3f}×)")
        print(f"  (rerun − plain) / fwd+bwd: {extra[0]:.2f} ({extra[1]:.2f})")
        against = (
            (r["rerun"][0] - r["skip"][0]) / r["fwd+bwd"][0],
            (r["rerun"][1] - r["skip"][1]) / r["fwd+bwd"][1],
        )
        print(f"  (rerun − skip) / fwd+bwd: {against[0]:.2f} ({against[1]:.2f})")
        added = (r["closure"][0] - r["plain"][0], r["closure"][1] - r["plain"][1])
        print(f"  closure − plain: {added[0] * 1e6:.0f} µs ({added[1] * 1e6:.0f} µs)")


if __name__ == "__main__":
    main()
