"""Exact input parsing, and the explosion table with the seed's errata."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradguard._validate import check_whole as check_steps
from gradguard._validate import check_whole_list as parse_steps_list
from gradguard.errors import InputError
from gradguard.lab import (
    LogValue,
    exact_to_json,
    explosion_table,
    table_to_json,
    to_exact,
)
from gradguard.lab._numbers import sci


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.9", Fraction(9, 10)),
        ("1e-3", Fraction(1, 1000)),
        ("3/7", Fraction(3, 7)),
        ("-2.5E+1", -25),
        (" 6/3 ", 2),
        (".5", Fraction(1, 2)),
        (0.1, Fraction(1, 10)),  # a float reads as the decimal the user typed
        (Decimal("1.20"), Fraction(6, 5)),
        (np.int64(7), 7),
        (np.float32(0.5), Fraction(1, 2)),
        (Fraction(4, 2), 2),
    ],
)
def test_to_exact(text, expected):
    got = to_exact(text)
    assert got == expected
    whole = Fraction(expected).denominator == 1
    assert type(got) is (int if whole else Fraction)  # whole values come back as int


@pytest.mark.parametrize(
    "bad",
    ["nan", "inf", "-inf", "abc", "", "1/0", "1e999999", "0x10", math.nan, math.inf, True, None],
)
def test_to_exact_refuses(bad):
    with pytest.raises(InputError, match=r"^w must be"):
        to_exact(bad)


@given(st.fractions())
def test_to_exact_round_trips_its_json(x):
    assert to_exact(exact_to_json(to_exact(x))) == x


def test_steps_parsing():
    assert check_steps("12") == 12 and check_steps(np.int32(3)) == 3
    assert parse_steps_list("5, 10,20") == [5, 10, 20]
    for bad in ["", "5,,10", "5,0", "a,b", "2.5"]:
        with pytest.raises(InputError, match="comma-separated list"):
            parse_steps_list(bad)


def test_sci_and_log_value():
    assert sci(28147497671065600) == "2.815e+16"
    assert sci(Fraction(-1, 3)) == "-3.333e-1"
    assert sci(2**100000).startswith("9.990e+30102")
    assert str(LogValue.of(80)) == "8.000e+1"
    assert LogValue.of(0).to_json() == {"sign": 0, "log10": "-inf"}
    assert exact_to_json(2**200, abbreviate=20) == "≈1.607e+60"


def test_seed_table_with_errata():
    rows = explosion_table(2, 1, [5, 10, 20, 50])
    # exact T·2^(T-1): 5·16 = 80, 10·512 = 5120, 20·524288 = 10485760, 50·2^49.
    assert [r.grad for r in rows] == [80, 5120, 10485760, 28147497671065600]
    assert [r.h_T for r in rows] == [32, 1024, 1048576, 2**50]
    assert [r.seed_claim for r in rows] == [80, 1024, 10**6, 10**15]
    # off by = exact / seed: 1, 5120/1024 = 5, 10485760/10^6 ≈ 10.486, 2.81e16/1e15 ≈ 28.147
    assert [r.off_by for r in rows] == [1.0, 5.0, 10.486, 28.147]
    # the seed's values are ≈ h_T = 2^T, within 5 % (1024 = 2^10; 2^20 ≈ 1.05e6; 2^50 ≈ 1.13e15)
    for r in rows[1:]:
        assert 0.85 < r.seed_claim / r.h_T <= 1.0
    # growth vs previous row: (T/T')·2^(T-T'): 10/5·32 = 64, 20/10·1024 = 2048
    assert rows[1].ratio == 64.0 and rows[2].ratio == 2048.0
    js = table_to_json(rows)
    assert {
        "T",
        "h_T",
        "grad",
        "sci",
        "ratio",
        "float64",
        "float32",
        "seed_claim",
        "off_by",
    } <= set(js[0])
    assert js[3]["grad"] == "28147497671065600"


def test_no_seed_columns_for_other_parameters():
    rows = explosion_table("0.9", 1, [5, 10])
    assert all(r.seed_claim is None and r.off_by is None for r in rows)
    assert rows[0].grad == Fraction(5 * 9**4, 10**4)
    assert table_to_json(rows)[0]["grad"] == "6561/2000"


def test_table_modes():
    f64 = explosion_table(2, 1, [1015, 1016], mode="float64")
    assert math.isfinite(f64[0].grad) and math.isinf(f64[1].grad)
    assert table_to_json(f64)[1]["grad"] == "inf"
    f32 = explosion_table(2, 1, [122, 123], mode="float32")
    assert math.isfinite(f32[0].grad) and math.isinf(f32[1].grad)
    log = explosion_table(2, 1, [10**12], mode="log")
    assert table_to_json(log)[0]["grad"]["sign"] == 1
    assert log[0].log10 == pytest.approx(12 + (10**12 - 1) * math.log10(2))
    with pytest.raises(InputError, match="--mode log"):
        explosion_table(2, 1, [10**8])  # 30 million digits: refused before computing


@given(st.integers(min_value=-(2**60000), max_value=2**60000))
def test_int_to_str_matches_decimal(n):
    from gradguard.lab import int_to_str

    assert int_to_str(n) == str(Decimal(n))


def test_int_to_str_beyond_pythons_4300_digit_limit():
    from gradguard.lab import int_to_str

    n = 7**200_000  # 169,020 digits: str(n) would raise ValueError
    text = int_to_str(n)
    assert text == str(Decimal(n)) and len(text) == 169_020
    # An exact JSON value past the limit, as the lesson and table emit it.
    assert exact_to_json(Fraction(1, 10**5000)) == "1/1" + "0" * 5000
