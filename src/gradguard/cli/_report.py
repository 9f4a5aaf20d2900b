"""Commands that show: ``report`` (the HTML report), ``tour`` (the main job), ``serve``.

$ gradguard tour
$ gradguard report --from runs/ --lang bn --out report.html
$ gradguard serve --port 8000
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from gradguard._cells import rich_counts_cells
from gradguard._validate import check_out_file, check_out_folder
from gradguard.cli._app import (
    EXTRAS,
    RuntimeFailure,
    UsageFailure,
    app,
    cannot_write,
    command_lang,
    lang_option,
    missing_extra,
    require_extra,
    usage,
)
from gradguard.errors import InputError


def _check_out(out: Path, lang: str) -> Path:
    try:
        return check_out_file(out, "out")
    except InputError as e:
        raise usage(e, lang) from None


@app.command()
def report(
    source: Path | None = typer.Option(
        None,
        "--from",
        show_default=False,
    ),
    out: Path = typer.Option(
        Path("report.html"),
        "--out",
        "-o",
    ),
    lang: str | None = lang_option(),
    w: str = typer.Option(
        "2",
        "--w",
        metavar="NUMBER",
    ),
    h0: str = typer.Option(
        "1",
        "--h0",
        metavar="NUMBER",
    ),
    steps: str = typer.Option(
        "5",
        "--steps",
        "-T",
        metavar="T",
    ),
    lr: str = typer.Option(
        "0.01",
        "--lr",
        metavar="NUMBER",
    ),
    clip: str = typer.Option(
        "5",
        "--clip",
        metavar="NUMBER",
    ),
    plots: Path | None = typer.Option(
        None,
        "--plots",
        show_default=False,
    ),
    plot_format: str = typer.Option(
        "png",
        "--plot-format",
        metavar="png|svg",
    ),
    lesson: bool = typer.Option(
        False,
        "--lesson/--no-lesson",
    ),
) -> None:
    """Write one self-contained HTML report: the lesson, or your run alone (with --from LOG)."""
    from gradguard.report import InputFileError
    from gradguard.report.fonts import FontMissing

    lang = command_lang(lang)
    _check_out(out, lang)
    require_extra("matplotlib", "report", lang)
    from gradguard.report import write_report

    if plot_format not in ("png", "svg"):
        raise usage(InputError("plot_format", plot_format, "either", a="png", b="svg"), lang)
    if plots is not None:
        try:
            check_out_folder(plots, "plots_dir")
        except InputError as e:
            raise usage(e, lang) from None
    t0 = time.perf_counter()
    try:
        path = write_report(
            out,
            source,
            lang=lang,
            w=w,
            h0=h0,
            T=steps,
            eta=lr,
            c=clip,
            plots_dir=plots,
            plot_format=plot_format,
            lesson=lesson,
        )
    except InputFileError as e:
        raise UsageFailure(e.message(lang), lang) from None
    except InputError as e:
        raise usage(e, lang) from None
    except OSError as e:
        raise cannot_write(out, e, lang) from None
    except FontMissing as e:
        raise RuntimeFailure(e.message(lang), lang) from None
    from gradguard._catalog import load_catalog

    seconds = f"{time.perf_counter() - t0:.1f}"
    written = load_catalog(lang).get("report.written", path=path.resolve(), seconds=seconds)
    print(written, file=sys.stderr)
    print(path.resolve())


@app.command()
def serve(
    port: int = typer.Option(0, "--port", min=0, max=65535),
    lang: str | None = lang_option(),
) -> None:
    """Open the interactive explorer: sliders for w, h0, T, η, c, numbers from the lab, live."""
    from gradguard.serve import make_server

    lang = command_lang(lang)
    try:
        server = make_server(port)
    except OSError as e:
        raise usage(InputError("port", port, "free_port", "os_error", reason=e), lang) from None
    from gradguard._catalog import load_catalog

    words = load_catalog(lang)
    real_port = server.server_address[1]
    url = f"http://127.0.0.1:{real_port}/?lang={lang}"
    print(words.get("cli.serving", url=url), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print(words["cli.stopped"], file=sys.stderr)
    finally:
        server.server_close()


def _stage_lesson(lang: str) -> str:
    """The seed's lesson on its defaults, as the lab's `explain` renders it."""
    from gradguard.explain import lesson, render_text

    return str(render_text(lesson(lang=lang)))


#: The tour's explosion table: the seed's T, then where float32 (123) and float64 (1016) give up.
TABLE_STEPS = (5, 10, 20, 50, 100, 123, 1016)
#: Exact values up to this many characters are printed whole (the seed's 2.8e16 is 26).
_WHOLE = 26


def _stage_table(lang: str) -> str:
    """The lab's explosion table at :data:`TABLE_STEPS`, with the seed's claims and errata.

    The rows are :func:`gradguard.lab.explosion_table`'s (what ``gradguard table``
    prints), laid out by the one terminal renderer; the words come from the
    lesson's catalogs, so ``--lang bn`` reads Bengali throughout.
    """
    from gradguard._catalog import load_catalog
    from gradguard.explain import claims, say
    from gradguard.explain.table import (
        TABLE_HEADERS,
        CellStyle,
        horizon_lines,
        overflow_inf,
        render_terminal,
        table_cells,
    )
    from gradguard.lab import explosion_table, overflow_horizon, table_to_json

    cat = load_catalog(lang)
    w, h0 = 2, 1  # the seed's system
    rows = table_to_json(explosion_table(w, h0, TABLE_STEPS, mode="exact"))
    columns = ["T", "h_T", "grad", "ratio", "float32", "seed", "off_by"]
    head = [cat[f"table.{TABLE_HEADERS[c]}"] for c in columns]
    body = table_cells(rows, columns, CellStyle(max_chars=_WHOLE, lang=lang))
    lines = [cat["table.tour_heading"], "", *render_terminal(head, body, head_left=True)]
    trend = next(c for c in claims(w, h0, 1, table_T=TABLE_STEPS) if c.topic == "trend")
    lines += ["", say(trend, lang)]
    horizons = {dt: overflow_horizon(w, h0, dt) for dt in ("float64", "float32")}
    lines += horizon_lines(horizons, cat, overflow_inf(w, h0))
    lines.append("⚠ " + cat["errata.heading"] + ": " + cat["errata.table"])
    return "\n".join(lines)


#: What the tour measures through time: the seed's w = 2 in matrix form (ρ = 2), the
#: inits Xavier (ρ ≈ 1) and He (ρ ≈ √2, made for ReLU feed-forward layers), and gated cells.
FLOW_CONFIGS: tuple[tuple[str, str, float | None], ...] = (
    ("linear", "scaled-orthogonal", 2.0),
    ("linear", "he", None),
    ("linear", "xavier-normal", None),
    ("tanh", "xavier-normal", None),
    ("lstm", "default", None),
    ("gru", "default", None),
)
FLOW_T = 50


def _stage_flow(out: Path) -> dict[str, Any]:
    """Measure ‖∂L/∂h_t‖ for t = 1…T per model × init; write ``flow.json`` (needs torch).

    The flow *over training* (the report's heat map) is not measured here: the
    remedies stage records it (``grad_h`` in each run's records) and the report reads it.
    """
    import gradguard.experiments as experiments

    curves: dict[str, list[float]] = {}
    measured: list[dict[str, Any]] = []  # the report words them in its own language
    for model, init, rho in FLOW_CONFIGS:
        r = experiments.gradient_flow(model, init, FLOW_T, rho=rho)
        label = f"{model} × {init}" + (f" (ρ = {rho:g})" if rho is not None else "")
        curves[label] = [float(x) for x in r.grad_h]
        measured.append({"label": label, "rho": float(r.rho), "factor": float(r.factor)})
    data = {"curves": curves, "measured": measured, "T": FLOW_T}
    from gradguard._atomic import write_text_atomic

    write_text_atomic(out / "flow.json", json.dumps(data, allow_nan=False))
    return data


def _stage_remedies(out: Path, on_progress: Any, jobs: int = 1) -> Path:
    """Run the remedies' quick preset into ``out/remedies`` in ``jobs`` workers (needs torch)."""
    import gradguard.experiments as experiments

    results = out / "remedies"
    results.mkdir(parents=True, exist_ok=True)
    experiments.run_remedies("quick", out=results, progress=on_progress, jobs=jobs)
    return results


@app.command()
def tour(
    out: Path = typer.Option(
        Path("gradguard-tour"),
        "--out",
        "-o",
    ),
    lang: str | None = lang_option(),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        show_default=False,
    ),
) -> None:
    """Tell the seed's story end to end: lesson, errata, gradient flow, remedies, report."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    rich_counts_cells()

    lang = command_lang(lang)
    if out.exists() and not out.is_dir():
        raise usage(InputError("out", str(out), "folder"), lang)
    try:  # a folder it can write: fail now, not after minutes of work
        check_out_folder(out, "out")
    except InputError as e:
        raise usage(e, lang) from None
    err = Console(stderr=True)
    from gradguard._catalog import load_catalog

    words = load_catalog(lang)
    # Without an extra the tour runs the stages it can and names the ones it skips.
    missing = {m: missing_extra(m) for m in ("torch", "matplotlib")}
    skipped = [
        words.get(f"tour.skip_{EXTRAS[m]}") + " (" + words.get("tour.needs", extra=EXTRAS[m]) + ")"
        for m, hint in missing.items()
        if hint
    ]
    for what in skipped:
        note = escape(words.get("tour.skips", what=what))
        err.print(f"[yellow]{escape(words['tour.note'])}:[/] {note}", soft_wrap=True)
    # Every prerequisite before the first long stage: a writable folder (above), --jobs, the fonts.
    workers = 1
    if not missing["torch"]:
        from gradguard.experiments.options import available_cores, check_jobs

        try:
            workers = check_jobs(available_cores() if jobs is None else jobs, "--jobs")
        except InputError as e:
            raise usage(e, lang) from None
    if not missing["matplotlib"]:
        from gradguard.report.fonts import FontMissing, require_fonts

        try:
            require_fonts(lang)
        except FontMissing as e:
            raise RuntimeFailure(e.message(lang), lang) from None
    t0 = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),  # "3/5"; "0/?" before the remedies know their steps
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(words["tour.lesson"], total=5)
        timings: list[tuple[str, float]] = []
        clock = time.perf_counter()

        def stage_done(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings.append((name, now - clock))
            clock = now
            bar.advance(task)

        def stage(name: str) -> None:  # "1/5 the lesson", in the tour's language
            bar.update(task, description=words[f"tour.{name}"])

        stage("lesson")
        print(_stage_lesson(lang) + "\n")
        stage_done("lesson")
        stage("table")
        print(_stage_table(lang) + "\n")
        stage_done("table")
        stage("flow")
        flow = None if missing["torch"] else _stage_flow(out)
        stage_done("flow")
        stage("remedies")
        results = None
        if not missing["torch"]:
            sub = bar.add_task("  " + words["progress.runs"], total=None)

            def on_progress(p: Any) -> None:  # a GridProgress: the share of the work done
                counts = words.get(
                    "progress.grid", done=p.done, total=p.total, running=p.running,
                    failed=p.failed,
                )  # fmt: skip
                done, total = p.work_done, p.work_total
                bar.update(sub, completed=done, total=total, description=f"  {counts}")

            results = _stage_remedies(out, on_progress, workers)
            bar.remove_task(sub)
        stage_done("remedies")
        stage("report")
        path = None
        if not missing["matplotlib"]:
            from gradguard.report import write_report

            path = write_report(out / "report.html", results, lang=lang, flow=flow)
        stage_done("report")
    per_stage = ", ".join(
        words.get("tour.timing", stage=words[f"tour.{name}_name"], seconds=f"{sec:.1f}")
        for name, sec in timings
    )
    total = f"{time.perf_counter() - t0:.1f}"
    err.print(words.get("tour.finished", seconds=total, stages=per_stage))
    if path is not None:
        print(words.get("tour.report_at", path=path.resolve()))
    if skipped:
        raise UsageFailure(words.get("tour.skipped", what="; ".join(skipped)), lang)
