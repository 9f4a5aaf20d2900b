"""Teaching material: ``exercises`` — a worksheet and its answer key, generated from the lab.

$ gradguard exercises --lang bn --seed 7 --count 8 --out sheets/

Writes ``worksheet-LANG-SEED.md``/``.html`` and ``answers-LANG-SEED.md``/``.html`` into the
folder (each file atomically) and prints their paths. The same seed gives the same
problems in every language.
"""

from __future__ import annotations

from pathlib import Path

import typer

from gradguard.cli._app import app, cannot_write, command_lang, lang_option, usage
from gradguard.errors import InputError


@app.command()
def exercises(
    lang: str | None = lang_option(),
    seed: str = typer.Option(
        "1",
        "--seed",
        metavar="INTEGER",
    ),
    count: str = typer.Option(
        "8",
        "--count",
        metavar="K",
    ),
    out: Path = typer.Option(
        Path("gradguard-exercises"),
        "--out",
        "-o",
    ),
) -> None:
    """Write a worksheet and its answer key (Markdown and printable HTML), exact answers."""
    from gradguard._atomic import write_text_atomic
    from gradguard._validate import check_out_folder, check_whole
    from gradguard.explain import exercises, render_sheet
    from gradguard.explain.text import MAX_SEED

    language = command_lang(lang)
    try:
        problems = exercises(seed, count)
    except InputError as e:
        raise usage(e, language, count="--count") from None
    number = check_whole(seed, "seed", 0, MAX_SEED)  # as exercises() read it
    if out.exists() and not out.is_dir():
        raise usage(InputError("out", str(out), "folder"), language)
    try:
        check_out_folder(out, "out")
    except InputError as e:
        raise usage(e, language) from None
    from gradguard.report import render_sheet_html

    written = []
    for answers, stem in ((False, "worksheet"), (True, "answers")):
        name = f"{stem}-{language}-{number}"
        md = render_sheet(problems, language, seed=number, answers=answers)
        page = render_sheet_html(problems, language, seed=number, answers=answers)
        for path, text in ((out / f"{name}.md", md), (out / f"{name}.html", page)):
            try:
                written.append(write_text_atomic(path, text))
            except OSError as e:
                raise cannot_write(path, e, language) from None
    for path in written:
        print(path)
