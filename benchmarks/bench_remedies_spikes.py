"""Every spike remedy side by side, on real workloads, clean and with injected faults.

$ python benchmarks/bench_remedies_spikes.py --smoke     # every arm, 1 seed, 40 steps
$ python benchmarks/bench_remedies_spikes.py             # 2 seeds, short: make bench
$ python benchmarks/bench_remedies_spikes.py --full      # 3 seeds, full length (< 2 h, 2 cores)
$ python benchmarks/bench_remedies_spikes.py --study snapshots --full   # what a rollback costs

Measured on 2 cores: ``--smoke`` took 40 CPU-s (110 s wall at a load average of 6–8);
the short version 474 CPU-s (681 s wall at a load average of 16–19). The script prints
its own wall time, CPU time and load at the end.

Workloads: the guard's three (`benchmarks/workloads.py`: an LSTM LM by
truncated BPTT, SGD lr 20; a small transformer LM, AdamW; an MLP, SGD + momentum) and a
small GPT (pre-norm, no QK-layernorm, AdamW β₂ = 0.95, no weight decay) trained at a
learning rate high enough for real loss spikes, as small models reproduce the
instabilities of large ones (Wortsman et al., "Small-scale proxies for large-scale
Transformer training instabilities", 2023, arXiv:2309.14322). Data generated in the
process, one CPU thread per run.

Arms (every one but ``none`` inside a ``SpikeGuard``, which skips NaN/inf steps: no
clipper can rescue them):

- ``none`` — the optimizer alone, no clipping, no guard;
- ``recipe`` — the workload's own recipe: ``clip_grad_norm_(c)``, no guard;
- ``fixed`` — clipping at the recipe's ``c`` (``clip_grad_norm_``; Pascanu et al. 2013);
- ``autoclip`` — ``AutoClip()`` (10th percentile; Seetharaman et al. 2020);
- ``zclip`` — ``ZClip()`` (EMA z-score; Kumar et al. 2025, arXiv:2504.02507);
- ``adagc`` — ``AdaGC()`` (per tensor; Wang et al., arXiv:2502.11034);
- ``update-clip`` — StableAdamW's update clipping (Wortsman et al. 2023,
  arXiv:2304.13013: ``UpdateClipper``) on the Adam workloads, clipping at ``c`` on the
  SGD ones (it reads Adam's second moment);
- ``spam`` — SPAM-style: clipping at ``c``, spike-aware clipping of entries with
  ``g² > 5000·v`` on Adam, spikes taken and the moments of the tensors that spiked reset
  (Huang et al., ICLR 2025);
- ``skip`` — clipping at ``c`` and the guard's default spike rule, skipping (OLMo-core
  style), never rolling back;
- ``rollback`` — the same with the guard's rollback defaults (``SpikeGuard``'s
  ``rollback_after`` and ``snapshot_every``, read from its signature), skipping the next
  10 batches after a rollback (PaLM);
- ``rerun`` — clipping at ``c`` and the spike rule, a bad step re-run on its batch
  (``guard.step(loss, batch=i, closure=…)``: Megatron-LM's re-run): taken with the
  re-run's gradients when the fault does not strike again (transient), skipped and its
  batch put on the skip list when it does (reproducible); never rolling back.

Faults, at 70% of the run: ``nan`` (NaN in the forward pass), ``grad1e6`` (one tensor's
gradient ×1e6), ``loss1e4`` (the loss ×1e4), ``nan3`` (three NaN batches in a row). The
NaN faults are tied to their batch (its data carries the NaN: a re-run finds them
reproducible); ``grad1e6`` and ``loss1e4`` fire once, as a hardware fault does (a re-run
of the batch is clean: transient) — `workloads.BATCH_FAULTS`.
Only the ``rerun`` arm runs a batch twice, so only it can tell the two kinds apart.

Reported per workload and arm, mean over seeds:

- ``spikes``: loss spikes in the clean run (a loss above 1.5× the median of the 50 before);
- ``withheld /1k``: steps the guard did not take on a clean run, per 1,000 (false alarms
  on a calm workload, real spikes withheld on the GPT);
- ``lost``: steps lost per faulty run (skipped, rolled back, undone by a rollback, or
  skipped as a batch after one), mean over the faults;
- ``final``: the clean run's training loss over its last 10% of steps; ``held-out``: its
  held-out loss;
- per fault: the held-out loss (``nan×k``: k seeds' models destroyed);
- ``ms/step``: the clean run's CPU time per step (its thread's: other jobs on the machine
  do not count), and its ratio to ``none`` measured in the same process.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import inspect
import math
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from workloads import FAULTS as WORKLOAD_FAULTS
from workloads import (
    WORKLOADS,
    Run,
    Setup,
    Workload,
    markov_corpus,
    train,
    train_with_faults,
)

from gradguard.torch import (
    AdaGC,
    AutoClip,
    SpikeGuard,
    UpdateClipper,
    ZClip,
)
from gradguard.torch.spam import MomentumReset, spike_aware_clip_

FAULTS = ("nan", "grad1e6", "loss1e4", "nan3")

# -- a small GPT trained at a learning rate that makes it spike --------------------------


class _Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, 2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(nn.functional.gelu(self.fc(self.ln2(x))))


class SmallGPT(nn.Module):
    """Token + position embeddings → pre-norm blocks (no QK-layernorm) → LayerNorm → head."""

    def __init__(self, vocab: int, context: int, d: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.Sequential(*[_Block(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, tokens: Tensor, poison: bool = False) -> Tensor:
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1]))
        if poison:
            x = x.clone()
            x[0, 0, 0] = math.nan
        return self.head(self.ln(self.blocks(x)))


GPT_LR = 0.15  # AdamW β₂ = 0.95, no weight decay: loss spikes from about step 300 on


def _gpt(seed: int, *, vocab: int = 128, context: int = 32, batch_size: int = 16) -> Setup:
    stream = markov_corpus(vocab=vocab, seed=4321)
    split = len(stream) * 9 // 10
    torch.manual_seed(seed)
    model = SmallGPT(vocab, context)
    optimizer = torch.optim.AdamW(model.parameters(), lr=GPT_LR, betas=(0.9, 0.95),
                                  weight_decay=0.0)  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: min(1.0, (i + 1) / 20))

    def windows(starts: Tensor) -> tuple[Tensor, Tensor]:
        w = stream[starts[:, None] + torch.arange(context + 1)]
        return w[:, :-1], w[:, 1:]

    def batch(i: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed * 100_003 + i)
        return windows(torch.randint(0, split - context - 1, (batch_size,), generator=g))

    held = windows(torch.arange(split, len(stream) - context - 1, (len(stream) - split) // 64)[:64])

    def forward(m: nn.Module, b: Any, state: Any, poison: bool) -> tuple[Tensor, Any]:
        x, y = b
        return nn.functional.cross_entropy(m(x, poison).reshape(-1, vocab), y.reshape(-1)), None

    @torch.no_grad()
    def evaluate(m: nn.Module) -> float:
        x, y = held
        return float(nn.functional.cross_entropy(m(x).reshape(-1, vocab), y.reshape(-1)))

    return Setup(model, optimizer, scheduler, batch, forward, lambda: None, evaluate)


GPT = Workload(
    "gpt-high-lr",
    f"2-layer GPT (d 64, no QK-norm), AdamW lr {GPT_LR} β₂ 0.95, warm-up 20, clip 1.0",
    1.0,
    600,
    _gpt,
)
ALL_WORKLOADS: dict[str, Workload] = {**WORKLOADS, GPT.name: GPT}

# -- the arms --------------------------------------------------------------------------

GuardFactory = Callable[[nn.Module, torch.optim.Optimizer, Any], Any]


class _SpikeAwareGuard:
    """A guard whose step first clips gradient entries far above Adam's second moment."""

    def __init__(self, guard: SpikeGuard, optimizer: torch.optim.Optimizer) -> None:
        self.guard, self.optimizer = guard, optimizer
        self.hooks = guard.hooks

    def step(self, loss: Any = None, batch: Any = None) -> Any:
        spike_aware_clip_(self.optimizer)
        return self.guard.step(loss, batch=batch)

    def skip_batch(self, batch: Any = None) -> bool:
        return self.guard.skip_batch(batch)

    def close(self) -> None:
        self.guard.close()


