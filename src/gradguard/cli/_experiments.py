"""``gradguard flow`` and ``gradguard remedies``: the remedies measured on real RNNs.

$ gradguard flow --model linear --init xavier-normal,he -T 50
$ gradguard remedies --quick --out runs/

Both need the ``[torch]`` extra; torch is imported inside the commands.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from gradguard._cells import rich_counts_cells
from gradguard._validate import check_choice, check_whole
from gradguard.cli._app import (
    Interrupted,
    RuntimeFailure,
    UsageFailure,
    app,
    cannot_write,
    command_lang,
    lang_option,
    require_extra,
    usage,
)
from gradguard.errors import FileError, InputError, os_reason


def _usage(e: InputError, lang: str) -> UsageFailure:
    # T is the sequence length here, typed -T; remedies count optimizer steps with --train-steps.
    return usage(e, lang, T="-T", jobs="--jobs")


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str | None, flag: str, minimum: int, lang: str) -> list[int] | None:
    parts = _split(text)
    if parts is None:
        return None
    values = []
    for part in parts:
        try:
            values.append(int(part))
        except ValueError:
            raise usage(InputError(flag, part, "whole_list_min", min=minimum), lang) from None
    if not values:
        raise usage(InputError(flag, text, "whole_list_min", min=minimum), lang)
    return values


def _plot_flow(results: list[Any], path: Path, lang: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gradguard._catalog import load_catalog
    from gradguard.report.plots import plot_gradient_flow, save_figure

    words = load_catalog(lang)
    curves = {
        words.get("flow.plot_label", run=f"{r.model} / {r.init}", rho=f"{r.rho:.3g}",
                  factor=f"{r.factor:.3g}"): r.grad_h
        for r in results
    }  # fmt: skip
    fig = plot_gradient_flow(curves, lang=lang)
    save_figure(fig, path)
    plt.close(fig)


def _flow_text(results: list[Any], rows: int, lang: str) -> str:
    from gradguard._catalog import load_catalog
    from gradguard.experiments.options import LIMIT_RHO

    words = load_catalog(lang)
    head = [words["flow.col_model"], words["flow.col_init"], "ρ(W)", words["flow.col_limit"]]
    head += ["σ_max(W)", words["flow.col_factor"], "‖∂L/∂h_T‖", "‖∂L/∂h_1‖", "‖∂L/∂W‖"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        limit = LIMIT_RHO[r.init] if r.rho_target is None else r.rho_target
        lines.append(
            f"| {r.model} | {r.init}{'' if r.rho_target is None else f' ({r.rho_target:g})'} | "
            f"{r.rho:.4g} | {limit:.4g} | {r.sigma_max:.4g} | {r.factor:.4g} | "
            f"{r.grad_h[-1]:.4g} | "
            f"{r.grad_h[0]:.4g} | {r.grad_W:.4g} |"
        )
    T = results[0].T
    shown = sorted({T, *range(T, 0, -max(1, T // max(1, rows - 1))), 1}, reverse=True)
    lines += ["", words["flow.per_step"], ""]
    lines.append("| t | " + " | ".join(f"{r.model}/{r.init}" for r in results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for t in shown:
        lines.append(f"| {t} | " + " | ".join(f"{r.grad_h[t - 1]:.4g}" for r in results) + " |")
    lines.append("")
    for r in results:
        run = f"{r.model}/{r.init}"
        bad = [t for t in range(1, r.T + 1) if not math.isfinite(r.grad_h[t - 1])]
        if bad:
            lines.append(words.get("flow.overflow", run=run, t=max(bad), dtype=r.dtype))
            continue
        if math.isnan(r.factor) or r.grad_h[-1] == 0:
            continue
        if r.grad_h[0] == 0:
            dead = max(t for t in range(1, r.T + 1) if r.grad_h[t - 1] == 0)
            lines.append(words.get("flow.dead", run=run, t=dead))
            continue
        if r.factor > 1 + 1e-9:
            trend = "grows"
        elif r.factor < 1 - 1e-9:
            trend = "decays"
        else:
            trend = "flat"
        lines.append(
            words.get(
                f"flow.trend_{trend}",
                run=run,
                factor=f"{r.factor:.4g}",
                rho=f"{r.rho:.4g}",
                steps=T - 1,
                total=f"{r.grad_h[0] / r.grad_h[-1]:.3g}",
            )
        )
    return "\n".join(lines)


@app.command()
def flow(
    model: str = typer.Option(
        "linear",
        "--model",
    ),
    init: str = typer.Option(
        "xavier-normal,he",
        "--init",
    ),
    T: int = typer.Option(
        50,
        "-T",
        "--T",
        metavar="T",
    ),
    hidden: int = typer.Option(
        64,
        "--hidden",
    ),
    rho: float | None = typer.Option(
        None,
        "--rho",
    ),
    seed: int = typer.Option(
        0,
        "--seed",
    ),
    batch: int = typer.Option(
        1,
        "--batch",
    ),
    inputs: str = typer.Option(
        "random",
        "--inputs",
    ),
    h0: float = typer.Option(
        0.0,
        "--h0",
    ),
    dtype: str = typer.Option(
        "float64",
        "--dtype",
    ),
    rows: int = typer.Option(
        11,
        "--rows",
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
    ),
    lang: str | None = lang_option(),
) -> None:
    """Measure ‖∂L/∂h_t‖ for t = T … 1 and ‖∂L/∂W‖ beside ρ(W) and σ_max(W).

    For the linear RNN h_t = W h_{t-1} + U x_t every backward step multiplies by
    Wᵀ, so the per-step factor tends to ρ(W): the seed's w in matrix form. He
    init gives ρ ≈ √2 on a linear recurrence, Xavier ρ ≈ 1.
    """
    lang = command_lang(lang)
    models = _split(model) or []
    inits = _split(init) or []
    if not models:
        raise usage(InputError("--model", model, "cell_list"), lang)
    if not inits:
        raise usage(InputError("--init", init, "init_list"), lang)
    if dtype not in ("float64", "float32"):
        raise _usage(InputError("dtype", dtype, "either", a="float64", b="float32"), lang)
    try:
        check_whole(rows, "rows", minimum=2)
    except InputError as e:
        raise _usage(e, lang) from None
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise usage(InputError("--plot", str(plot), "plot_path"), lang)
    if plot is not None and not plot.parent.resolve().is_dir():
        raise usage(InputError("--plot", str(plot), "path_in_folder"), lang)
    # Check the names before importing torch: a typo fails fast.
    from gradguard.experiments.options import check_cell, check_init

    try:
        for m in models:
            check_cell(m)
        for i in inits:
            check_init(i, rho)
    except InputError as e:
        raise _usage(e, lang) from None
    require_extra("torch", "flow", lang)
    if plot is not None:
        require_extra("matplotlib", "flow --plot", lang)
    import torch

    from gradguard.experiments import gradient_flow

    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    try:
        results = [
            gradient_flow(
                m,
                i,
                T,
                hidden=hidden,
                rho=rho,
                seed=seed,
                batch=batch,
                inputs=inputs,
                h0=h0,
                dtype=torch_dtype,
            )
            for m in models
            for i in inits
        ]
    except InputError as e:
        raise _usage(e, lang) from None
    if plot is not None:
        try:
            _plot_flow(results, plot, lang)
        except OSError as e:
            raise cannot_write(plot, e, lang) from None
        from gradguard._catalog import load_catalog

        print(load_catalog(lang).get("flow.plot_written", path=plot), file=sys.stderr)
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(_flow_text(results, rows, lang))


def _progress_bar(lang: str = "en") -> tuple[Any, Callable[[Any], None]]:
    """A bar on stderr for a grid: its share of the work, runs done / running / failed, ETA."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    rich_counts_cells()

    from gradguard._catalog import load_catalog

    words = load_catalog(lang)
    bar = Progress(
        TextColumn(f"[bold]{escape(words['progress.remedies'])}[/]"),
        BarColumn(bar_width=20),
        TaskProgressColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn(escape(words["progress.eta"])),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = bar.add_task("", total=None)

    def update(p: Any) -> None:
        counts = words.get(
            "progress.grid", done=p.done, total=p.total, running=p.running, failed=p.failed
        )
        bar.update(task, description=escape(counts), completed=p.work_done, total=p.work_total)

    return bar, update


def _preset_name(preset: str | None, quick: bool, full: bool, lang: str) -> str:
    """The one preset asked for: ``--preset NAME``, ``--quick`` or ``--full`` (default quick)."""
    from gradguard.experiments import PRESETS

    named = [n for n in (preset, "quick" if quick else None, "full" if full else None) if n]
    if len(set(named)) > 1:
        from gradguard.explain import load_catalog

        line = load_catalog(lang).get("summary.one_preset", names=", ".join(named))
        raise UsageFailure(line, lang)
    name = named[0] if named else "quick"
    try:
        return check_choice(name, "preset", tuple(PRESETS))
    except InputError as e:
        raise usage(e, lang) from None


def _device(device: str, here: bool, lang: str) -> str:
    """``--device``: ``auto`` is CUDA where torch sees a GPU, else the CPU.

    With ``here`` (the runs train on this machine) ``auto`` is decided here and a CUDA
    device must be visible. On a cluster (``--executor``) ``auto`` stays ``auto``: each
    worker decides for the runs it trains (a CPU driver may have GPU workers).
    """
    import torch

    if device == "auto":
        if not here:
            return "auto"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if here and device.startswith("cuda") and not torch.cuda.is_available():
        from gradguard.explain import load_catalog

        raise UsageFailure(load_catalog(lang).get("summary.no_cuda", device=device), lang)
    return device


@app.command()
def remedies(
    preset: str | None = typer.Option(
        None,
        "--preset",
        show_default=False,
    ),
    quick: bool = typer.Option(False, "--quick"),
    full: bool = typer.Option(False, "--full"),
    budget: float | None = typer.Option(
        None,
        "--budget",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
    ),
    experiments: str | None = typer.Option(
        None,
        "--experiments",
    ),
    configs: str | None = typer.Option(
        None,
        "--configs",
    ),
    seeds: str | None = typer.Option(
        None,
        "--seeds",
    ),
    T: str | None = typer.Option(
        None,
        "-T",
        "--T",
        metavar="T,T,…",
    ),
    train_steps: int | None = typer.Option(
        None,
        "--train-steps",
    ),
    steps: int | None = typer.Option(
        None,
        "--steps",
        hidden=True,
    ),
    lr: float | None = typer.Option(
        None,
        "--lr",
    ),
    device: str = typer.Option("auto", "--device"),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        show_default=False,
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json"),
    progress: bool = typer.Option(
        True,
        "--progress/--no-progress",
    ),
    lang: str | None = lang_option(),
) -> None:
    """Train the seed's remedies on real RNNs and say which remedy fixed what.

    divergence: a linear RNN with W = orthogonal × 2 (the seed's w = 2) under
    plain SGD — no remedy, norm/value clipping, a lower learning rate, an init
    with ρ ≤ 1, LSTM, GRU. adding (and copy): long-range learning with a tanh
    RNN ± clipping, IRNN, LSTM, GRU against the memoryless baseline. Ctrl-C
    stops cleanly: finished runs stay in summary.csv, and the same command
    resumes.
    """
    from gradguard.experiments import DIVERGENCE_CONFIGS, EXPERIMENTS, LONG_RANGE_CONFIGS

    lang = command_lang(lang)
    preset_name = _preset_name(preset, quick, full, lang)
    exps = _split(experiments)
    if exps is not None:
        if not exps:  # --experiments "": say so, do not run the preset's
            error = InputError(
                "--experiments", experiments, "choice", choices=", ".join(EXPERIMENTS)
            )
            raise usage(error, lang)
        for e in exps:
            try:
                check_choice(e, "experiment", EXPERIMENTS)
            except InputError as error:
                raise _usage(error, lang) from None
    if configs is not None and not _split(configs):  # --configs "": not "every configuration"
        names = dict.fromkeys(DIVERGENCE_CONFIGS + LONG_RANGE_CONFIGS)
        empty = InputError("--configs", configs, "choice", choices=", ".join(names))
        raise usage(empty, lang)
    seed_list = _ints(seeds, "--seeds", 0, lang)
    if seed_list is not None:
        from gradguard.experiments.options import check_seed

        try:
            for s in seed_list:
                check_seed(s, "--seeds")
        except InputError as e:
            raise usage(e, lang) from None
    lengths = _ints(T, "-T", 2, lang)
    train_steps = _train_steps(train_steps, steps, lang)
    if lr is not None and (not math.isfinite(lr) or lr <= 0):
        raise usage(InputError("--lr", lr, "learning_rate"), lang)
    if executor is not None:
        from gradguard.experiments.options import parse_executor

        try:
            engine, _ = parse_executor(executor)
        except InputError as e:
            raise usage(e, lang) from None
        if jobs is not None:  # the cluster sets how many runs go at once: not ignored silently
            raise usage(InputError("--jobs", jobs, "executor_jobs"), lang)
        module = "ray" if engine == "ray" else "distributed"
        require_extra(module, f"remedies --executor {executor}", lang)
    require_extra("torch", "remedies", lang)
    from gradguard.experiments import (
        ExecutorUnavailable,
        GridFailed,
        RemediesInterrupted,
        ResultsFolder,
        build_grid,
        format_summary,
        run_remedies,
        source_hash,
    )
    from gradguard.experiments.options import available_cores, check_jobs, check_out_dir
    from gradguard.explain import load_catalog

    words = load_catalog(lang)
    kwargs: dict[str, Any] = dict(
        seeds=seed_list,
        experiments=exps,
        configs=_split(configs),
        T=lengths,
        steps=train_steps,
        lr=lr,
        budget=budget,
        device=_device(device, executor is None, lang),
    )
    try:
        specs = build_grid(preset_name, **kwargs)  # every check before any work
        workers = check_jobs(available_cores() if jobs is None else jobs)
        folder = None
        if out is not None:
            folder = ResultsFolder(check_out_dir(out), specs, source_hash())
    except InputError as e:
        raise _usage(e, lang) from None
    except FileError as e:
        raise UsageFailure(e.message(lang), lang) from None
    if folder is not None and folder.rows:
        todo = len(specs) - len(folder.rows)
        counts = dict(total=len(specs), summary=folder.summary)
        if todo == 0:
            line = words.get("summary.all_done", **counts)
        else:
            line = words.get("summary.resumed", done=len(folder.rows), todo=todo, **counts)
        print(line, file=sys.stderr)
    if folder is not None:
        folder.close()  # run_remedies takes the folder's lock itself
    bar = None
    callback = None
    if progress:
        bar, callback = _progress_bar(lang)
        bar.start()
    interrupted = False
    failures: list[tuple[str, str]] = []
    try:
        rows = run_remedies(
            preset_name, out, progress=callback, jobs=workers, executor=executor, **kwargs
        )
    except RemediesInterrupted as e:
        rows, interrupted = e.rows, True
    except GridFailed as e:
        rows, failures = e.rows, e.failures
    except FileError as e:  # another grid took the folder since the check above
        raise RuntimeFailure(e.message(lang), lang) from None
    except ExecutorUnavailable as e:
        line = words.get("summary.unreachable", engine=e.engine, address=e.address, reason=e.reason)
        raise RuntimeFailure(line, lang) from None
    except OSError as e:  # e.g. the disk filled up mid-run; finished runs are in summary.csv
        if out is None:
            raise RuntimeFailure(os_reason(e, lang), lang) from None
        raise cannot_write(out, e, lang) from None
    finally:
        if bar is not None:
            bar.stop()
    if as_json:
        print(json.dumps([_jsonable(r.to_row()) for r in rows], indent=2))
    else:
        print(format_summary(rows, lang=lang))
    if out is not None:
        where = words.get("summary.written", runs=out / "runs", summary=out / "summary.csv")
        print(where, file=sys.stderr)
    if interrupted:
        kept = words.get("summary.interrupted", n=len(rows))
        if out is not None:
            kept += words.get("summary.kept_in", summary=out / "summary.csv")
        raise Interrupted(kept)
    if failures:
        for _, reason in failures:
            print(words.get("summary.failed_run", reason=reason), file=sys.stderr)
        raise RuntimeFailure(words.get("summary.failed", n=len(failures)), lang)


def _train_steps(train_steps: int | None, steps: int | None, lang: str) -> int | None:
    """``--train-steps``, or the deprecated ``--steps`` with a one-line warning on stderr."""
    from gradguard._catalog import load_catalog

    words = load_catalog(lang)
    if steps is None:
        return train_steps
    if train_steps is not None and train_steps != steps:
        line = words.get("summary.steps_disagree", steps=steps, train_steps=train_steps)
        raise UsageFailure(line, lang)
    print(words["summary.steps_deprecated"], file=sys.stderr)
    return steps


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v == "":
            out[k] = None
        elif isinstance(v, float) and not math.isfinite(v):
            out[k] = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        else:
            out[k] = v
    return out
