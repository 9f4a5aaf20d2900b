"""``gradguard replay``: what each clipping or spike rule would have done to a recorded run.

$ gradguard replay run.jsonl --max-norm 1.0 --json
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from gradguard._cells import rich_counts_cells
from gradguard.cli._app import UsageFailure, app, command_lang, lang_option, usage
from gradguard.errors import InputError

_SHOW = 12  # step indices shown per rule in the text table
_PROGRESS_FROM = 100_000  # rule steps (records × rules) before a progress bar shows
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def _rule_options() -> list[inspect.Parameter]:
    """``replay``'s options for the rules: one per :func:`gradguard.rules.replay_params`,
    read from the registry each time the command line is built."""
    from gradguard.rules import replay_params

    out = []
    for p in replay_params().values():
        flag = "--" + p.name.replace("_", "-")
        if p.recorded:  # not given: the run's recorded threshold (the catalog's help says so)
            kind: Any = float | None
            option = typer.Option(None, flag, show_default=False)
        elif p.none:  # "none" is a value: read as text, then checked (_threshold_or_none)
            kind, option = str, typer.Option(f"{p.default}", flag)
        else:
            kind, option = p.type, typer.Option(p.default, flag)
        out.append(inspect.Parameter(p.name, KEYWORD_ONLY, default=option, annotation=kind))
    return out


def _options(given: Mapping[str, Any], lang: str, recorded: float | None = None) -> Any:
    """The :class:`gradguard.rules.ReplayOptions` of the command line's values: ``none``
    read where a rule allows it, and a ``recorded`` option not given taken from the run."""
    from gradguard.rules import ReplayOptions, replay_params

    values = {}
    for name, p in replay_params().items():
        value = given[name]
        if p.none:
            value = _threshold_or_none(value, name, lang)
        if p.recorded and value is None:
            value = p.default if recorded is None else recorded
        values[name] = value
    return ReplayOptions(**values)


def _build_rules(options: Any, lang: str = "en") -> dict[str, Any]:
    """Every replayable rule of the registry, built from the command's options."""
    from gradguard.rules import replay_rules

    try:
        return replay_rules(options)
    except InputError as e:
        raise usage(e, lang) from None


class _Replay:
    """``gradguard replay``'s callback: its own options around the rules' options.

    typer builds a command from its callback's signature; this one's is read from the
    registry when the command line is built (:func:`_rule_options` between ``LOG`` and
    ``--run``), so a rule's options need no line here.
    """

    __name__ = "replay"

    @property
    def __signature__(self) -> inspect.Signature:
        own = [
            p.replace(kind=KEYWORD_ONLY)
            for p in inspect.signature(_replay, eval_str=True).parameters.values()
        ]
        return inspect.Signature([own[0], *_rule_options(), *own[2:]])

    @property
    def __annotations__(self) -> dict[str, Any]:  # type: ignore[override]
        return {p.name: p.annotation for p in self.__signature__.parameters.values()}

    def __call__(self, log: Path, **values: Any) -> None:
        own = {k: values.pop(k) for k in ("run", "as_json", "skip_list", "lang")}
        _replay(log, values, **own)


