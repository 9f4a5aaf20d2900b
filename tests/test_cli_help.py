"""`--help` in every language: each command's and option's text comes from the cli catalog."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest

from gradguard._catalog import SOURCE, languages, load_catalog
from gradguard.cli import main
from gradguard.cli._help import fill_fields, help_keys, localized_command

from .terminal import glibc_char_width, glibc_width

CLI = Path(__file__).resolve().parents[1] / "src" / "gradguard" / "cli"


def test_no_help_text_is_written_in_code():
    """Options, arguments and the app are declared bare; their help is catalog data."""
    found = []
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and any(k.arg == "help" for k in node.keywords):
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


@pytest.mark.parametrize("lang", languages())
def test_every_command_and_option_has_its_help(lang):
    group = localized_command(lang)
    words = load_catalog(lang, "cli")
    keys = help_keys(group)
    assert keys <= words.keys(), sorted(keys - words.keys())
    # every section is a command (or the app, or typer's words): no stale help
    assert {k.partition(".")[0] for k in words} <= {"chrome", "app", *group.commands}
    for name, cmd in group.commands.items():
        assert _squash(cmd.help) == _squash(fill_fields(words[f"{name}._help"]))
        for param in cmd.params:
            assert param.help, (name, param.name)


def _squash(text: str) -> str:
    """Text without rich's boxes and wrapping, to find a catalog sentence in it."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


