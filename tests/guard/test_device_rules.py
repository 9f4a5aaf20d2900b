"""Each rule's device form gives its host arithmetic's verdicts bit for bit, with no host sync."""

from __future__ import annotations

import math
import random

import pytest
import torch  # the [dev] extra installs torch: these tests always run
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.rules import (
    RULES,
    EmaZScoreRule,
    FixedThreshold,
    MeanStdRule,
    MedianMadRule,
    PercentileRule,
)

from .conftest import HostSyncs

MAKE = {
    "median-mad": lambda: MedianMadRule(window=12, k=3.0, min_history=4),
    "median-mad-default": MedianMadRule,
    "mean-std": lambda: MeanStdRule(window=10, k=2.0, min_history=3),
    "percentile": lambda: PercentileRule(percentile=30, history_size=7),
    "fixed": lambda: FixedThreshold(5.0),
    "zclip": lambda: EmaZScoreRule(alpha=0.9, z_thresh=1.5, warmup_steps=5),
    "zclip-capped": lambda: EmaZScoreRule(alpha=0.9, z_thresh=1.5, warmup_steps=5, max_norm=4.0),
}


def test_every_rule_with_a_device_form_is_checked_here():
    with_form = {cls for cls in RULES.values() if cls.device is not None}
    assert with_form == {type(make()) for make in MAKE.values()}


def trace(seed: int, n: int = 160) -> list[float]:
    """Norms around a slowly moving level, with NaN, inf, 1e6× spikes and bad runs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = (3.0 + math.sin(i / 9)) * math.exp(rng.gauss(0, 0.25))
        r = rng.random()
        if r < 0.04:
            x = math.nan
        elif r < 0.06:
            x = math.inf
        elif r < 0.10:
            x *= 1e6
        elif r < 0.14:
            x *= 4
        out.append(x)
    out[50:53] = [math.nan, 1e7, math.inf]  # three bad in a row
    return out


class Device:
    """A device form with its state: judge, and learn where the step is counted."""

    def __init__(self, rule):
        self.form = rule.device(rule, torch.device("cpu"))
        self.state = self.form.state()

    def observe(self, x: float, count: bool):
        judgement, new = self.form.judge(self.state, torch.tensor(x, dtype=torch.float64))
        keep = torch.tensor(count)
        self.state = {k: torch.where(keep, new[k], v) for k, v in self.state.items()}
        return judgement


def _same(tensor, value):
    got = float(tensor)
    return math.isnan(got) if value is None else got == value


def _run(make, xs, counts):
    host, mirror = make(), make()
    device = Device(mirror)
    flagged = 0
    for x, count in zip(xs, counts, strict=True):
        t = device.observe(x, count)
        verdict = host.judge(x)
        assert bool(t.flagged) == verdict.flagged, x
        assert _same(t.threshold, verdict.threshold), (x, float(t.threshold), verdict.threshold)
        assert _same(t.clip_to, verdict.clip_to), (x, float(t.clip_to), verdict.clip_to)
        if count:  # a step not counted: the host rule does not learn it, nor may the device
            host.learn(x, verdict)
        flagged += verdict.flagged
    device.form.store(device.state)
    assert mirror.state_dict() == host.state_dict()
    return flagged


@pytest.mark.parametrize("name", sorted(MAKE))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_device_form_gives_the_host_verdicts_bit_for_bit(name, seed):
    rng = random.Random(seed + 100)
    xs = trace(seed)
    flagged = _run(MAKE[name], xs, [rng.random() > 0.1 for _ in xs])
    if name != "fixed":
        assert flagged > 0  # the trace exercises the rule


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(MAKE)),
    xs=st.lists(
        st.one_of(
            st.floats(1e-3, 1e3),
            st.sampled_from([math.nan, math.inf, 1e9, 0.0]),
        ),
        min_size=1,
        max_size=60,
    ),
    data=st.data(),
)
def test_device_form_agrees_on_any_trace(name, xs, data):
    counts = data.draw(st.lists(st.booleans(), min_size=len(xs), max_size=len(xs)))
    _run(MAKE[name], xs, counts)


@pytest.mark.parametrize("name", sorted(MAKE))
def test_device_form_starts_from_the_host_state(name):
    host = MAKE[name]()
    for x in trace(5)[:40]:
        host.observe(x)
    device = Device(host)
    reference = MAKE[name]()
    reference.load_state_dict(host.state_dict())
    for x in trace(6)[:30]:
        assert bool(device.observe(x, True).flagged) == reference.observe(x).flagged


def test_judging_issues_no_host_sync():
    devices = [Device(make()) for make in MAKE.values()]
    xs = [torch.tensor(x, dtype=torch.float64) for x in trace(3)[:40]]
    with HostSyncs() as syncs:
        for x in xs:
            for device in devices:
                _, new = device.form.judge(device.state, x)
                device.state = new
    assert syncs.calls == []
