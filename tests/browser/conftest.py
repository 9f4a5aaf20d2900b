"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright for Python.

`make test` installs Chromium with apt-get where it runs as root; `playwright install`
is never used. The tests skip, saying why, only when Chromium or Playwright is absent.
Screenshots go to the test's tmp dir and, when GRADGUARD_ARTIFACTS is set, to
that folder too.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("GRADGUARD_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"Chromium not found at {CHROMIUM} (`make test` installs it where apt-get runs as root)"
        )
    # The [dev] extra installs playwright (the Python driver only; the browser is Debian's).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.errors = []  # console errors and uncaught exceptions, for the tests to assert on
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    try:
        yield pg
    finally:
        ctx.close()


@pytest.fixture()
def screenshot(tmp_path: Path):
    def take(pg: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        art = os.environ.get("GRADGUARD_ARTIFACTS")
        if art:
            Path(art).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(art) / path.name)
        return path

    return take


@pytest.fixture(scope="module")
def explorer_url() -> Iterator[str]:
    from gradguard.serve import make_server

    server = make_server(0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="session")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The explorer built as one file (``gradguard.serve.write_page``), for ``file://``."""
    from gradguard.serve import write_page

    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    write_page(path, "en")
    return path