def _guarded(
    clipper: Callable[[Workload], Any], **kwargs: Any
) -> Callable[[Workload], GuardFactory]:
    def for_workload(w: Workload) -> GuardFactory:
        def make(model: nn.Module, opt: torch.optim.Optimizer, sched: Any) -> Any:
            return SpikeGuard(model, opt, scheduler=sched, clipper=clipper(w), **kwargs)

        return make

    return for_workload


def _spam(w: Workload) -> GuardFactory:
    def make(model: nn.Module, opt: torch.optim.Optimizer, sched: Any) -> Any:
        guard = SpikeGuard(model, opt, scheduler=sched, clipper=w.max_norm, on_spike="step",
                           rollback_after=None)  # fmt: skip
        guard.hooks.append(MomentumReset(opt, params="spiked"))
        adam = any("betas" in g for g in opt.param_groups)
        return _SpikeAwareGuard(guard, opt) if adam else guard

    return make


def _fixed(w: Workload) -> float:
    return w.max_norm


def _update_clip(w: Workload) -> GuardFactory:
    """StableAdamW's update clipping on an Adam workload; the others (SGD) clip at ``c``."""

    def make(model: nn.Module, opt: torch.optim.Optimizer, sched: Any) -> Any:
        adam = isinstance(opt, (torch.optim.Adam, torch.optim.AdamW))
        clipper = UpdateClipper() if adam else w.max_norm
        return SpikeGuard(model, opt, scheduler=sched, clipper=clipper, spike_rule=None,
                          rollback_after=None)  # fmt: skip

    return make


