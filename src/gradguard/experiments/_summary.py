"""The remedy runner's summary table: which remedy fixed what (no torch needed)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from gradguard.experiments._names import TASK_METRICS

__all__ = ["format_summary", "group_rows", "verdict"]


def _g(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.{digits}g}"


def group_rows(rows: Sequence[Any]) -> dict[tuple[str, int, str], list[Any]]:
    """Group summary rows by ``(experiment, T, config)``, in first-seen order."""
    groups: dict[tuple[str, int, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r.experiment, r.T, r.config), []).append(r)
    return groups


def verdict(runs: Sequence[Any]) -> str:
    """Say in a few words what the runs of one configuration showed."""
    n = len(runs)
    diverged = [r for r in runs if r.diverged]
    if diverged:
        steps = sorted(r.first_nonfinite_step for r in diverged)
        where = f"at step {steps[0]}" if len(set(steps)) == 1 else f"at steps {steps}"
        return f"diverged {where}" + (f" ({len(diverged)}/{n} seeds)" if n > 1 else "")
    solved = [r for r in runs if r.steps_to_success is not None]
    beats = [r for r in runs if r.beats_baseline]
    tail = f" ({{k}}/{n} seeds)" if n > 1 else ""
    if runs[0].experiment != "divergence" and solved:
        return "solved" + tail.format(k=len(solved))
    if beats:
        return "finite; beats baseline" + tail.format(k=len(beats))
    return "finite; no better than baseline"


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def format_summary(rows: Sequence[Any]) -> str:
    """Render summary rows as Markdown tables, one per experiment and ``T``.

    Values over seeds are medians (``[min–max]`` added when seeds differ).
    """
    out: list[str] = []
    groups = group_rows(rows)
    current: tuple[str, int] | None = None
    for (experiment, T, config), runs in groups.items():
        if (experiment, T) != current:
            current = (experiment, T)
            first = runs[0]
            seeds = sorted(
                {r.seed for (e, t, _), rs in groups.items() if (e, t) == current for r in rs}
            )
            if out:
                out.append("")
            if experiment == "divergence":
                out.append(
                    f"### divergence — linear RNN, W orthogonal × ρ = {_g(first.rho_init)}, "
                    f"adding T = {T}, plain SGD (seeds {seeds})"
                )
                out.append("")
                out.append(
                    "| config | model | init | η | clip | first non-finite step | "
                    "max ‖g‖ | final loss | test MSE | verdict |"
                )
                out.append("|---|---|---|---|---|---|---|---|---|---|")
            else:
                metric = TASK_METRICS[experiment]
                out.append(
                    f"### {experiment} — T = {T}, baseline {metric} {_g(first.baseline)}, "
                    f"Adam (seeds {seeds})"
                )
                out.append("")
                out.append(
                    f"| config | model | init | η | clip | test {metric} | beats baseline | "
                    "steps to success | max ‖g‖ | wall s | verdict |"
                )
                out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        r0 = runs[0]
        clip = "–" if r0.clip is None else f"{r0.clip} {_g(r0.threshold)}"
        init = r0.init + (f" ρ={_g(r0.rho_init)}" if r0.rho_init is not None else "")
        n = len(runs)
        test = _median([r.test_loss for r in runs])
        tests = [r.test_loss for r in runs if not math.isnan(r.test_loss)]
        test_s = _g(test) + (f" [{_g(min(tests))}–{_g(max(tests))}]" if len(set(tests)) > 1 else "")
        gmax = _g(max(r.max_grad_norm for r in runs))
        if experiment == "divergence":
            bad = [r.first_nonfinite_step for r in runs if r.first_nonfinite_step is not None]
            bad_s = "none" if not bad else ", ".join(str(b) for b in bad)
            final = _g(_median([r.final_loss for r in runs]))
            out.append(
                f"| {config} | {r0.model} | {init} | {_g(r0.lr)} | {clip} | {bad_s} | {gmax} | "
                f"{final} | {test_s} | {verdict(runs)} |"
            )
        else:
            beats = sum(r.beats_baseline for r in runs)
            succ = [r.steps_to_success for r in runs if r.steps_to_success is not None]
            succ_s = "–" if not succ else ", ".join(str(s) for s in succ)
            wall = _g(statistics.median(r.wall_s for r in runs))
            out.append(
                f"| {config} | {r0.model} | {init} | {_g(r0.lr)} | {clip} | {test_s} | "
                f"{beats}/{n} | {succ_s} | {gmax} | {wall} | {verdict(runs)} |"
            )
    return "\n".join(out)
