"""``gradguard doctor``: what went wrong in a recorded run, why it looks so, what to change.

$ gradguard doctor run.jsonl --skip skip_batches.json --plot doctor.png --lang bn
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from gradguard.cli._app import (
    UsageFailure,
    app,
    cannot_write,
    command_lang,
    lang_option,
    require_extra,
    usage,
)
from gradguard.errors import FileError, InputError


@app.command("doctor")
def doctor(
    log: Path = typer.Argument(
        ...,
        show_default=False,
    ),
    skip: Path | None = typer.Option(
        None,
        "--skip",
        show_default=False,
    ),
    run: str | None = typer.Option(
        None,
        "--run",
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
    ),
    lang: str | None = lang_option(),
) -> None:
    """Say what went wrong in a recorded run, why it looks so, and what to change.

    Which steps went bad and of which kind, in which layer first, whether they come back
    with one batch (data), build up (a learning rate too high) or scatter (transient
    faults), what re-runs said, what the guard did and what it cost, what other rules
    would have done, and what to change — each sentence with its evidence (steps,
    values). Where the log cannot tell, it says so and what to record next time.
    """
    from gradguard._catalog import load_catalog
    from gradguard.doctor import diagnose, read_skip_file, render_text, to_json
    from gradguard.records import RecordError, read_log

    lang = command_lang(lang)
    words = load_catalog(lang)
    if plot is not None:
        if plot.suffix.lower() not in (".png", ".svg"):
            raise usage(InputError("--plot", str(plot), "plot_path"), lang)
        if not plot.parent.resolve().is_dir():
            raise usage(InputError("--plot", str(plot), "path_in_folder"), lang)
        require_extra("matplotlib", "doctor --plot", lang)
    try:
        data = read_log(log)
        skips = read_skip_file(skip) if skip is not None else None
    except (RecordError, FileError) as e:
        raise UsageFailure(e.message(lang), lang) from None
    runs = [r for r in data.runs if any(s.grad_norm is not None for s in r.steps)]
    if run is not None:
        chosen = [r for r in runs if r.name == run]
        if not chosen:
            known = ", ".join(repr(r.name) for r in runs if r.name is not None)
            line = words.get("replay.no_such_run", log=log, run=run, known=known or "–")
            raise UsageFailure(line, lang)
        runs = chosen
    if not runs:
        raise UsageFailure(words.get("replay.no_norms", log=log, n=len(data.steps)), lang)
    diagnoses = [diagnose(r, skips) for r in runs]
    if plot is not None:
        from gradguard.report.plots import plot_diagnosis, save_figure

        n = len(diagnoses)
        for i, d in enumerate(diagnoses, 1):
            # one figure per run: the first at PATH, run i of several at STEM-run{i}.SUFFIX
            path = plot if i == 1 else plot.with_name(f"{plot.stem}-run{i}{plot.suffix}")
            source = log.name
            if n > 1:
                first, last = d.steps[0].step, d.steps[-1].step
                source += words.get("doctor.run_of", i=i, n=n, first=first, last=last)
            try:
                save_figure(plot_diagnosis(d, source=source, lang=lang), path)
            except OSError as e:
                raise cannot_write(path, e, lang) from None
            print(words.get("doctor.plot_written", path=path), file=sys.stderr)
    if as_json:
        payload = to_json(str(log), diagnoses, lang)
        payload["truncated_tail"] = data.truncated_tail
        print(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False))
        return
    if data.truncated_tail:
        print(f"{words['tour.note']}: {words.get('replay.partial', log=log)}", file=sys.stderr)
    sys.stdout.write(render_text(str(log), diagnoses, lang))
    sys.stdout.flush()