def _has_rerun() -> bool:
    """Whether ``SpikeGuard.step`` re-runs a bad step (``closure=``)."""
    return "closure" in inspect.signature(SpikeGuard.step).parameters


def guard_default(name: str) -> Any:
    """``SpikeGuard``'s default for the argument ``name`` (the arms follow the guard's)."""
    return inspect.signature(SpikeGuard).parameters[name].default


@dataclass(frozen=True)
class Arm:
    name: str
    description: str
    make: Callable[[Workload], GuardFactory] | None  # None: the unguarded loop
    clip: bool = False  # the unguarded loop clips at c
    available: bool = True  # gradguard has the remedy
    rerun: bool = False  # the loop gives the guard a closure that re-runs the batch

    @property
    def runs(self) -> bool:
        """Whether this benchmark can run the arm (the remedy exists, and the arm is written)."""
        return self.available and (self.make is not None or self.name in ("none", "recipe"))

    @property
    def missing(self) -> str:
        """Why the arm has no figures: the words its table row shows instead."""
        if not self.available:
            return "not yet available in gradguard"
        return "not yet measured by this benchmark"


def arms() -> dict[str, Arm]:
    """The arms, in the table's order (those gradguard lacks marked not available)."""
    only_nonfinite = {"spike_rule": None, "rollback_after": None}
    out = [
        Arm("none", "no clipping, no guard", None),
        Arm("recipe", "clip_grad_norm_(c), no guard: the workload's own recipe", None, clip=True),
        Arm("fixed", "clip_grad_norm_(c)", _guarded(_fixed, **only_nonfinite)),
        Arm("autoclip", "AutoClip() (p = 10)", _guarded(lambda w: AutoClip(), **only_nonfinite)),
        Arm("zclip", "ZClip() (z = 2.5, cap 1.0)", _guarded(lambda w: ZClip(), **only_nonfinite)),
        Arm("adagc", "AdaGC() (per tensor)", _guarded(lambda w: AdaGC(), **only_nonfinite)),
        Arm("update-clip", "update clipping (StableAdamW; SGD workloads: clip c)", _update_clip),
        Arm("spam", "clip c + spike-aware clip + momentum reset (SPAM)", _spam),
        Arm("skip", "clip c + spike rule, skip", _guarded(_fixed, rollback_after=None)),
        Arm(
            "rollback",
            f"clip c + spike rule, roll back after {guard_default('rollback_after')} "
            f"(snapshot every {guard_default('snapshot_every')}), skip 10 batches",
            _guarded(_fixed, skip_batches=10),  # the guard's own rollback defaults
        ),
        Arm(
            "rerun",
            "clip c + spike rule, re-run a bad step, skip it if reproducible (Megatron-LM)",
            _guarded(_fixed, rollback_after=None) if _has_rerun() else None,
            available=_has_rerun(),
            rerun=True,
        ),
    ]
    return {a.name: a for a in out}


