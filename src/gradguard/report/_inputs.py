"""Read what the report is built from: a remedy results folder or a guard log.

A results folder is what ``gradguard remedies --out DIR`` writes: ``summary.csv``
(read by :func:`gradguard.experiments.read_summary`, the runner's own reader,
into typed :class:`gradguard.experiments.RunSummary` rows) and one JSONL step log
per run (``docs/records.md``), optionally ``flow.json`` (gradient flow curves:
``{"curves": {label: [‖∂L/∂h_t‖ for t = 1 … T]}, "heatmap": …}``). A guard log is
one JSONL file. Every malformed input is reported naming the file and the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradguard.errors import FileError
from gradguard.experiments import RunSummary, read_summary
from gradguard.records import Log, read_log


class InputFileError(FileError):
    """An input file is missing or malformed; the message names the file (and line).

    A :class:`~gradguard.errors.FileError`: ``error.message("bn")`` tells it in Bengali.
    """

    @classmethod
    def of(cls, error: FileError) -> InputFileError:
        """Return ``error`` (a log's or a summary's) as the report's input error."""
        return cls(error.where, error.problem, error.cause, **error.fields)


@dataclass
class Source:
    """What a report is built from.

    Attributes:
      path: the folder or file given by the user.
      kind: ``"results"`` (a remedy results folder) or ``"log"`` (one guard log).
      summary: the rows of ``summary.csv``.
      runs: run name (``"adding/T50/gru/seed0"``) → its log.
      run_info: run name → ``(experiment, config, T)`` (T ``""`` when not recorded).
      log: the guard log, for ``kind == "log"``.
      flow: gradient-flow data from ``flow.json``, if present.
    """

    path: Path
    kind: str
    summary: list[RunSummary] = field(default_factory=list)
    runs: dict[str, Log] = field(default_factory=dict)
    run_info: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    log: Log | None = None
    flow: dict[str, Any] | None = None


def load_source(path: str | Path) -> Source:
    """Load a results folder (or its ``summary.csv``, or a tour folder) or one JSONL guard log.

    Raises:
      InputFileError: the path does not exist, holds nothing gradguard wrote, or a
        file in it is malformed (the message names the file and the line).
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(p, "missing")
    summary_path = p / "summary.csv"
    if p.is_file() and p.suffix.lower() == ".csv":  # a summary, whatever its name
        summary_path, p = p, p.parent
    if p.is_file():
        log = _read(p)
        if not log.steps:  # a report of no steps would say the guard took every one
            raise InputFileError(p, "no_steps")
        return Source(path=p, kind="log", log=log)
    flow_path = p / "flow.json"
    if not summary_path.is_file():
        # A tour folder holds flow.json and the results one level down (remedies/).
        found = sorted(p.glob("*/summary.csv"))
        if len(found) == 1:
            summary_path = found[0]
    logs = sorted(q for q in p.rglob("*.jsonl") if q.is_file())
    if not summary_path.is_file() and not logs:
        raise InputFileError(p, "no_results")
    src = Source(path=p, kind="results")
    if summary_path.is_file():
        try:
            src.summary = read_summary(summary_path)
        except FileError as e:
            raise InputFileError.of(e) from None
        except OSError as e:  # e.g. no permission to read it
            raise InputFileError(summary_path, "unreadable", reason=e) from None
    for q in logs:
        log = _read(q)
        name, info = _run_name(q, p, log)
        src.runs[name] = log
        src.run_info[name] = info
    if not flow_path.is_file():
        flow_path = summary_path.parent / "flow.json"
    if flow_path.is_file():
        src.flow = _read_flow(flow_path)
    return src


def _read(p: Path) -> Log:
    try:
        return read_log(p)
    except FileError as e:
        raise InputFileError.of(e) from None


def _run_name(q: Path, root: Path, log: Log) -> tuple[str, tuple[str, str, str]]:
    """The run's name and (experiment, config, T), from its header, its records or its path."""
    for meta in log.meta:
        if {"experiment", "config"} <= meta.keys():
            exp, cfg = str(meta["experiment"]), str(meta["config"])
            T = "" if meta.get("T") is None else str(meta["T"])
            seed = meta.get("seed")
            name = str(
                meta.get("run") or f"{exp}/{cfg}" + (f"/seed{seed}" if seed is not None else "")
            )
            return name, (exp, cfg, T)
    name = (
        next((r.run for r in log.steps if r.run), None)
        or q.relative_to(root).with_suffix("").as_posix()
    )
    parts = name.split("/")
    return name, (parts[0], parts[1] if len(parts) > 1 else parts[0], "")


def _read_flow(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputFileError(f"{p}:{e.lineno}", "not_json", reason=e.msg, column=e.colno) from None
    except UnicodeDecodeError as e:
        raise InputFileError(p, "not_utf8", reason=e.reason) from None
    except OSError as e:  # e.g. no permission to read it
        raise InputFileError(p, "unreadable", reason=e) from None
    curves = data.get("curves") if isinstance(data, dict) else None
    if not isinstance(curves, dict) or not all(
        isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) for v in curves.values()
    ):
        raise InputFileError(f"{p}:1", "not_flow")
    return data


#: Which run's recorded flow the heat map shows, first found first: the tanh RNN with the
#: seed's clipping, then without, then the other long-range configurations.
HEATMAP_CONFIGS = ("rnn-clip", "rnn", "irnn", "lstm", "gru")


def recorded_flow(src: Source) -> dict[str, Any] | None:
    """Return the heat map of ``‖∂L/∂h_t‖`` over training that a remedy run recorded.

    The remedy runner measures ``grad_h`` (``‖∂L/∂h_t‖`` for t = 1 … T of the task
    loss on a fixed probe batch) every ``flow_every`` steps and stores it in that
    step's record; this reads those records back — the report trains nothing.
    The run is the long-range one first in :data:`HEATMAP_CONFIGS` (shortest ``T``,
    then lowest seed); else any run with two or more profiles.

    Returns:
      ``{"heatmap": [[‖∂L/∂h_t‖ …] per profiled step], "heatmap_steps": [step, …],
      "heatmap_label": "adding T = 50, rnn-clip (tanh × default)", "heatmap_run": name}``,
      or ``None`` when no run recorded a flow profile.
    """

    def rank(name: str) -> tuple[int, float, str]:
        exp, cfg, T = src.run_info.get(name, ("", "", ""))
        pref = HEATMAP_CONFIGS.index(cfg) if cfg in HEATMAP_CONFIGS else len(HEATMAP_CONFIGS)
        return (pref + (100 if exp == "divergence" else 0), float(T) if T.isdigit() else 1e9, name)

    for name in sorted(src.runs, key=rank):
        profiled = [r for r in src.runs[name].steps if isinstance(r.extra.get("grad_h"), list)]
        if len(profiled) < 2:
            continue
        exp, cfg, T = src.run_info.get(name, (name, "", ""))
        meta = next((m for m in src.runs[name].meta if "model" in m), {})
        cell = f" ({meta['model']} × {meta.get('init', '?')})" if "model" in meta else ""
        return {
            "heatmap": [[float(x) for x in r.extra["grad_h"]] for r in profiled],
            "heatmap_steps": [r.step for r in profiled],
            "heatmap_label": f"{exp} T = {T}, {cfg}{cell}" if T else f"{name}{cell}",
            "heatmap_run": name,
        }
    return None
