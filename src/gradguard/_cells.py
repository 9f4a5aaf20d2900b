"""How many terminal cells a string takes — the one width every padded line is laid out by.

A terminal draws text on a grid of cells, and asks the C library how many cells each
character takes (``wcwidth``). glibc's answer, which xterm, GNOME's VTE (GNOME Terminal,
Tilix, …) and tmux follow, is one cell per character except:

- no cell for a mark drawn on its base character (Unicode categories Mn and Me: Bengali's
  ু ূ ৃ, the virama ্, the candrabindu ঁ) and for format characters (Cf: ZWJ, ZWNJ) —
  the soft hyphen U+00AD excepted, which takes one;
- no cell for the Hangul Jamo vowels and final consonants (U+1160–U+11FF), which join the
  syllable before them;
- two cells for wide East Asian characters (East Asian Width W and F);
- and **one cell for a spacing mark** (category Mc) — the Bengali vowel signs া ি ী ে ৈ ো ৌ,
  the anusvara ং and the visarga ঃ.

The last rule is where Python's rich (``rich.cells.cell_len``) counts differently: it gives
a spacing mark no cell (as the ``wcwidth`` package's ``wcwidth()`` does, character by
character), so "আগের সারির কত গুণ" is 13 cells to it and 16 on the screen, and a box drawn
around it by its count is three cells short. (That package's ``wcswidth()`` measures whole
grapheme clusters instead: "স্ত্রী" is 2 cells to it and 4 to glibc.)
:func:`cell_width` counts as glibc does (``tests/test_cells.py`` holds it to glibc's own
``wcwidth`` over the Bengali block and every Bengali string gradguard prints), and
:func:`rich_counts_cells` makes rich lay out gradguard's help screens, tables and progress
bars by the same count.

A terminal with its own width tables may still disagree (some draw a Bengali syllable as
one cluster); on those the columns of a Bengali table can be off by a cell or two, never
the numbers in them.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["cell_width", "char_width", "rich_counts_cells"]

_NO_CELL = frozenset({"Mn", "Me", "Cf", "Cc"})


@lru_cache(maxsize=4096)
def char_width(ch: str) -> int:
    """Return how many cells the one character ``ch`` takes in a terminal (0, 1 or 2).

    Example:
      >>> [char_width(c) for c in "কা্ 中"]
      [1, 1, 0, 1, 2]
    """
    if ch == "\u00ad":  # the soft hyphen: a format character glibc shows as a hyphen
        return 1
    if unicodedata.category(ch) in _NO_CELL or "\u1160" <= ch <= "\u11ff":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """Return how many terminal cells ``text`` takes, as glibc's ``wcswidth`` counts them.

    Example:
      >>> cell_width("আগের সারির কত গুণ"), len("আগের সারির কত গুণ")
      (16, 17)
    """
    if text.isascii():
        return sum(1 for c in text if " " <= c <= "~")
    return sum(char_width(c) for c in text)


def rich_counts_cells() -> None:
    """Make rich measure text with :func:`cell_width`, for the rest of this process.

    rich gives a spacing mark no cell, so a Bengali line in one of its boxes or tables
    runs past the border on a terminal. rich has no setting for it: its measuring
    functions in ``rich.cells`` (and the one ``rich.segment`` holds) are replaced, and its
    caches of old measurements cleared. The command line calls this before it draws
    with rich; ``tests/test_cells.py`` checks a Bengali help screen line by line.
    """
    import rich.cells
    import rich.segment

    if getattr(rich.cells.get_character_cell_size, "__module__", "") == __name__:
        return
    replacements: dict[str, Any] = {
        "get_character_cell_size": _rich_char_size,
        "_cell_len": _rich_cell_len,  # rich ≥ 14: what cell_len and cached_cell_len call
        "split_graphemes": _split_graphemes,  # rich ≥ 14: what wraps and crops
    }
    for module in (rich.cells, rich.segment):
        for name, function in replacements.items():
            if hasattr(module, name):
                setattr(module, name, function)
    rich.cells.cached_cell_len.cache_clear()


def _rich_char_size(character: str, unicode_version: str = "auto") -> int:
    return char_width(character)


def _rich_cell_len(text: str, unicode_version: str = "auto") -> int:
    return cell_width(text)


def _split_graphemes(
    text: str, unicode_version: str = "auto"
) -> tuple[list[tuple[int, int, int]], int]:
    """rich's spans (start, end, cells): a character and the marks after it are one span."""
    spans: list[tuple[int, int, int]] = []
    total = 0
    for i, ch in enumerate(text):
        width = char_width(ch)
        total += width
        if spans and unicodedata.category(ch) in ("Mn", "Mc", "Me", "Cf"):
            start, _, cells = spans[-1]
            spans[-1] = (start, i + 1, cells + width)
        else:
            spans.append((i, i + 1, width))
    return spans, total
