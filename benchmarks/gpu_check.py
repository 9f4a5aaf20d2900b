"""Check the guard on one GPU: its CUDA tests, host syncs per step, and its cost.

$ python benchmarks/gpu_check.py                  # one GPU, under 5 minutes
$ python benchmarks/gpu_check.py --device cpu --tiny   # a seconds-long smoke run

Four parts, printed as one short table:

1. the guard's CUDA tests (``pytest tests/guard -m cuda``: the tests that take the
   ``device`` fixture, run on ``cuda``);
2. host syncs per guarded step, counted by ``torch.cuda.set_sync_debug_mode("warn")``
   (each synchronising CUDA call warns once), for ``clip_grad_norm_`` + ``step()``, the
   default guard and the sync-free guard (``SpikeGuard(..., sync=False)``); then
   20 sync-free steps under ``set_sync_debug_mode("error")``, which raises on any sync;
3. time per training step of a GPT-2-small-sized model (12 layers, d = 768, 12 heads,
   vocabulary 50,257, context 1,024: ≈124M parameters; random init, generated tokens,
   bf16 autocast, fused AdamW): the baseline ``clip_grad_norm_(1.0)`` + ``step()``
   against each guard, as interleaved repeats timed with CUDA events (min and median);
4. how far a re-run of the same step moves on this GPU: the largest relative difference
   of the gradient norm and of the loss between a step and the same step run again from
   the same RNG states (the token embedding's backward adds with atomics). A guard's
   ``rerun_rtol`` (default 1e-4) should lie above it (docs/guard/rerun.md).

Without CUDA (and without ``--device cpu``) it prints that it needs a GPU and exits 0.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gradguard.torch import SpikeGuard

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class GPTConfig:
    vocab: int = 50_257
    context: int = 1024
    layers: int = 12
    heads: int = 12
    width: int = 768


class Block(torch.nn.Module):
    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(c.width)
        self.qkv = torch.nn.Linear(c.width, 3 * c.width)
        self.proj = torch.nn.Linear(c.width, c.width)
        self.ln2 = torch.nn.LayerNorm(c.width)
        self.fc = torch.nn.Linear(c.width, 4 * c.width)
        self.out = torch.nn.Linear(4 * c.width, c.width)
        self.heads = c.heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(torch.nn.Module):
    """GPT-2 small's shape in plain torch (Radford et al. 2019), tied embeddings."""

    def __init__(self, c: GPTConfig) -> None:
        super().__init__()
        self.tok = torch.nn.Embedding(c.vocab, c.width)
        self.pos = torch.nn.Embedding(c.context, c.width)
        self.blocks = torch.nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln = torch.nn.LayerNorm(c.width)
        self.head = torch.nn.Linear(c.width, c.vocab, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        x = self.tok(tokens) + self.pos(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def make_run(config: GPTConfig, batch: int, device: str, seed: int = 0):
    """A model, a fused AdamW and a step function (forward + backward) on fixed tokens."""
    torch.manual_seed(seed)
    model = GPT(config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    g = torch.Generator(device=device).manual_seed(seed)
    tokens = torch.randint(0, config.vocab, (batch, config.context + 1), device=device, generator=g)
    x, y = tokens[:, :-1], tokens[:, 1:]
    dtype = torch.bfloat16

    def forward_backward() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=dtype):
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        loss.backward()
        return loss

    return model, opt, forward_backward


def variants(
    device: str, config: GPTConfig, batch: int
) -> tuple[dict[str, Callable[[], object]], int]:
    """One training step per variant, each on its own model and optimizer; the size."""
    out: dict[str, Callable[[], object]] = {}
    model, opt, fb = make_run(config, batch, device)
    n_params = sum(p.numel() for p in model.parameters())

    def baseline() -> object:
        loss = fb()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        return loss

    out["clip_grad_norm_ + step"] = baseline
    for label, kwargs in (("guard (default)", {}), ("guard (sync=False)", {"sync": False})):
        m, o, f = make_run(config, batch, device)
        try:
            guard = SpikeGuard(m, o, clipper=1.0, rollback_after=None, **kwargs)
        except TypeError:  # a gradguard without the sync-free mode
            continue

        def guarded(f=f, guard=guard) -> object:
            return guard.step(f())

        out[label] = guarded
    return out, n_params


def count_syncs(step: Callable[[], object], n: int) -> float:
    """Host syncs per call of ``step``, as ``set_sync_debug_mode("warn")`` reports them."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(n):
                step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / n


def no_sync_error(step: Callable[[], object], n: int) -> str:
    """Run ``step`` ``n`` times under ``set_sync_debug_mode("error")``: "none" or the error."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(n):
            step()
    except RuntimeError as err:
        return str(err).splitlines()[0][:60]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    return "none"


def time_steps(
    ops: dict[str, Callable[[], object]], repeats: int, device: str
) -> dict[str, tuple[float, float]]:
    """``(min, median)`` milliseconds per step over interleaved repeats."""
    times: dict[str, list[float]] = {k: [] for k in ops}
    for f in ops.values():  # warm-up (kernels, allocator, fused optimizer state)
        f()
        f()
    for _ in range(repeats):
        for name, f in ops.items():
            if device == "cuda":
                torch.cuda.synchronize()
                start, end = (
                    torch.cuda.Event(enable_timing=True),
                    torch.cuda.Event(enable_timing=True),
                )
                start.record()
                f()
                end.record()
                torch.cuda.synchronize()
                times[name].append(start.elapsed_time(end))
            else:
                t = time.perf_counter()
                f()
                times[name].append((time.perf_counter() - t) * 1e3)
    return {k: (min(v), statistics.median(v)) for k, v in times.items()}


def rerun_spread(config: GPTConfig, batch: int, device: str, pairs: int) -> tuple[float, float]:
    """The largest relative difference, over ``pairs`` tries, between a step's gradient
    norm (and loss) and those of the same step run again from the same RNG states."""
    model, _, forward_backward = make_run(config, batch, device)

    def run() -> tuple[float, float]:
        loss = forward_backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        return float(torch.nn.utils.get_total_norm(grads)), float(loss)

    def rel(a: float, b: float) -> float:
        return abs(a - b) / max(abs(a), abs(b), 1e-30)

    worst = [0.0, 0.0]
    for _ in range(pairs):
        cpu = torch.get_rng_state()
        gpu = torch.cuda.get_rng_state_all() if device == "cuda" else None
        first = run()
        torch.set_rng_state(cpu)
        if gpu is not None:
            torch.cuda.set_rng_state_all(gpu)
        again = run()
        worst = [max(w, rel(a, b)) for w, a, b in zip(worst, first, again, strict=True)]
    return worst[0], worst[1]


def run_cuda_tests() -> str:
    """Run the guard's CUDA tests; return pytest's summary line."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests" / "guard"), "-m", "cuda", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
    )
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"pytest exited {proc.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="a tiny model (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per variant")
    parser.add_argument("--batch", type=int, default=None, help="sequences per step")
    parser.add_argument("--skip-tests", action="store_true", help="do not run pytest")
    args = parser.parse_args(argv)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check needs a CUDA GPU (none found); use --device cpu --tiny for a smoke run.")
        return 0
    if args.tiny:
        config, batch = GPTConfig(vocab=256, context=32, layers=2, heads=2, width=32), 2
    else:
        config, batch = GPTConfig(), 8
    batch = args.batch or batch
    repeats = args.repeats or (3 if args.tiny else 20)
    torch.manual_seed(0)
    ops, n_params = variants(device, config, batch)
    rows: list[tuple[str, str]] = []
    rows.append(("device", torch.cuda.get_device_name() if device == "cuda" else "cpu"))
    rows.append(("torch", torch.__version__))
    rows.append(
        (
            "model",
            f"{n_params / 1e6:.1f}M parameters ({n_params:,}), batch {batch} × {config.context}",
        )
    )
    if device == "cuda" and not args.skip_tests:
        rows.append(("CUDA tests (pytest -m cuda)", run_cuda_tests()))
    if device == "cuda":
        for name, f in ops.items():
            f()  # allocate state before counting
            rows.append((f"host syncs / step: {name}", f"{count_syncs(f, 5):g}"))
        if "guard (sync=False)" in ops:
            rows.append(
                (
                    "sync_debug_mode('error'), 20 sync-free steps",
                    no_sync_error(ops["guard (sync=False)"], 20),
                )
            )
    times = time_steps(ops, repeats, device)
    base = times["clip_grad_norm_ + step"][1]
    for name, (lo, med) in times.items():
        ratio = med / base if base > 0 else math.nan
        rows.append((f"step ms (min / median): {name}", f"{lo:.2f} / {med:.2f}  ({ratio:.3f}×)"))
    norm_spread, loss_spread = rerun_spread(config, batch, device, pairs=5)
    rows.append(
        (
            "re-run spread, max of 5 (grad norm / loss)",
            f"{norm_spread:.1e} / {loss_spread:.1e}  (rerun_rtol default 1e-4)",
        )
    )
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