# -- measuring one run -------------------------------------------------------------------


def loss_spikes(losses: list[float], window: int = 50, factor: float = 1.5) -> int:
    """Loss spikes: steps whose loss exceeds ``factor`` × the median of the ``window`` before."""
    n = 0
    for i in range(10, len(losses)):
        past = [x for x in losses[max(0, i - window) : i] if math.isfinite(x)]
        if len(past) >= 10 and losses[i] > factor * statistics.median(past):
            n += 1
    return n


def steps_lost(run: Run) -> int:
    """Steps whose update the final model does not hold: skipped, rolled back or undone."""
    alive: list[int] = []
    lost_batches = 0
    records = iter(run.records)
    for i, action in enumerate(run.actions):
        if action == "skipped-batch":
            lost_batches += 1
            continue
        record = next(records, None)
        if action == "step":
            alive.append(i)
        restored = None if record is None else record.extra.get("restored_step")
        if action == "rollback" and isinstance(restored, int):
            # records count guard steps; map the restored guard step to a batch index
            guard_steps = [j for j, a in enumerate(run.actions) if a != "skipped-batch"]
            first_undone = guard_steps[restored] if restored < len(guard_steps) else i
            alive = [s for s in alive if s < first_undone]
    return len(run.actions) - len(alive) if run.records else lost_batches


