"""The explosion table: rows computed once, the same cells in the terminal, Markdown and HTML."""

from __future__ import annotations

import html
import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.explain import lesson, render_markdown, render_text
from gradguard.explain._table import COMPACT, PROSE, off_by_cell, table_cells
from gradguard.lab import explosion_table, table_to_json
from gradguard.report._html import _explosion

#: `gradguard table` on the seed's parameters, in English: its output must not change
#: unawares (its ratio and float32 cells group thousands, 2,048, as the lesson does).
SEED_TABLE_OUTPUT = Path(__file__).with_name("seed_table.txt")


def _terminal_rows(text: str, heading: str) -> list[list[str]]:
    """The table after ``heading``, cut into cells at the spans of its ``───`` rule."""
    lines = text[text.index(heading) :].splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("─") and "  " in line)
    spans = [m.span() for m in re.finditer("─+", lines[rule])]
    rows = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        rows.append([line[a:b].strip() for a, b in spans[:-1]] + [line[spans[-1][0] :].strip()])
    return rows


def _markdown_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [line[2:-2].split(" | ") for line in lines[1:]]  # lines[0] is the header


def _html_rows(text: str) -> list[list[str]]:
    body = text[text.index("<tbody>") : text.index("</tbody>")]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def _plain(cell: str) -> str:
    """A cell's number without grouping, the ratio's × and parentheses, or its scientific form."""
    return cell.split("  (")[0].replace(",", "").removeprefix("×").strip("()")


numbers = st.fractions(min_value=-3, max_value=3, max_denominator=12)


@settings(max_examples=25, deadline=None)
@given(
    w=st.one_of(st.just(Fraction(2)), numbers),
    h0=st.one_of(st.just(Fraction(1)), numbers),
    Ts=st.lists(st.integers(1, 160), min_size=1, max_size=5, unique=True),
)
def test_terminal_markdown_and_html_tables_hold_the_same_numbers(w, h0, Ts):
    d = lesson(w=w, h0=h0, T=3, table_T=Ts, abbreviate=40)
    text, md = render_text(d), render_markdown(d)
    page = _explosion(d, "en", lambda _kind: "")
    terminal = _terminal_rows(text, "Step 4")
    assert terminal == _markdown_rows(md)  # the same cells, only laid out differently
    # T, h_T, grad+sci, ratio [, seed, off_by] in the lesson; T, h_T, grad, seed, off_by,
    # ratio in the report
    html_rows = _html_rows(page)
    assert len(terminal) == len(html_rows) == len(Ts)
    seed = d["seed_system"]
    for T, lab_row, cells, row in zip(Ts, d["table"], terminal, html_rows, strict=True):
        assert cells[0] == row[0] == str(T)
        assert _plain(cells[1]) == _plain(row[1]) and _plain(cells[2]) == _plain(row[2])
        assert _plain(cells[3]) == _plain(row[5])
        if seed:
            assert cells[4:] == row[3:5]
        # the numbers are the lab's: exact ones written out in full
        grad = lab_row["grad"]
        shown = _plain(cells[2]).replace("−", "-")
        if len(grad) <= 40 and not shown.startswith("≈"):
            assert Fraction(shown) == Fraction(grad)
        elif len(grad) <= 40:  # a long fraction: a rounded decimal, marked
            assert ("/" in grad and " × 10^" not in shown) or "e" not in shown
            approx = float(shown[2:].replace(" × 10^", "e"))
            assert approx == pytest.approx(float(Fraction(grad)), rel=1e-5)
    # and `gradguard table` prints the same T, h_T, gradient and ratio as the lesson
    columns = ["T", "h_T", "grad", "ratio"]
    compact = table_cells(table_to_json(explosion_table(w, h0, Ts)), columns, COMPACT)
    prose = table_cells(d["table"], columns, PROSE)
    assert [[_plain(c) for c in r] for r in compact] == [[_plain(c) for c in r] for r in prose]


def test_a_negative_ratio_is_written_in_parentheses():
    # w = −1.5: the gradient changes sign from row to row; "×-15.19" reads as a subtraction
    d = lesson(w="-1.5", T=3, table_T=[5, 10])
    cells = table_cells(d["table"], ["ratio"], PROSE)
    assert cells[1] == ["×(-15.19)"]
    assert table_cells(d["table"], ["ratio"], COMPACT)[1] == ["-15.19"]  # under "× prev"
    assert "×(-15.19)" in render_text(d) and "×-15.19" not in render_text(d)


