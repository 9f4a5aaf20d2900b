"""Every test starts in an English locale, whatever the machine's ``LANG`` says.

Hypothesis runs without its per-example deadline: speed is measured by the benchmarks,
never asserted by a test, and a loaded 2-core machine makes any deadline flaky.

The commands take their language from ``--lang``, else from the locale
(``LC_ALL``, ``LC_MESSAGES``, ``LANG``): a test that means Bengali says so with
``--lang bn`` or sets the locale itself (subprocesses inherit what it sets).

The tests that train with torch (the folders in :data:`ONE_THREAD`) run on one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("gradguard", deadline=None)
settings.load_profile("gradguard")


@pytest.fixture(autouse=True)
def _english_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


#: Test folders whose tests train with torch.
ONE_THREAD = ("guard", "integrations", "benchmarks")
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _one_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    # The machine's cores are shared; one thread also makes float results repeatable.
    if Path(request.path).resolve().relative_to(TESTS).parts[0] not in ONE_THREAD:
        yield
        return
    import torch  # only here: the lab's tests never import it

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