def _final(run: Run) -> float:
    tail = run.losses[-max(1, len(run.losses) // 10) :]
    return statistics.mean(tail) if all(math.isfinite(x) for x in tail) else math.nan


@dataclass
class Cell:
    """One arm on one workload and seed."""

    spikes: int = 0
    false_alarms: int = 0
    steps: int = 0
    lost: list[int] = field(default_factory=list)
    final: float = math.nan
    held_out: float = math.nan
    faults: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


def run_arm(w: Workload, arm: Arm, seed: int, steps: int, faults: tuple[str, ...]) -> Cell:
    factory = None if arm.make is None else arm.make(w)
    t0 = time.perf_counter()
    if factory is None:  # unguarded: the loop clips at c or not (train_with_faults always does)
        runs: dict[str | None, Run] = {None: train(w, seed, steps, clip=arm.clip)}
        runs.update({f: train(w, seed, steps, clip=arm.clip, fault=f) for f in faults})
    elif faults:
        runs = train_with_faults(w, seed, steps, guard=factory, faults=faults, rerun=arm.rerun)
    else:
        runs = {None: train(w, seed, steps, guard=factory, rerun=arm.rerun)}
    seconds = time.perf_counter() - t0
    clean = runs[None]
    cell = Cell(
        spikes=loss_spikes(clean.losses),
        false_alarms=sum(a in ("skip", "rollback") for a in clean.actions),
        steps=steps,
        final=_final(clean),
        held_out=clean.eval_loss,
        seconds=seconds,
        error=clean.error,
    )
    for f in faults:
        cell.faults[f] = runs[f].eval_loss
        cell.lost.append(steps_lost(runs[f]))
    return cell


def timed_clean(w: Workload, arm: Arm, seed: int, steps: int) -> float:
    """CPU seconds per step of a clean run (the cost of the remedy itself).

    The thread's CPU time, not the wall clock: on a machine shared with other jobs the
    wall clock measures them too (each run here is one thread).
    """
    factory = None if arm.make is None else arm.make(w)
    t0 = time.thread_time()
    train(w, seed, steps, guard=factory, clip=arm.clip, rerun=arm.rerun)
    return (time.thread_time() - t0) / steps


def _job(args: tuple[str, int, int, tuple[str, ...], tuple[str, ...], int]) -> dict[str, Any]:
    name, seed, steps, arm_names, faults, timing_steps = args
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    w = ALL_WORKLOADS[name]
    table = arms()
    cells = {a: run_arm(w, table[a], seed, steps, faults) for a in arm_names}
    # Cost per step: every arm's clean run again, back to back, beside 'none'.
    timing = {a: timed_clean(w, table[a], seed, timing_steps) for a in arm_names}
    return {"workload": name, "seed": seed, "cells": cells, "timing": timing}


# -- the table ---------------------------------------------------------------------------


def _mean(xs: list[float], signed: bool = False) -> str:
    bad = sum(not math.isfinite(x) for x in xs)
    if bad:
        return f"nan×{bad}"
    return f"{statistics.mean(xs):+.3f}" if signed else f"{statistics.mean(xs):.3f}"


def table(name: str, results: list[dict[str, Any]], arm_names: list[str],
          faults: tuple[str, ...]) -> str:  # fmt: skip
    table_arms = arms()
    rows = [r for r in results if r["workload"] == name]
    header = [
        "arm",
        "spikes",
        "withheld /1k",
        "lost",
        "final",
        "held-out",
        *faults,
        "ms/step",
        "× none",
    ]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for a in table_arms:
        if a not in arm_names:
            continue
        if not table_arms[a].runs:
            out.append(f"| {a} | {table_arms[a].missing} |" + " |" * (len(header) - 2))
            continue
        cells = [r["cells"][a] for r in rows]
        steps = sum(c.steps for c in cells)
        per_k = 1000 * sum(c.false_alarms for c in cells) / steps
        lost = [x for c in cells for x in c.lost]
        ms = statistics.mean(r["timing"][a] for r in rows) * 1000
        base = statistics.mean(r["timing"]["none"] for r in rows) * 1000
        row = [
            a,
            f"{statistics.mean(c.spikes for c in cells):.1f}",
            f"{per_k:.1f}",
            f"{statistics.mean(lost):.1f}" if lost else "–",
            _mean([c.final for c in cells]),
            _mean([c.held_out for c in cells]),
            *[_mean([c.faults[f] for c in cells]) for f in faults],
            f"{ms:.2f}",
            f"{ms / base:.2f}",
        ]
        errors = sum(c.error is not None for c in cells)
        if errors:
            row[0] += f" (E{errors})"
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


# -- item 3: what a rollback costs ------------------------------------------------------

#: (name, SpikeGuard arguments): skip-only, and rollback with snapshots every N steps.
SNAPSHOT_CONFIGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("skip-only", {"rollback_after": None}),
    *(
        (f"rollback, snapshot_every={n}", {"rollback_after": 3, "snapshot_every": n})
        for n in (10, 25, 50, 100)
    ),
)
#: Where the three NaN batches land, as fractions of the run: different snapshot ages.
FAULT_POSITIONS = (0.55, 0.7, 0.85)


def _snapshot_job(args: tuple[str, int, int]) -> dict[str, Any]:
    name, seed, steps = args
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    w = ALL_WORKLOADS[name]
    recipe = train(w, seed, steps).eval_loss  # the unguarded recipe, clean
    out: dict[str, Any] = {"workload": name, "seed": seed, "recipe": recipe, "configs": {}}
    for label, kwargs in SNAPSHOT_CONFIGS:
        make = _guarded(_fixed, **kwargs)(w)
        t0 = time.perf_counter()
        clean = train(w, seed, steps, guard=make)
        per_step = (time.perf_counter() - t0) / steps
        deltas, lost, ages = [], [], []
        for frac in FAULT_POSITIONS:
            at = int(frac * steps)
            run = train(w, seed, steps, guard=make, fault="nan3", fault_at=at)
            deltas.append(run.eval_loss - recipe)
            lost.append(steps_lost(run))
            back = [r.extra.get("restored_step") for r in run.records if r.action == "rollback"]
            ages.extend(at + 2 - b for b in back if isinstance(b, int))
        out["configs"][label] = {
            "clean_delta": clean.eval_loss - recipe,
            "false": sum(a in ("skip", "rollback") for a in clean.actions),
            "per_step": per_step,
            "deltas": deltas,
            "lost": lost,
            "ages": ages,
        }
    return out


def snapshot_study(workloads: list[str], seeds: int, length: Callable[[str], int],
                   jobs: int) -> None:  # fmt: skip
    """Skip-only against rollback with snapshots every 10–200 steps: three NaN in a row."""
    tasks = [(w, s, length(w)) for w in workloads for s in range(seeds)]
    if jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_snapshot_job, tasks))
    else:
        results = [_snapshot_job(t) for t in tasks]
    for w in workloads:
        rows = [r for r in results if r["workload"] == w]
        n = length(w)
        spots = ", ".join(str(int(f * n)) for f in FAULT_POSITIONS)
        print(f"\n## {w}: three NaN batches in a row at step {spots} (one run each); {n} steps\n")
        header = ["config", "Δ held-out (clean)", "Δ held-out, nan3 (mean; worst)",
                  "steps lost", "snapshot age at rollback", "ms/step", "× skip-only"]  # fmt: skip
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        base = statistics.mean(r["configs"]["skip-only"]["per_step"] for r in rows)
        for label, _ in SNAPSHOT_CONFIGS:
            cs = [r["configs"][label] for r in rows]
            deltas = [d for c in cs for d in c["deltas"]]
            ages = [a for c in cs for a in c["ages"]]
            ms = statistics.mean(c["per_step"] for c in cs)
            finite = [d for d in deltas if math.isfinite(d)]
            worst = max(finite) if finite else math.nan
            print(
                "| " + " | ".join([
                    label,
                    f"{statistics.mean(c['clean_delta'] for c in cs):+.3f}",
                    f"{_mean(deltas, signed=True)}; {worst:+.3f}",
                    f"{statistics.mean(x for c in cs for x in c['lost']):.1f}",
                    f"{statistics.mean(ages):.0f} ({min(ages)}–{max(ages)})" if ages else "–",
                    f"{ms * 1000:.2f}",
                    f"{ms / base:.2f}",
                ]) + " |"
            )  # fmt: skip


