"""gradguard._validate: one meaning per kind of value; every refusal a rule id, in any language."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard._catalog import languages
from gradguard._validate import (
    check_bool,
    check_fraction,
    check_number,
    check_out_file,
    check_out_folder,
    check_suffix,
    check_threshold,
    check_whole,
)
from gradguard.errors import InputError, rule_ids

NOT_NUMBERS = [True, False, np.bool_(True), "1.0", "2", None, [1.0], 1j, object()]


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.fractions())
def test_a_threshold_is_a_number_above_zero(x):
    ok = not (isinstance(x, float) and math.isnan(x)) and x > 0  # inf: never clip
    if ok:
        assert check_threshold(x) == x
    else:
        with pytest.raises(InputError) as e:
            check_threshold(x, "max_norm")
        assert e.value.rule_id == "threshold_or_inf" and e.value.argument == "max_norm"
    finite = ok and not (isinstance(x, float) and math.isinf(x))
    if finite:
        assert check_threshold(x, finite=True) == x
    else:
        with pytest.raises(InputError) as e:
            check_threshold(x, "c", finite=True)
        assert e.value.rule_id == "threshold"


@pytest.mark.parametrize("bad", [*NOT_NUMBERS, 0, -1, 0.0, -0.0, math.nan, -math.inf])
def test_a_threshold_refuses(bad):
    with pytest.raises(
        InputError,
        match=r"^max_norm must be a number > 0 \(the clipping threshold; inf: never clip\)",
    ):
        check_threshold(bad, "max_norm")
    with pytest.raises(
        InputError, match=r"^c must be a finite number > 0 \(the clipping threshold\)"
    ):
        check_threshold(bad, "c", finite=True)


def test_inf_is_a_threshold_that_never_clips_except_in_the_lesson():
    assert check_threshold(math.inf) == math.inf
    with pytest.raises(InputError, match=r"^c must be a finite number > 0"):
        check_threshold(math.inf, "c", finite=True)
    assert (
        check_threshold(np.float32(2.5)) == 2.5 and type(check_threshold(np.float32(2.5))) is float
    )
    assert check_threshold(Fraction(1, 3)) == Fraction(1, 3)  # exact stays exact (the lab)
    assert check_threshold(10**400) == 10**400


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_fraction_lies_strictly_between_zero_and_one(x):
    if 0 < x < 1:
        assert check_fraction(x, "alpha") == x
    else:
        with pytest.raises(InputError, match=r"^alpha must be a number in \(0, 1\), got "):
            check_fraction(x, "alpha")
    if 0 <= x < 1:
        assert check_fraction(x, "p", closed_low=True) == x
    else:
        with pytest.raises(InputError, match=r"in \[0, 1\)"):
            check_fraction(x, "p", closed_low=True)


@pytest.mark.parametrize(
    ("bounds", "bad", "says"),
    [
        ({}, math.nan, "x must be a finite number, got nan."),
        ({}, math.inf, "x must be a finite number, got inf."),
        ({"allow_inf": True}, math.nan, "x must be a number, got nan."),
        ({"above": 0}, 0, "x must be a finite number > 0, got 0."),
        ({"minimum": 0}, -1, "x must be a finite number ≥ 0, got -1."),
        ({"minimum": 0, "allow_inf": True}, -1, "x must be a number ≥ 0, got -1."),
        ({"minimum": 1}, 0.5, "x must be a number ≥ 1, got 0.5."),
        ({"above": 1}, 1, "x must be a number > 1, got 1."),
        ({"maximum": 2}, 3, "x must be a number ≤ 2, got 3."),
        ({"below": 2}, 2, "x must be a number < 2, got 2."),
        ({"above": 0, "maximum": 100}, 0, "x must be a number in (0, 100], got 0."),
        ({"minimum": 0.5, "below": 1}, 1, "x must be a number in [0.5, 1), got 1."),
        ({}, "3", "x must be a finite number, got '3'."),
        ({}, True, "x must be a finite number, got True."),
    ],
)
def test_a_number_refused_says_every_bound(bounds, bad, says):
    with pytest.raises(InputError) as e:
        check_number(bad, "x", **bounds)
    assert str(e.value) == says


def test_numbers_accepted():
    assert check_number(np.int64(3), "x") == 3.0 and check_number(Fraction(1, 4), "x") == 0.25
    assert check_number(-math.inf, "x", allow_inf=True) == -math.inf
    assert check_number(10**300, "x", above=0) == 1e300
    with pytest.raises(InputError, match="within float64's range"):
        check_number(10**400, "x")
    with pytest.raises(TypeError):
        check_number(1, "x", minimum=0, above=0)  # a caller's mistake


def test_flags_are_true_or_false():
    assert check_bool(True, "foreach") is True and check_bool(np.bool_(False), "f") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(InputError, match=r"^foreach must be True or False, got "):
            check_bool(bad, "foreach")


def test_paths(tmp_path):
    assert check_suffix(tmp_path / "a.PNG", "plot", (".png", ".svg")).name == "a.PNG"
    with pytest.raises(
        InputError, match=r"plot must be a path ending in \.png, \.svg, got '.*a\.pdf'"
    ):
        check_suffix(tmp_path / "a.pdf", "plot", (".png", ".svg"))
    assert check_out_file(tmp_path / "r.html") == tmp_path / "r.html"
    with pytest.raises(InputError, match="must be a file path, not a folder"):
        check_out_file(tmp_path)
    with pytest.raises(InputError, match=r"must be a file in an existing folder, got .* Create '"):
        check_out_file(tmp_path / "no" / "r.html")
    made = check_out_folder(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []  # the probe is gone
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError) as e:
        check_out_folder(tmp_path / "f" / "sub")
    assert e.value.rule_id == "folder_creatable" and e.value.hint_id == "os_error"
    with pytest.raises(InputError, match="must be an existing folder"):
        check_out_folder(tmp_path / "nope", create=False)


@pytest.mark.parametrize("lang", languages())
def test_every_refusal_here_is_a_rule_id_told_in_every_language(lang, tmp_path):
    calls = [
        lambda: check_threshold(0),
        lambda: check_threshold(0, finite=True),
        lambda: check_fraction(2, "alpha"),
        lambda: check_number(-1, "x", minimum=0),
        lambda: check_number("x", "x", allow_inf=True, minimum=0),
        lambda: check_bool(1, "b"),
        lambda: check_suffix("a.pdf", "p", (".png",)),
        lambda: check_out_file(tmp_path),
    ]
    for call in calls:
        with pytest.raises(InputError) as e:
            call()
        assert e.value.rule_id in rule_ids()
        assert e.value.message(lang)


# -- one meaning of "threshold" -------------------------------------------------------

#: Values a user might pass as a clipping threshold: numbers of every kind, the edges
#: (0, negatives, NaN, ±inf) and what is not a number (True, "1.0", None).
_THRESHOLD_VALUES = st.one_of(
    st.integers(-3, 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(max_denominator=50),
    st.floats(width=32, allow_nan=True, allow_infinity=True).map(np.float32),
    st.integers(-3, 3).map(np.int64),
    st.sampled_from([True, False, np.bool_(True), "1.0", "inf", "0", None, 0, 0.0, -0.0]),
)


def _is_threshold(value: object) -> bool:
    """The rule, written from its words, not from check_threshold: a real number > 0
    (inf included: it never clips); never a bool, a string or None."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return False
    x = float(value)  # type: ignore[arg-type]
    return not math.isnan(x) and x > 0


