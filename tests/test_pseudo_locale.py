"""Adding a language is adding catalog files: every command and page, in a pseudo-locale.

The pseudo-locale ``en-XA`` is built at test time from the English catalogs (every word's
letters accented, placeholders kept: ``tests/pseudo_locale.py``) into a folder named by
``GRADGUARD_CATALOGS`` — no file of the package changes. Then every command of the typer
application (the list comes from the app, not from this file) runs in it, with its help,
and so do the explorer's page and answers: a missing key fails, and so does any English
word of the catalogs that reaches the user (it came from code, not from a catalog).
Training commands run a handful of steps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gradguard._catalog import languages, load_catalog
from gradguard.cli import main
from gradguard.cli._help import localized_command

from .pseudo_locale import accent, english_vocabulary, english_words, write_pseudo_locale

#: Each command's arguments for a run of a few seconds ({tmp}: a folder for its files,
#: {log}: a step log from a short `remedies` run). A command added to the app needs a row.
ARGS: dict[str, list[str]] = {
    "explain": ["--format", "markdown"],
    "table": ["--steps", "5,10,1016", "--mode", "float64"],
    "sgd": ["--compare", "--iters", "4"],
    "clip": ["--g", "3,4", "--c", "1"],
    "flow": ["--model", "lstm", "--init", "default", "-T", "6", "--hidden", "4", "--rows", "3",
             "--plot", "{tmp}/flow.png"],
    "remedies": ["--experiments", "divergence", "--configs", "none", "--train-steps", "3",
                 "--out", "{tmp}/remedies", "--jobs", "1", "--no-progress"],
    "replay": ["{log}"],
    "report": ["--from", "{log}", "--out", "{tmp}/report.html"],
    "serve": ["--port", "0"],  # stopped at once (Ctrl-C); its page and answers: below
    "tour": ["--out", "{tmp}/tour", "--jobs", "1"],
    "exercises": ["--out", "{tmp}/sheets", "--count", "8"],
    "doctor": ["{log}", "--plot", "{tmp}/doctor.png"],
}  # fmt: skip
#: Names the user typed or the data holds, shown as they are in every language: the
#: lab's modes and losses, the models, inits, tasks, configurations, rules, the record's
#: kinds and actions, the math's functions and values, and the program's name.
MATH = {"max", "min", "inf", "nan", "log", "exp", "sign", "median", "mean", "gradguard"}


def _names() -> frozenset[str]:
    from gradguard.experiments import _names
    from gradguard.lab import _recurrence, _sgd
    from gradguard.records import ACTIONS, KINDS
    from gradguard.rules import RULES

    found = {*MATH, *_recurrence.MODES, *_sgd.LOSSES, *RULES, *KINDS, *ACTIONS}
    found |= {load_catalog(lang)["meta.name"] for lang in languages()}  # each in its own words
    found |= set(localized_command().commands)
    for group in ("CELLS", "INITS", "TASKS", "EXPERIMENTS", "DIVERGENCE_CONFIGS"):
        found |= set(getattr(_names, group))
    found |= set(_names.LONG_RANGE_CONFIGS)
    return frozenset(w.lower() for n in found for w in re.split(r"[-_ ]", n) if w)


@pytest.fixture(scope="module")
def pseudo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogs")
    lang = write_pseudo_locale(folder)  # before gradguard looks there: it reads a folder once
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADGUARD_CATALOGS", str(folder))
        mp.setenv("COLUMNS", "200")
        yield lang


@pytest.fixture(scope="module")
def log(pseudo, tmp_path_factory):
    """A step log of a few real training steps (the remedies' runner, in the pseudo-locale)."""
    out = tmp_path_factory.mktemp("remedies")
    args = ["remedies", "--experiments", "divergence", "--configs", "clip-norm",
            "--train-steps", "3", "--out", str(out), "--jobs", "1", "--lang", pseudo]  # fmt: skip
    assert main(args) == 0
    return sorted((out / "runs").glob("*.jsonl"))[0]


@pytest.fixture(scope="module")
def vocabulary():
    return english_vocabulary()


def _leaks(text: str, vocabulary: frozenset[str], typed: str = "") -> set[str]:
    return english_words(
        text, vocabulary, _names() | {w.lower() for w in re.findall(r"\w+", typed)}
    )


def test_the_pseudo_locale_is_a_language_and_the_scan_finds_english(pseudo, vocabulary):
    assert pseudo in languages() and load_catalog(pseudo)["meta.script"] == "Latn"
    assert (
        accent("The gradient {T:,} `x` --steps h_T, SGD w.")
        == "Ţĥé ĝŕàðîéñţ {T:,} `x` --steps h_T, SGD w."
    )
    assert _leaks("Ţĥé ĝŕàðîéñţ, w = 2, lstm, --steps, runs/a.jsonl", vocabulary) == set()
    assert _leaks("Ţĥé gradient explodes", vocabulary) == {"gradient", "explodes"}


def test_every_command_has_its_arguments_here():
    assert set(localized_command().commands) == set(ARGS), (
        "a command was added or removed: give ARGS its arguments for a run of a few seconds"
    )


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("command", sorted(ARGS))
def test_every_command_speaks_the_pseudo_locale(
    command, pseudo, log, vocabulary, tmp_path, capsys, monkeypatch
):
    code, shown = _run([command, "--help", "--lang", pseudo], capsys)
    params = localized_command().commands[command].params
    defaults = " ".join(f"{p.name} {p.default}" for p in params)  # values, shown as typed
    assert code == 0 and _leaks(shown, vocabulary, defaults) == set(), shown
    assert accent("Usage") in shown
    args = ARGS[command]
    if command == "tour":
        _small_tour(monkeypatch, log)
    if command == "serve":  # Ctrl-C as soon as it serves: its two lines, and no page served
        from http.server import ThreadingHTTPServer

        def interrupted(server: object, poll_interval: float = 0.5) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", interrupted)
    argv = [a.format(tmp=tmp_path, log=log) for a in args]
    code, shown = _run([command, *argv, "--lang", pseudo], capsys)
    assert code == 0, shown
    assert _leaks(shown, vocabulary, " ".join(argv)) == set(), shown
    for written in sorted(tmp_path.rglob("*")):  # what it wrote for people to read
        if written.suffix in (".md", ".html"):
            text = _visible(written.read_text(encoding="utf-8"))
            assert _leaks(text, vocabulary) == set(), written


def _visible(page: str) -> str:
    """The text a reader sees in a page (and the figures' alt texts)."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    alts = " ".join(re.findall(r'alt="([^"]*)"', page))
    page = re.sub(r"\$\$.*?\$\$|\\\(.*?\\\)", " ", page, flags=re.S)  # formulas (LaTeX)
    # inline elements run on in the text (w<sub>new</sub> reads w_new with its marks); others part
    page = re.sub(r"</?(span|sub|sup|code|a|b|i|em|strong)\b[^>]*>", "", page)
    return re.sub(r"<[^>]+>", " ", page) + " " + alts


def _small_tour(monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
    """The tour's stages on a small scale: two flow curves, the remedies' folder of `log`."""
    from gradguard.cli import _report

    monkeypatch.setattr(_report, "FLOW_T", 6)
    monkeypatch.setattr(_report, "FLOW_CONFIGS", _report.FLOW_CONFIGS[:2])
    monkeypatch.setattr(_report, "_stage_remedies", lambda out, on_progress, jobs: log.parents[1])


def test_the_explorer_speaks_the_pseudo_locale(pseudo, vocabulary):
    from gradguard.serve._server import explorer_state
    from gradguard.serve._static import build_page, page_data

    page = build_page(pseudo)
    assert f'lang="{pseudo}"' in page and "Ƥšéûðö" in page  # it opens in it; the menu names it
    assert _leaks(_visible(page), vocabulary) == set()
    data = page_data()  # what the page's scripts show, per language
    assert pseudo in data["langs"]
    shown = [*data["catalogs"][pseudo].values(), *data["lesson"][pseudo].values()]
    shown += [m.replace("\0", " ") for m in data["errors"][pseudo].values()]
    assert _leaks(" ".join(shown), vocabulary) == set()
    for params in ({"w": "0.5", "T": "3"}, {"w": "-1.5", "h0": "0"}, {"w": "2", "T": "60"}):
        state = explorer_state({"lang": pseudo, **params})  # the server's answers
        words = [v for v in _strings(state) if isinstance(v, str)]
        assert _leaks(" ".join(words), vocabulary) == set(), state


def _strings(node: object) -> list[object]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node]


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "--steps", "0"],
        ["table", "--mode", "half"],
        ["nosuch"],
        ["table", "--bogus"],
        ["report", "--plot-format"],
        ["replay", "missing.jsonl"],
        ["remedies", "--train-steps", "x"],
    ],
)
def test_errors_speak_the_pseudo_locale(args, pseudo, vocabulary, capsys):
    code, shown = _run([*args, "--lang", pseudo], capsys)
    assert code == 2 and shown.count("\n") == 1, shown
    assert _leaks(shown, vocabulary, " ".join(args)) == set(), shown
    assert json.dumps(shown)  # one line of text
