"""The doctor on logs of real training runs with known causes, in English and Bengali.

The logs (conftest.py) come from small models really trained with a real guard: a
corrupt batch that comes back each epoch, a one-off flipped bit, a learning rate too
high, one layer whose gradients grow, a clean run. Each must be diagnosed as what it
is, in both languages, with its evidence; where the log lacks what a diagnosis needs,
the doctor must say "cannot tell".
"""

from __future__ import annotations

import json
import math
import re
import statistics

import pytest

from gradguard.cli import main
from gradguard.doctor import diagnose, render_text, sentence, to_json
from gradguard.records import read_log

from .conftest import JUMPS, episode_ramps

LANGS = ("en", "bn")


def _diagnosis(path):
    (run,) = read_log(path).runs
    return diagnose(run)


def _finding(d, key):
    (f,) = [f for f in d.findings if f.key == key]
    return f


def _text(path, lang, capsys, *extra):
    assert main(["doctor", str(path), "--lang", lang, *extra]) == 0
    return capsys.readouterr().out


def test_recurring_batch_is_data(logs, capsys):
    d = _diagnosis(logs["recurring"])
    assert d.cause == "recurring_batch"
    recurs = _finding(d, "batch_recurs")
    assert recurs.evidence["batch"] == 3
    assert recurs.evidence["steps"] == [3, 13, 23, 33, 43, 53]
    # a guard names a step's batch only when it flags the step: no step is known to have
    # seen batch 3 and passed, and the sentence counts the steps that flagged it
    assert recurs.evidence["seen"] == 6 and recurs.evidence["passed"] == []
    assert sentence(recurs, "en").startswith("Batch 3 was flagged on 6 steps (steps 3, 13,")
    assert _finding(d, "skip_batches").evidence["batches"] == [3]
    assert "no_batch_ids" not in d.messages()
    for lang in LANGS:
        out = _text(logs["recurring"], lang, capsys)
        assert sentence(recurs, lang) in out
        assert "3, 13, 23, 33, 43, 53" in out


def test_recurring_without_batch_ids_is_periodic_and_says_it_cannot_tell(logs, capsys):
    d = _diagnosis(logs["recurring_no_ids"])
    assert d.cause == "periodic"
    assert _finding(d, "periodic").evidence["period"] == 10
    no_ids = _finding(d, "no_batch_ids")
    assert no_ids.cannot_tell
    assert "record_batches" in d.messages()
    for lang in LANGS:
        out = _text(logs["recurring_no_ids"], lang, capsys)
        assert sentence(no_ids, lang) in out
        assert "batch=index" in out  # what to record next time


def test_one_off_names_the_layer_when_recorded(logs, capsys):
    d = _diagnosis(logs["one_off"])
    assert d.cause == "one_off"
    assert d.bad_steps == [37]
    layers = _finding(d, "layers_nonfinite")
    assert layers.evidence["layers"] == ["hidden"]  # where the bit was flipped
    assert "nothing" in d.messages()
    no_rerun = _finding(d, "no_reruns")
    assert no_rerun.cannot_tell  # transient or a bad batch: only a re-run tells
    for lang in LANGS:
        out = _text(logs["one_off"], lang, capsys)
        assert sentence(layers, lang) in out and "hidden" in out
        assert sentence(no_rerun, lang) in out


def test_one_off_with_default_layer_norms_cannot_tell_the_layer(logs):
    d = _diagnosis(logs["one_off_default"])
    assert d.cause == "one_off"
    unknown = _finding(d, "layers_unknown")
    assert unknown.cannot_tell
    # The guard's default records per-layer norms every 50 steps: on 2 of 80 here.
    assert unknown.evidence == {"recorded": 2, "steps": 80}
    # What the record does hold: one tensor only held the inf.
    assert _finding(d, "tensors_nonfinite_one").evidence == {"step": 37, "count": 1}


