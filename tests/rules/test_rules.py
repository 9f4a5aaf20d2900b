"""The scalar rules (torch-free): references, NaN safety, checkpointing."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.errors import InputError
from gradguard.rules import (
    RULES,
    AdaGCRule,
    EmaZScoreRule,
    FixedThreshold,
    MeanStdRule,
    MedianMadRule,
    PercentileRule,
    ReplayOptions,
    percentile,
)

NAN, INF = math.nan, math.inf


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(0, 100),
)
def test_percentile_matches_numpy(values, p):
    assert percentile(sorted(values), p) == pytest.approx(
        float(np.percentile(values, p)), rel=1e-9, abs=1e-9
    )


def _trace(seed=0, n=200):
    rng = random.Random(seed)
    return [1.0 + 0.1 * rng.random() for _ in range(n)]


def test_fixed_threshold():
    rule = FixedThreshold(5.0)
    # The seed's example: |g| = 100 > c = 5 → clipped to 5.
    assert rule.observe(100.0).clip_to == 5.0
    assert rule.observe(3.0).clip_to is None
    assert not rule.observe(NAN).flagged


def test_autoclip_bounded_history_matches_numpy():
    rule = PercentileRule(percentile=10, history_size=50)
    trace = _trace()
    for i, x in enumerate(trace):
        v = rule.observe(x)
        window = trace[max(0, i - 49) : i + 1]  # the current norm joins first (paper)
        assert v.threshold == pytest.approx(float(np.percentile(window, 10)))
        assert v.flagged == (x > v.threshold)


def test_regression_nan_never_enters_autoclip_history():
    # The defect: torch.quantile over a history holding a NaN returns NaN forever after.
    import torch

    assert torch.isnan(torch.quantile(torch.tensor([1.0, NAN, 2.0]), 0.1))
    trace = _trace()
    clean, dirty = PercentileRule(10, 100), PercentileRule(10, 100)
    for i, x in enumerate(trace):
        if i % 17 == 5:
            assert dirty.observe(NAN).flagged is False
            assert dirty.observe(INF).flagged is False
        assert dirty.observe(x) == clean.observe(x)
    assert all(math.isfinite(h) for h in dirty.state_dict()["history"])


def _zclip_reference_with_defect(trace, alpha=0.97, z=2.5, warmup=25):
    """ZClip's published update, NaN included: the defect the rule avoids."""
    buf, mean, var = [], None, None
    for g in trace:
        if mean is None:
            buf.append(g)
            if len(buf) >= warmup:
                mean = sum(buf) / len(buf)
                var = sum((b - mean) ** 2 for b in buf) / len(buf)
            continue
        std = var**0.5
        zs = (g - mean) / (std + 1e-6)
        used = mean + z * z * std / zs if zs > z else g  # NaN > z is False: NaN is used
        mean = alpha * mean + (1 - alpha) * used
        var = alpha * var + (1 - alpha) * (used - mean) ** 2
    return mean


def test_zclip_matches_reference_on_finite_trace():
    trace = _trace(1)
    trace[100] = 50.0  # a spike, clipped
    rule = EmaZScoreRule()
    flagged = [rule.observe(x).flagged for x in trace]
    assert flagged[100] and sum(flagged) >= 1
    assert rule.mean == pytest.approx(_zclip_reference_with_defect(trace), rel=1e-12)


def test_zclip_adaptive_target():
    rule = EmaZScoreRule(alpha=0.5, z_thresh=2.0, warmup_steps=2)
    rule.observe(1.0)
    rule.observe(3.0)  # warm-up done: μ = 2, σ² = 1
    v = rule.observe(10.0)
    # z = (10 − 2) / (1 + 1e-6) ≈ 8 > 2 → target μ + z_t²·σ / z = 2 + 4 / 8 = 2.5
    assert v.flagged
    assert v.clip_to == pytest.approx(2.5, rel=1e-5)
    # EMA moves towards the clipped value: μ = 0.5·2 + 0.5·2.5 = 2.25
    assert rule.mean == pytest.approx(2.25, rel=1e-5)


def test_regression_nan_never_poisons_zclip_ema():
    trace = _trace(2)
    poisoned = list(trace)
    poisoned[60] = NAN
    assert math.isnan(_zclip_reference_with_defect(poisoned))  # the defect
    clean, dirty = EmaZScoreRule(), EmaZScoreRule()
    for i, x in enumerate(trace):
        if i in (3, 60):  # once during warm-up, once after
            v = dirty.observe(NAN)
            assert not v.flagged and v.clip_to is None
        assert dirty.observe(x) == clean.observe(x)
    assert math.isfinite(dirty.mean) and dirty.mean == clean.mean


