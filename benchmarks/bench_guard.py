"""Benchmark the guard's statistics and guarded step against torch and a naive watcher.

$ python benchmarks/bench_guard.py            # ~1–2 min on one CPU thread
$ python benchmarks/bench_guard.py --quick    # fewer repeats
$ python benchmarks/bench_guard.py --device-read   # + the step on device tensors, read once

Every figure is measured in this run, side by side, with ``torch.set_num_threads(1)``,
as the min and median of interleaved repeats (each repeat times every operation once,
so a slow moment of the machine hits all of them alike), in thread CPU time (``--wall``
for wall-clock time; on a shared machine wall time mostly measures the neighbours).
Ratios are against
baselines from the same run:

- floor: one sum-of-squares pass over a flat buffer as large as all gradients together
  (the memory-bandwidth floor of any statistic that reads every gradient once);
- torch_clip: ``torch.nn.utils.clip_grad_norm_(foreach=True)``;
- per-tensor overhead: ``torch._foreach_norm`` on as many tensors of one float each
  (its cost with nothing to read, which no statistic over that many tensors avoids);
- naive: a Python loop with ``.item()`` per tensor for norm, max |g| and finiteness, as
  gradient watchers do.

Workloads (the issue's): an LSTM language model (Embedding 10k×256, 2-layer LSTM 512,
Linear to 10k; gradients from batch 32 × 35), 2,000 tensors of 500 floats, and a tanh
RNN (hidden 128, T = 100, batch 64) for the share of a training step.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from gradguard.rules import MedianMadRule
from gradguard.torch import NormClipper, SpikeGuard, grad_stats


class NullOptimizer(torch.optim.Optimizer):
    """An optimizer whose step does nothing: isolates the guard's own work."""

    def __init__(self, params):
        super().__init__(params, {"lr": 0.0})

    def step(self, closure=None):
        return None


class JustUnder(NormClipper):
    """A fixed-norm clipper whose threshold is always just under the current norm."""

    def __init__(self):
        super().__init__(1.0)

    def target(self, host):
        c = host.total_norm * (1 - 1e-9)
        return c, c


class LSTMLM(torch.nn.Module):
    def __init__(self, vocab=10_000, emb=256, hidden=512):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.rnn = torch.nn.LSTM(emb, hidden, num_layers=2)
        self.out = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens):
        h, _ = self.rnn(self.emb(tokens))
        return self.out(h)


class TanhRNN(torch.nn.Module):
    def __init__(self, hidden=128):
        super().__init__()
        self.rnn = torch.nn.RNN(1, hidden, nonlinearity="tanh")
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.out(h[-1])


def lstm_lm():
    torch.manual_seed(0)
    model = LSTMLM()
    tokens = torch.randint(0, 10_000, (35, 32))
    target = torch.randint(0, 10_000, (35, 32))

    def train_step(opt):
        opt.zero_grad(set_to_none=False)
        logits = model(tokens)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 10_000), target.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    return model, train_step


def tanh_rnn():
    torch.manual_seed(0)
    model = TanhRNN()
    x = torch.randn(100, 64, 1)
    y = torch.randn(64, 1)

    def train_step(opt):
        opt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, train_step


def many_small():
    torch.manual_seed(0)
    model = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(500)) for _ in range(2000)])
    for p in model:
        p.grad = torch.randn(500)
    return model, None


def naive_watcher(params):
    """What gradient watchers do: one .item() per tensor and statistic."""
    total_sq, max_abs, bad = 0.0, 0.0, 0
    for p in params:
        g = p.grad
        n = g.norm().item()
        total_sq += n * n
        max_abs = max(max_abs, g.abs().max().item())
        bad += 0 if torch.isfinite(g).all().item() else 1
    return total_sq**0.5, max_abs, bad


