"""The tutorial notebook (docs/tutorial/seed-lesson.ipynb) runs and shows the seed's numbers.

It is executed in a fresh ``python3`` kernel (nbclient + ipykernel), as a reader would run
it; the checks read the printed outputs, so a lab change that alters what the lesson shows
fails here, and so does an output stored in the notebook that a fresh run no longer prints.
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
    for cell in nb.cells:  # run afresh, from nothing
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()
    return nb


def _merged(outputs: list) -> list:
    """A cell's outputs with consecutive chunks of one stream joined.

    The kernel flushes a stream on a timer, so a busy machine can split one ``print`` into
    two outputs ("first T with inf: float64" + " 1016 …"): the same text, differently cut.
    """
    merged: list = []
    for out in outputs:
        if (
            out.output_type == "stream"
            and merged
            and merged[-1].output_type == "stream"
            and merged[-1].name == out.name
        ):
            merged[-1] = nbformat.from_dict({**merged[-1], "text": merged[-1].text + out.text})
        else:
            merged.append(out)
    return merged


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in _merged(cell.get("outputs", [])):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "text/plain" in out.get("data", {}):
                parts.append(out.data["text/plain"])
    return "\n".join(parts)


def _outputs(nb: nbformat.NotebookNode) -> list[list[tuple[str, object]]]:
    """Each code cell's outputs as comparable values: text as it is, images as pixels."""
    import io

    import numpy as np
    from matplotlib.image import imread

    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outs: list[tuple[str, object]] = []
        for out in _merged(cell.get("outputs", [])):
            if out.output_type == "stream":
                outs.append((out.name, out.text))
            elif out.output_type == "error":
                outs.append(("error", out.ename))
            else:
                data = out.get("data", {})
                if "image/png" in data:  # the picture, not its PNG encoding's bytes
                    png = base64.b64decode(data["image/png"])
                    pixels = np.asarray(imread(io.BytesIO(png)) * 255, dtype=np.uint8)
                    outs.append(("image", (pixels.shape, pixels.tobytes())))
                else:
                    outs.append(("data", data.get("text/plain")))
        cells.append(outs)
    return cells


def test_the_stored_outputs_equal_a_fresh_run(executed: nbformat.NotebookNode) -> None:
    # The notebook is committed with its outputs (a reader sees them before running it);
    # they must be what it prints now. After changing a code cell, refresh them with
    # `python tools/notebook_outputs.py` and commit the notebook.
    stored = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(stored)
    assert sum(bool(c.get("outputs")) for c in stored.cells) >= 10  # committed with them
    fresh, kept = _outputs(executed), _outputs(stored)
    stale = [i for i, (a, b) in enumerate(zip(fresh, kept, strict=True)) if a != b]
    assert stale == [], f"stale outputs in code cells {stale}: run tools/notebook_outputs.py"


def test_it_runs_and_shows_the_seed_numbers(executed: nbformat.NotebookNode) -> None:
    text = _text(executed)
    assert "states: [1, 2, 4, 8, 16, 32]" in text  # forward pass, L = 32
    assert "∂L/∂w = 16 + 16 + 16 + 16 + 16 = 80" in text  # the BPTT terms
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


def test_truncated_bptt_section(executed: nbformat.NotebookNode) -> None:
    # Full BPTT against BPTT truncated at k = 10 on the adding task (T = 50): each line says
    # whether the test loss beats the memoryless baseline (1/6) by the runner's own rule
    # (below 90% of it) — checked here from the printed numbers.
    lines = [line for line in _text(executed).splitlines() if line.startswith("k = ")]
    assert [line.split(":")[0] for line in lines] == ["k = 50", "k = 10"]
    for line in lines:
        mse = float(line.split("test MSE ")[1].split(";")[0])
        beats = "it beats" in line
        assert beats == (mse < 0.9 / 6) and line.endswith("baseline 0.167")


def test_its_sentences_at_the_edges_are_true(executed: nbformat.NotebookNode) -> None:
    # One cell prints the lesson's claims at the seed and at every edge (h0 = 0, w = 0,
    # T = 1, |w| = 1, w < 0, a tie for the peak, a sign change, an overshoot …: the fixed
    # points of tests/claims_oracle.py, every one), in English and Bengali: each block is
    # checked against the oracle.
    import re
    from fractions import Fraction

    from .claims_oracle import FIXED_POINTS, check_text, oracle

    (cell,) = [c for c in executed.cells if c.source.startswith("points = [")]
    out = "".join(o.text for o in cell.outputs if o.output_type == "stream")
    blocks = re.split(r"^== ", out, flags=re.MULTILINE)[1:]
    checked, points = 0, []
    for block in blocks:
        head, _, body = block.partition("\n")
        m = re.fullmatch(r"w = (\S+), h_0 = (\S+), T = (\d+), η = (\S+)", head)
        assert m is not None, head
        w, h0, eta = Fraction(m[1]), Fraction(m[2]), Fraction(m[4])
        points.append((w, h0, int(m[3]), eta, Fraction(5)))
        expected = oracle(w, h0, int(m[3]), eta, Fraction(5), (5, 10, 20, 50))
        for lang in ("en", "bn"):
            checked += len(list(check_text(body, expected, lang)))
    assert sorted(points) == sorted(FIXED_POINTS)
    assert checked >= len(FIXED_POINTS) * 2 * 6
