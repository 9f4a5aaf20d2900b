"""The lab's commands: ``explain``, ``table``, ``sgd``, ``clip`` — the seed's system, exact.

$ gradguard explain --w 2 --h0 1 --steps 5 --lang bn
$ gradguard table --steps 5,10,20,50,1016 --mode float64
$ gradguard sgd --loss target --compare
$ gradguard clip --g 100 --c 5

Numbers are read exactly (``0.9`` is 9/10, ``3/7`` is 3/7); every bad input is
one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from gradguard._cells import rich_counts_cells
from gradguard._validate import check_choice, check_whole
from gradguard.cli._app import app, command_lang, lang_option, usage
from gradguard.errors import InputError

R = TypeVar("R")


def _guarded(fn: Callable[[], R], lang: str = "en", **flags: str) -> R:
    """Run ``fn``; turn an :class:`InputError` into a one-line usage error naming the flag.

    Args:
      fn: the library call.
      lang: the language to say the error in.
      **flags: this command's flags where they differ from :data:`~gradguard.cli._app.FLAGS`.
    """
    try:
        return fn()
    except InputError as e:
        raise usage(e, lang, **flags) from None


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _emit_text(text: str | Callable[[bool], str]) -> None:
    """Write ``text`` to stdout; a callable is asked for rich markup when stdout is a terminal."""
    if callable(text) and sys.stdout.isatty():
        from rich.console import Console  # only for a terminal: piped output stays plain and fast

        rich_counts_cells()
        Console(soft_wrap=True, highlight=False).print(text(True))
    else:
        sys.stdout.write(text(False) if callable(text) else text)


@app.command()
def explain(
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
    lang: str | None = lang_option(),
    fmt: str = typer.Option(
        "text",
        "--format",
        "-f",
        metavar="text|markdown|json",
    ),
    table_steps: str = typer.Option(
        "5,10,20,50",
        "--table-steps",
        metavar="T,T,…",
    ),
    abbreviate: int | None = typer.Option(
        None,
        "--abbreviate",
        metavar="DIGITS",
    ),
    exact: bool = typer.Option(
        False,
        "--exact",
    ),
) -> None:
    """Teach the seed's lesson, computed live: forward, BPTT, table, errata, SGD, remedies.

    Defaults are the seed's: w=2, h0=1, T=5, η=0.01, c=5, table T ∈ {5, 10, 20, 50}.
    """
    from gradguard.explain import lesson, render_markdown, render_text

    language = command_lang(lang)
    _guarded(lambda: check_choice(fmt, "format", ("text", "markdown", "json")), language)
    if abbreviate is not None:
        # Checked here too: text and markdown ignore the flag, and a bad value
        # should not pass silently there.
        _guarded(lambda: check_whole(abbreviate, "abbreviate"), language)
    data = _guarded(
        lambda: lesson(
            w=w,
            h0=h0,
            T=steps,
            eta=lr,
            c=clip,
            lang=language,
            table_T=table_steps,
            # People read at most 40 digits of a number (the renderers abbreviate
            # beyond); the BPTT sum is still checked term by term.
            abbreviate=abbreviate if fmt == "json" else None if exact else 40,
            verify=True,
        ),
        language,
    )
    from gradguard.explain.text import numbers_in

    if fmt == "json":
        _emit_json(data)
    elif fmt == "markdown":
        with numbers_in(language, exact=exact):
            sys.stdout.write(render_markdown(data))
    else:

        def text(markup: bool) -> str:
            with numbers_in(language, exact=exact):
                return render_text(data, markup=markup)

        _emit_text(text)


@app.command()
def table(
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
        "5,10,20,50",
        "--steps",
        "-T",
        metavar="T,T,…",
    ),
    mode: str = typer.Option(
        "exact",
        "--mode",
        metavar="exact|float64|float32|log",
    ),
    lang: str | None = lang_option(),
    as_json: bool = typer.Option(
        False,
        "--json",
    ),
) -> None:
    """Tabulate h_T and the gradient T·w^(T−1)·h_0 over T, with the seed's errata."""
    from gradguard.lab import explosion_table, table_to_json

    language = command_lang(lang)
    rows = table_to_json(_guarded(lambda: explosion_table(w, h0, steps, mode=mode), language))
    if as_json:
        _emit_json(rows)
        return
    _emit_text("\n".join(table_lines(rows, w, h0, language)) + "\n")