def measure(ops: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Return ``(min, median)`` seconds per op over interleaved repeats.

    Times are the thread's CPU time (``time.thread_time``), not wall time: on a shared
    machine the wall clock also counts the moments this process waits for a core,
    which no change to the code can affect. ``--wall`` switches to wall time.
    """
    clock = time.perf_counter if WALL else time.thread_time
    times: dict[str, list[float]] = {k: [] for k in ops}
    for f in ops.values():  # warm-up
        f()
    for _ in range(repeats):
        for name, f in ops.items():
            t = clock()
            f()
            times[name].append(clock() - t)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


WALL = False
DEVICE_READ = False


def bench_workload(name, make, repeats, train_repeats):
    model, train_step = make()
    params = [p for p in model.parameters()]
    if train_step is not None:
        opt = torch.optim.SGD(params, lr=1e-3)
        train = measure({"train step": lambda: train_step(opt)}, train_repeats)["train step"]
    else:
        train = None
    grads = [p.grad for p in params]
    numel = sum(g.numel() for g in grads)
    flat = torch.cat([g.reshape(-1) for g in grads])
    # As many tensors of one float each: what _foreach_norm costs with (almost) nothing
    # to read, i.e. its per-tensor overhead.
    tiny = [torch.ones(1) for _ in grads]
    n0 = float(grad_stats(params, per_layer=False).total_norm)

    def make_guard(max_norm, layer_norms_every=50, sync=True):
        return SpikeGuard(
            model,
            NullOptimizer(params),
            clipper=NormClipper(max_norm),
            spike_rule=MedianMadRule(),
            rollback_after=None,
            snapshot_every=10**9,
            layer_norms_every=layer_norms_every,
            sync=sync,
        )

    # Two guarded steps: one whose clipping stays idle (the norm is below c, as in
    # healthy training), and one whose clipping acts on every step: its threshold sits
    # just under the current norm, so the gradients are multiplied by a coefficient
    # ≈ 1 − 1e-5 each time (a real multiply that leaves them usable for the repeats).
    idle, acting = make_guard(1e30), make_guard(n0)
    acting.clipper = JustUnder()
    # The default layer_norms_every=50 reads per-layer norms and max |g| on one step in
    # 50 (the repeats' min and median are the other 49): that step, timed on its own.
    acting_every = make_guard(n0, layer_norms_every=1)
    acting_every.clipper = JustUnder()
    null_opt = NullOptimizer(params)

    ops = {
        "floor (flat sum of squares)": lambda: torch.dot(flat, flat),
        "foreach_norm (L2 alone)": lambda: torch._foreach_norm(grads, 2),
        "foreach_norm, 1-float tensors": lambda: torch._foreach_norm(tiny, 2),
        "torch clip_grad_norm_": lambda: torch.nn.utils.clip_grad_norm_(params, 1e30, foreach=True),
        "grad_stats + host sync": lambda: grad_stats(params, per_layer=False).host(),
        "grad_stats per-layer + sync": lambda: grad_stats(model).host(),
        "null optimizer.step": null_opt.step,
        "guard.step, clip idle": lambda: idle.step(1.0),
        "guard.step, clip acting": lambda: acting.step(1.0),
        "guard.step, acting + layers, max|g|": lambda: acting_every.step(1.0),
        "naive .item() loop": lambda: naive_watcher(params),
    }
    if DEVICE_READ:
        # sync=True's two ways: the step on host numbers after one read of the statistics
        # (HostOps), or on 0-d device tensors with one read of its record vector afterwards
        # (DeviceOps; the NullOptimizer has no fused found_inf route, so whether to step is
        # that one read). Both with a fixed threshold just under the norm, acting.
        just_under = n0 * (1 - 1e-9)
        host_fixed = make_guard(just_under)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (the non-fused optimizer's one read, said)
            dev_idle = make_guard(1e30, sync=False)
            dev_fixed = make_guard(just_under, sync=False)
        ops["host ops, fixed c just under"] = lambda: host_fixed.step(1.0)
        ops["device ops + read, clip idle"] = lambda: (dev_idle.step(1.0), dev_idle.flush())
        ops["device ops + read, fixed c under"] = lambda: (dev_fixed.step(1.0), dev_fixed.flush())
    res = measure(ops, repeats)
    clip = res["torch clip_grad_norm_"]
    floor = res["floor (flat sum of squares)"]
    print(
        f"\n== {name}: {len(grads)} tensors, {numel / 1e6:.2f} M floats ({4 * numel / 1e6:.1f} MB)"
    )
    print(f"{'operation':34s} {'min ms':>9s} {'med ms':>9s} {'/clip':>7s} {'/floor':>7s}")
    for k, (lo, med) in res.items():
        print(f"{k:34s} {1e3 * lo:9.3f} {1e3 * med:9.3f} {lo / clip[0]:7.2f} {lo / floor[0]:7.2f}")
    gbs = 4 * numel / floor[0] / 1e9
    print(f"floor bandwidth: {gbs:.1f} GB/s")
    # The guard's extra work: its step minus the optimizer step it wraps.
    null = res["null optimizer.step"][0]
    g_idle = res["guard.step, clip idle"][0] - null
    g = res["guard.step, clip acting"][0] - null
    g_every = res["guard.step, acting + layers, max|g|"][0] - null
    g_mean = (49 * g + g_every) / 50  # one step in 50 reads the layers and max |g|
    print(f"{'guard extra work, clip idle':34s} {1e3 * g_idle:9.3f}")
    print(f"{'guard extra work, clip acting':34s} {1e3 * g:9.3f}")
    print(f"{'  averaged over 50 steps':34s} {1e3 * g_mean:9.3f}")
    summary = {
        "grad_stats / clip (target ≤ 1.2)": res["grad_stats + host sync"][0] / clip[0],
        "L2 alone / floor (target ≤ 1.5)": res["foreach_norm (L2 alone)"][0] / floor[0],
        "L2 alone: per-tensor overhead share": (
            res["foreach_norm, 1-float tensors"][0] / res["foreach_norm (L2 alone)"][0]
        ),
        "guard extra work (acting) / clip (target ≤ 1.2)": g / clip[0],
        "  averaged over 50 steps / clip (target ≤ 1.2)": g_mean / clip[0],
        "guard extra work (idle) / clip (target ≤ 1.05)": g_idle / clip[0],
        "naive loop / grad_stats": res["naive .item() loop"][0] / res["grad_stats + host sync"][0],
        "guard extra work (acting), µs/tensor (target ≤ 3)": 1e6 * g / len(grads),
    }
    if DEVICE_READ:
        for label, host_op, dev_op in (
            (
                "device/host step, clip idle",
                "guard.step, clip idle",
                "device ops + read, clip idle",
            ),
            (
                "device/host step, fixed c under",
                "host ops, fixed c just under",
                "device ops + read, fixed c under",
            ),
        ):
            summary[label + " (min)"] = res[dev_op][0] / res[host_op][0]
            summary[label + " (median)"] = res[dev_op][1] / res[host_op][1]
    if train is not None:
        print(f"train step (fwd+bwd+SGD): min {1e3 * train[0]:.1f} ms, med {1e3 * train[1]:.1f} ms")
        summary["guard extra (acting) / train step % (target ≤ 1)"] = 100 * g / train[0]
    for k, v in summary.items():
        print(f"  {k:44s} {v:8.3f}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--wall", action="store_true", help="wall-clock instead of CPU time")
    ap.add_argument(
        "--device-read",
        action="store_true",
        help="also time sync=True's step on device tensors read once (DeviceOps) against HostOps",
    )
    args = ap.parse_args()
    global WALL, DEVICE_READ
    WALL, DEVICE_READ = args.wall, args.device_read
    torch.set_num_threads(1)
    repeats = 7 if args.quick else 25
    train_repeats = 2 if args.quick else 5
    clock = "wall-clock" if WALL else "thread CPU"
    print(
        f"torch {torch.__version__}, 1 thread, {repeats} interleaved repeats (min, median), "
        f"{clock} time"
    )
    bench_workload("LSTM LM (10k×256 emb, 2×LSTM 512, 512→10k)", lstm_lm, repeats, train_repeats)
    bench_workload("2,000 tensors × 500 floats", many_small, repeats, train_repeats)
    bench_workload("tanh RNN (hidden 128, T=100, batch 64)", tanh_rnn, repeats, train_repeats)


if __name__ == "__main__":
    main()