# -- item 3: long streaks, a corrupted model, and which defaults hold ---------------------

#: (name, SpikeGuard arguments): skipping only, the guard's defaults before this study
#: (rollback after 3 bad steps, a snapshot every 100 healthy steps), and the alternatives;
#: the last, ``rollback_after=10, snapshot_every=25``, are the defaults chosen from it.
STREAK_CONFIGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("skip-only (rollback_after=None)", {"rollback_after": None}),
    ("rollback_after=3, snapshot_every=100", {"rollback_after": 3, "snapshot_every": 100}),
    ("rollback_after=3, snapshot_every=25", {"rollback_after": 3, "snapshot_every": 25}),
    ("rollback_after=10, snapshot_every=25", {"rollback_after": 10, "snapshot_every": 25}),
)
#: Faults: NaN batches in a row (a bad stretch of data), and one weight set to NaN between
#: two steps (a corrupted model, as a silent data corruption leaves it): every later step
#: is then bad, whatever the batch, until something restores the model.
STREAK_FAULTS = ("nan×3", "nan×10", "nan×40", "weight-nan")
#: Where each fault starts, as fractions of the run (two snapshot ages).
STREAK_POSITIONS = (0.55, 0.8)


def _with_faults(w: Workload, nan_batches: set[int], corrupt_at: int | None) -> Workload:
    """``w`` with NaN in the forward pass of ``nan_batches`` and, before batch ``corrupt_at``,
    its last parameter's first entry (every logit passes through it) set to NaN."""

    def build(seed: int) -> Setup:
        s = w.build(seed)
        inner_batch, inner_forward = s.batch, s.forward

        def forward(m: nn.Module, b: Any, state: Any, poison: bool) -> tuple[Tensor, Any]:
            i, inner = b
            if i == corrupt_at:
                with torch.no_grad():
                    list(m.parameters())[-1].view(-1)[0] = math.nan
            return inner_forward(m, inner, state, poison or i in nan_batches)

        s.batch = lambda i: (i, inner_batch(i))
        s.forward = forward
        return s

    return Workload(w.name, w.description, w.max_norm, w.steps, build)