def table_lines(rows: list[dict[str, Any]], w: object, h0: object, lang: str) -> list[str]:
    """The lines ``gradguard table`` prints: the rows, where floats overflow, the erratum."""
    from gradguard._catalog import load_catalog
    from gradguard.explain.table import (
        COMPACT,
        TABLE_HEADERS,
        overflow_inf,
        render_terminal,
        table_cells,
    )
    from gradguard.lab import overflow_horizon
    from gradguard.lab.numbers import sci

    cat = load_catalog(lang)
    columns = ["T", "h_T", "grad", "sci", "ratio", "float32"]
    seed = any(r["seed_claim"] is not None for r in rows)
    if seed:
        columns += ["seed", "off_by"]
    head = [cat[f"table_compact.{TABLE_HEADERS[c]}"] for c in columns]
    style = dataclasses.replace(COMPACT, lang=lang)  # "(6,021 অঙ্ক)" in the table's language
    lines = render_terminal(head, table_cells(rows, columns, style))
    lines.append("")
    inf = overflow_inf(w, h0)
    for dt in ("float64", "float32"):
        at = overflow_horizon(w, h0, dt)  # w and h0 were checked by the table: no error here
        if at is None:
            lines.append(cat.get("table_compact.no_horizon", dtype=dt))
        elif at < 10**15:
            lines.append(cat.get("table_compact.horizon", dtype=dt, T=f"{at:,}", inf=inf))
        else:  # w near ±1: a huge T
            lines.append(cat.get("table_compact.horizon_approx", dtype=dt, T=sci(at), inf=inf))
    if seed:
        lines.append(cat["table_compact.erratum"])
    return lines


@app.command()
def sgd(
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
    clip: str | None = typer.Option(
        None,
        "--clip",
        metavar="NUMBER",
    ),
    iters: str = typer.Option(
        "20",
        "--iters",
        "-n",
        metavar="N",
    ),
    loss: str = typer.Option(
        "target",
        "--loss",
        metavar="seed|target",
    ),
    target: str = typer.Option(
        "1",
        "--target",
        metavar="NUMBER",
    ),
    mode: str = typer.Option(
        "float64",
        "--mode",
        metavar="float64|float32|exact",
    ),
    compare: bool = typer.Option(
        False,
        "--compare",
    ),
    low_lr: str | None = typer.Option(
        None,
        "--low-lr",
        metavar="NUMBER",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
    ),
    lang: str | None = lang_option(),
) -> None:
    """Run gradient descent w ← w − η·g on the seed's system; show divergence and the remedies."""
    from gradguard.lab import compare_remedies, trajectory

    lang = command_lang(lang)
    if compare:
        runs = _guarded(
            lambda: compare_remedies(
                w, h0, steps, lr, iters, loss, target, clip or "5", low_lr, mode
            ),
            lang,
        )
    else:
        runs = {
            ("clip" if clip else "none"): _guarded(
                lambda: trajectory(w, h0, steps, lr, iters, loss, target, clip, mode), lang
            )
        }
    if as_json:
        _emit_json({name: run.to_json() for name, run in runs.items()})
        return
    from fractions import Fraction

    from gradguard._catalog import load_catalog
    from gradguard.explain import format_number
    from gradguard.explain.table import render_terminal
    from gradguard.lab import exact_to_json

    words = load_catalog(lang)
    out: list[str] = []
    for name, run in runs.items():
        js = run.to_json()
        p = js["params"]
        clipping = (
            "" if p["clip"] is None else words.get("sgd_run.clip", c=format_number(p["clip"]))
        )
        out.append(
            words.get(
                "sgd_run.heading",
                name=name,
                w0=format_number(p["w0"]),
                T=p["T"],
                eta=format_number(p["eta"]),
                loss=p["loss"],
                clip=clipping,
                mode=p["mode"],
            )
        )
        head = ["k", "w", words["sgd_run.col_loss"], "∂L/∂w", words["sgd_run.used"], "w_next"]
        body = []
        shown = js["steps"]
        idx = list(range(len(shown)))
        if len(idx) > 12:
            idx = [*idx[:6], -1, *idx[-4:]]
        for i in idx:
            if i == -1:
                body.append(["⋮", "", "", "", "", ""])
                continue
            s = shown[i]
            body.append(
                [
                    str(s["k"]),
                    _num(s["w"], format_number),
                    _num(s["loss"], format_number),
                    _num(s["grad"], format_number),
                    _num(s["grad_used"], format_number)
                    + (words["sgd_run.clipped"] if s["clipped"] else ""),
                    _num(s["w_next"], format_number),
                ]
            )
        out += render_terminal(head, body)  # aligned by display width, Bengali included
        status = words.get(f"sgd_run.{run.status}", k=run.first_nonfinite)
        # what clipping did, said only of a run that clips; "none of the updates" for zero
        result = (
            "sgd_run.result_unclipped"
            if p["clip"] is None
            else "sgd_run.result"
            if run.clipped_steps
            else "sgd_run.result_none"
        )
        out.append(
            words.get(
                result,
                status=status,
                w=_num(js["final_w"], format_number),
                clipped=run.clipped_steps,
                n=len(run.steps),
            )
        )
        first = _first_step_exact(run)
        if first is not None and 1 < abs(first.w_next) < abs(first.w):
            # The seed stops at "w_new = 1.2" as if the problem were solved. Decided and
            # written from the exact first update: a float run's 1.000000000001 prints "1".
            w1 = format_number(exact_to_json(abs(Fraction(first.w_next))))
            out.append(words.get("sgd_run.still", w=w1).replace("= ≈ ", "≈ "))
        out.append("")
    _emit_text("\n".join(out))


