"""Every test starts in an English locale, whatever the machine's ``LANG`` says.

The commands take their language from ``--lang``, else from the locale
(``LC_ALL``, ``LC_MESSAGES``, ``LANG``): a test that means Bengali says so with
``--lang bn`` or sets the locale itself (subprocesses inherit what it sets).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _english_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