@pytest.mark.parametrize("min_ratio", [0.0, 10.0])
def test_median_mad_rule_matches_numpy_and_flags_spike(min_ratio):
    rule = MedianMadRule(window=32, k=6, min_history=8, min_ratio=min_ratio)
    trace = _trace(3, 100)
    trace[70] = 30.0  # 30× the trace's ~1: above both the MAD band and the 10× floor
    trace[80] = 2.5  # 2.5×: above median + 6·MAD, but a norm the clipper tames
    for i, x in enumerate(trace):
        v = rule.observe(x)
        past = trace[max(0, i - 32) : i]
        if len(past) < 8:
            assert v.threshold is None and not v.flagged
            continue
        med = float(np.median(past))
        mad = float(np.median(np.abs(np.array(past) - med)))
        band = med + 6 * max(1.4826 * mad, 1e-3 * med)
        assert v.threshold == pytest.approx(max(band, min_ratio * med))
        assert v.flagged == (i == 70 or (i == 80 and min_ratio == 0))


def test_median_mad_ratio_floor_is_checked_and_kept_in_its_state():
    with pytest.raises(InputError, match="min_ratio must be a finite number ≥ 0, got -1"):
        MedianMadRule(min_ratio=-1)
    rule = MedianMadRule(min_ratio=4)
    other = MedianMadRule()
    other.load_state_dict(rule.state_dict())
    assert other.min_ratio == 4.0
    old = rule.state_dict()
    del old["min_ratio"]  # a state saved before the floor existed: the plain rule
    other.load_state_dict(old)
    assert other.min_ratio == 0.0


def test_mean_std_rule_flags_spike_and_ignores_nan():
    rule = MeanStdRule(window=128, k=6, min_history=16)
    trace = _trace(4, 150)
    trace[120] = 5.0
    flags = []
    for i, x in enumerate(trace):
        if i == 110:
            assert not rule.observe(NAN).flagged
        flags.append(rule.observe(x).flagged)
    assert [i for i, f in enumerate(flags) if f] == [120]


@pytest.mark.parametrize("name", sorted(n for n, r in RULES.items() if r.replay_needs is None))
def test_state_dict_round_trip_through_json(name):
    # Settings that let each rule warm up and act within the trace; a rule not named here
    # is built as replay builds it.
    make = {
        "fixed": lambda: FixedThreshold(1.05),
        "autoclip": lambda: PercentileRule(25, 40),
        "zclip": lambda: EmaZScoreRule(warmup_steps=10),
        "spike-mad": lambda: MedianMadRule(window=20, min_history=5),
        "spike-std": lambda: MeanStdRule(window=20, min_history=5),
        "adagc": lambda: AdaGCRule(1.05, warmup_steps=10),
    }.get(name, lambda: RULES[name].for_replay(ReplayOptions()))
    trace = _trace(5, 120)
    trace[80] = 9.0
    a = make()
    for x in trace[:60]:
        a.observe(x)
    b = make()
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for x in trace[60:]:
        assert a.observe(x) == b.observe(x)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FixedThreshold(0), "max_norm must be a number > 0 .*, got 0"),
        (lambda: PercentileRule(percentile=150), "percentile must be a number in"),
        (lambda: PercentileRule(history_size=0), "history_size must be a whole number ≥ 1"),
        (lambda: EmaZScoreRule(alpha=1.0), "alpha must be a number in \\(0, 1\\)"),
        (lambda: EmaZScoreRule(warmup_steps=0), "warmup_steps must be a whole number ≥ 1"),
        (lambda: MedianMadRule(window=1), "window must be a whole number ≥ 2"),
        (lambda: MeanStdRule(k=-1), "k must be a finite number > 0"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=40),
        st.lists(st.integers(-3, 3).map(float), min_size=1, max_size=40),  # many ties
    )
)
def test_median_and_mad_match_numpy(values):
    from gradguard.rules import median_and_mad

    med, mad = median_and_mad(sorted(values))
    assert med == pytest.approx(float(np.median(values)), abs=1e-9)
    want = float(np.median(np.abs(np.array(values) - np.median(values))))
    assert mad == pytest.approx(want, abs=1e-9)


def test_replay_trace_reports_progress_for_every_value():
    from gradguard.rules import replay_trace

    seen = []
    trace = _trace(6, 25_001)
    replay_trace(
        list(range(len(trace))),
        trace,
        {"fixed": FixedThreshold(1.05), "spike-mad": MedianMadRule()},
        seen.append,
    )
    assert sum(seen) == 2 * 25_001 and max(seen) == 10_000