def test_off_by_is_written_in_one_place():
    # the seed's table: exact / claim = 80/80, 5120/1024, 10485760/10^6, 50·2^49/10^15
    rows = table_to_json(explosion_table(2, 1, [5, 10, 20, 50]))
    assert [off_by_cell(r["off_by"]) for r in rows] == ["—", "5×", "10.5×", "28.1×"]
    assert [r[-1] for r in table_cells(rows, ["off_by"], COMPACT)] == ["", "5×", "10.5×", "28.1×"]


def test_table_in_english_is_unchanged(capsys):
    assert main(["table", "--lang", "en"]) == 0
    assert capsys.readouterr().out == SEED_TABLE_OUTPUT.read_text(encoding="utf-8")


def test_table_in_bengali(capsys):
    assert main(["table", "--lang", "bn"]) == 0
    out = capsys.readouterr().out
    for needle in ("টিউটোরিয়ালে লেখা", "কত গুণ কম", "float64: T = 1,016 থেকে gradient inf হয়ে যায়।"):
        assert needle in out
    assert "28,147,497,671,065,600" in out and "28.1×" in out
    # no English words outside the seed's technical terms, the math and the command
    words = set(re.findall(r"[A-Za-z][A-Za-z0-9]+", out))
    allowed = {"dL", "dw", "float32", "float64", "gradient", "inf"}
    assert words <= allowed | {"gradguard", "explain", "lang", "bn"}, words


def test_explain_bengali_has_no_english_digit_count(capsys):
    assert main(["explain", "--lang", "bn", "--table-steps", "5,150"]) == 0
    out = capsys.readouterr().out
    assert "digits" not in out and "(46 অঙ্ক)" in out


def test_explain_starts_without_numpy_or_rich():
    import subprocess
    import sys

    code = (
        "import sys; from gradguard.cli import main; main(['explain']);"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'rich'}), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[]"


def test_bengali_report_counts_digits_in_bengali():
    from gradguard.report import build_report  # the dev extra installs matplotlib

    # at T = 150 the states h_t = 2^t run past 40 digits: written ≈ 1.427 × 10^45 (46 অঙ্ক)
    page = build_report(lang="bn", T=150, sgd={})
    assert "অঙ্ক)" in page and "digits" not in page


def test_gradguard_table_groups_digits_as_explain_does():
    """``gradguard table``'s ratio and float32 cells group thousands as the lesson does (2,048).

    The ratio cell is the lesson's without its × mark; no cell has four ungrouped digits
    before its point (a float's exponent aside), in English or Bengali.
    """
    import dataclasses

    rows = table_to_json(explosion_table(2, 1, (5, 10, 20, 50, 12, 13), mode="exact"))
    for lang in ("en", "bn"):
        compact = table_cells(rows, ["ratio", "float32"], dataclasses.replace(COMPACT, lang=lang))
        prose = table_cells(rows, ["ratio"], dataclasses.replace(PROSE, lang=lang))
        for (ratio, f32), (lesson_ratio,) in zip(compact, prose, strict=True):
            # the lesson's factor in parentheses: ×(-15.19), ×(2.684 × 10^9)
            bare = lesson_ratio.removeprefix(PROSE.ratio_mark)
            assert ratio == (bare[1:-1] if bare.startswith("(") else bare), (ratio, lesson_ratio)
            for cell in (ratio, f32):
                assert not re.search(r"(?<![\d.e+-])\d{4,}", cell), cell
    assert ["2,048", "1.049 × 10^7"] in compact  # rounded numbers: one notation everywhere
    assert ["2.684 × 10^9", "2.815 × 10^16"] in compact and not any("e+" in c for c in prose[-1])


@pytest.mark.parametrize("rows", [[], "table"], ids=["no rows", "rows"])
def test_an_unknown_column_is_an_input_error_in_every_language(rows):
    # Checked before any row is written (so an empty table is checked too), as a rule id
    # the catalogs tell, not English in code.
    rows = [] if rows == [] else table_to_json(explosion_table(2, 1, [1, 2]))
    with pytest.raises(InputError) as err:
        table_cells(rows, ["T", "nope"])
    assert err.value.rule_id == "choice" and err.value.value == "nope"
    assert str(err.value).startswith("columns must be one of T, h_T, grad, grad+sci,")
    assert "nope" in err.value.message("bn") and err.value.message("bn") != str(err.value)