def test_learning_rate_too_high(logs, capsys):
    d = _diagnosis(logs["lr_high"])
    assert d.cause == "lr_too_high"
    built = _finding(d, "builds_up")
    assert built.evidence["n"] >= 2 and built.evidence["lo"] >= 2.0
    onset = _finding(d, "onset_lr")
    records = read_log(logs["lr_high"]).steps
    bad = [r for r in records if r.kind == "spike"]
    # The episodes begin near the top of the warm-up, every time (rolled back, it climbs
    # back to the same learning rate and meets the same instability).
    assert onset.evidence["lo"] >= 0.9 * min(r.lr for r in bad)
    assert onset.evidence["max"] == max(r.lr for r in records)
    advice = _finding(d, "lower_lr")
    assert advice.evidence["lr"] == onset.evidence["lo"]
    assert "rollbacks_undid" in d.messages()
    # The guard rolled back max_rollbacks times and still met bad steps: it gave up.
    assert _finding(d, "gave_up").evidence["rollbacks"] == 10
    for lang in LANGS:
        out = _text(logs["lr_high"], lang, capsys)
        assert sentence(advice, lang) in out
        assert f"{onset.evidence['lo']:.3g}" in out


@pytest.mark.parametrize(
    ("name", "cause"), [("jumps", "sudden"), ("build_up", "lr_too_high"), ("noise", "scattered")]
)
def test_sudden_jumps_are_told_from_a_build_up_and_from_noise(logs, capsys, name, cause):
    """At a constant learning rate: spikes that jump from a normal step in one step are
    sudden jumps (not "scattered"); the same spikes after two growing steps, a build-up;
    spikes among noisy norms, some after a large step and some not, scattered. What the
    norms before each episode were is counted here from the records, not by the doctor."""
    records = read_log(logs[name]).steps
    assert len({r.lr for r in records}) == 1  # one learning rate throughout
    ramps = episode_ramps(records)
    measured = [x for x in ramps.values() if x is not None]
    if name == "noise":  # the log is what it is meant to be: some built up, some did not
        assert any(x >= 2.0 for x in measured) and any(x < 2.0 for x in measured)
    else:
        assert d_steps(records) == list(JUMPS) and len(measured) == len(JUMPS)
        assert all((x >= 2.0) == (name == "build_up") for x in measured), measured
    d = _diagnosis(logs[name])
    assert d.cause == cause
    assert ("jumps" in d.messages()) == (name == "jumps")
    assert ("builds_up" in d.messages()) == (name == "build_up")
    for lang in LANGS:
        out = " ".join(_text(logs[name], lang, capsys).split())
        said = {"en": "sudden jumps", "bn": "আকস্মিক লাফ"}[lang]
        assert (said in out) == (name == "jumps"), (lang, out)
    if name != "jumps":
        return
    jumps = _finding(d, "jumps")
    assert jumps.evidence["steps"] == list(JUMPS) and jumps.evidence["n"] == len(JUMPS)
    assert jumps.evidence["lo"] == pytest.approx(min(measured))
    assert jumps.evidence["hi"] == pytest.approx(max(measured))
    assert "batches_differ" in d.messages()  # batches 7, 3, 1, 8: none came back
    for lang in LANGS:
        out = " ".join(_text(logs[name], lang, capsys).split())
        assert sentence(jumps, lang) in out
        assert f"{max(measured):.3g}" in out


def d_steps(records):
    return [r.step for r in records if r.kind in ("spike", "nonfinite")]


def test_one_layer_grows(logs, capsys):
    d = _diagnosis(logs["layer_grows"])
    assert d.cause == "layer_growth"
    assert d.growing_layer == "inp"  # the layer the drifting raw features feed
    grows = _finding(d, "layer_grows")
    assert grows.evidence["factor"] >= 4.0
    assert grows.evidence["others_hi"] * 3.0 <= grows.evidence["factor"]
    for lang in LANGS:
        out = _text(logs["layer_grows"], lang, capsys)
        assert sentence(grows, lang) in out and "'inp'" in out


