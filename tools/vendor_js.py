"""Vendor the explorer's JavaScript libraries from the npm registry into ``serve/static/vendor``.

Usage: ``python tools/vendor_js.py [katex|ml-matrix]`` (default: both), at the
versions in each folder's ``VERSION`` file (edit it to move to another version).
Runs ``npm pack NAME@VERSION`` in a temporary folder and copies the files the
pages use, with the package's licence:

* ``katex``: ``katex.min.js``, ``katex.min.css``, ``contrib/auto-render.min.js``
  and the WOFF2 fonts (every browser that runs ``katex.min.js`` reads WOFF2; the
  CSS's ``.woff``/``.ttf`` fallbacks are never fetched) — math in the explorer,
  the report and the docs site;
* ``ml-matrix``: ``matrix.umd.js`` — the explorer's matrix mode (eigenvalues,
  singular values, QR).

Nothing is fetched at run time: the pages read these copies.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "src/gradguard/serve/static/vendor"
#: npm package → (files copied from the package, font folder or None).
PACKAGES = {
    "katex": (
        ("dist/katex.min.js", "dist/katex.min.css", "dist/contrib/auto-render.min.js", "LICENSE"),
        "dist/fonts",
    ),
    "ml-matrix": (("matrix.umd.js", "LICENSE"), None),
}


def vendor(name: str, version: str) -> None:
    files, fonts = PACKAGES[name]
    dest = VENDOR / name
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{name}@{version}"], cwd=tmp, check=True)
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        pkg = Path(tmp) / "package"
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for f in files:
            out = dest / f.removeprefix("dist/")
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(pkg / f, out)
        if fonts is not None:
            (dest / "fonts").mkdir()
            for font in sorted((pkg / fonts).glob("*.woff2")):
                shutil.copy(font, dest / "fonts" / font.name)
    (dest / "VERSION").write_text(version + "\n", encoding="utf-8")


if __name__ == "__main__":
    defaults = {"katex": "0.19.1", "ml-matrix": "6.15.1"}
    for name in sys.argv[1:] or list(PACKAGES):
        current = VENDOR / name / "VERSION"
        vendor(name, current.read_text().strip() if current.exists() else defaults[name])
