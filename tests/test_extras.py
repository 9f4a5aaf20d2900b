"""Without an extra, each command that needs it says which one to install, in one line (exit 2).

Each case runs the CLI in a fresh interpreter where ``import torch`` or ``import
matplotlib`` fails as it does when the extra is not installed (tests/clean_env.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLEAN_ENV = Path(__file__).resolve().parent / "clean_env.py"
TORCH = "needs the [torch] extra"
PLOT = "needs the [plot] extra"


def _run(tmp_path: Path, block: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    flags = [f"--block={m}" for m in block]
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, str(CLEAN_ENV), *flags, "--", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def _one_line(r: subprocess.CompletedProcess[str], *needles: str, word: str = "error") -> str:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(f"gradguard: {word}: ")
    for needle in needles:
        assert needle in line
    return line


@pytest.mark.parametrize(
    ("block", "args", "needles"),
    [
        (["torch"], ["remedies", "--quick"], ["`gradguard remedies`", TORCH, "'gradguard[torch]'"]),
        (["torch"], ["flow", "-T", "5"], ["`gradguard flow`", TORCH]),
        (["matplotlib"], ["flow", "-T", "5", "--plot", "f.png"], ["`gradguard flow --plot`", PLOT]),
        (
            ["matplotlib"],
            ["report", "-o", "r.html"],
            ["`gradguard report`", PLOT, "'gradguard[plot]'"],
        ),
    ],
)
def test_a_command_without_its_extra_names_the_extra(tmp_path, block, args, needles):
    r = _run(tmp_path, block, *args)
    line = _one_line(r, *needles)
    assert r.stderr.strip() == line  # nothing else: no half-run, no traceback
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "mpl") == []  # nothing written


def test_the_lab_needs_no_extra(tmp_path):
    r = _run(tmp_path, ["torch", "matplotlib"], "explain", "--lang", "bn", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["grad"] == "80"  # the seed's gradient, from the lab alone


def test_tour_without_torch_runs_what_it_can_and_names_what_it_skipped(tmp_path):
    r = _run(tmp_path, ["torch"], "tour", "--out", "t")
    line = _one_line(r, "skipped gradient flow and the remedies", TORCH)
    assert "the HTML report" not in line
    # said before it starts, on one line
    assert "note: the tour skips gradient flow and the remedies (" + TORCH in r.stderr
    assert "Step 1: Forward pass" in r.stdout and "28,147,497,671,065,600" in r.stdout
    report = (tmp_path / "t" / "report.html").read_text()
    assert "Gradient flow was not measured" in report
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["report.html"]


def test_tour_without_torch_and_matplotlib_still_tells_the_lesson(tmp_path):
    r = _run(tmp_path, ["torch", "matplotlib"], "tour", "--out", "t")
    line = _one_line(r, TORCH, PLOT, "the HTML report")
    assert line.count("pip install") == 2
    assert "Step 1: Forward pass" in r.stdout
    assert list((tmp_path / "t").iterdir()) == []


def test_the_library_says_which_extra_a_torch_name_needs(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import gradguard.experiments as e\n"
        "try:\n    e.gradient_flow\nexcept ModuleNotFoundError as x:\n    print(x.name)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "torch", r.stderr


def test_tour_in_bengali_names_what_it_skipped_in_bengali(tmp_path):
    r = _run(tmp_path, ["torch"], "tour", "--lang", "bn", "--out", "t")
    line = _one_line(
        r, "`gradguard tour`-এ gradient-এর প্রবাহ আর সমাধানগুলো", "[torch] extra লাগে", word="ভুল"
    )
    assert line.endswith("বাদ গেছে।") and "pip install 'gradguard[torch]'" in line
    assert "দ্রষ্টব্য: gradient-এর প্রবাহ আর সমাধানগুলো" in r.stderr
    assert (tmp_path / "t" / "report.html").is_file()


def test_report_in_bengali_names_the_missing_extra_in_bengali(tmp_path):
    r = _run(tmp_path, ["matplotlib"], "report", "--lang", "bn", "-o", "r.html")
    line = _one_line(r, "`gradguard report`-এর জন্য [plot] extra লাগে", word="ভুল")
    assert line.endswith("`pip install 'gradguard[plot]'`।")
    assert r.stderr.strip() == line
    assert "needs" not in line and "extra:" not in line  # no English sentence around it
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "mpl") == []


@pytest.mark.parametrize(
    ("module", "trainer", "extra"),
    [
        ("lightning", ("lightning", "lightning.pytorch", "pytorch_lightning"), "lightning"),
        ("transformers", ("transformers",), "transformers"),
        ("accelerate", ("accelerate", "accelerate.utils"), "accelerate"),
    ],
)
def test_an_integration_without_its_trainer_names_its_extra(monkeypatch, module, trainer, extra):
    # The trainer's import fails as it does when the extra is not installed.
    pytest.importorskip("torch")
    name = f"gradguard.integrations.{module}"
    for lang, needle in (("C.UTF-8", "needs the"), ("bn_BD.UTF-8", "extra লাগে")):
        monkeypatch.setenv("LC_ALL", lang)
        for m in trainer:
            monkeypatch.setitem(sys.modules, m, None)  # `import m` raises ImportError
        monkeypatch.delitem(sys.modules, name, raising=False)
        with pytest.raises(ImportError) as e:
            __import__(name)
        line = str(e.value)
        assert line.startswith(f"{name}: ") and needle in line, line
        assert f"pip install 'gradguard[{extra}]'" in line and "\n" not in line