def test_every_layer_grows(logs, capsys):
    """Every layer's gradient grows (the targets' scale drifts up): not "one layer", not
    "nothing": the whole network, the fastest layer named with its figures."""
    d = _diagnosis(logs["all_layers_grow"])
    assert d.cause == "all_layers_growth"
    assert d.growing_layer is None  # no one layer to blame
    grows = _finding(d, "layers_all_grow")
    assert "layer_grows" not in d.messages() and "layer_advice" not in d.messages()
    # its figures are the medians of the log's per-layer norms, first and last third
    rows = [r for r in read_log(logs["all_layers_grow"]).steps if r.layer_norms]
    third = len(rows) // 3
    factors = {
        name: statistics.median(r.layer_norms[name] for r in rows[-third:])
        / statistics.median(r.layer_norms[name] for r in rows[:third])
        for name in rows[0].layer_norms
    }
    fastest = max(factors, key=factors.get)
    assert grows.evidence["layer"] == fastest
    assert grows.evidence["factor"] == pytest.approx(factors[fastest])
    others = [f for k, f in factors.items() if k != fastest]
    assert grows.evidence["others_lo"] == pytest.approx(min(others)) and min(others) >= 4.0
    advice = _finding(d, "all_layers_advice")
    for lang in LANGS:
        out = _text(logs["all_layers_grow"], lang, capsys)
        assert sentence(grows, lang) in out and sentence(advice, lang) in out
        assert f"'{fastest}'" in out and f"{factors[fastest]:.3g}" in out
        assert "learning rate" in sentence(advice, lang)


def test_no_layer_grows(logs, capsys):
    """Per-layer norms on every 5th step of a clean run: no growth found, nothing to change."""
    d = _diagnosis(logs["clean_layers"])
    assert sum(bool(r.layer_norms) for r in d.steps) >= 20
    assert d.cause == "clean" and d.growing_layer is None
    assert d.messages() == ["clean", "nothing_clean"]
    for lang in LANGS:
        out = _text(logs["clean_layers"], lang, capsys)
        assert sentence(d.findings[-1], lang) in out


def test_clean_run(logs, capsys):
    d = _diagnosis(logs["clean"])
    assert d.cause == "clean"
    assert d.bad_steps == []
    assert d.messages() == ["clean", "nothing_clean"]
    for lang in LANGS:
        out = _text(logs["clean"], lang, capsys)
        assert sentence(d.findings[-1], lang) in out


#: Every hand-made log of the ``logs`` fixture, one per diagnosis.
_LOG_NAMES = (
    "recurring",
    "one_off",
    "lr_high",
    "layer_grows",
    "all_layers_grow",
    "clean",
    "jumps",
    "noise",
)


@pytest.mark.parametrize("name", _LOG_NAMES)
def test_every_sentence_filled_and_each_cause_distinct(logs, name):
    d = _diagnosis(logs[name])
    for lang in LANGS:
        text = render_text(name, [d], lang)
        assert "{" not in text and "}" not in text.replace("{\\", "")
        data = to_json(name, [d], lang)
        json.dumps(data, allow_nan=False)
        assert [f["key"] for f in data["runs"][0]["findings"]] == d.messages()


def test_each_cannot_tell_names_what_to_record(logs):
    hints = {
        "no_batch_ids": "batch=",
        "layers_unknown": "layer_norms_every=1",
        "no_reruns": "closure=",
    }
    seen = set()
    for name in logs:
        for f in _diagnosis(logs[name]).findings:
            if f.cannot_tell:
                assert hints[f.key] in sentence(f, "en")
                seen.add(f.key)
    assert seen == set(hints)


