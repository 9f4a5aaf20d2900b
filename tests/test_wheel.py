"""The built wheel, installed where the checkout is not on the path, has everything it needs.

Builds the wheel from the tracked files (as a clean clone has them), installs it into a
fresh virtual environment, and runs what a new user runs first: ``gradguard explain --lang
bn``, ``gradguard report --lang bn`` and the explorer (its page, with everything inline, and
one answer of the reference API).
The dependencies (numpy, typer, rich, matplotlib for the report) come from this test's own
environment through a path entry, not from an index: nothing is downloaded, and only the
wheel provides ``gradguard``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _tracked(dest: Path) -> None:
    """Copy the files git tracks (or, without git, pyproject, README and src) to ``dest``."""
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z", "--", "pyproject.toml", "README.md", "src"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        files = [ROOT / n.decode() for n in names if n]
    except (OSError, subprocess.CalledProcessError):
        files = [ROOT / "pyproject.toml", ROOT / "README.md", *(ROOT / "src").rglob("*")]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            (dest / f.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / f.relative_to(ROOT))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv = tmp / "src-copy", tmp / "dist", tmp / "venv"
    _tracked(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("gradguard-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # This environment's packages as a plain path entry: its .pth files (the editable
    # checkout's among them) are not processed there, so gradguard comes from the wheel only.
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    ours.append(sysconfig.get_paths()["purelib"])
    (purelib / "deps-from-test-env.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    subprocess.run(
        [*pip, "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["MPLCONFIGDIR"] = str(tmp / "mpl")
    work = tmp / "work"  # not the checkout: nothing of it on the path
    work.mkdir()
    return wheel, py, {**env, "PWD": str(work), "_WORK": str(work)}


def _gradguard(py: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = py.parent / ("gradguard.exe" if os.name == "nt" else "gradguard")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, cwd=env["_WORK"], timeout=120
    )


def test_the_wheel_carries_its_data_files(installed):
    wheel, py, env = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "gradguard/py.typed",
        "gradguard/explain/catalogs/en.toml",
        "gradguard/explain/catalogs/bn.toml",
        "gradguard/explain/catalogs/report/bn.toml",
        "gradguard/serve/static/index.html",
        "gradguard/report/fonts/NotoSansBengali-Regular.ttf",
        "gradguard/report/fonts/OFL.txt",
    ):
        assert needed in names
    # every data file of the source tree is in the wheel
    data = {
        p.relative_to(ROOT / "src").as_posix()
        for p in (ROOT / "src" / "gradguard").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert sorted(data - names) == []
    where = subprocess.run(
        [str(py), "-c", "import gradguard; print(gradguard.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["_WORK"],
        check=True,
    ).stdout
    assert str(py.parents[1]) in where and str(ROOT / "src") not in where


def test_explain_and_report_in_bengali_from_the_wheel(installed):
    _, py, env = installed
    r = _gradguard(py, env, "explain", "--lang", "bn")
    assert r.returncode == 0, r.stderr
    assert "Exploding Gradient Problem কী?" in r.stdout and "80" in r.stdout
    out = Path(env["_WORK"]) / "r.html"
    r = _gradguard(py, env, "report", "--lang", "bn", "-o", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert '<html lang="bn">' in page and "@font-face" in page and "<img" in page


def test_the_explorer_from_the_wheel(installed):
    _, py, env = installed
    exe = py.parent / ("gradguard.exe" if os.name == "nt" else "gradguard")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", "0", "--lang", "bn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=env["_WORK"],
    )
    try:
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
        assert m, proc.stderr.read() if proc.poll() is not None else "no URL"
        base = f"http://127.0.0.1:{m[1]}"
        with urllib.request.urlopen(base + "/?lang=bn", timeout=60) as resp:
            page = resp.read().decode()
        assert "<title>gradguard explorer" in page and '<html lang="bn">' in page
        with urllib.request.urlopen(base + "/api/lesson?w=2&T=10&lang=bn", timeout=60) as resp:
            data = json.loads(resp.read())
        assert data["ok"] and data["grad"] == "5,120"  # 10·2^9
        # the page carries its scripts, KaTeX and the Bengali font inline: the font subset
        # as WOFF where fontTools is installed (matplotlib brings it), else the whole TTF
        assert re.search(r"data:font/(woff|ttf);base64,", page), "no inline Bengali font"
        assert "katex" in page and len(page) > 300_000
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