def _threshold_entry_points() -> dict[str, object]:
    """Every place a user hands gradguard a clipping threshold, as ``value → call``."""
    from dataclasses import replace

    import torch

    from gradguard.experiments import build_grid
    from gradguard.integrations._common import check_clipper
    from gradguard.lab import clip_by_norm, clip_by_value, clip_coefficient
    from gradguard.rules import (
        AdaGCRule,
        AGCRule,
        EmaZScoreRule,
        FixedThreshold,
        UpdateRMSRule,
        ValueRule,
    )
    from gradguard.torch import (
        AGC,
        NormClipper,
        SpikeGuard,
        UpdateClipper,
        ValueClipper,
        ZClip,
        clip_coef,
        clip_grad_norm_,
        clip_grad_value_,
        clip_grads_with_norm_,
    )
    from gradguard.torch.spam import MomentumReset

    spec = build_grid("quick", experiments=["divergence"], configs=["clip-norm"])[0]
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    return {
        "lab.clip_by_norm": lambda v: clip_by_norm(1.0, v),
        "lab.clip_by_value": lambda v: clip_by_value(1.0, v),
        "lab.clip_coefficient": lambda v: clip_coefficient(1.0, v),
        "rules.FixedThreshold": FixedThreshold,
        "rules.ValueRule": ValueRule,
        "rules.AGCRule": lambda v: AGCRule(clipping=v),
        "rules.EmaZScoreRule": lambda v: EmaZScoreRule(max_norm=v),
        "rules.AdaGCRule": lambda v: AdaGCRule(max_norm=v),
        "rules.UpdateRMSRule": UpdateRMSRule,
        "torch.clip_grad_norm_": lambda v: clip_grad_norm_([p], v),
        "torch.clip_grads_with_norm_": lambda v: clip_grads_with_norm_([p], v, torch.tensor(1.0)),
        "torch.clip_grad_value_": lambda v: clip_grad_value_([p], v),
        "torch.clip_coef": lambda v: clip_coef(1.0, v),
        "torch.clip_coef(tensor)": lambda v: clip_coef(torch.tensor([1.0, 3.0]), v),
        "torch.NormClipper": NormClipper,
        "torch.ValueClipper": ValueClipper,
        "torch.ZClip": lambda v: ZClip(max_grad_norm=v),
        "torch.AGC": lambda v: AGC(clipping=v),
        "torch.UpdateClipper": UpdateClipper,
        "torch.spam.MomentumReset": lambda v: MomentumReset(opt, "spiked", threshold=v),
        "torch.SpikeGuard": lambda v: SpikeGuard(model, opt, clipper=v).close(),
        "experiments.RunSpec": lambda v: replace(spec, threshold=v),
        "integrations.callback": check_clipper,
    }


