"""`gradguard replay`: policies over recorded traces, JSON output, bad input through the CLI."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradguard.cli import main
from gradguard.records import RecordWriter, StepRecord, write_log


def _trace_log(path, spike_at=100, n=300, runs=(None,)):
    records = []
    for run in runs:
        rng = random.Random(0)
        for i in range(n):
            norm = 1.0 + 0.1 * rng.random()
            records.append(StepRecord(step=i, grad_norm=norm, run=run))
        records[-n + spike_at].grad_norm = 50.0
        records[-n + 200].grad_norm = math.nan
        records[-n + 201].grad_norm = math.inf
        records[-n + 201].action = "skip"
        records[-n + 201].kind = "nonfinite"
    write_log(path, records)
    return records


def _run(capsys, *args):
    code = main(["replay", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("header", ["none", "guard", "unknown_rule"])
def test_json_is_the_same_in_every_language(tmp_path, capsys, header):
    """--json is for machines: one output whatever --lang (docs/cli.md) — the rules'
    descriptions and the recorded summary in the catalogs' source language, an error from
    a header naming a rule this gradguard lacks included; the table speaks --lang."""
    path = tmp_path / "run.jsonl"
    records = _trace_log(path, runs=(None, None))  # two unnamed runs: "1 of 2", "2 of 2"
    if header != "none":
        rule = {"name": "no-such-rule" if header == "unknown_rule" else "spike-mad"}
        path = tmp_path / "guard.jsonl"
        with RecordWriter(path) as log:
            log.write_meta({"guard": {"spike_rule": rule, "on_spike": "skip"}})
            for r in records[:300]:
                log.write(r)
    outs = {}
    for lang in ("en", "bn"):
        code, outs[lang], err = _run(capsys, path, "--json", "--lang", lang)
        assert code == 0 and err == ""
    assert outs["en"] == outs["bn"]
    runs = json.loads(outs["en"])["runs"]
    if header == "none":
        assert [r["run"] for r in runs] == ["1 of 2", "2 of 2"]
    res = runs[0]
    by = {p["policy"]: p for p in res["policies"]}
    assert by["fixed"]["description"] == "fixed c=1"
    if header == "unknown_rule":
        assert "'no-such-rule'" in res["own_policy"]["error"]
        assert set(res["own_policy"]) == {"error"}
        code, table, _ = _run(capsys, path, "--lang", "bn")
        assert code == 0 and "পাওয়া গেছে" in table  # the table says the error in Bengali


def test_json_report(tmp_path, capsys):
    path = tmp_path / "run.jsonl"
    records = _trace_log(path)
    code, out, err = _run(capsys, path, "--max-norm", 1.05, "--zclip-cap", "none", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    (res,) = data["runs"]
    assert res["steps"] == 300 and res["nonfinite_steps"] == [200, 201]
    rec = res["recorded"]
    assert (rec["clipped"], rec["skipped"], rec["rollbacks"], rec["nonfinite"]) == (0, 1, 0, 1)
    assert res["own_policy"] is None  # a log not written by a guard: no policy to replay
    by = {p["policy"]: p for p in res["policies"]}
    # Fixed c: exactly the finite norms above c, by definition of the rule.
    above = [r.step for r in records if math.isfinite(r.grad_norm) and r.grad_norm > 1.05]
    assert by["fixed"]["steps"] == above and by["fixed"]["action"] == "clip"
    # The single spike (50 among norms in [1, 1.1]) is what every adaptive rule flags
    # (ZClip without its cap: ZClip()'s cap of 1 clips every one of these norms, below).
    assert by["zclip"]["steps"] == [100]
    assert by["spike-mad"]["steps"] == [100] and by["spike-mad"]["action"] == "skip"
    assert by["spike-std"]["steps"] == [100]
    # AutoClip at p=10 clips most steps by design (≈ 90% of norms exceed the 10th pct).
    assert 0.7 < by["autoclip"]["fraction"] < 0.95
    assert 100 in by["autoclip"]["steps"]
    code, out, _ = _run(capsys, path, "--json")  # ZClip() as it is: capped at 1.0
    zclip = next(p for p in json.loads(out)["runs"][0]["policies"] if p["policy"] == "zclip")
    assert zclip["steps"] == [r.step for r in records if math.isfinite(r.grad_norm)]


def test_text_report_and_runs(tmp_path, capsys):
    path = tmp_path / "multi.jsonl"
    _trace_log(path, runs=("a/0", "b/0"))
    code, out, _ = _run(capsys, path)
    assert code == 0
    assert "run a/0" in out and "run b/0" in out and "median+6·MAD" in out
    code, out, _ = _run(capsys, path, "--run", "b/0", "--json")
    assert code == 0 and [r["run"] for r in json.loads(out)["runs"]] == ["b/0"]


def test_replay_of_a_real_guard_log(tmp_path, capsys):
    import torch

    from gradguard.torch import SpikeGuard

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    path = tmp_path / "guard.jsonl"
    with SpikeGuard(model, opt, clipper=0.5, log=path, spike_rule=None) as guard:
        for step in range(30):
            opt.zero_grad()
            x = torch.randn(4, 3, generator=torch.Generator().manual_seed(step))
            loss = model(x).square().mean() * (100 if step % 3 == 0 else 1)
            loss.backward()
            if step == 7:
                model.weight.grad[0, 0] = math.nan
            guard.step(loss)
    code, out, _ = _run(capsys, path, "--json")  # c defaults to the recorded 0.5
    assert code == 0
    res = json.loads(out)["runs"][0]
    assert res["nonfinite_steps"] == [7] and res["recorded"]["skipped"] == 1
    fixed = next(p for p in res["policies"] if p["policy"] == "fixed")
    assert fixed["description"] == "fixed c=0.5"
    # Replaying the guard's own threshold reproduces the steps it clipped.
    assert fixed["count"] == res["recorded"]["clipped"] > 0


def test_truncated_tail_is_noted(tmp_path, capsys):
    path = tmp_path / "cut.jsonl"
    _trace_log(path)
    with path.open("a") as f:
        f.write('{"v":1,"type":"step","ste')
    code, out, err = _run(capsys, path)
    assert code == 0 and "partial line" in err and "300 steps" in out


def _assert_one_line_error(code, err, *parts):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        (["--max-norm", "0"], ["--max-norm must be a number > 0", "got 0.0"]),
        (["--percentile", "101"], ["--percentile must be a number in (0, 100]"]),
        (["--history", "0"], ["--history must be a whole number ≥ 1, got 0"]),
        (["--alpha", "1.5"], ["--alpha must be a number in (0, 1)"]),
        (["--warmup", "0"], ["--warmup must be a whole number ≥ 1"]),
        (["--window", "1"], ["--window must be a whole number ≥ 2"]),
        (["--k", "-2"], ["--k must be a finite number > 0"]),
        (["--z-thresh", "nan"], ["--z-thresh must be a finite number > 0"]),
        (["--run", "nope"], ["--run must name a run", "'nope'"]),
        (["--history", "x"], ["--history must be a whole number, got 'x'."]),
        (
            ["--zclip-cap", "0"],
            ["--zclip-cap must be a number > 0 (inf: no cap), or none", "got '0'"],
        ),
        (["--zclip-cap", "cap"], ["--zclip-cap must be a number > 0 (inf: no cap), or none"]),
    ],
)
def test_bad_options(tmp_path, capsys, args, parts):
    path = tmp_path / "run.jsonl"
    _trace_log(path, n=250)
    code, _, err = _run(capsys, path, *args)
    _assert_one_line_error(code, err, *parts)


def test_infinite_threshold_clips_nothing(tmp_path, capsys):
    # --max-norm inf and --zclip-cap inf are thresholds (one meaning: inf never clips).
    path = tmp_path / "run.jsonl"
    _trace_log(path)
    code, out, err = _run(capsys, path, "--max-norm", "inf", "--zclip-cap", "inf", "--json")
    assert code == 0 and err == ""
    by = {p["policy"]: p for p in json.loads(out)["runs"][0]["policies"]}
    assert by["fixed"]["steps"] == [] and by["zclip"]["steps"] == [100]  # no cap, the spike


def test_bad_logs(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "missing.jsonl")
    _assert_one_line_error(code, err, "missing.jsonl: no such log file")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"v":1,"type":"step","step":0,"grad_norm":1.0}\nnot json\n{"v":1}\n')
    code, _, err = _run(capsys, bad)
    _assert_one_line_error(code, err, "bad.jsonl:2: not valid JSON")
    empty = tmp_path / "empty.jsonl"
    with RecordWriter(empty) as w:
        w.write_meta({"model": "x"})
        w.write(StepRecord(step=0, loss=1.0))
    code, _, err = _run(capsys, empty)
    _assert_one_line_error(code, err, "no step records with a grad_norm", "1 step record read")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = _run(capsys, binary)
    _assert_one_line_error(code, err, "not a UTF-8 text file")
    code, _, err = _run(capsys)
    _assert_one_line_error(code, err, "Missing argument 'log'")


def test_help_mentions_every_policy(capsys):
    code = main(["replay", "--help"])
    out, _ = capsys.readouterr()
    assert code == 0
    for word in ("AutoClip", "ZClip", "--max-norm", "--json", "--window"):
        assert word in out


def test_progress_bar_path(tmp_path, capsys, monkeypatch):
    import gradguard.cli._guard as guard_cli

    monkeypatch.setattr(guard_cli, "_PROGRESS_FROM", 10)  # force the bar on a small log
    path = tmp_path / "run.jsonl"
    _trace_log(path)
    code, out, _ = _run(capsys, path, "--json")
    assert code == 0 and json.loads(out)["runs"][0]["steps"] == 300


def _zclip_run(path, clipper, scale=1.0, steps=120):
    """Train a small MLP under ``clipper`` (no spike rule: every step is taken) into ``path``."""
    import torch

    from gradguard.torch import SpikeGuard

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    with SpikeGuard(model, opt, clipper=clipper, log=path, spike_rule=None) as guard:
        for step in range(steps):
            opt.zero_grad()
            x = torch.randn(16, 8, generator=g) * (4.0 if step % 17 == 5 else 1.0)
            loss = scale * (model(x).squeeze(-1) - x.sum(-1)).square().mean()
            loss.backward()
            guard.step(loss)


@pytest.mark.parametrize(
    ("kwargs", "args"),
    [
        ({}, []),  # ZClip() as it is: its cap (1.0) and its warm-up clipping included
        ({"max_grad_norm": None}, ["--zclip-cap", "none"]),
        ({"max_grad_norm": 12.0, "warmup_steps": 10}, ["--zclip-cap", "12", "--warmup", "10"]),
    ],
)
def test_replay_reproduces_a_zclip_runs_clip_decisions(tmp_path, capsys, kwargs, args):
    from gradguard.records import read_log
    from gradguard.torch import ZClip

    path = tmp_path / "zclip.jsonl"
    with pytest.warns(UserWarning) if not kwargs else _no_warning():
        _zclip_run(path, ZClip(**kwargs))
    clipped = [r.step for r in read_log(path).steps if r.clipped]
    assert 0 < len(clipped) < 120  # some steps clipped, not all: the test can tell rules apart
    code, out, _ = _run(capsys, path, "--json", *args)
    assert code == 0
    zclip = next(p for p in json.loads(out)["runs"][0]["policies"] if p["policy"] == "zclip")
    assert zclip["steps"] == clipped
    cap = kwargs.get("max_grad_norm", 1.0)
    assert zclip["params"].get("max_norm") == cap
    assert zclip["description"].endswith(" no cap" if cap is None else f" cap={cap:g}")


def _no_warning():
    import warnings
    from contextlib import contextmanager

    @contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield

    return ctx()


def test_zclip_says_once_when_its_cap_clips_the_warm_up(tmp_path):
    """Natural norms ~10 above ZClip()'s cap of 1: it clips every step like a fixed
    threshold, and says so once, at the end of its warm-up; a cap above the norms: silent."""
    from gradguard.records import read_log
    from gradguard.torch import ZClip

    with pytest.warns(UserWarning, match=r"clipped 25 of its 25 warm-up norms") as seen:
        _zclip_run(tmp_path / "big.jsonl", ZClip(), scale=30.0, steps=60)
    assert len([w for w in seen if "warm-up norms" in str(w.message)]) == 1
    steps = read_log(tmp_path / "big.jsonl").steps
    assert all(r.clipped for r in steps)  # what the note warns of
    median = sorted(r.grad_norm for r in steps[:25])[12]
    assert f"(their median: {median:.3g})" in str(seen[0].message)
    with _no_warning():
        _zclip_run(tmp_path / "small.jsonl", ZClip(max_grad_norm=100.0), steps=60)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(
        st.sampled_from(["ok", "skip", "transient", "reproducible"]), min_size=1, max_size=24
    )
)
def test_non_finite_steps_re_run_and_taken_are_counted_apart(tmp_path_factory, capsys, kinds):
    """replay's caption and the doctor's sentence are true for every log: a non-finite step
    re-run healthy and taken (transient) is not among those "every guard skips"."""
    path = tmp_path_factory.mktemp("rerun") / "run.jsonl"
    records = []
    for i, k in enumerate(kinds):
        r = StepRecord(step=i, grad_norm=1.0 + 0.01 * (i % 5))
        if k != "ok":
            r.grad_norm, r.kind, r.nonfinite_count = math.inf, "nonfinite", 1
            r.action = "step" if k == "transient" else "skip"
        if k in ("transient", "reproducible"):
            again = 1.0 if k == "transient" else math.inf
            r.extra["rerun"] = {
                "verdict": k,
                "grad_norm": again,
                "loss": None,
                "nonfinite_count": 0 if k == "transient" else 1,
                "kind": "ok" if k == "transient" else "nonfinite",
            }
        records.append(r)
    write_log(path, records)
    taken = [i for i, k in enumerate(kinds) if k == "transient"]
    bad = [i for i, k in enumerate(kinds) if k != "ok"]
    others = len(bad) - len(taken)
    code, out, _ = _run(capsys, path, "--json")
    assert code == 0
    res = json.loads(out)["runs"][0] if kinds else None
    if res is not None:
        assert res["nonfinite_steps"] == bad and res["transient_steps"] == taken
    for lang in ("en", "bn"):
        code, out, _ = _run(capsys, path, "--lang", lang)
        code2 = main(["doctor", str(path), "--lang", lang])
        doctor = capsys.readouterr().out
        text = " ".join((out + doctor).split())
        assert code == 0 and code2 == 0 and "{" not in text
        if lang != "en" or not bad:
            continue
        skips_all = "every guard skips them" in text or "Every guard skips the" in text
        assert skips_all == (bool(bad) and not taken)
        if taken:
            assert f"non-finite: {len(bad)}" in text and "(transient)" in text
        if taken and others:
            assert f"{len(taken)} re-run healthy and taken" in text
            assert f"every guard skips the other {others}" in text
            assert f"Of the {len(bad)} non-finite steps" in text
        if taken and not others:
            assert "every guard skips" not in text.lower()


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("skipped", "spikes", "rollback", "reproducible", "transient", "left off")),
        ("bn", ("বাদ", "spike", "rollback", "পুনরাবৃত্তিযোগ্য", "ক্ষণস্থায়ী", "তালিকায় থাকে না")),
    ],
)
def test_the_skip_list_help_says_what_it_lists(tmp_path, capsys, lang, words):
    """--skip-list's help names each kind of step the list holds, and the one it leaves off
    (a step re-run healthy: transient); the list itself holds exactly those."""
    from gradguard._catalog import load_catalog

    text = load_catalog(lang, part="cli")["replay.skip_list"]
    assert all(w in text for w in words), text
    path = tmp_path / "run.jsonl"
    records = [StepRecord(step=i, grad_norm=1.0, extra={"batch": i}) for i in range(8)]
    records[1].action, records[1].kind = "skip", "nonfinite"  # skipped
    records[2].kind = "spike"  # flagged as a spike, taken
    records[5].action, records[5].extra["restored_step"] = "rollback", 4  # undoes 4 and 5
    for i, verdict in ((6, "transient"), (7, "reproducible")):
        records[i].kind, records[i].grad_norm = "nonfinite", math.inf
        records[i].action = "step" if verdict == "transient" else "skip"
        records[i].extra["rerun"] = {"verdict": verdict, "grad_norm": 1.0}
    write_log(path, records)
    code, out, _ = _run(capsys, path, "--skip-list", "--json")
    assert code == 0
    assert json.loads(out) == {"steps": [[1, 2], [4, 5], [7, 7]], "batches": [1, 2, 4, 5, 7]}
