"""Device twins of the policies: the host rules' verdicts on the same traces, no host sync."""

from __future__ import annotations

import math
import random

import pytest
import torch  # the [dev] extra installs torch: these tests always run

from gradguard.rules import (
    EmaZScoreRule,
    FixedThreshold,
    MeanStdRule,
    MedianMadRule,
    PercentileRule,
)
from gradguard.torch._device_rules import device_rule

RULES = {
    "median-mad": lambda: MedianMadRule(window=12, k=3.0, min_history=4),
    "median-mad-default": MedianMadRule,
    "mean-std": lambda: MeanStdRule(window=10, k=2.0, min_history=3),
    "percentile": lambda: PercentileRule(percentile=30, history_size=7),
    "fixed": lambda: FixedThreshold(5.0),
    "zclip": lambda: EmaZScoreRule(alpha=0.9, z_thresh=1.5, warmup_steps=5),
}


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


@pytest.mark.parametrize("name", sorted(RULES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_twin_gives_the_host_rules_verdicts(name, seed):
    host, mirror = RULES[name](), RULES[name]()
    twin = device_rule(mirror, torch.device("cpu"))
    rng = random.Random(seed + 100)
    flagged = 0
    for x in trace(seed):
        count = rng.random() > 0.1  # some steps are not counted (skipped elsewhere)
        t = twin.observe(torch.tensor(x, dtype=torch.float64), torch.tensor(count))
        if not count:
            continue  # not counted: the host rule is not asked, the twin must not learn
        v = host.observe(x)
        assert bool(t.flagged) == v.flagged
        flagged += v.flagged
        th = float(t.threshold)
        if v.threshold is None:
            assert math.isnan(th)
        else:
            assert th == pytest.approx(v.threshold, rel=1e-12)
        ct = float(t.clip_to)
        if v.clip_to is None:
            assert math.isnan(ct)
        else:
            assert ct == pytest.approx(v.clip_to, rel=1e-12)
    if name != "fixed":
        assert flagged > 0  # the trace exercises the rule
    twin.store()
    got, want = mirror.state_dict(), host.state_dict()
    assert got.keys() == want.keys()
    for key in want:
        if isinstance(want[key], (list, float)):
            assert got[key] == pytest.approx(want[key], rel=1e-12)
        else:
            assert got[key] == want[key]


@pytest.mark.parametrize("name", sorted(RULES))
def test_twin_starts_from_the_host_state(name):
    host = RULES[name]()
    for x in trace(5)[:40]:
        host.observe(x)
    twin = device_rule(host, torch.device("cpu"))
    reference = RULES[name]()
    reference.load_state_dict(host.state_dict())
    for x in trace(6)[:30]:
        t = twin.observe(torch.tensor(x, dtype=torch.float64), torch.tensor(True))
        assert bool(t.flagged) == reference.observe(x).flagged


def test_observe_issues_no_host_sync(monkeypatch):
    twins = [device_rule(make(), torch.device("cpu")) for make in RULES.values()]
    calls = []
    for name in ("item", "tolist", "cpu", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    for x in trace(3)[:40]:
        for twin in twins:
            twin.observe(torch.tensor(x, dtype=torch.float64), torch.tensor(True))
    monkeypatch.undo()
    assert calls == []
