"""The tutorial notebook (docs/tutorial/seed-lesson.ipynb) runs and shows the seed's numbers.

It is executed in a fresh ``python3`` kernel (nbclient + ipykernel), as a reader would run
it; the checks read the printed outputs, so a lab change that alters what the lesson shows
fails here.
"""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial" / "seed-lesson.ipynb"


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "text/plain" in out.get("data", {}):
                parts.append(out.data["text/plain"])
    return "\n".join(parts)


def test_the_notebook_is_committed_without_outputs() -> None:
    # Outputs are produced by running it (here and in the docs build), never stored stale.
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_it_runs_and_shows_the_seed_numbers(executed: nbformat.NotebookNode) -> None:
    text = _text(executed)
    assert "states: [1, 2, 4, 8, 16, 32]" in text  # forward pass, L = 32
    assert "dL/dw = 16 + 16 + 16 + 16 + 16 = 80" in text  # the BPTT terms
    assert "True 290" in text  # BPTT = closed form on the whole grid
    assert "T = 50: 28147497671065600" in text  # 50·2^49
    assert "28,147,497,671,065,600    ≈ 10^15  28.1×" in text  # the seed's erratum
    assert "float64 1016 · float32 123" in text  # overflow horizons
    assert "w_new = 6/5 = 1.2" in text and "with g = 10^6: -9998" in text
    assert "clip 100 at c = 5: 5" in text and "clipped update: 1.95" in text


def test_it_warns_about_nothing(executed: nbformat.NotebookNode) -> None:
    # e.g. matplotlib's "Glyph … missing from font" for a Bengali label drawn as empty boxes
    stderr = [
        out.text
        for cell in executed.cells
        for out in cell.get("outputs", [])
        if out.output_type == "stream" and out.name == "stderr"
    ]
    assert stderr == []


def test_it_draws_its_plots(executed: nbformat.NotebookNode) -> None:
    pngs = [
        base64.b64decode(out.data["image/png"])
        for cell in executed.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(pngs) == 3  # the explosion plot (en, bn) and the SGD remedies
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 10_000 for p in pngs)


def test_both_languages(executed: nbformat.NotebookNode) -> None:
    markdown = "\n".join(c.source for c in executed.cells if c.cell_type == "markdown")
    bengali = sum("\u0980" <= ch <= "\u09ff" for ch in markdown)
    assert bengali > 1000  # every section has its Bengali paragraph
    output = _text(executed)
    assert sum("\u0980" <= ch <= "\u09ff" for ch in output) > 1000  # the Bengali lesson printed
