"""Vendor KaTeX from the npm registry into ``src/gradguard/serve/static/vendor/katex``.

Usage: ``python tools/vendor_katex.py [VERSION]`` (default: the version in
``VERSION`` there). Runs ``npm pack katex@VERSION`` in a temporary folder and
copies the files the pages use: ``katex.min.js``, ``katex.min.css``,
``contrib/auto-render.min.js``, the WOFF2 fonts (every browser that runs
``katex.min.js`` reads WOFF2; the CSS's ``.woff``/``.ttf`` fallbacks are never
fetched) and the licence. Nothing is fetched at run time: the explorer, the
report and the docs site read this copy.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEST = Path(__file__).resolve().parents[1] / "src/gradguard/serve/static/vendor/katex"
FILES = ("dist/katex.min.js", "dist/katex.min.css", "dist/contrib/auto-render.min.js", "LICENSE")


def vendor(version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"katex@{version}"], cwd=tmp, check=True)
        (tgz,) = Path(tmp).glob("katex-*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        pkg = Path(tmp) / "package"
        if DEST.exists():
            shutil.rmtree(DEST)
        (DEST / "fonts").mkdir(parents=True)
        for name in FILES:
            out = DEST / name.removeprefix("dist/")
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(pkg / name, out)
        for font in sorted((pkg / "dist/fonts").glob("*.woff2")):
            shutil.copy(font, DEST / "fonts" / font.name)
    (DEST / "VERSION").write_text(version + "\n", encoding="utf-8")


if __name__ == "__main__":
    current = DEST / "VERSION"
    default = current.read_text().strip() if current.exists() else "0.19.1"
    vendor(sys.argv[1] if len(sys.argv) > 1 else default)