@settings(max_examples=60, deadline=None)
@given(value=_THRESHOLD_VALUES)
def test_every_entry_point_reads_a_threshold_the_same_way(value):
    pytest.importorskip("torch")
    for where, call in _threshold_entry_points().items():
        if value is None and where in (
            "rules.EmaZScoreRule",
            "torch.ZClip",
            "integrations.callback",
            "torch.SpikeGuard",
        ):
            continue  # None there means "no cap" / "no clipper", not a threshold
        try:
            call(value)
            accepted = True
        except InputError as e:
            accepted = False
            # a number out of range breaks the threshold rule; a non-number given as a
            # guard's clipper is told what a clipper may be
            assert e.rule_id in ("threshold_or_inf", "clipper"), (where, value, e)
        assert accepted == _is_threshold(value), (where, value)


# -- one meaning of "eps" --------------------------------------------------------------


def _eps_entry_points() -> dict[str, tuple[object, bool]]:
    """Every place a user hands gradguard an ε, as ``value → call`` with whether 0 is
    allowed: a floor (AGC's on ‖W_i‖) or a divisor's guard (ZClip's on σ) must be > 0;
    a number added to a norm (AdaGC's, clip_coef's) may be 0."""
    from gradguard.rules import AGCRule, EmaZScoreRule
    from gradguard.torch import AGC, AdaGC, clip_coef

    return {
        "rules.AGCRule": (lambda v: AGCRule(eps=v), False),
        "rules.EmaZScoreRule": (lambda v: EmaZScoreRule(eps=v), False),
        "torch.AGC": (lambda v: AGC(eps=v), False),
        "torch.AdaGC": (lambda v: AdaGC(eps=v), True),
        "torch.clip_coef": (lambda v: clip_coef(2.0, 1.0, eps=v), True),
    }


@settings(max_examples=60, deadline=None)
@given(value=_THRESHOLD_VALUES)
def test_every_eps_is_a_finite_number(value):
    pytest.importorskip("torch")
    for where, (call, zero_ok) in _eps_entry_points().items():
        try:
            call(value)
            accepted = True
        except InputError as e:
            accepted = False
            assert e.argument == "eps", (where, value, e)
            want = "nonnegative_finite" if zero_ok else "positive_finite"
            assert e.rule_id == want, (where, value, e)
        # The rule from its words: a real number, finite, > 0 (≥ 0 where 0 is allowed);
        # never a bool, a string or None.
        ok = value is not None and not isinstance(value, (bool, np.bool_, str))
        if ok:
            x = float(value)  # type: ignore[arg-type]
            ok = math.isfinite(x) and (x >= 0 if zero_ok else x > 0)
        assert accepted == ok, (where, value)


@pytest.mark.parametrize("bad", [True, "2", "inf", 0.5, math.nan, None])
def test_norm_type_is_a_number_at_least_one_or_inf(bad):
    pytest.importorskip("torch")
    from gradguard.torch import NormClipper, clip_grad_norm_

    assert NormClipper(1.0, norm_type=math.inf).norm_type == math.inf
    with pytest.raises(InputError, match=r"^norm_type must be a number ≥ 1 or inf, got "):
        NormClipper(1.0, norm_type=bad)
    with pytest.raises(InputError) as e:
        clip_grad_norm_([], 1.0, norm_type=bad)
    assert e.value.rule_id == "norm_type"


def test_a_library_count_is_a_whole_number_not_its_text():
    from gradguard.rules import MedianMadRule

    assert check_whole("5", "T") == 5  # a command line's text
    assert check_whole(np.int64(5), "window", 2, text=False) == 5
    for bad in ("5", True, 2.0):
        with pytest.raises(InputError, match=r"^window must be a whole number ≥ 2, got "):
            check_whole(bad, "window", 2, text=False)
        with pytest.raises(InputError, match=r"^window must be a whole number ≥ 2, got "):
            MedianMadRule(window=bad)
