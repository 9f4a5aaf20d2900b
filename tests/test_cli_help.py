"""`--help` in every language: each command's and option's text comes from the cli catalog."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from gradguard._catalog import SOURCE, languages, load_catalog
from gradguard.cli import main
from gradguard.cli._help import help_keys, localized_command

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
        assert cmd.help == load_catalog(lang, "cli")[f"{name}._help"].strip()
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


def test_the_root_help_in_the_locale_language(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    for lang in languages():
        monkeypatch.setenv("LC_ALL", f"{lang}_XX.UTF-8" if lang != SOURCE else "C.UTF-8")
        assert main(["--help"]) == 0
        first = load_catalog(lang, "cli")["app.help"].strip().splitlines()[0]
        assert _squash(first) in _squash(capsys.readouterr().out)