def test_each_rule_says_whether_it_clips_or_skips():
    from gradguard.rules import RULES, replay_trace

    known = {
        "fixed": "clip",
        "autoclip": "clip",
        "zclip": "clip",
        "spike-mad": "skip",
        "spike-std": "skip",
        "adagc": "clip",
        "value": "clip",
        "agc": "clip",
        "update": "clip",
    }
    assert {name: RULES[name].action for name in known} == known
    # Replay reads the rule's own action, not its name: a spike rule under any name skips.
    trace = replay_trace([0, 1], [1.0, 2.0], {"mine": MedianMadRule(), "c": FixedThreshold(1.5)})
    assert [(r.rule, r.action) for r in trace.rules] == [("mine", "skip"), ("c", "clip")]


def test_the_old_names_are_gone():
    # 0.x: removed without a period of warnings (CHANGELOG.md says what replaces each).
    import importlib

    import gradguard.rules as rules

    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("gradguard.policies")
    trace = rules.replay_trace([0], [1.0], {"fixed": rules.FixedThreshold(0.5)})
    assert not hasattr(trace, "policies") and not hasattr(trace.rules[0], "policy")


def _transient_spike_log(path):
    """40 steps at norm ≈ 1; step 30 a 50× spike, re-run healthy (norm 1.1) and taken."""
    from gradguard.records import StepRecord, write_log

    records = [StepRecord(step=i, grad_norm=1.0 + 0.01 * (i % 5), loss=1.0) for i in range(40)]
    r = records[30]
    r.grad_norm, r.kind, r.flagged_by = 50.0, "spike", "spike-mad"
    r.extra["rerun"] = {"verdict": "transient", "grad_norm": 1.1}
    write_log(path, records)
    return path


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_replay_says_which_norm_a_re_run_step_was_judged_by(tmp_path, capsys, lang):
    """A finite spike re-run and found transient: the rows judge the first run's norm (a
    guard sees it before it re-runs the step), and the output says so, with both norms."""
    from gradguard.cli import main
    from gradguard.doctor import diagnose, sentence
    from gradguard.records import read_log

    path = _transient_spike_log(tmp_path / "t.jsonl")
    assert main(["replay", str(path), "--json", "--lang", lang]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["rerun_norms"] == [{"step": 30, "first": 50.0, "rerun": 1.1}]
    mad = next(p for p in run["policies"] if p["policy"] == "spike-mad")
    assert mad["steps"] == [30]  # judged by 50, the first run's norm (1.1 is no spike)
    assert main(["replay", str(path), "--lang", lang]) == 0
    out = " ".join(capsys.readouterr().out.split())
    word = {"en": "step 30: 50 (re-run: 1.1)", "bn": "ধাপ 30: 50 (আবার চালানো: 1.1)"}[lang]
    assert word in out
    (log_run,) = read_log(path).runs
    d = diagnose(log_run)
    (f,) = [f for f in d.findings if f.key == "replay_rerun_norms"]
    assert f.evidence["pairs"] == [(30, 50.0, 1.1)]
    assert word in sentence(f, lang)


# -- a rule said in the reader's language ----------------------------------------------


#: Arguments a rule needs to be built (the others have defaults).
_NEEDS = {"fixed": {"max_norm": 1.5}, "value": {"clip_value": 2.5}}


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_describes_itself_in_every_language(name):
    from gradguard._catalog import languages
    from gradguard.rules import UpdateRMSRule, describe_rule

    rule = RULES[name](**_NEEDS.get(name, {}))
    for lang in languages():
        text = rule.describe(lang)
        # its numbers are in it, the text is one line, and it is the catalog's wording
        assert "\n" not in text and "{" not in text, (name, lang, text)
        assert text == describe_rule(name, rule.parameters(), lang)
    # Bengali says the words around the rule in Bengali (beyond the code and numbers)
    assert rule.describe("bn") != rule.describe() or name in ("fixed", "value", "agc")
    assert UpdateRMSRule(3.0).describe() == "update RMS ≤ 3"


def test_a_rule_description_names_its_parameters():
    from gradguard.rules import EmaZScoreRule, FixedThreshold, MedianMadRule

    assert FixedThreshold(0.5).describe() == "fixed c=0.5"
    assert MedianMadRule(window=64, k=5, min_ratio=0).describe() == (
        "median+5·MAD window=64 min_history=16"
    )
    assert MedianMadRule().describe().endswith(", ≥ 10×median")
    assert EmaZScoreRule(max_norm=None).describe().endswith(" no cap")
    assert "শেষ 64টি ধাপে" in MedianMadRule(window=64).describe("bn")


def test_the_percentile_of_nothing_is_a_rule_id():
    with pytest.raises(InputError) as e:
        percentile([], 50)
    assert e.value.rule_id == "nonempty_finite_list"
    assert str(e.value) == "sorted_values must be a non-empty list of finite numbers, got []."