def test_json_output(logs, capsys):
    assert main(["doctor", str(logs["recurring"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (run,) = data["runs"]
    assert run["cause"] == "recurring_batch"
    assert run["bad_steps"] == [3, 13, 23, 33, 43, 53]
    assert all(re.search(r"\S", f["text"]) for f in run["findings"])


#: A count of zero written as a number: "0টি", "0 বার", "0 of", "0 flagged" … (not 10, 0.5).
_ZERO = re.compile(r"(?<![\d.,–])0(?:টি| বার| (?:of|non-finite|flagged|other|bad|times|steps?))")


@pytest.mark.parametrize("name", _LOG_NAMES)
def test_no_count_of_zero_is_written_as_a_number(logs, name, capsys):
    """A count of none has its own words ("took no bad step", "কোনো খারাপ ধাপ নেয়নি")."""
    for lang in LANGS:
        out = _text(logs[name], lang, capsys)
        assert _ZERO.search(out) is None, (lang, _ZERO.search(out))


@pytest.mark.parametrize(
    ("key", "evidence"),
    [
        ("guard_did", {"skipped": 0, "rollbacks": 0, "taken_bad": 3}),
        ("guard_did", {"skipped": 1, "rollbacks": 1, "taken_bad": 0}),
        ("clean", {"clipped": 0, "steps": 9, "first": 0, "last": 8}),
        ("bad_steps", {"nonfinite": 0, "spikes": 2, "bad": 2, "episodes": 1}),
        ("bad_steps", {"nonfinite": 2, "spikes": 0, "bad": 2, "episodes": 2}),
        ("reruns", {"n": 2, "transient": [4, 9], "reproducible": []}),
        ("reruns", {"n": 1, "transient": [], "reproducible": [4]}),
        ("replay_rule_only_spikes", {"caught": 2, "spikes": 3, "others": 0, "first": 5}),
        ("replay_rule_none", {"caught": 0, "spikes": 3, "others": 0, "first": None}),
        ("replay_rule_missed", {"caught": 0, "spikes": 3, "others": 2, "first": 7}),
        ("replay_rule_no_spikes", {"caught": 0, "spikes": 0, "others": 2, "first": 7}),
    ],
)
def test_each_zero_has_its_sentence(key, evidence):
    from gradguard.doctor._diagnose import Finding
    from gradguard.rules import describe_rule

    ev = {"steps": 9, "first": 0, "last": 8, "lost": 1, "share": 0.1, "unknown": 0, **evidence}
    ev |= {"rule": "median+6·MAD", "per_k": 1.5, "n_transient": 0, "n_reproducible": 0}
    ev |= {"rule_name": "spike-mad", "rule_params": {"k": 6, "window": 128, "min_history": 16}}
    for lang in LANGS:
        text = sentence(Finding("x", key, ev), lang)
        if key.startswith("replay_rule"):  # the rule in the reader's language
            assert text.startswith(describe_rule("spike-mad", ev["rule_params"], lang)), text
        assert "{" not in text and _ZERO.search(text) is None, (lang, text)
        assert " 1 steps" not in text and "1 times" not in text, text


def _rerun_log(path, bad):
    """10 steps; ``bad``: step → verdict of its re-run (a non-finite first run)."""
    from gradguard.records import StepRecord, write_log

    records = [StepRecord(step=i, grad_norm=1.0, loss=1.0, extra={"batch": i}) for i in range(10)]
    for s, verdict in bad.items():
        r = records[s]
        r.kind, r.grad_norm, r.nonfinite_count = "nonfinite", math.inf, 1
        r.action = "step" if verdict == "transient" else "skip"
        r.extra["rerun"] = {
            "verdict": verdict,
            "grad_norm": 1.0 if verdict == "transient" else math.inf,
        }
    write_log(path, records)
    return path


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_re_run_sentences_are_true_of_the_log(tmp_path, capsys, lang):
    """One step is "step 6", not "steps 6"; two episodes make no "3 to 3 steps apart"; an
    episode whose re-runs were all bad again is not called a transient fault."""
    from gradguard.cli import main

    capsys.readouterr()
    assert (
        main(
            [
                "doctor",
                str(_rerun_log(tmp_path / "a.jsonl", {3: "reproducible", 6: "transient"})),
                "--lang",
                lang,
            ]
        )
        == 0
    )
    two = " ".join(capsys.readouterr().out.split())
    assert (
        main(
            [
                "doctor",
                str(_rerun_log(tmp_path / "b.jsonl", {5: "reproducible", 6: "reproducible"})),
                "--lang",
                lang,
            ]
        )
        == 0
    )
    one = " ".join(capsys.readouterr().out.split())
    # the step re-run and found transient was taken with the re-run's gradients, and the
    # sentence on it says so (not "took it", beside "took no bad step")
    took = {"en": "took it with its re-run's gradients (transient)",
            "bn": "আবার চালানোর gradient দিয়ে ধাপটি নিয়েছে (ক্ষণস্থায়ী)"}[lang]  # fmt: skip
    assert two.count(took) == 1 and took not in one
    if lang == "en":
        step6 = "Step 6: non-finite (NaN/inf), loss 1; flagged by: `nonfinite`; the guard "
        assert step6 + took in two
        assert "(healthy when re-run: step 6)" in two and "(bad again: step 3)" in two
        assert "3 to 3 steps apart" not in two and "3 steps apart" in two
        assert "a transient fault, or a bad batch seen once" not in one
        assert "each was bad again (reproducible)" in one
    else:
        assert "3 থেকে 3 ধাপ" not in two and "একটি থেকে আরেকটি 3 ধাপ দূরে" in two
        assert "ক্ষণস্থায়ী কোনো ত্রুটি, অথবা" not in one and "আবারও খারাপ ছিল" in one


@pytest.mark.parametrize(
    ("verdicts", "key"),
    [
        ({6: "transient"}, "nothing_transient"),
        ({6: "reproducible"}, "nothing_reproducible"),
        ({}, "nothing"),
    ],
)
def test_one_off_advice_follows_the_re_runs(tmp_path, capsys, verdicts, key):
    """A one-off whose step was re-run is never told "re-run them": the advice follows the
    verdict (transient: nothing to change; reproducible: look at the batch)."""
    from gradguard.records import StepRecord, write_log

    records = [StepRecord(step=i, grad_norm=1.0, loss=1.0, extra={"batch": i}) for i in range(10)]
    r = records[6]
    r.kind, r.grad_norm, r.nonfinite_count = "nonfinite", math.inf, 1
    r.action = "step" if verdicts.get(6) == "transient" else "skip"
    if verdicts:
        r.extra["rerun"] = {"verdict": verdicts[6], "grad_norm": 1.0}
    path = tmp_path / "one.jsonl"
    write_log(path, records)
    d = _diagnosis(path)
    assert d.cause == "one_off"
    advice = [f for f in d.findings if f.topic == "change"]
    assert [f.key for f in advice] == [key]
    for lang in LANGS:
        out = _text(path, lang, capsys)
        assert sentence(advice[0], lang) in out
        if lang == "en":
            assert ("re-run them" in out) == (not verdicts)  # only where none was re-run
            assert ("was taken" in out) is False  # a transient step taken is no fault


def test_a_recurring_batch_is_counted_from_every_step_that_names_it(tmp_path, capsys):
    """A log that names every step's batch (six batches, in turn): batch 3 is NaN on 2 of
    the 5 steps it came on. The sentence says flagged on 2 of the 5, and which passed."""
    from gradguard.records import StepRecord, write_log

    records = [
        StepRecord(step=i, grad_norm=1.0, loss=1.0, extra={"batch": i % 6}) for i in range(30)
    ]
    for s in (3, 15):
        r = records[s]
        r.kind, r.grad_norm, r.nonfinite_count, r.action = "nonfinite", math.inf, 1, "skip"
    path = tmp_path / "named.jsonl"
    write_log(path, records)
    d = _diagnosis(path)
    assert d.cause == "recurring_batch"
    recurs = _finding(d, "batch_recurs")
    assert recurs.evidence["steps"] == [3, 15] and recurs.evidence["n"] == 2
    assert recurs.evidence["seen"] == 5 and recurs.evidence["passed"] == [9, 21, 27]
    for lang in LANGS:
        out = " ".join(_text(path, lang, capsys).split())
        assert sentence(recurs, lang) in out
    assert sentence(recurs, "en").startswith(
        "Batch 3 was flagged on 2 of the 5 steps that name it (steps 3, 15), "
        "and not on the other 3 (steps 9, 21, 27)"
    )
    assert "নাম যে 5টি ধাপে আছে, তার 2টিতে" in sentence(recurs, "bn")


@pytest.mark.parametrize(
    ("verdicts", "cause"),
    [
        ({10: "transient", 30: "transient"}, "sudden"),
        ({10: "transient", 30: None, 50: "reproducible"}, "recurring_batch"),
    ],
)
def test_a_batch_healthy_when_re_run_is_not_counted_against_it(tmp_path, capsys, verdicts, cause):
    """Batch 3 flagged on each step below; a step re-run on it and healthy (transient) is
    not counted against it — as the skip list leaves it out: twice transient, no bad batch
    and nothing to skip; once transient beside two others, it recurs on those two."""
    from gradguard.records import StepRecord, write_log
    from gradguard.skiplist import skip_list

    records = [StepRecord(step=i, grad_norm=1.0, loss=1.0) for i in range(60)]
    for s, v in verdicts.items():
        r = records[s]
        r.kind, r.grad_norm, r.nonfinite_count = "nonfinite", math.inf, 1
        r.action, r.extra["batch"] = ("step" if v == "transient" else "skip"), 3
        if v is not None:
            r.extra["rerun"] = v
    path = tmp_path / "cleared.jsonl"
    write_log(path, records)
    d = _diagnosis(path)
    assert d.cause == cause
    listed = skip_list(records).batches  # what `replay --skip-list` lists
    if cause == "sudden":
        assert listed == [] and "skip_batches" not in d.messages()
        found = _finding(d, "batch_cleared")
        assert found.evidence["cleared"] == [10, 30]
    else:
        assert listed == [3] and _finding(d, "skip_batches").evidence["batches"] == [3]
        found = _finding(d, "batch_recurs")
        assert found.evidence["steps"] == [30, 50] and found.evidence["cleared"] == [10]
    for lang in LANGS:
        out = " ".join(_text(path, lang, capsys).split())
        assert sentence(found, lang) in out
        bad_batch = {"en": "a bad batch, not a random fault", "bn": "এটি একটি খারাপ ব্যাচ"}[lang]
        assert (bad_batch in out) == (cause == "recurring_batch")
        assert "1× to 1×" not in out and "1 থেকে 1 গুণ" not in out  # one figure, said once
    if cause == "sudden":  # both jumped from norms of exactly 1
        assert "stood at 1× its median (below 2×)" in sentence(_finding(d, "jumps"), "en")
    if cause == "recurring_batch":
        assert "It was flagged on step 10 too, but was healthy when re-run" in sentence(found, "en")


@pytest.mark.parametrize("rerun_at", [6, 7])
def test_an_episode_partly_re_run_is_not_told_to_re_run(tmp_path, capsys, rerun_at):
    """Steps 6–7, one re-run (healthy, taken with the re-run's gradients), the other
    skipped without a re-run: the advice names the step withheld and the step re-run, and
    never says "re-run them" of an episode the guard re-ran."""
    from gradguard.records import StepRecord, write_log

    records = [StepRecord(step=i, grad_norm=1.0, loss=1.0, extra={"batch": i}) for i in range(12)]
    for s in (6, 7):
        r = records[s]
        r.kind, r.grad_norm, r.nonfinite_count = "nonfinite", math.inf, 1
        r.action = "skip"
    records[rerun_at].action = "step"
    records[rerun_at].extra["rerun"] = {"verdict": "transient", "grad_norm": 1.0}
    withheld = 13 - rerun_at  # the other one
    path = tmp_path / "partly.jsonl"
    write_log(path, records)
    d = _diagnosis(path)
    assert d.cause == "one_off" and d.bad_steps == [6, 7]
    (advice,) = [f for f in d.findings if f.topic == "change"]
    assert advice.evidence["steps"] == [withheld]
    assert advice.evidence["transient"] == [rerun_at]
    for lang in LANGS:
        out = " ".join(_text(path, lang, capsys).split())
        assert sentence(advice, lang) in out
        rerun_them = {"en": "re-run them", "bn": "আবার চালিয়ে দেখুন"}[lang]
        assert rerun_them not in out
        if lang == "en":
            assert f"the guard withheld step {withheld} and" in out
            assert f"step {rerun_at} was healthy (a transient fault)" in out


@pytest.mark.parametrize("how", ["header", "steps_go_back"])
def test_a_log_of_two_runs_is_diagnosed_per_run(tmp_path, capsys, how):
    """A run resumed into the same file: a new header (a guard writes one each start), or
    the step index going back. Each run is diagnosed on its own, and its heading says
    which run of the log it is and its steps, so that every finding reads as of its run."""
    from gradguard.records import RecordWriter, StepRecord

    path = tmp_path / "two.jsonl"
    with RecordWriter(path) as log:
        log.write_meta({"guard": {"rollback_after": 10}})
        for i in range(30):
            r = StepRecord(step=i, grad_norm=1.0, loss=1.0)
            if i == 12:
                r.kind, r.grad_norm, r.action, r.nonfinite_count = "nonfinite", math.inf, "skip", 1
            log.write(r)
        if how == "header":
            log.write_meta({"guard": {"rollback_after": 10}})  # the resumed run's guard
        first = 20 if how == "header" else 0  # resumed from step 20, or restarted at 0
        for i in range(first, first + 40):
            log.write(StepRecord(step=i, grad_norm=1.0, loss=1.0))
    runs = read_log(path).runs
    assert len(runs) == 2
    one, two = (diagnose(r) for r in runs)
    assert one.cause == "one_off" and one.bad_steps == [12]
    assert two.cause == "clean"
    for lang in LANGS:
        out = _text(path, lang, capsys)
        first_part, second_part = out.split(_title_of(2, lang))
        assert _title_of(1, lang) in first_part
        assert "12" in first_part and sentence(_finding(one, "one_off"), lang) in first_part
        assert sentence(_finding(two, "clean"), lang) in second_part
        assert f"{first}–{first + 39}" in second_part.splitlines()[0]
    assert main(["doctor", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["index"], r["first_step"], r["cause"]) for r in data["runs"]] == [
        (1, 0, "one_off"),
        (2, first, "clean"),
    ]


def _title_of(i, lang):
    return {"en": f"run {i} of 2 in this log", "bn": f"2টি রানের {i} নম্বরটি"}[lang]


def test_a_spike_names_what_the_rule_compared(logs, capsys):
    """The doctor's ratio is to its own median (of the healthy steps just before, counted);
    beside it, each spike episode quotes what the guard's rule compared the norm with: its
    threshold on that step, as recorded, and the rule and window the log's header names."""
    from gradguard.rules import MedianMadRule

    d = _diagnosis(logs["lr_high"])
    records = {r.step: r for r in read_log(logs["lr_high"]).steps}
    episodes = [f for f in d.findings if f.key == "episode_spike"]
    assert episodes
    rule = MedianMadRule()  # the guard's default, which this log's guard used
    for f in episodes:
        first = records[f.evidence["steps"][0]]
        assert f.evidence["threshold"] == first.spike_threshold > 0
        assert first.grad_norm > f.evidence["threshold"]  # what flagged it
        assert f.evidence["rule"] == rule.describe() and f.evidence["window"] == rule.window
        healthy = [
            r.grad_norm
            for s, r in records.items()
            if s < first.step and r.action == "step" and r.kind in ("ok", "clipped")
        ]
        assert 8 <= f.evidence["baseline_n"] <= 20 and len(healthy) >= f.evidence["baseline_n"]
    for lang in LANGS:
        out = _text(logs["lr_high"], lang, capsys)
        for f in episodes:
            assert sentence(f, lang) in out
        f = episodes[0]
        assert f"{f.evidence['threshold']:.3g}" in out and rule.describe() in out
        head = "the median of the {} healthy steps just before it"
        if lang == "en":
            assert head.format(f.evidence["baseline_n"]) in out
            assert "computed from up to 128 past finite norms" in out