def _streak_spot(fault: str, frac: float, steps: int) -> tuple[set[int], int | None]:
    """The batches a fault hits when it starts at ``frac`` of a ``steps``-batch run."""
    length = 1 if fault == "weight-nan" else int(fault.split("×")[1])
    start = max(1, min(int(frac * steps), steps - length - 10))
    if fault == "weight-nan":
        return set(), start
    return set(range(start, start + length)), None


def relapses(run: Run, injected: set[int]) -> int:
    """Rollbacks whose restored snapshot did not hold: the first batch after it that carries
    no injected fault and is not skipped as a batch was again a bad step."""
    n = 0
    for i, action in enumerate(run.actions):
        if action != "rollback":
            continue
        for j in range(i + 1, len(run.actions)):
            if run.actions[j] == "skipped-batch" or j in injected:
                continue
            n += run.actions[j] in ("skip", "rollback")
            break
    return n


def _streak_job(args: tuple[str, int, int]) -> dict[str, Any]:
    name, seed, steps = args
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    w = ALL_WORKLOADS[name]
    recipe = train(w, seed, steps).eval_loss  # the unguarded recipe, clean
    out: dict[str, Any] = {"workload": name, "seed": seed, "recipe": recipe, "configs": {}}
    for label, kwargs in STREAK_CONFIGS:
        make = _guarded(_fixed, **kwargs)(w)
        clean = train(w, seed, steps, guard=make)
        cells: dict[str, list[dict[str, Any]]] = {}
        for fault in STREAK_FAULTS:
            for frac in STREAK_POSITIONS:
                nan_batches, corrupt_at = _streak_spot(fault, frac, steps)
                run = train(_with_faults(w, nan_batches, corrupt_at), seed, steps, guard=make)
                cells.setdefault(fault, []).append({
                    "delta": run.eval_loss - recipe,
                    "lost": steps_lost(run) + steps - len(run.actions),  # (an error ends it)
                    "rollbacks": run.actions.count("rollback"),
                    "relapses": relapses(run, nan_batches),
                    "error": run.error is not None,
                })  # fmt: skip
        out["configs"][label] = {"clean_delta": clean.eval_loss - recipe, "faults": cells}
    return out


def _streak_cell(runs: list[dict[str, Any]]) -> str:
    """``Δ mean (worst); lost; rollbacks``, with ``dead×k`` / ``E×k`` where runs ended badly."""
    deltas = [r["delta"] for r in runs]
    finite = [d for d in deltas if math.isfinite(d)]
    dead = len(deltas) - len(finite)
    text = f"{statistics.mean(finite):+.3f} ({max(finite):+.3f})" if finite else "–"
    text += f"; {statistics.mean(r['lost'] for r in runs):.0f}"
    text += f"; {statistics.mean(r['rollbacks'] for r in runs):.1f}"
    errors = sum(r["error"] for r in runs)
    marks = [f"dead×{dead}"] if dead else []
    marks += [f"E×{errors}"] if errors else []
    return text + (f" **{' '.join(marks)}**" if marks else "")


