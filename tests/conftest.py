"""Every test starts in an English locale, whatever the machine's ``LANG`` says.

Hypothesis runs without its per-example deadline: speed is measured by the benchmarks,
never asserted by a test, and a loaded 2-core machine makes any deadline flaky.

The commands take their language from ``--lang``, else from the locale
(``LC_ALL``, ``LC_MESSAGES``, ``LANG``): a test that means Bengali says so with
``--lang bn`` or sets the locale itself (subprocesses inherit what it sets).
"""

from __future__ import annotations

import pytest
from hypothesis import settings

settings.register_profile("gradguard", deadline=None)
settings.load_profile("gradguard")


@pytest.fixture(autouse=True)
def _english_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