def _replay(
    log: Path = typer.Argument(
        ...,
        show_default=False,
    ),
    options: Mapping[str, Any] | None = None,
    run: str | None = typer.Option(
        None,
        "--run",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
    ),
    skip_list: bool = typer.Option(
        False,
        "--skip-list",
    ),
    lang: str | None = lang_option(),
) -> None:
    """Replay a recorded gradient-norm trace through each clipping and spike rule.

    For every run in the log, the pre-clip norms go through every rule that a norm log
    can replay (gradguard.rules.RULES), each built from ``options`` (the rules' options,
    :func:`gradguard.rules.replay_params`). It reports how many steps each would have
    clipped or skipped, and where, and names the rules a norm log cannot replay.
    Offline: nothing is retrained, and a rule's own effect on later norms is not
    simulated.
    """
    from gradguard._catalog import load_catalog
    from gradguard.records import RecordError, read_log

    lang = command_lang(lang)
    words = load_catalog(lang)
    given = dict(options or {})
    # Check the options before reading a possibly large log.
    _build_rules(_options(given, lang), lang)
    try:
        data = read_log(log)
    except RecordError as e:
        raise UsageFailure(e.message(lang), lang) from None
    if skip_list:
        _print_skip_list(log, data.steps, run, as_json, lang)
        return
    # One entry per run of the log (Log.runs: a guard's header, or a restarting step
    # index, opens a new one), so a log appended to by a second run replays as two.
    runs: list[tuple[str | None, Any, list[Any]]] = []
    for i, segment in enumerate(data.runs):
        records = [r for r in segment.steps if r.grad_norm is not None]
        if records:
            label = segment.name
            if label is None and len(data.runs) > 1:  # (JSON's: one in every language)
                said = load_catalog("en") if as_json else words
                label = said.get("replay.nth_run", i=i + 1, n=len(data.runs))
            runs.append((label, segment, records))
    if run is not None:
        chosen = [x for x in runs if x[1].name == run]
        if not chosen:
            known = ", ".join(repr(x[1].name) for x in runs if x[1].name is not None)
            line = words.get("replay.no_such_run", log=log, run=run, known=known or "–")
            raise UsageFailure(line, lang)
        runs = chosen
    if not runs:
        raise UsageFailure(words.get("replay.no_norms", log=log, n=len(data.steps)), lang)
    total = sum(len(r) for _, _, r in runs) * len(_build_rules(_options(given, lang), lang))
    with _progress(total, lang) as advance:
        results = [
            _replay_run(name, records, given, advance, segment, lang)
            for name, segment, records in runs
        ]
    from gradguard.rules import RULES

    others = [r for r in RULES.values() if r.replay_needs is not None]
    if as_json:
        for res in results:
            if res["own_policy"]:
                res["own_policy"].pop("_said", None)
        payload = {
            "log": str(log),
            "truncated_tail": data.truncated_tail,
            "runs": results,
            "not_replayable": [{"rule": r.name, "needs": r.replay_needs} for r in others],
        }
        print(json.dumps(_json_numbers(payload), indent=2, allow_nan=False))
        return
    _print_tables(log, results, data.truncated_tail, lang)
    needs = [words.get(f"replay.needs_{r.replay_needs}", rule=r.name) for r in others]
    print(words.get("replay.not_replayable", rules="; ".join(needs)))


app.command("replay")(_Replay())


def _threshold_or_none(text: str, name: str, lang: str) -> float | None:
    """An option that takes ``none`` (``--zclip-cap``): a number > 0, or ``none``."""
    from gradguard._validate import check_threshold

    if text.strip().lower() == "none":
        return None
    try:
        return float(check_threshold(float(text), name))
    except (ValueError, InputError):
        raise usage(InputError(name, text, "threshold_or_none"), lang) from None


def _print_skip_list(
    log: Path, steps: list[Any], run: str | None, as_json: bool, lang: str = "en"
) -> None:
    """``--skip-list``: one run's steps and batches to skip, as ranges (or JSON)."""
    from gradguard._catalog import load_catalog
    from gradguard.skiplist import skip_list

    words = load_catalog(lang)
    names = {r.run for r in steps}
    if run is not None:
        if run not in names:
            known = ", ".join(repr(k) for k in names if k is not None)
            line = words.get("replay.no_such_run", log=log, run=run, known=known or "–")
            raise UsageFailure(line, lang)
        steps = [r for r in steps if r.run == run]
    elif len(names) > 1:
        known = ", ".join(repr(k) for k in names if k is not None)
        raise UsageFailure(words.get("replay.needs_run", log=log, known=known), lang)
    result = skip_list(steps)
    if as_json:
        print(json.dumps(result.to_json(), allow_nan=False))
        return
    if not result.ranges:
        print(words.get("replay.nothing_to_skip", log=log, n=len(steps)))
        return
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in result.ranges)
    print(words.get("replay.to_skip", n=len(result), steps=shown))
    if result.batches:
        print(words.get("replay.batches", batches=", ".join(json.dumps(b) for b in result.batches)))
    sys.stdout.flush()


def _json_numbers(value: Any) -> Any:
    """``value`` with each non-finite float as records write it (``"inf"``: a threshold of
    ``--max-norm inf``), so that the output stays plain JSON."""
    from gradguard.lab.numbers import float_to_json

    if isinstance(value, float):
        return float_to_json(value)
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    return value