@pytest.mark.parametrize("lang", languages())
@pytest.mark.parametrize("command", sorted(localized_command().commands))
def test_help_screens_speak_the_language(lang, command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option: sentences stay whole
    assert main([command, "--help", "--lang", lang]) == 0
    shown = _squash(capsys.readouterr().out)
    words = load_catalog(lang, "cli")
    summary = words[f"{command}._help"].strip().splitlines()[0]
    assert _squash(summary) in shown
    assert _squash(words["chrome.help_option"]) in shown
    assert words["chrome.usage"] in shown
    if any(p.name == "lang" for p in localized_command(lang).commands[command].params):
        assert "|".join(languages()) in shown  # --lang's values: the catalogs there are
        assert f"{', '.join(languages())} " in shown
    # the placeholders in the language's words (a flag takes no value: no "<bool>")
    assert words["chrome.options_metavar"] in shown and "<bool>" not in shown
    # no slot of a template ("{log}"), no Python type's name ("<str>") and no LaTeX braces
    # (h_{t-1}: the terminal writes h_(t−1)) in the screen
    assert re.findall(r"\{\w+\}|<(?:str|int|float|bool)>|_\{", shown) == [], command
    source = load_catalog(SOURCE, "cli")
    placeholders = ("options_metavar", "value_number", "value_digits", "type_int", "type_float")
    for key in (*placeholders, "type_str", "type_path"):
        if words[f"chrome.{key}"] != source[f"chrome.{key}"]:
            assert source[f"chrome.{key}"] not in shown, (command, key)
    # every option's help whole, as written: none of its words read as rich markup and
    # dropped (a "[plot]" or "[default: …]" in the text is a tag to rich)
    fields = {"{languages}": ", ".join(languages()), "{source}": SOURCE}
    for param in localized_command(lang).commands[command].params:
        key = f"{command}.{param.name}"
        if key in words and not getattr(param, "hidden", False):
            text = words[key]
            for field, value in fields.items():
                text = text.replace(field, value)
            assert _squash(text) in shown, (command, param.name)
            if param.default is not None and param.show_default is not False:  # typer's own
                assert words["chrome.default"].split("{")[0] not in text, (command, param.name)


@pytest.mark.parametrize("lang", languages())
@pytest.mark.parametrize("command", sorted(localized_command().commands))
def test_every_option_help_is_shown_whole(lang, command, capsys, monkeypatch):
    """A help text is plain text: nothing in brackets ([plot], [default: …]) is read as markup."""
    monkeypatch.setenv("COLUMNS", "400")
    assert main([command, "--help", "--lang", lang]) == 0
    shown = _squash(capsys.readouterr().out)
    words = load_catalog(lang, "cli")
    fields = {"{languages}": ", ".join(languages()), "{source}": SOURCE}
    for param in localized_command(lang).commands[command].params:
        key = f"{command}.{param.name}"
        if key in words and not getattr(param, "hidden", False):
            text = words[key]
            for field, value in fields.items():
                text = text.replace(field, value)
            assert _squash(text) in shown, key


def test_the_root_help_in_the_locale_language(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    for lang in languages():
        monkeypatch.setenv("LC_ALL", f"{lang}_XX.UTF-8" if lang != SOURCE else "C.UTF-8")
        assert main(["--help"]) == 0
        first = load_catalog(lang, "cli")["app.help"].strip().splitlines()[0]
        assert _squash(first) in _squash(capsys.readouterr().out)


# -- wrapping: every line break is one a greedy wrap at that width would make -------------


def _cells(out: str) -> tuple[list[list[str]], list[tuple[list[str], int]]]:
    """Split a help screen into its prose paragraphs and its table cells' lines.

    Prose: the lines before the first panel, paragraph by paragraph (the usage line
    apart). Cells: in each panel, the help column's lines of one option, with the column's
    width as far as the screen shows it (its widest line).
    """
    lines = out.splitlines()
    first_panel = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    prose: list[list[str]] = [[]]
    for line in lines[:first_panel]:
        if not line.strip():
            prose.append([])
        elif not prose[-1] and not any(p for p in prose[:-1]) and "[OPTIONS]" in line:
            continue  # the usage line
        else:
            prose[-1].append(line.strip())
    cells: list[tuple[list[str], int]] = []
    rows: list[str] = []
    for line in lines[first_panel:]:
        if line.startswith("│"):
            rows.append(line[2:].rstrip()[:-1].rstrip())  # the border and its padding
        elif rows:  # a panel ended: find its help column, then its cells
            panel = _panel_cells(rows)
            room = max((glibc_width(line) for cell in panel for line in cell), default=0)
            cells += [(cell, room) for cell in panel]
            rows = []
    return [p for p in prose if p], cells


def _by_cell(row: str) -> list[str]:
    """``row`` as one string per terminal cell (a mark of zero width joins its letter)."""
    out: list[str] = []
    for ch in row:
        n = max(0, glibc_char_width(ch))
        if n == 0 and out:
            out[-1] += ch
        else:
            out += [ch] + [""] * (n - 1)
    return out


def _panel_cells(rows: list[str]) -> list[list[str]]:
    """The help text of each option of a panel, line by line, in either of its layouts:
    a table (names, type, help side by side) or, on a narrow screen, each option's help
    under its names, indented by 4."""
    import re

    grid = [_by_cell(r) for r in rows]
    if any(g[:3] == ["*", " ", " "] for g in grid):  # the column of required marks
        grid = [g[3:] for g in grid]
    lines = ["".join(g) for g in grid]
    indents = [next(i for i, c in enumerate(g) if c != " ") for g in grid if g and g[0] == " "]
    cells: list[list[str]] = []
    if indents and min(indents) == 4:  # stacked: names, then the help indented
        for line in lines:
            if line.startswith("    "):
                cells[-1].append(line.strip())
            else:
                cells.append([])
        return cells
    if indents:
        col = min(indents)
    else:  # one line per option: the help starts after the last gap of 2 spaces
        width = max(len(g) for g in grid)
        grid = [g + [" "] * (width - len(g)) for g in grid]
        col = max(
            c
            for c in range(2, width)
            if all(g[c - 2] == g[c - 1] == " " for g in grid) and any(g[c] != " " for g in grid)
        )
    # Option rows: names and type, a flag's names alone (a negative form's line has only a
    # name, --no-…); commands: a name.
    heads = [re.split(r"\s{2,}", "".join(g[:col]).strip()) for g in grid]
    segments = 2 if any(len(h) >= 2 for h in heads) else 1
    for g, head in zip(grid, heads, strict=True):
        tail = "".join(g[col:]).strip()
        flag = head[0].startswith("-") and not head[0].startswith("--no-")
        if (head != [""] and (len(head) >= segments or flag)) or not cells:
            cells.append([tail] if tail else [])  # names and type: a new option
        elif tail:  # a continuation, or a negative form's line
            cells[-1].append(tail)
    return cells


def _greedy_breaks(lines: list[str], room: int) -> list[tuple[str, str]]:
    """Line pairs whose break a greedy wrap would not make: the next word fitted."""
    bad = []
    for a, b in itertools.pairwise(lines):
        word = b.split()[0]
        if word.startswith("["):
            continue  # typer puts [default: …] and [required] in a column of their own
        if glibc_width(a) + 1 + glibc_width(word) <= room:
            bad.append((a, b))
    return bad


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("lang", languages())
def test_help_wraps_cleanly(lang, width, capsys, monkeypatch):
    """At 60, 80 and 120 columns no line breaks mid-sentence where the next word would fit,
    and no word is cut in two."""

    monkeypatch.setenv("COLUMNS", str(width))
    group = localized_command(lang)
    texts = [group.help, *(p.help for p in group.params)]
    for cmd in group.commands.values():
        texts += [cmd.help, *(p.help for p in cmd.params)]
    words = load_catalog(lang, "cli")
    texts += [words[k] for k in words if k.startswith("chrome.")]
    for cmd in group.commands.values():  # what typer shows as defaults: values, flags' names
        texts += [str(p.default) for p in cmd.params]
        texts += [o.lstrip("-") for p in cmd.params for o in [*p.opts, *p.secondary_opts]]
    # what rich shows for an escaped "\\[dask]" is "[dask]"
    texts = [t.replace("\\[", "[") if t else t for t in texts]
    source_words = {w for text in texts if text for w in _squash(text).split()}
    problems = []
    for command in ["", *sorted(group.commands)]:
        args = [command, "--help", "--lang", lang] if command else ["--help"]
        monkeypatch.setenv("LC_ALL", f"{lang}_XX.UTF-8" if lang != SOURCE else "C.UTF-8")
        assert main(args) == 0
        out = capsys.readouterr().out
        prose, cells = _cells(out)
        for paragraph in prose:
            problems += [(command, "prose", a, b) for a, b in _greedy_breaks(paragraph, width - 2)]
        for cell, room in cells:
            problems += [(command, "cell", a, b) for a, b in _greedy_breaks(cell, room)]
            for line in cell:
                for w in line.split():
                    if not {w, w.strip("[]")} & source_words and not w.strip("[]:").isalnum():
                        problems.append((command, "cut word", w, line))
    assert problems == [], "\n".join(map(repr, problems))


# -- placeholders: one word per kind of value, the same for an option in every command ------


def _placeholders(lang: str) -> dict[str, dict[str, str]]:
    """``{option: {command: placeholder shown}}`` from every command's help screen."""
    import contextlib
    import io

    shown: dict[str, dict[str, str]] = {}
    for command, cmd in sorted(localized_command(lang).commands.items()):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main([command, "--help", "--lang", lang]) == 0
        screen = out.getvalue()
        for param in cmd.params:
            if param.param_type_name != "option" or param.is_flag or param.hidden:
                continue
            long = next(o for o in param.opts if o.startswith("--"))
            m = re.search(rf"│\s+{re.escape(long)}(?: -\w)?\s+(\S+)\s", screen)
            assert m, (command, long)
            shown.setdefault(long, {})[command] = m[1]
    return shown


@pytest.mark.parametrize("lang", languages())
def test_an_option_has_one_placeholder_in_every_command(lang, monkeypatch):
    """``--w`` reads ``<number>`` in ``explain`` and in ``report``; no ``<int range>``."""
    monkeypatch.setenv("COLUMNS", "400")
    words = load_catalog(lang, "cli")
    shown = _placeholders(lang)
    number = words["chrome.value_number"]
    assert number == words["chrome.type_float"]  # NUMBER in code is a float's word on screen
    # the lesson's parameters are numbers wherever they are options (read exactly, as text)
    for option in ("--w", "--h0", "--lr", "--clip"):
        assert set(shown[option].values()) == {number}, (option, shown[option])
    assert shown["--port"] == {"serve": words["chrome.type_int"]}
    for option, by_command in shown.items():
        # flow's --h0 is a float option and explain's a NUMBER: the same word on screen (a
        # list of them, table's --steps T,T,…, is written with that word; a choice lists its
        # own values)
        kinds = {p.split(",")[0] for p in by_command.values() if "|" not in p}
        assert len(kinds) <= 1, (option, by_command)
    every = {p for by_command in shown.values() for p in by_command.values()}
    assert [p for p in every if "range" in p or p in ("<int>", "<float>", "<str>")] == []
