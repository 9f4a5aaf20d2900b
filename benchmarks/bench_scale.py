"""Benchmark the guard at scale on the CPU: the sync-free step and the cost of snapshots.

$ python benchmarks/bench_scale.py            # ~1 min on one CPU thread
$ python benchmarks/bench_scale.py --quick    # fewer repeats
$ python benchmarks/bench_scale.py --device-read --step-only   # + the device step read at once

1. The guarded step after ``loss.backward()`` on the guard benchmark's LSTM language
   model (Embedding 10k×256, 2-layer LSTM 512, Linear to 10k; gradients of batch
   32 × 35), with a fused AdamW, against the baseline ``clip_grad_norm_(1.0)`` +
   ``optimizer.step()`` of the same fused AdamW: the default guard (one host sync per
   step) and ``SpikeGuard(sync=False)`` (none). Each repeat times every variant once
   (interleaved), in thread CPU time with ``torch.set_num_threads(1)``; min and median.
2. Snapshot cost per parameter of the same model with its AdamW state (parameters,
   ``exp_avg``, ``exp_avg_sq``): bytes and time to take one, in host memory, in pinned
   host memory (needs CUDA: a model on the GPU), and on disk (a temporary directory).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_guard import LSTMLM

from gradguard.torch import SpikeGuard
from gradguard.torch._snapshot import Snapshot, capture_state


def measure(ops: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """``(min, median)`` thread-CPU seconds per op over interleaved repeats."""
    times: dict[str, list[float]] = {k: [] for k in ops}
    for f in ops.values():  # warm-up
        f()
        f()
    for _ in range(repeats):
        for name, f in ops.items():
            t = time.thread_time()
            f()
            times[name].append(time.thread_time() - t)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def lstm_with_grads(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = LSTMLM()
    tokens = torch.randint(0, 10_000, (35, 32))
    target = torch.randint(0, 10_000, (35, 32))
    logits = model(tokens)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 10_000), target.reshape(-1))
    loss.backward()
    return model


def bench_step(repeats: int, device_read: bool = False) -> None:
    variants: dict[str, Callable[[], object]] = {}
    # Each variant its own model, gradients and fused AdamW: the same work, no sharing.
    model = lstm_with_grads()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)
    params = list(model.parameters())

    def baseline() -> object:
        torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
        return opt.step()

    variants["fused AdamW step + clip_grad_norm_"] = baseline
    for label, sync in (
        ("guard.step, default (one sync)", True),
        ("guard.step, sync=False", False),
    ):
        m = lstm_with_grads()
        o = torch.optim.AdamW(m.parameters(), lr=1e-6, fused=True)
        guard = SpikeGuard(m, o, clipper=1.0, rollback_after=None, sync=sync)
        variants[label] = lambda guard=guard: guard.step(4.0)
    if device_read:
        # The device step read back at once: the default mode's one read, but of the device
        # step's record vector instead of the statistics (the step on 0-d tensors, then
        # ``flush``: on the CPU the record is settled within ``step`` already).
        m = lstm_with_grads()
        o = torch.optim.AdamW(m.parameters(), lr=1e-6, fused=True)
        guard = SpikeGuard(m, o, clipper=1.0, rollback_after=None, sync=False)
        variants["guard.step on the device + one read"] = lambda: (guard.step(4.0), guard.flush())
    n_params = sum(p.numel() for p in params)
    result = measure(variants, repeats)
    base = result["fused AdamW step + clip_grad_norm_"][1]
    print(f"LSTM LM, {n_params:,} parameters, 1 thread, thread CPU time ({repeats} repeats)")
    width = max(len(k) for k in result)
    print(f"{'':<{width}}  {'min ms':>8}  {'median ms':>9}  {'× baseline':>10}")
    for name, (lo, med) in result.items():
        print(f"{name:<{width}}  {lo * 1e3:8.2f}  {med * 1e3:9.2f}  {med / base:10.3f}")


def _nbytes(obj: object) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 0


def bench_snapshots(repeats: int) -> None:
    places: list[tuple[str, str]] = [("memory (host)", "cpu")]
    if torch.cuda.is_available():
        places.append(("pinned host (model on CUDA)", "cuda"))
    places.append(("disk", "cpu"))
    print()
    print("Snapshot of the LSTM LM + its AdamW state (wall time, min / median)")
    print(f"{'place':<28}  {'bytes/param':>11}  {'ns/param (min)':>14}  {'ns/param (median)':>17}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, device in places:
            model = lstm_with_grads().to(device)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)
            opt.step()  # the moments exist
            n = sum(p.numel() for p in model.parameters())
            snap = Snapshot(Path(tmp) / "snap.pt" if label == "disk" else None)
            times = []
            for i in range(repeats + 2):
                state = capture_state(model, opt, None, None)
                t = time.perf_counter()
                snap.stage(state, i)  # as the guard does: staged, then kept (a healthy step)
                snap.commit()
                for e in snap._events:
                    e.synchronize()
                times.append(time.perf_counter() - t)
            times = times[2:]  # the first two allocate the two sets of (pinned) buffers
            # (one snapshot; in memory the guard holds two: the last good one and the
            # staged one, whose buffers the next snapshot writes again)
            size = (
                (Path(tmp) / "snap.pt").stat().st_size if label == "disk" else _nbytes(snap._state)
            )
            lo, med = min(times), statistics.median(times)
            print(f"{label:<28}  {size / n:11.2f}  {lo / n * 1e9:14.3f}  {med / n * 1e9:17.3f}")
    if not torch.cuda.is_available():
        print("(pinned host memory needs CUDA: not measured on this machine)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument(
        "--device-read",
        action="store_true",
        help="also time the device step read back at once (DeviceOps + one read)",
    )
    ap.add_argument("--step-only", action="store_true", help="skip the snapshot costs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    bench_step(5 if args.quick else 30, args.device_read)
    if not args.step_only:
        bench_snapshots(2 if args.quick else 5)


if __name__ == "__main__":
    main()
