"""The doctor's inputs: bad logs (the same one-line errors as ``replay``), skip lists,
re-run records, the figure, and properties of its claims on any log."""

from __future__ import annotations

import itertools
import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradguard.cli import main
from gradguard.doctor import diagnose, read_skip_file, render_text, sentence
from gradguard.errors import FileError
from gradguard.records import RunLog, StepRecord, read_log, write_log

from ..glossary import latin_words, rejected_variants
from .conftest import episode_ramps


def _err(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err.strip()


@pytest.mark.parametrize("kind", ["missing", "folder", "not_json", "no_norms", "version"])
@pytest.mark.parametrize("lang", ["en", "bn"])
def test_bad_logs_get_replays_one_line_errors(kind, lang, tmp_path, capsys):
    path = tmp_path / "run.jsonl"
    if kind == "folder":
        path = tmp_path
    elif kind == "not_json":
        path.write_text('{"v":1,"type":"step","step":0}\nnot json\n')
    elif kind == "no_norms":
        path.write_text('{"v":1,"type":"run"}\n{"v":1,"type":"step","step":0,"loss":1.0}\n')
    elif kind == "version":
        path.write_text('{"v":7,"type":"step","step":0}\n')
    replay = _err(["replay", str(path), "--lang", lang], capsys)
    doctor = _err(["doctor", str(path), "--lang", lang], capsys)
    assert doctor == replay
    assert doctor[0] == 2 and len(doctor[1].splitlines()) == 1


def _log(tmp_path, records, name="run.jsonl"):
    path = tmp_path / name
    write_log(path, records)
    return path


def _steps(n, bad=(), batch=None, **extra):
    out = []
    for i in range(n):
        r = StepRecord(step=i, loss=1.0, grad_norm=1.0 + 0.01 * (i % 7), lr=0.1)
        if i in bad:
            r = StepRecord(step=i, loss=1.0, grad_norm=500.0, kind="spike", action="skip",
                           flagged_by="spike-mad", lr=0.1)  # fmt: skip
            if batch is not None:
                r.extra["batch"] = batch(i)
            r.extra.update(extra.get(i, {}) if isinstance(extra.get(i), dict) else {})
        out.append(r)
    return out


@pytest.mark.parametrize("form", ["lightning", "gradguard"])
def test_skip_list_beside_the_log(form, tmp_path, capsys):
    path = _log(tmp_path, _steps(60, bad=(20, 45), batch=lambda i: i))
    skip = tmp_path / "skip.json"
    if form == "lightning":  # SpikeDetection's file: the spiking batch and the one before
        skip.write_text(json.dumps([19, 20]))
    else:
        skip.write_text(json.dumps({"steps": [[45, 45]], "batches": [20]}))
    assert main(["doctor", str(path), "--skip", str(skip), "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    (f,) = [f for f in run["findings"] if f["key"] == "skip_file"]
    assert f["evidence"]["by_batch"] == [20]
    assert f["evidence"]["by_step"] == ([] if form == "lightning" else [45])


@pytest.mark.parametrize("content", ["not json", '{"x": 1}', '["a", "b"]', "[true]", "3"])
def test_bad_skip_file_is_one_line(content, tmp_path, capsys):
    path = _log(tmp_path, _steps(30))
    skip = tmp_path / "skip.json"
    skip.write_text(content)
    with pytest.raises(FileError, match="not a skip list"):
        read_skip_file(skip)
    code, err = _err(["doctor", str(path), "--skip", str(skip)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "skip.json" in err
    code, err = _err(["doctor", str(path), "--skip", str(tmp_path / "none.json")], capsys)
    assert code == 2 and "no such file" in err


def test_reruns_are_read_when_recorded(tmp_path):
    records = _steps(80, bad=(30, 60))
    records[30].extra["rerun"] = {"verdict": "transient", "grad_norm": 1.02}
    records[60].extra["rerun"] = "reproducible"
    d = diagnose(read_log(_log(tmp_path, records)).runs[0])
    (f,) = [f for f in d.findings if f.key == "reruns"]
    assert f.evidence["transient"] == [30] and f.evidence["reproducible"] == [60]
    assert "no_reruns" not in d.messages()


def test_the_figure(logs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    for lang in ("en", "bn"):
        out = tmp_path / f"doctor-{lang}.png"
        assert main(["doctor", str(logs["lr_high"]), "--plot", str(out), "--lang", lang]) == 0
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    code, err = _err(["doctor", str(logs["clean"]), "--plot", str(tmp_path / "x.gif")], capsys)
    assert code == 2 and "--plot" in err


def test_bengali_output_is_bengali(logs, capsys):
    for path in logs.values():
        assert main(["doctor", str(path), "--lang", "bn"]) == 0
        out = capsys.readouterr().out
        # The rules' own descriptions (median+6·MAD…) and the layers' names stay as they are.
        body = "\n".join(line for line in out.splitlines()[1:] if "window=" not in line)
        assert latin_words(body, frozenset({"inp", "hidden", "out"})) == set()
        assert rejected_variants(body) == set()


# -- properties: every claim against an independent count of the records --------------

_kinds = st.sampled_from(["ok", "ok", "ok", "clipped", "spike", "nonfinite"])


@st.composite
def runs(draw):
    n = draw(st.integers(1, 120))
    records = []
    for i in range(n):
        kind = draw(_kinds)
        norm = draw(st.floats(0.01, 1e4)) if kind != "nonfinite" else math.nan
        action = "step" if kind in ("ok", "clipped") else draw(st.sampled_from(["skip", "step"]))
        r = StepRecord(step=i, loss=1.0 if kind != "nonfinite" else math.nan, grad_norm=norm,
                       kind=kind, action=action, lr=0.1,
                       clip_coef=0.5 if kind == "clipped" else 1.0, threshold=1.0,
                       nonfinite_count=int(kind == "nonfinite"))  # fmt: skip
        # a bad step's batch, half the time; another tool's log may name others' too
        named = draw(st.booleans()) if kind in ("spike", "nonfinite") else False
        if named or draw(st.integers(0, 3)) == 0:
            r.extra["batch"] = draw(st.integers(0, 5))
        if kind in ("spike", "nonfinite") and draw(st.integers(0, 2)) == 0:  # re-run
            r.extra["rerun"] = draw(st.sampled_from(["transient", "reproducible"]))
            r.action = "step" if r.extra["rerun"] == "transient" else "skip"
        records.append(r)
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=runs())
def test_claims_hold_on_any_run(records):
    d = diagnose(RunLog(None, {}, records))
    bad = [r.step for r in records if r.kind in ("spike", "nonfinite")]
    assert d.bad_steps == bad
    # healthy when re-run on its batch: not counted against the batch (as the skip list)
    cleared = {s for s in bad if records[s].extra.get("rerun") == "transient"}
    for f in d.findings:  # a batch to skip came back: flagged twice, re-runs aside
        for b in f.evidence["batches"] if f.key == "skip_batches" else []:
            again = [s for s in bad if records[s].extra.get("batch", -1) == b]
            assert len([s for s in again if s not in cleared]) >= 2, (b, again, cleared)
    # Episodes are maximal runs of consecutive bad records.
    flags = [r.kind in ("spike", "nonfinite") for r in records]
    runs_of_bad = sum(f and (i == 0 or not flags[i - 1]) for i, f in enumerate(flags))
    assert len(d.episodes) == runs_of_bad
    assert (d.cause in ("clean", "layer_growth", "all_layers_growth", "some_layers_growth")) == (
        not bad
    )
    # Independently: the norm before each episode, and whether the episodes jumped from
    # normal steps (every one that can be measured, enough of them) or built up.
    ramps = episode_ramps(records)
    measured = [x for x in ramps.values() if x is not None]
    jumped = len(measured) >= 2 and max(measured) < 2.0 and 3 * len(measured) >= 2 * len(ramps)
    assert ("jumps" in d.messages()) == (d.cause == "sudden")
    if d.cause == "scattered":  # what jumped at once is said so, not "scattered"
        assert not jumped, ramps
    for f in d.findings:
        if f.key == "guard_did":
            skipped = sum(r.action == "skip" for r in records)
            assert f.evidence["skipped"] == skipped and f.evidence["lost"] == skipped
            assert f.evidence["taken_bad"] == sum(
                r.action == "step" and r.kind in ("spike", "nonfinite") and s not in cleared
                for s, r in enumerate(records)
            )
        if f.key == "batch_recurs":  # flagged on n steps (not cleared by a re-run), named on seen
            batch = f.evidence["batch"]
            named = [r.step for r in records if r.extra.get("batch", -1) == batch]
            flagged = [s for s in named if s in bad and s not in cleared]
            assert f.evidence["steps"] == flagged and f.evidence["n"] == len(flagged) >= 2
            assert f.evidence["cleared"] == [s for s in named if s in cleared]
            assert f.evidence["seen"] == len(named) - len(f.evidence["cleared"])
            assert f.evidence["passed"] == [s for s in named if s not in bad]
            said = sentence(f, "en")
            assert f"flagged on {len(flagged)} " in said
            shown = f"of the {f.evidence['seen']} steps that name it" in said
            assert shown == bool(f.evidence["passed"])
            assert ("healthy when re-run" in said) == bool(f.evidence["cleared"])
        if f.key == "batch_cleared":  # twice or more, but at most once not cleared
            named = [s for s in bad if records[s].extra.get("batch", -1) == f.evidence["batch"]]
            assert f.evidence["steps"] == named and len(named) >= 2
            assert f.evidence["cleared"] == [s for s in named if s in cleared]
            assert len(named) - len(f.evidence["cleared"]) <= 1
            assert "batch_recurs" not in d.messages()
        if f.key.startswith("batches_differ"):  # "none of them twice": true of the ids
            ids = [records[s].extra["batch"] for s in bad if "batch" in records[s].extra]
            assert len(ids) == len(set(ids)) == f.evidence["ids"]
        if f.key.startswith("scattered"):  # "no common period" only when checked and true
            onsets = f.evidence["steps"]
            gaps = [b - a for a, b in itertools.pairwise(onsets)]
            common = min(gaps) >= 2 and all(g % min(gaps) == 0 for g in gaps)
            want = (
                "scattered_two"
                if len(onsets) < 3
                else "scattered_period"
                if common
                else "scattered"
            )
            assert f.key == want, (f.key, onsets)
        if f.key == "jumps":  # "nothing built up" only where the norms before say so
            said = {s: ramps[s] for s in f.evidence["steps"]}
            assert None not in said.values() and max(said.values()) < 2.0, said
            assert f.evidence["n"] == len(measured) >= 2 and 3 * len(measured) >= 2 * len(ramps)
        if f.key.startswith("replay_rule") and f.evidence["first"] is not None:
            spikes = {r.step for r in records if r.kind == "spike"}  # (flagged spikes)
            after_spikes = f.key in ("replay_rule", "replay_rule_only_spikes")
            assert (f.evidence["first"] in spikes) == after_spikes, f  # where the sentence puts it
    for lang in ("en", "bn"):
        text = render_text("log", [d], lang)
        assert "{" not in text
        for f in d.findings:
            said = sentence(f, lang)
            assert said and not ZERO_COUNT[lang].search(said), said


@st.composite
def spiky_runs(draw):
    """2–5 isolated episodes at one learning rate among healthy norms near 1, the two
    steps before each at ×1 (a jump from a normal step), ×1.5, ×3 or ×6 (a build-up)."""
    records: list[StepRecord] = []
    for _ in range(draw(st.integers(2, 5))):
        gap, before = draw(st.integers(12, 30)), draw(st.sampled_from([1.0, 1.5, 3.0, 6.0]))
        for k in range(gap):
            norm = draw(st.floats(0.8, 1.25)) * (before if k >= gap - 2 else 1.0)
            records.append(StepRecord(step=len(records), loss=1.0, grad_norm=norm, lr=0.1))
        bad = draw(st.sampled_from(["spike", "nonfinite"]))
        records.append(StepRecord(step=len(records), loss=1.0, lr=0.1, kind=bad, action="skip",
                                  grad_norm=500.0 if bad == "spike" else math.inf,
                                  nonfinite_count=int(bad == "nonfinite")))  # fmt: skip
    records += [
        StepRecord(step=len(records) + i, loss=1.0, grad_norm=1.0, lr=0.1) for i in range(5)
    ]
    return records


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=spiky_runs())
def test_sudden_jumps_a_build_up_or_scattered(records):
    """At one learning rate, with no batch ids: the episodes built up (two thirds of them,
    at least two, stood ≥ 2× their median in the two steps before), came at a common
    period, jumped from normal steps (every one measured below 2×), or none of these —
    scattered; the norms before each counted here, not by the doctor."""
    ramps = episode_ramps(records)
    measured = [x for x in ramps.values() if x is not None]
    assert len(measured) == len(ramps)  # every episode here has 12+ healthy steps before it
    ramped = [x for x in measured if x >= 2.0]
    onsets = sorted(ramps)
    gaps = [b - a for a, b in itertools.pairwise(onsets)]
    common = len(onsets) >= 3 and min(gaps) >= 2 and all(g % min(gaps) == 0 for g in gaps)
    want = (
        "lr_too_high"
        if len(ramped) >= 2 and 3 * len(ramped) >= 2 * len(measured)
        else "periodic"
        if common
        else "sudden"
        if not ramped
        else "scattered"
    )
    d = diagnose(RunLog(None, {}, records))
    assert d.cause == want, (d.cause, ramps)
    if want == "sudden":
        (f,) = [f for f in d.findings if f.key == "jumps"]
        assert f.evidence["steps"] == onsets and f.evidence["hi"] == pytest.approx(max(measured))
        for lang in ("en", "bn"):
            assert sentence(f, lang) in render_text("log", [d], lang)
    else:
        assert "jumps" not in d.messages()


#: A count of zero said as a count ("0 non-finite", "0টি সসীম নয়"): it gets its own sentence.
ZERO_COUNT = {
    "en": re.compile(r"(?<![\d.,])0 (?:steps?|non-finite|flagged|bad|other|times|episodes?)\b"),
    "bn": re.compile(r"(?<![\d.,])0(?:টি| বার)"),
}


def _said(d, key, lang):
    return next(sentence(f, lang) for f in d.findings if f.key == key)


def test_counts_of_zero_get_their_own_sentences():
    # every bad step non-finite, and taken: nothing skipped, nothing rolled back, nothing lost
    records = _steps(40)
    records[20] = StepRecord(step=20, loss=math.nan, grad_norm=math.nan, kind="nonfinite",
                             action="step", lr=0.1, nonfinite_count=1)  # fmt: skip
    d = diagnose(RunLog(None, {}, records))
    assert _said(d, "guard_did", "bn") == (
        "guard কোনো ধাপ বাদ দেয়নি, একবারও rollback করেনি এবং 1টি খারাপ ধাপ নিয়েছে; "
        "training 40টি ধাপের একটিও হারায়নি।"
    )
    assert _said(d, "guard_did", "en") == (
        "The guard skipped no step, never rolled back and took 1 bad step; "
        "training lost none of its 40 steps."
    )
    # the one episode is the run's last step: nothing followed it ("0 steps followed" is not said)
    records = _steps(40)
    records[39] = StepRecord(step=39, loss=math.nan, grad_norm=math.nan, kind="nonfinite",
                             action="skip", lr=0.1, nonfinite_count=1)  # fmt: skip
    d = diagnose(RunLog(None, {}, records))
    assert "রানের একেবারে শেষে" in _said(d, "one_off", "bn")
    # a list of nine step ranges is said whole, not "eight, … 1 more"
    from gradguard.doctor._render import steps_text

    assert steps_text(list(range(0, 18, 2))) == "0, 2, 4, 6, 8, 10, 12, 14, 16"
    assert steps_text(list(range(0, 20, 2))).endswith("14, … (+2)")


def test_a_period_with_batch_ids_is_checked_not_denied():
    # three episodes 10 steps apart, each on another batch: a period, said as one
    d = diagnose(RunLog(None, {}, _steps(60, bad=(20, 30, 40), batch=lambda i: i)))
    (f,) = [f for f in d.findings if f.key.startswith("scattered")]
    assert f.key == "scattered_period" and f.evidence["period"] == 10
    for lang in ("en", "bn"):
        assert "no common period" not in render_text("log", [d], lang)
    d = diagnose(RunLog(None, {}, _steps(60, bad=(20, 31), batch=lambda i: i)))
    assert [f.key for f in d.findings if f.key.startswith("scattered")] == ["scattered_two"]


def test_replays_first_skip_is_one_the_sentence_counts():
    # an unflagged outlier (taken) before the flagged spike: the rule skips both
    records = _steps(60, bad=(40,))
    records[30].grad_norm = 400.0
    d = diagnose(RunLog(None, {}, records))
    (f,) = [f for f in d.findings if f.key == "replay_rule" and "median" in f.evidence["rule"]]
    assert f.evidence["caught"] == 1 and f.evidence["others"] >= 1
    assert f.evidence["first"] == 40  # the flagged spike it skipped, not step 30


@pytest.mark.parametrize(
    "verdicts", [("transient",) * 3, ("transient", "reproducible", "reproducible")]
)
def test_reproducible_reruns_are_not_called_transient(verdicts):
    records = _steps(80, bad=(15, 41, 70), batch=lambda i: i)
    for r, v in zip([r for r in records if r.kind == "spike"], verdicts, strict=True):
        r.extra["rerun"] = v
    d = diagnose(RunLog(None, {}, records))
    again = [r.step for r in records if r.extra.get("rerun") == "reproducible"]
    (f,) = [f for f in d.findings if f.key.startswith("batches_differ")]
    assert (f.key == "batches_differ_reproducible") == bool(again)
    text = render_text("log", [d], "en")
    assert ("transient (hardware)" in text) == (not again)
    if again:
        assert f.evidence["steps"] == again


def _warming(bad, n=300):
    """``_steps`` with a learning rate warming up linearly, 0.001 per step."""
    records = _steps(n, bad=bad, batch=lambda i: i)
    for r in records:
        r.lr = 0.001 * (r.step + 1)
    return records


def test_episodes_only_at_the_higher_learning_rates_say_so():
    # five sudden episodes (no build-up, no common period), all once the warm-up passed 0.152
    bad = (151, 183, 214, 250, 281)
    d = diagnose(RunLog(None, {}, _warming(bad)))
    assert d.cause == "lr_onset" and "builds_up" not in d.messages()
    (f,) = [f for f in d.findings if f.key == "only_at_high_lr"]
    records = _warming(bad)
    lo = min(r.lr for r in records if r.step in bad)
    low = [r for r in records if r.lr < lo]  # independently: the steps below the lowest onset
    assert not any(r.kind == "spike" for r in low)
    want = (len(records) - len(low)) / len(records)
    assert f.evidence["lo"] == lo and f.evidence["low"] == len(low) == 151
    assert f.evidence["high"] == 149 and f.evidence["n"] == 5
    assert f.evidence["chance"] == pytest.approx(want**5) and want**5 <= 0.05
    assert [g.evidence for g in d.findings if g.key == "lower_lr"] == [{"lr": lo}]
    assert "the 151 steps run at lower rates were healthy" in _said(d, "only_at_high_lr", "en")
    assert "151টি ধাপই সুস্থ ছিল" in _said(d, "only_at_high_lr", "bn")
    # a bad step at a low learning rate, or a constant one: not said
    d = diagnose(RunLog(None, {}, _warming((40, *bad))))
    assert "only_at_high_lr" not in d.messages() and "lower_lr" not in d.messages()
    assert d.cause == "sudden"  # norms of 1.0–1.06, then 500 in one step: nothing built up
    d = diagnose(RunLog(None, {}, _steps(300, bad=bad, batch=lambda i: i)))
    assert "only_at_high_lr" not in d.messages()
    # two such episodes are too likely by chance: (149/300)² > 0.05
    d = diagnose(RunLog(None, {}, _warming((151, 183))))
    assert "only_at_high_lr" not in d.messages()


def _layers_growing(factors, n=30):
    """``n`` healthy steps with per-layer norms, each layer's growing geometrically to ×factor."""
    records = _steps(n)
    for r in records:
        t = r.step / (n - 1)
        r.layer_norms = {k: f**t for k, f in factors.items()}
    return records


def _growth(records, name):
    """Independently: the median over the last third of the rows / over the first third."""
    import statistics

    third = len(records) // 3
    a = statistics.median(r.layer_norms[name] for r in records[:third])
    return statistics.median(r.layer_norms[name] for r in records[-third:]) / a


def test_some_layers_growing_are_named():
    records = _layers_growing({"enc": 40.0, "emb": 20.0, "mid": 1.0, "head": 1.5})
    d = diagnose(RunLog(None, {}, records))
    assert d.cause == "some_layers_growth" and d.growing_layer is None
    (f,) = [f for f in d.findings if f.key == "layers_some_grow"]
    grown = [k for k in ("enc", "emb", "mid", "head") if _growth(records, k) >= 4]
    assert f.evidence["layers"] == grown == ["enc", "emb"] and f.evidence["n"] == 2
    assert f.evidence["of"] == 4 and f.evidence["rest"] == 2
    assert f.evidence["factor"] == pytest.approx(_growth(records, "enc"))
    assert f.evidence["rest_hi"] == pytest.approx(_growth(records, "head"))
    assert f.evidence["rest_lo"] == pytest.approx(1.0)
    said = _said(d, "layers_some_grow", "en")
    assert "The gradients of 2 of the 4 layers grew ×4 or more, the others' did not: " in said
    assert "did not: 'enc', 'emb'; the fastest, 'enc', ×" in said
    assert "4টি layer-এর মধ্যে 2টির gradient 4 গুণ বা তার বেশি" in _said(d, "layers_some_grow", "bn")
    assert "('enc', 'emb')" in _said(d, "some_layers_advice", "en")
    # one layer grew ×4 or more, the next not (though less than 3× apart): that one layer
    d = diagnose(RunLog(None, {}, _layers_growing({"enc": 20.0, "mid": 6.0, "head": 1.0})))
    assert d.cause == "layer_growth" and d.growing_layer == "enc"
    assert "layers_some_grow" not in d.messages()
    # every layer grew: the whole network, as before
    d = diagnose(RunLog(None, {}, _layers_growing({"enc": 20.0, "mid": 15.0, "head": 10.0})))
    assert d.cause == "all_layers_growth"


def test_the_figure_of_each_run_of_a_log(tmp_path, capsys):
    # a log of two runs (the step index going back): one figure per run, each announced
    pytest.importorskip("matplotlib")
    log = _log(tmp_path, _steps(40) + _steps(30, bad=(20,)))
    assert len(read_log(log).runs) == 2
    out = tmp_path / "fig.png"
    capsys.readouterr()
    assert main(["doctor", str(log), "--plot", str(out)]) == 0
    second = tmp_path / "fig-run2.png"
    assert out.stat().st_size > 0 and second.stat().st_size > 0
    err = capsys.readouterr().err
    assert f"figure written to {out}" in err and f"figure written to {second}" in err
    assert not (tmp_path / "fig-run3.png").exists()