def streak_study(workloads: list[str], seeds: int, length: Callable[[str], int],
                 jobs: int) -> None:  # fmt: skip
    """The guard's rollback defaults against skip-only: NaN streaks and a corrupted weight."""
    tasks = [(w, s, length(w)) for w in workloads for s in range(seeds)]
    if jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_streak_job, tasks))
    else:
        results = [_streak_job(t) for t in tasks]
    for w in workloads:
        rows = [r for r in results if r["workload"] == w]
        n = length(w)
        spots = ", ".join(str(min(_streak_spot("nan×3", f, n)[0])) for f in STREAK_POSITIONS)
        print(f"\n## {w}: faults starting near step {spots} (one run each); {n} steps\n")
        header = ["config", "Δ held-out (clean)", *STREAK_FAULTS, "relapses"]
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for label, _ in STREAK_CONFIGS:
            cs = [r["configs"][label] for r in rows]
            row = [label, f"{statistics.mean(c['clean_delta'] for c in cs):+.3f}"]
            for fault in STREAK_FAULTS:
                row.append(_streak_cell([x for c in cs for x in c["faults"][fault]]))
            row.append(str(sum(x["relapses"] for c in cs for f in c["faults"].values() for x in f)))
            print("| " + " | ".join(row) + " |")
    print(
        "\n# cells: Δ held-out against the unguarded recipe's clean run, mean (worst); steps "
        "lost; rollbacks per run; dead×k: k runs ended with a NaN model; E×k: k runs ended by "
        "GuardError (max_rollbacks). relapses: rollbacks after which the next clean batch "
        "was bad again."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every arm, 1 seed, 40 steps")
    parser.add_argument("--full", action="store_true", help="3 seeds, full length")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="batches per run")
    parser.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    parser.add_argument("--arms", default=",".join(arms()))
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, or none")
    parser.add_argument(
        "--timing-steps",
        type=int,
        default=None,
        help="steps of the clean run timed per arm (default: the run's, at most 100)",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--study", choices=["remedies", "snapshots", "streaks"], default="remedies")
    args = parser.parse_args(argv)
    quick = not (args.full or args.smoke)
    seeds = args.seeds if args.seeds is not None else 3 if args.full else 1 if args.smoke else 2
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in ALL_WORKLOADS:
            parser.error(f"--workloads: unknown {w!r}; known: {', '.join(ALL_WORKLOADS)}")
    table_arms = arms()
    arm_names = [a for a in args.arms.split(",") if a]
    for a in arm_names:
        if a not in table_arms:
            parser.error(f"--arms: unknown {a!r}; known: {', '.join(table_arms)}")
    for flag, value in (("--timing-steps", args.timing_steps), ("--steps", args.steps),
                        ("--seeds", args.seeds), ("--jobs", args.jobs)):  # fmt: skip
        if value is not None and value < 1:  # 0 would read as "not given": say so instead
            parser.error(f"{flag}: {value} is not a whole number ≥ 1")
    if "none" not in arm_names:
        arm_names.insert(0, "none")
    runnable = tuple(a for a in arm_names if table_arms[a].runs)
    missing = [f"{a} ({table_arms[a].missing})" for a in arm_names if not table_arms[a].runs]
    faults = () if args.faults == "none" else tuple(f for f in args.faults.split(",") if f)
    for f in faults:
        if f not in WORKLOAD_FAULTS:
            parser.error(f"--faults: unknown {f!r}; known: {', '.join(WORKLOAD_FAULTS)}, none")
    if args.smoke:
        faults = faults[:1]

    def length(w: str) -> int:
        if args.steps is not None:
            return args.steps
        if args.smoke:
            return 40
        full = ALL_WORKLOADS[w].steps
        if quick:  # the GPT's spikes begin near step 300
            return 400 if w == GPT.name else full // 2
        return full

    t0 = time.perf_counter()
    load = os.getloadavg()
    print(
        f"# bench_remedies_spikes --study {args.study}: {seeds} seed(s), "
        f"{platform.machine()}, torch {torch.__version__}, {args.jobs} process(es) × 1 thread, "
        f"load average at start {load[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print("#   " + " ".join(sys.argv))
    if args.study in ("snapshots", "streaks"):
        study = snapshot_study if args.study == "snapshots" else streak_study
        study(workloads, seeds, length, args.jobs)
        print(_end_line(t0))
        return 0
    if missing:
        print("# arms without figures: " + "; ".join(missing))
    jobs = [
        (w, s, length(w), runnable, faults, args.timing_steps or min(length(w), 100))
        for w in workloads
        for s in range(seeds)
    ]
    results: list[dict[str, Any]] = []
    if args.jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_job, jobs))
    else:
        results = [_job(j) for j in jobs]
    for w in workloads:
        wl = ALL_WORKLOADS[w]
        n = length(w)
        print(f"\n## {w}: {wl.description}; {n} steps, faults at step {7 * n // 10}\n")
        print(table(w, results, arm_names, faults))
    print(_end_line(t0))
    return 0


def _end_line(t0: float) -> str:
    """Wall time, the CPU time of this process and its workers, and the load at the end."""
    cpu = sum(
        r.ru_utime + r.ru_stime
        for r in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )
    load = os.getloadavg()[0]
    return (
        f"\n# {time.perf_counter() - t0:.0f} s wall, {cpu:.0f} CPU-s (on 2 idle cores: about "
        f"{cpu / 2:.0f} s); load average at the end {load:.1f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
