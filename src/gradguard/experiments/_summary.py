"""The remedy runner's summary table: which remedy fixed what (no torch needed)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from gradguard._catalog import Catalog, load_catalog
from gradguard.experiments._names import TASK_METRICS

__all__ = ["format_summary"]


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


def verdict(runs: Sequence[Any], words: Catalog | None = None) -> str:
    """Say in a few words what the runs of one configuration showed (in ``words``' language)."""
    words = load_catalog() if words is None else words
    n = len(runs)

    def of(k: int) -> str:  # " (2/3 seeds)" when the seeds disagree
        return words.get("summary.of_seeds", k=k, n=n) if n > 1 else ""

    diverged = [r for r in runs if r.diverged]
    if diverged:
        steps = sorted(r.first_nonfinite_step for r in diverged)
        if len(set(steps)) == 1:
            return words.get("summary.diverged_at", step=steps[0]) + of(len(diverged))
        return words.get("summary.diverged_at_steps", steps=steps) + of(len(diverged))
    solved = [r for r in runs if r.steps_to_success is not None]
    beats = [r for r in runs if r.beats_baseline]
    if runs[0].experiment != "divergence" and solved:
        return words["summary.solved"] + of(len(solved))
    if beats:
        return words["summary.beats"] + of(len(beats))
    return words["summary.no_better"]


#: The optimizers' names as their papers and torch write them (a row says ``adam``).
_OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}


def optimizer_words(row: Any, words: Catalog) -> str:
    """A row's optimizer as its paper and torch write it: ``Adam``, ``SGD, momentum 0.9``."""
    name = _OPTIMIZERS.get(row.optimizer, row.optimizer)
    momentum = getattr(row, "momentum", None)
    if momentum:
        return words.get("summary.with_momentum", optimizer=name, momentum=f"{momentum:g}")
    return name


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def _clip_cell(kind: str, threshold: float, words: Catalog) -> str:
    """The clip column: ``norm 1``, ``value 0.1`` — in the catalog's words where it has them."""
    key = f"summary.clip_{kind}"
    if key in words:
        return words.get(key, c=_g(threshold))
    return f"{kind} {_g(threshold)}"


def format_summary(rows: Sequence[Any], lang: str = "en") -> str:
    """Render summary rows as Markdown tables, one per experiment and ``T``.

    Values over seeds are medians (``[min–max]`` added when seeds differ).

    Args:
      rows: the runs' :class:`~gradguard.experiments.RunSummary` rows.
      lang: the language of the headings and the verdicts (``"en"`` or ``"bn"``); the
        experiment, configuration, model and init names stay as they are.
    """
    words = load_catalog(lang)
    out: list[str] = []
    groups = group_rows(rows)
    current: tuple[str, int] | None = None
    for (experiment, T, config), runs in groups.items():
        if (experiment, T) != current:
            current = (experiment, T)
            first = runs[0]
            seeds = ", ".join(
                str(s)
                for s in sorted(
                    {r.seed for (e, t, _), rs in groups.items() if (e, t) == current for r in rs}
                )
            )
            if out:
                out.append("")
            if experiment == "divergence":
                heading = words.get(
                    "summary.divergence_heading",
                    experiment=experiment,
                    init="orthogonal",
                    rho=_g(first.rho_init),
                    task="adding",
                    T=T,
                    seeds=seeds,
                )
                columns = words.get("summary.divergence_columns", metric=TASK_METRICS["adding"])
                out += [heading, "", columns]
                out.append("|---|---|---|---|---|---|---|---|---|---|")
            else:
                metric = TASK_METRICS[experiment]
                heading = words.get(
                    "summary.task_heading",
                    experiment=experiment,
                    T=T,
                    metric=metric,
                    baseline=_g(first.baseline),
                    optimizer="; ".join(
                        sorted(
                            {
                                optimizer_words(r, words)
                                for (e, t, _), rs in groups.items()
                                if (e, t) == current
                                for r in rs
                                if r.optimizer
                            }
                        )
                    )
                    or "–",
                    seeds=seeds,
                )
                out += [heading, "", words.get("summary.task_columns", metric=metric)]
                out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        r0 = runs[0]
        clip = "–" if r0.clip is None else _clip_cell(r0.clip, r0.threshold, words)
        init = r0.init + (f" ρ={_g(r0.rho_init)}" if r0.rho_init is not None else "")
        n = len(runs)
        test = _median([r.test_loss for r in runs])
        tests = [r.test_loss for r in runs if not math.isnan(r.test_loss)]
        test_s = _g(test) + (f" [{_g(min(tests))}–{_g(max(tests))}]" if len(set(tests)) > 1 else "")
        gmax = _g(max(r.max_grad_norm for r in runs))
        if experiment == "divergence":
            bad = [r.first_nonfinite_step for r in runs if r.first_nonfinite_step is not None]
            bad_s = words["summary.none"] if not bad else ", ".join(str(b) for b in bad)
            final = _g(_median([r.final_loss for r in runs]))
            out.append(
                f"| {config} | {r0.model} | {init} | {_g(r0.lr)} | {clip} | {bad_s} | {gmax} | "
                f"{final} | {test_s} | {verdict(runs, words)} |"
            )
        else:
            beats = sum(r.beats_baseline for r in runs)
            succ = [r.steps_to_success for r in runs if r.steps_to_success is not None]
            succ_s = "–" if not succ else ", ".join(str(s) for s in succ)
            wall = _g(statistics.median(r.wall_s for r in runs))
            out.append(
                f"| {config} | {r0.model} | {init} | {_g(r0.lr)} | {clip} | {test_s} | "
                f"{beats}/{n} | {succ_s} | {gmax} | {wall} | {verdict(runs, words)} |"
            )
    return "\n".join(out)
