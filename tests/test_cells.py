"""Terminal widths: gradguard counts cells as glibc's wcwidth does, and so does rich in it.

The oracle is glibc's own ``wcwidth`` (``tests/terminal.py``), the count xterm, GNOME's
VTE and tmux lay text out by: a Bengali spacing vowel sign (া ি ো …) takes a cell there,
where rich and the ``wcwidth`` package give it none.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard._catalog import PARTS, languages, load_catalog
from gradguard._cells import cell_width, char_width, rich_counts_cells
from gradguard.cli import main
from gradguard.cli._help import localized_command

from .terminal import glibc_char_width, glibc_width

#: The Bengali block's assigned characters, the dandas, ZWNJ and ZWJ.
BENGALI = [
    chr(cp)
    for cp in [*range(0x0980, 0x0A00), 0x0964, 0x0965, 0x200C, 0x200D]
    if unicodedata.category(chr(cp)) != "Cn"
]

#: What else gradguard's text is made of: Latin, Greek, punctuation, super- and
#: subscripts, arrows, mathematical operators, box drawing.
OTHERS = [
    chr(cp)
    for lo, hi in [
        (0x20, 0x7E),
        (0xA0, 0x3FF),
        (0x2010, 0x2027),
        (0x2030, 0x23FF),
        (0x2500, 0x25FF),
    ]
    for cp in range(lo, hi + 1)
    if unicodedata.category(chr(cp)) not in ("Cn", "Cc")
]


def test_every_bengali_character_takes_the_cells_glibc_gives_it():
    assert len(BENGALI) > 90
    widths = {ch: char_width(ch) for ch in BENGALI}
    assert widths == {ch: glibc_char_width(ch) for ch in BENGALI}
    # the spacing vowel signs, anusvara and visarga take a cell; the other marks none
    assert widths["া"] == widths["ি"] == widths["ো"] == widths["ং"] == 1
    assert widths["ু"] == widths["্"] == widths["ঁ"] == widths["\u200d"] == 0


def test_the_other_characters_gradguard_prints_take_glibcs_cells():
    assert {ch: char_width(ch) for ch in OTHERS} == {ch: glibc_char_width(ch) for ch in OTHERS}


@settings(max_examples=300)
@given(st.text(st.sampled_from(BENGALI + list(" 0123456789.,:;()=-+×≈≤−·—wTh_")), max_size=40))
def test_a_bengali_string_takes_glibcs_cells(text):
    assert cell_width(text) == glibc_width(text)


def _catalog_lines() -> list[str]:
    lines = []
    for lang in languages():
        for part in PARTS:
            cat = load_catalog(lang, part)
            lines += [line for key in cat for line in cat[key].splitlines()]
    return lines


def test_every_catalog_line_takes_glibcs_cells():
    lines = _catalog_lines()
    assert len(lines) > 300
    assert [cell_width(x) for x in lines] == [glibc_width(x) for x in lines]
    # and Bengali is where rich's own count falls short of it
    assert cell_width("আগের সারির কত গুণ") == 16


def test_rich_counts_as_gradguard_does():
    rich_counts_cells()
    rich_counts_cells()  # twice: once is enough, twice changes nothing
    from rich.cells import cell_len

    lines = [*_catalog_lines(), "আগের সারির কত গুণ", "ক্ষা", "中文", "💥"]
    assert [cell_len(x) for x in lines] == [cell_width(x) for x in lines]


#: Bengali words, and words with marks only (a vowel sign after a space is still a cell)
WORDS = st.lists(
    st.sampled_from(["গ্রেডিয়েন্ট", "সারির", "কত", "গুণ", "বিস্ফোরণ", "ক্ষতি", "ওজন", "w", "T·w^(T−1)"]),
    min_size=1,
    max_size=30,
).map(" ".join)


@settings(max_examples=60)
@given(WORDS, st.integers(min_value=12, max_value=60))
def test_a_rich_panel_of_bengali_lines_up_in_a_glibc_terminal(text, width):
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    rich_counts_cells()
    out = io.StringIO()
    table = Table(box=None, show_header=False, expand=True)
    table.add_column("a", no_wrap=True, width=6)
    table.add_column("b", ratio=1)
    table.add_row("সংখ্যা", text)
    Console(file=out, width=width + 10, color_system=None).print(Panel(table, title="বিকল্প"))
    lines = out.getvalue().splitlines()
    assert {glibc_width(x) for x in lines} == {width + 10}, lines


def _boxes(text: str) -> list[str]:
    return [x for x in text.splitlines() if x and x[0] in "╭│╰"]


@pytest.mark.parametrize("columns", [80, 60])
def test_every_line_of_a_bengali_help_box_has_the_same_glibc_width(columns, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("LANG", "bn_BD.UTF-8")  # `gradguard --help` speaks the locale's language
    for command in [[], *([c] for c in sorted(localized_command("bn").commands))]:
        assert main([*command, "--help"]) == 0
        boxes = _boxes(capsys.readouterr().out)
        assert len(boxes) > 3 and re.search("[\u0980-\u09ff]", "".join(boxes)), command
        assert {glibc_width(x) for x in boxes} == {columns}, (command, boxes)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux draws the help in a terminal")
def test_a_bengali_help_box_fits_a_real_terminal(tmp_path):
    """tmux (which lays text out by wcwidth) shows the box 80 cells wide, no line wrapped."""
    socket = str(tmp_path / "tmux")
    tmux = ["tmux", "-S", socket, "-f", "/dev/null"]
    command = (
        f"COLUMNS=80 {sys.executable} -m gradguard table --help --lang bn;"
        f" tmux -S {socket} wait-for -S shown; sleep 60"
    )
    env = {**os.environ, "LANG": "C.UTF-8"}
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "80", "-y", "100", command], env=env, check=True
    )
    try:
        subprocess.run([*tmux, "wait-for", "shown"], check=True, timeout=60)
        shown = subprocess.run(
            [*tmux, "capture-pane", "-p"], capture_output=True, text=True, check=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
    boxes = _boxes(shown)
    assert len(boxes) > 10 and re.search("[\u0980-\u09ff]", "".join(boxes))
    assert {glibc_width(x) for x in boxes} == {80}, boxes
    assert boxes[0][0] == "╭" and boxes[-1][0] == "╰"
    assert all(x.endswith("│") for x in boxes[1:-1]), boxes
