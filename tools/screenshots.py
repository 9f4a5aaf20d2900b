"""Take the docs' screenshots of gradguard's Bengali pages: the explorer and the report.

    $ .venv/bin/python tools/screenshots.py    # writes docs/img/explorer-bn.png,
                                               # explorer-phone-bn.png, report-bn.png

Drives Debian's Chromium (``/usr/bin/chromium``, or ``GRADGUARD_CHROMIUM``) with Playwright,
as the browser tests do. The explorer on a desktop is shown at w = 2, T = 10 (gradient 5,120)
after switching it to Bengali with its language buttons (its first screen; the glyph check
covers the whole page); on a phone it opens in Bengali
(``?lang=bn``) and the backward pass is stepped three times, as the layout test does; the
report is the Bengali lesson's first screen (``gradguard report --lang bn``). Each picture
is checked for glyph coverage first (``tests/glyphs.py``): a screenshot with an empty box is
not written. ``docs/img/explorer-desktop-en.png`` (English) is the browser layout test's
(``GRADGUARD_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
#: The viewports of the browser tests (tests/browser/test_explorer_browser.py).
PHONE = {"width": 390, "height": 844}


def main() -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.glyphs import page_problems

    from gradguard.report import write_report
    from gradguard.serve import make_server

    server = make_server(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    chromium = os.environ.get("GRADGUARD_CHROMIUM", "/usr/bin/chromium")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url)
        page.wait_for_function("document.getElementById('grad').textContent === '80'")
        page.click(".lang[data-lang=bn]")
        page.wait_for_function("document.documentElement.lang === 'bn'")
        page.fill("#T-num", "10")
        page.wait_for_function("document.getElementById('grad').textContent === '5,120'")
        page.evaluate("document.activeElement.blur()")
        shoot(page, page_problems, IMG / "explorer-bn.png", clip=(0, 0, 1200, 1300))

        phone = browser.new_page(viewport=PHONE)
        phone.goto(url + "?lang=bn")
        phone.wait_for_function("document.getElementById('grad').textContent === '80'")
        for _ in range(3):
            phone.click("#bp-step")
        phone.evaluate("document.activeElement.blur()")
        shoot(phone, page_problems, IMG / "explorer-phone-bn.png", full_page=True)

        report = write_report(Path(tmp) / "report-bn.html", None, lang="bn")
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        shoot(page, page_problems, IMG / "report-bn.png", clip=(0, 0, 1200, 1400))
        browser.close()
    server.shutdown()


def shoot(page, problems, path: Path, *, full_page=False, clip=None) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    found = problems(page)
    if found:
        raise SystemExit(f"{path.name}: characters without a glyph: {found}")
    kwargs = {"full_page": full_page or clip is not None}
    if clip:
        kwargs["clip"] = dict(zip(("x", "y", "width", "height"), clip, strict=True))
    page.screenshot(path=str(path), **kwargs)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