def _transient_steps(records: list[Any], nonfinite: list[int]) -> list[int]:
    """Those of the ``nonfinite`` steps the guard re-ran healthy and took (transient)."""
    bad = set(nonfinite)
    return [
        r.step
        for r in records
        if r.step in bad and r.rerun_verdict == "transient" and r.action == "step"
    ]


def _rerun_norms(records: list[Any]) -> list[dict[str, Any]]:
    """The steps with a finite first-run norm that the guard re-ran and found transient:
    the rules replay judges them by that first norm (what a guard sees before it re-runs a
    step); the run took them with the re-run's gradients, whose norm is given beside it."""
    out = []
    for r in records:
        again = r.extra.get("rerun")
        if r.rerun_verdict != "transient" or r.grad_norm is None:
            continue
        first = float(r.grad_norm)
        rerun = again.get("grad_norm") if isinstance(again, Mapping) else None
        if math.isfinite(first):
            out.append({"step": r.step, "first": first, "rerun": rerun})
    return out


def _replay_run(
    name: str | None,
    records: list[Any],
    given: Mapping[str, Any],
    advance: Callable[[int], None] | None,
    segment: Any = None,
    lang: str = "en",
) -> dict[str, Any]:
    """Replay one run's norm trace through every replayable rule; return its JSON-ready result."""
    from gradguard.rules import replay_trace

    # An option not given that says so (--max-norm): the run's own threshold, when it
    # was clipped at one fixed value.
    recorded = {r.threshold for r in records if r.threshold is not None}
    own = recorded.pop() if len(recorded) == 1 else None
    rules = _build_rules(_options(given, lang, own), lang)
    params = {name: rule.parameters() for name, rule in rules.items()}  # before the replay
    trace = replay_trace(
        [r.step for r in records], [float(r.grad_norm) for r in records], rules, advance
    )
    return {
        "run": name,
        "steps": len(records),
        "nonfinite_steps": trace.nonfinite_steps,
        # Non-finite steps the run took all the same: re-run healthy (transient).
        "transient_steps": _transient_steps(records, trace.nonfinite_steps),
        # Finite steps re-run healthy: the rows judged them by their first run's norm.
        "rerun_norms": _rerun_norms(records),
        "recorded": _recorded(segment.steps if segment is not None else records),
        "own_policy": _own_policy(segment, lang),
        "max_grad_norm": max((x for x in trace.norms if math.isfinite(x)), default=None),
        "policies": [
            {
                "policy": p.rule,
                "description": p.description,
                "params": params[p.rule],
                "action": p.action,
                "count": p.count,
                "fraction": p.count / len(records),
                "first_step": p.steps[0] if p.steps else None,
                "steps": p.steps,
                "final_threshold": p.thresholds[-1] if p.thresholds else None,
            }
            for p in trace.rules
        ],
    }


def _describe(policy: dict[str, Any], words: Any) -> str:
    """A rule with its parameters, in the table's language (``replay.rule_<name>`` and its
    parts: :func:`gradguard.rules.describe_rule`)."""
    from gradguard.rules import describe_rule

    return describe_rule(policy["policy"], policy["params"], words.lang)


def _own_line(own: dict[str, Any] | None, words: Any) -> str:
    if not own:
        return ""
    if "error" in own:
        return words.get("replay.own_failed", error=own.get("_said", own["error"]))
    line = words.get("replay.own", reproduced=own["reproduced"], steps=own["steps"])
    if own["mismatches"]:
        line += words.get("replay.own_differs", step=own["mismatches"][0]["step"])
    return line


def _recorded_line(rec: dict[str, Any], steps: int, words: Any) -> str:
    """What the run did, in the table's language (records.StepCounts.describe)."""
    from gradguard.records import StepCounts

    kinds = ("clipped", "skipped", "rollbacks", "amp_skipped", "nonfinite", "spikes")
    return StepCounts(steps=steps, taken=0, **{k: rec[k] for k in kinds}).describe(words.lang)


def _recorded(steps: list[Any]) -> dict[str, Any]:
    """What the run did, counted as ``gradguard report`` counts it (records.count_steps)."""
    from gradguard.records import count_steps

    c = count_steps(steps)
    return {
        "clipped": c.clipped,
        "skipped": c.skipped,
        "rollbacks": c.rollbacks,
        "amp_skipped": c.amp_skipped,
        "nonfinite": c.nonfinite,
        "spikes": c.spikes,
        "summary": c.describe(),
    }


