"""glibc's ``wcwidth`` — the width xterm, GNOME's VTE and tmux give a character — as an oracle.

:func:`glibc_width` asks the C library itself (through ctypes, in the C.UTF-8 locale),
so a test of :func:`gradguard._cells.cell_width` compares it with what a terminal on
this machine counts, not with a second copy of its rules. Off glibc (macOS, Windows,
musl) the tests that use it are skipped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import locale
import platform
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest


@cache
def _libc() -> Any:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the terminal-width oracle is glibc's wcwidth")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.wcwidth.argtypes = [ctypes.c_wchar]
    libc.wcwidth.restype = ctypes.c_int
    return libc


@contextmanager
def _utf8_ctype() -> Any:
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def glibc_char_width(ch: str) -> int:
    """glibc's ``wcwidth(ch)``: 0, 1 or 2 cells; -1 for a character it does not print."""
    with _utf8_ctype():
        return int(_libc().wcwidth(ch))


def glibc_width(text: str) -> int:
    """The cells ``text`` takes in a glibc terminal: the sum of its characters' ``wcwidth``.

    A character glibc does not print (-1: a control character) counts as none, as rich
    and gradguard count it.
    """
    libc = _libc()
    with _utf8_ctype():
        return sum(max(0, libc.wcwidth(c)) for c in text)
