"""The shared step-record format: round trip, non-finite floats, crash-safe reading."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradguard.records import (
    RecordError,
    RecordWriter,
    StepRecord,
    count_steps,
    read_log,
    write_log,
)

floats = st.floats(allow_nan=True, allow_infinity=True) | st.none()


@given(step=st.integers(0, 10**9), loss=floats, norm=floats, kind=st.sampled_from(["ok", "spike"]))
def test_round_trip(step, loss, norm, kind):
    rec = StepRecord(step=step, loss=loss, grad_norm=norm, kind=kind, extra={"note": "x"})
    line = rec.to_json()
    json.loads(line)  # strict JSON: NaN is written as a string, not a bare NaN
    assert "NaN" not in line and "Infinity" not in line
    back = StepRecord.from_dict(json.loads(line))
    for a, b in ((back.loss, loss), (back.grad_norm, norm)):
        assert (a is None and b is None) or (math.isnan(a) and math.isnan(b)) or a == b
    assert back.extra == {"note": "x"} and back.kind == kind and back.step == step


def test_writer_and_reader(tmp_path):
    path = tmp_path / "run.jsonl"
    with RecordWriter(path) as log:
        log.write_meta({"model": "lstm", "seed": 0})
        log.write(
            StepRecord(step=0, loss=1.0, grad_norm=float("inf"), kind="nonfinite", action="skip")
        )
        log.write(StepRecord(step=1, loss=0.5, grad_norm=2.0, layer_norms={"fc.weight": 1.5}))
    got = read_log(path)
    assert got.meta == [{"model": "lstm", "seed": 0}]
    assert [r.step for r in got.steps] == [0, 1]
    assert got.steps[0].grad_norm == math.inf and got.steps[0].action == "skip"
    assert got.steps[1].layer_norms == {"fc.weight": 1.5}
    assert not got.truncated_tail


def test_partial_last_line_is_skipped(tmp_path):
    # A crash mid-write leaves a partial final line: it is reported, not fatal.
    path = tmp_path / "run.jsonl"
    write_log(path, [StepRecord(step=0, loss=1.0), StepRecord(step=1, loss=0.9)])
    with path.open("a") as f:
        f.write('{"v":1,"type":"step","step":2,"lo')
    got = read_log(path)
    assert [r.step for r in got.steps] == [0, 1] and got.truncated_tail


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"v":1,"type":"step","step":0}\nnot json\n{"v":1,"step":2}\n')
    with pytest.raises(RecordError, match=r"bad\.jsonl:2: not valid JSON"):
        read_log(path)


def test_missing_file_and_wrong_version(tmp_path):
    with pytest.raises(RecordError, match="no such log file"):
        read_log(tmp_path / "nope.jsonl")
    with pytest.raises(RecordError, match="is a folder"):
        read_log(tmp_path)
    path = tmp_path / "v2.jsonl"
    path.write_text('{"v":2,"type":"step","step":0}\n')
    with pytest.raises(RecordError, match="version 2"):
        read_log(path)


def test_bad_action_rejected():
    with pytest.raises(ValueError, match="action must be one of"):
        StepRecord(step=0, action="jump")


def test_a_log_appended_to_by_two_runs_reads_as_two(tmp_path):
    path = tmp_path / "run.jsonl"
    for n in (3, 2):  # a guard writes a header each time it starts, also on an existing log
        with RecordWriter(path) as log:
            log.write_meta({"guard": f"run of {n}"})
            for s in range(n):
                log.write(StepRecord(step=s, loss=1.0))
    runs = read_log(path).runs
    assert [(r.meta["guard"], [s.step for s in r.steps]) for r in runs] == [
        ("run of 3", [0, 1, 2]),
        ("run of 2", [0, 1]),
    ]


def test_runs_split_without_headers_and_by_name(tmp_path):
    path = tmp_path / "mixed.jsonl"
    # an older log appended twice without headers: the step index restarts
    recs = [StepRecord(step=s) for s in (0, 1, 2, 0, 1)]
    # a remedies-style log: interleaved records of two named runs
    recs += [StepRecord(step=s, run=name) for s in (0, 1) for name in ("a", "b")]
    write_log(path, recs)
    runs = read_log(path).runs
    assert [(r.name, len(r.steps)) for r in runs] == [(None, 3), (None, 2), ("a", 2), ("b", 2)]


def test_counts_are_one_definition():
    recs = [
        StepRecord(step=0, clip_coef=0.5, kind="clipped"),
        StepRecord(step=1, action="skip", kind="spike", flagged_by="spike-mad"),
        StepRecord(step=2, action="skip", kind="nonfinite", nonfinite_count=1),
        StepRecord(step=3, action="rollback", kind="nonfinite", loss=math.nan),
        StepRecord(step=4, action="skip", kind="amp_skip"),
        StepRecord(step=5),
    ]
    c = count_steps(recs)
    # a rollback step is withheld too, but counted once, as a rollback, not also as a skip
    assert (c.steps, c.taken, c.clipped, c.skipped, c.rollbacks, c.amp_skipped) == (
        6,
        2,
        1,
        2,
        1,
        1,
    )
    assert (c.nonfinite, c.spikes) == (2, 1)
    assert c.describe() == (
        "6 steps: 1 clipped, 2 skipped, 1 rolled back, 2 non-finite, 1 flagged as spike, "
        "1 skipped by the AMP scaler"
    )


def test_new_fields_round_trip_and_old_readers_keep_them(tmp_path):
    rec = StepRecord(step=3, spike_threshold=4.5, loss_threshold=None, flagged_by="spike-mad")
    data = json.loads(rec.to_json())
    assert data["spike_threshold"] == 4.5 and data["flagged_by"] == "spike-mad"
    assert "loss_threshold" not in data  # absent means "not measured"
    assert StepRecord.from_dict(data) == rec


def test_the_record_format_page_lists_every_field():
    import dataclasses
    import re
    from pathlib import Path

    from gradguard.records import StepRecord

    page = (Path(__file__).resolve().parents[1] / "docs" / "records.md").read_text("utf-8")
    first_cells = re.findall(r"^\|([^|]*)\|", page, re.M)
    documented = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    fields = {f.name for f in dataclasses.fields(StepRecord)} - {"extra"}
    assert fields - documented == set()


def test_derived_fields_follow_the_numbers_and_keep_their_place_in_the_line():
    from dataclasses import fields

    import gradguard.records as rec

    names = {f.name for f in fields(StepRecord)} - {"extra"}
    assert set(rec._FIELD_NAMES) == names | {"clipped", "grad_finite", "loss_finite"}
    r = StepRecord(step=0, loss=math.inf, grad_norm=2.0, clip_coef=0.5, nonfinite_count=0)
    assert r.clipped and r.grad_finite and not r.loss_finite
    line = json.loads(r.to_json())
    keys = ["step", "loss", "grad_norm", "clip_coef", "clipped", "action", "kind"]
    assert list(line)[2:9] == keys
    assert (line["clipped"], line["grad_finite"], line["loss_finite"]) == (True, True, False)
    # A line that contradicts itself reads as its numbers say (clip_coef 1: not clipped);
    # one that gives only the derived keys (by hand) keeps what they say.
    back = StepRecord.from_dict({**line, "clip_coef": 1.0, "clipped": True})
    assert not back.clipped
    hand = StepRecord.from_dict({"v": 1, "type": "step", "step": 3, "grad_finite": False})
    assert not hand.grad_finite and hand.nonfinite_count == 1