def _own_policy(segment: Any, lang: str = "en") -> dict[str, Any] | None:
    """The run's own guard replayed from its header (``None``: not a guard's log)."""
    from gradguard.rules import replay_guard

    if segment is None or not isinstance(segment.meta.get("guard"), dict):
        return None
    try:
        result = replay_guard(segment)
    except InputError as e:  # a header naming a rule this gradguard does not have
        # JSON's "error" is the same in every language (docs/cli.md); the table says it
        # in its own ("_said", left out of the JSON)
        return {"error": e.message("en"), "_said": e.message(lang)}
    except (ValueError, KeyError, TypeError) as e:
        return {"error": str(e)}
    return {
        "steps": len(result.actions),
        "reproduced": result.reproduced,
        "mismatches": [{"step": s, "recorded": a, "replayed": b} for s, a, b in result.mismatches],
    }


@contextmanager
def _progress(total: int, lang: str = "en") -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr for long replays (none for short ones)."""
    if total < _PROGRESS_FROM:
        yield None
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    rich_counts_cells()

    from gradguard._catalog import load_catalog

    words = load_catalog(lang)
    with Progress(
        TextColumn(escape(words["progress.replaying"])),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} " + escape(words["progress.rule_steps"])),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("replay", total=total)
        yield lambda n: bar.advance(task, n)


def _print_tables(
    log: Path, results: list[dict[str, Any]], truncated: bool, lang: str = "en"
) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    rich_counts_cells()

    from gradguard._catalog import load_catalog

    words = load_catalog(lang)
    console = Console()
    if truncated:
        note = escape(words.get("replay.partial", log=log))
        Console(stderr=True).print(f"[yellow]{escape(words['tour.note'])}:[/] {note}")
    for res in results:
        title = f"{log}" + (words.get("replay.run", run=res["run"]) if res["run"] else "")
        rec = res["recorded"]
        nonfinite, transient = len(res["nonfinite_steps"]), len(res["transient_steps"])
        key = (
            "replay.caption_finite"
            if not nonfinite
            else "replay.caption"
            if not transient
            else "replay.caption_all_transient"
            if transient == nonfinite
            else "replay.caption_transient"
        )
        caption = words.get(
            key,
            steps=res["steps"],
            nonfinite=nonfinite,
            transient=transient,
            others=nonfinite - transient,
            recorded=_recorded_line(rec, res["steps"], words),
        )
        table = Table(title=title, caption=caption + _own_line(res.get("own_policy"), words))
        table.add_column(words["replay.col_rule"])
        table.add_column(words["replay.col_would"], justify="center")
        table.add_column(words["replay.col_steps"], justify="right")
        table.add_column(words["replay.col_share"], justify="right")
        table.add_column(words["replay.col_where"])
        for p in res["policies"]:
            where = ", ".join(str(s) for s in p["steps"][:_SHOW])
            if p["count"] > _SHOW:
                where += ", " + words.get("numbers.more", n=p["count"] - _SHOW)
            table.add_row(
                escape(_describe(p, words)),
                words[f"replay.{p['action']}"],
                str(p["count"]),
                f"{100 * p['fraction']:.1f}%",
                where or "—",
            )
        console.print(table)
        if res["nonfinite_steps"]:
            shown = ", ".join(str(s) for s in res["nonfinite_steps"][:_SHOW])
            console.print(words.get("replay.nonfinite_steps", steps=shown))
        if res["rerun_norms"]:
            reran = res["rerun_norms"]
            pairs = [
                words.get(
                    "replay.rerun_pair",
                    step=x["step"],
                    first=f"{x['first']:.3g}",
                    rerun="–" if x["rerun"] is None else f"{x['rerun']:.3g}",
                )
                for x in reran[:_SHOW]
            ]
            if len(reran) > _SHOW:
                pairs.append(words.get("numbers.more", n=len(reran) - _SHOW))
            line = words.get("replay.rerun_norms", n=len(reran), pairs=", ".join(pairs))
            console.print(escape(line))
    sys.stdout.flush()