def _first_step_exact(run: Any) -> Any:
    """The run's first update computed exactly (its own step in exact mode), or None.

    None where there is none: no update, or exact values too long to compute (a float run at
    a very large ``T``); a float run's own first step may round ``|w|`` onto 1.
    """
    from gradguard.lab import trajectory

    p = run.params
    if p["mode"] == "exact":
        return run.steps[0] if run.steps else None
    y = 1 if p["y"] is None else p["y"]
    ex = trajectory(p["w0"], p["h0"], p["T"], p["eta"], 1, p["loss"], y, p["clip"], "exact")
    return ex.steps[0] if ex.steps else None


def _num(v: Any, fmt: Callable[..., str]) -> str:
    """A value of the SGD table, written as the lesson's tables write one: ``2,480``,
    ``-22.8``, ``1.8981 × 10^13`` (6 significant digits for a float)."""
    from gradguard.explain.table import rounded_cell

    if isinstance(v, float):
        return rounded_cell(v + 0.0, 6)  # + 0.0 shows -0.0 as 0
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return v
    text = fmt(v, group=True)
    if len(text) <= 24 or "/" not in v:
        return text
    return rounded_cell(float(_frac(v)), 6)


def _frac(v: str) -> Any:
    from fractions import Fraction

    return Fraction(v)


_FLOAT64_MAX = 1.7976931348623157e308


@app.command("clip")
def clip_cmd(
    g: str = typer.Option(
        "100",
        "--g",
        metavar="NUMBER[,NUMBER…]",
    ),
    c: str = typer.Option(
        "5",
        "--c",
        metavar="NUMBER",
    ),
    by: str = typer.Option(
        "norm",
        "--by",
        metavar="norm|value",
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
    ),
    lang: str | None = lang_option(),
) -> None:
    """Clip a gradient with the seed's rule (100 with c = 5 becomes 5), or by value."""
    from fractions import Fraction

    import numpy as np

    from gradguard._validate import check_threshold
    from gradguard.lab import clip_by_norm, clip_by_value, exact_to_json, to_exact
    from gradguard.lab.numbers import float_to_json

    lang = command_lang(lang)
    _guarded(lambda: check_choice(by, "by", ("norm", "value")), lang)
    parts = [s for s in g.split(",")]
    values = [_guarded(lambda s=s: to_exact(s, "g"), lang) for s in parts]  # type: ignore[misc]
    cx = _guarded(lambda: to_exact(c, "c"), lang, c="--c")
    _guarded(lambda: check_threshold(cx, "c", finite=True), lang, c="--c")
    result: dict[str, Any]
    if len(values) == 1:
        x, cf = Fraction(values[0]), Fraction(cx)
        out = clip_by_norm(x, cf) if by == "norm" else clip_by_value(x, cf)
        result = {
            "by": by,
            "g": exact_to_json(x),
            "c": exact_to_json(cx),
            "clipped": exact_to_json(out),
            "changed": out != x,
        }
        text = f"g = {g.strip()}, c = {c.strip()} → {exact_to_json(out)}"
    else:
        for s, v in zip(parts, values, strict=True):
            if (
                abs(Fraction(v)) > _FLOAT64_MAX
            ):  # the vector is clipped in float64, like a real gradient
                raise usage(InputError("g", s.strip(), "vector_range"), lang)
        vec = np.array([float(v) for v in values], dtype=np.float64)
        norm = float(np.linalg.norm(vec))
        arr = clip_by_norm(vec, float(cx)) if by == "norm" else clip_by_value(vec, float(cx))
        result = {
            "by": by,
            "g": [float_to_json(v) for v in vec.tolist()],
            "c": exact_to_json(cx),
            "norm": float_to_json(norm),
            "clipped": [float_to_json(v) for v in arr.tolist()],
            "clipped_norm": float_to_json(float(np.linalg.norm(arr))),
            "changed": bool(np.any(arr != vec)),
        }
        from gradguard._catalog import load_catalog

        after = f"{float(np.linalg.norm(arr)):.6g}"
        text = (
            f"‖g‖ = {norm:.6g}, c = {c.strip()} → "
            f"[{', '.join(f'{v:.6g}' for v in arr.tolist())}] "
            f"({load_catalog(lang).get('sgd_run.norm_after', norm=after)})"
        )
    if as_json:
        _emit_json(result)
    else:
        _emit_text(text + "\n")
