"""Measure the guard's spike rules and clippers on three real workloads, clean and faulty.

$ python benchmarks/bench_defaults.py            # 3 workloads × 3 seeds × 300 steps (~5 min)
$ python benchmarks/bench_defaults.py --quick    # 2 seeds × 60 steps (~1 min)
$ python benchmarks/bench_defaults.py --workloads lstm-lm --configs guard-default,zclip

Workloads (`benchmarks/workloads.py`, data generated in-process): an LSTM
word LM trained by truncated BPTT with its hidden state carried from batch to batch (SGD
lr 20, clip 0.25), a small causal transformer LM (AdamW, warm-up + cosine, clip 1.0) and
an MLP classifier (SGD + momentum, clip 1.0). One CPU thread.

For every configuration (a spike rule with the recipe's fixed clipping, or a clipper with
its defaults) and every seed, one clean run and one run per injected fault
(``nan``, ``inf``, ``grad1e6``: one tensor's gradient ×1e6, ``loss1e4``, ``nan3``: three
NaN batches in a row; at 70% of the run). Reported, per workload and configuration:

- false alarms per 1,000 clean steps (steps the guard did not take on a clean run);
- ``= torch``: seeds whose clean run ends with parameters bitwise equal to the recipe's
  (``clip_grad_norm_`` + ``optimizer.step()``) — only meaningful for the fixed clip;
- Δ loss: the held-out loss after the run minus the recipe's, mean over seeds (clean);
- per fault: ``caught/seeds`` (every injected batch was skipped or rolled back) and the
  mean Δ loss against the clean recipe (``nan``: the run's model was destroyed);
- under each table, how far the recipe's clean norms stray from their rolling median,
  and where median + 6·MAD (the spike rule without its 10× floor) sits.

The training loop is the documented one (carried state dropped on a skip, reset on a
rollback: docs/guard/carried-state.md).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
from workloads import FAULTS, WORKLOADS, Run, Workload, train_with_faults

from gradguard.rules import EmaZScoreRule, MeanStdRule, MedianMadRule, Rule
from gradguard.torch import AGC, AutoClip, SpikeGuard, ZClip

GuardFactory = Callable[[torch.nn.Module, torch.optim.Optimizer, Any], Any]


def _guard(**kwargs: Any) -> Callable[[Workload], GuardFactory]:
    def for_workload(w: Workload) -> GuardFactory:
        def make(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any) -> Any:
            args = dict(kwargs)
            clipper = args.pop("clipper", "fixed")
            rule = args.pop("spike_rule", "default")
            return SpikeGuard(
                model,
                opt,
                scheduler=sched,
                clipper=w.max_norm if clipper == "fixed" else clipper(),
                spike_rule=rule() if callable(rule) else rule,
                **args,
            )

        return make

    return for_workload


def _rule(cls: type[Rule], **kwargs: Any) -> Callable[[], Rule]:
    return lambda: cls(**kwargs)


#: name → (description, factory from a workload to a guard factory; None: the recipe).
CONFIGS: dict[str, tuple[str, Callable[[Workload], GuardFactory] | None]] = {
    "torch": ("clip_grad_norm_(c) + optimizer.step(), unguarded", None),
    "nonfinite-only": ("guard, clip c, spike_rule=None", _guard(spike_rule=None)),
    "guard-default": (
        "guard, clip c, default rule (median+6·MAD, ≥ 10×median, 128)",
        _guard(),
    ),
    "plain-mad": (
        "guard, clip c, median+6·MAD over 128 (min_ratio=0)",
        _guard(spike_rule=_rule(MedianMadRule, min_ratio=0.0)),
    ),
    "mean-std": ("guard, clip c, mean+6σ over 128", _guard(spike_rule=_rule(MeanStdRule))),
    "ema-z": ("guard, clip c, EMA z-score > 2.5 skips", _guard(spike_rule=_rule(EmaZScoreRule))),
    "zclip": ("guard, ZClip() defaults (cap 1.0), default rule", _guard(clipper=ZClip)),
    "zclip-nocap": (
        "guard, ZClip(max_grad_norm=None), default rule",
        _guard(clipper=lambda: ZClip(max_grad_norm=None)),
    ),
    "autoclip": ("guard, AutoClip() defaults (p=10), default rule", _guard(clipper=AutoClip)),
    "agc": ("guard, AGC() defaults (λ=0.01), default rule", _guard(clipper=AGC)),
}


def _params(run: Run) -> list[torch.Tensor]:
    assert run.model is not None
    return [p.detach() for p in run.model.parameters()]


def _equal(a: Run, b: Run) -> bool:
    return all(torch.equal(x, y) for x, y in zip(_params(a), _params(b), strict=True))


def _acted(run: Run, steps: set[int] | None = None) -> int:
    return sum(
        1
        for i, a in enumerate(run.actions)
        if a in ("skip", "rollback") and (steps is None or i in steps)
    )


def _fmt_delta(values: list[float]) -> str:
    if any(not math.isfinite(v) for v in values):
        bad = sum(not math.isfinite(v) for v in values)
        return f"nan×{bad}"
    return f"{statistics.mean(values):+.3f}"


def _spread(runs: list[Run], window: int = 128, min_history: int = 16) -> str:
    """How far clean norms stray from their rolling median, and where plain MAD sits.

    Over the recipe's clean runs: the largest ``norm / median`` of the previous
    ``window`` norms, and the median over steps of ``(median + 6·1.4826·MAD) / median``
    (``MedianMadRule(min_ratio=0)``'s threshold, in multiples of the median).
    """
    ratios, bands = [], []
    for run in runs:
        rule = MedianMadRule(window=window, min_history=min_history, min_ratio=0.0)
        for i, x in enumerate(run.norms):
            past = run.norms[max(0, i - window) : i]
            threshold = rule.observe(x).threshold
            if threshold is not None and len(past) >= min_history:
                med = statistics.median(past)
                ratios.append(x / med)
                bands.append(threshold / med)
    if not ratios:
        return "too few steps"
    p99 = statistics.quantiles(ratios, n=100, method="inclusive")[-1]
    return (
        f"clean norms reach {max(ratios):.2f}× their rolling median (99th percentile "
        f"{p99:.2f}×); median + 6·MAD sits at "
        f"{statistics.median(bands):.2f}× the median (median over steps; "
        f"{min(bands):.2f}–{max(bands):.2f}×)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds × 60 steps")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 3)")
    parser.add_argument("--steps", type=int, default=None, help="batches per run")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, or none")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 3)
    workloads = [WORKLOADS[w] for w in args.workloads.split(",") if w]
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            parser.error(f"--configs: unknown {c!r}; known: {', '.join(CONFIGS)}")
    if "torch" not in configs:
        configs.insert(0, "torch")
    faults = [] if args.faults == "none" else [f for f in args.faults.split(",") if f]
    torch.set_num_threads(1)
    # A skipped first step makes torch warn that the scheduler stepped before the optimizer.
    warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
    warnings.filterwarnings("ignore", message="Seems like `optimizer.step\\(\\)` has been")
    t0 = time.perf_counter()
    print(
        f"# bench_defaults: {seeds} seeds, {platform.machine()} {platform.processor() or ''}, "
        f"torch {torch.__version__}, 1 thread, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print("#   " + " ".join(sys.argv))
    for w in workloads:
        steps = args.steps or (60 if args.quick else w.steps)
        print(f"\n## {w.name}: {w.description}; {steps} steps, faults at step {7 * steps // 10}\n")
        header = ["config", "false alarms /1k", "= torch", "Δ loss", *faults]
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        base: dict[int, dict[str | None, Run]] = {}
        for name in configs:
            _, make = CONFIGS[name]
            factory = None if make is None else make(w)
            runs = {
                s: train_with_faults(w, s, steps, guard=factory, faults=tuple(faults))
                for s in range(seeds)
            }
            if make is None:
                base = runs
            clean = {s: runs[s][None] for s in range(seeds)}
            ref = {s: base[s][None] for s in range(seeds)}
            alarms = sum(_acted(r) for r in clean.values())
            per_k = 1000 * alarms / (seeds * steps)
            same = sum(_equal(clean[s], ref[s]) for s in range(seeds))
            delta = [clean[s].eval_loss - ref[s].eval_loss for s in range(seeds)]
            cells = [name, f"{per_k:.1f}", f"{same}/{seeds}", _fmt_delta(delta)]
            for fault in faults:
                faulty = {s: runs[s][fault] for s in range(seeds)}
                if make is None:
                    caught = "–"
                else:
                    hit = sum(
                        _acted(r, set(r.fault_steps)) == len(r.fault_steps) for r in faulty.values()
                    )
                    caught = f"{hit}/{seeds}"
                d = [faulty[s].eval_loss - ref[s].eval_loss for s in range(seeds)]
                errors = sum(r.error is not None for r in faulty.values())
                cells.append(f"{caught} {_fmt_delta(d)}" + (f" E{errors}" if errors else ""))
            print("| " + " | ".join(cells) + " |", flush=True)
        print(f"\n{w.name}, the recipe's clean runs: {_spread([r[None] for r in base.values()])}")
    print(f"\n# {time.perf_counter() - t0:.0f} s")
    print(
        "# cells: caught/seeds, mean Δ held-out loss vs the clean recipe; E: GuardError ended runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
