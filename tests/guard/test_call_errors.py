"""A call made at a moment it cannot be carried out is a CallError: one line, told in
every language from the errors catalog's [calls], never English written in code."""

from __future__ import annotations

import pickle
import re

import pytest
import torch

from gradguard._catalog import languages
from gradguard.errors import CallError, InputError, call_problems
from gradguard.records import RecordWriter, RunLog
from gradguard.rules import replay_guard, rule_from_header
from gradguard.torch import SpikeGuard, clip_grads_with_norm_
from gradguard.torch._snapshot import Snapshot, SnapshotError

BENGALI = re.compile("[\u0980-\u09ff]")
# (sync=False with plain SGD warns that each step costs a sync: not what these test)
pytestmark = pytest.mark.filterwarnings(r"ignore:`SpikeGuard\(sync=False\)`")


def _guard(sync: bool = True) -> SpikeGuard:
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return SpikeGuard(model, opt, sync=sync)


def _lightning():
    pytest.importorskip("lightning")
    from gradguard.integrations.lightning import SpikeGuardCallback

    return SpikeGuardCallback(clipper=1.0)._built()


def _transformers():
    pytest.importorskip("transformers")
    from gradguard.integrations.transformers import SpikeGuardCallback

    return SpikeGuardCallback(clipper=1.0)._built_gate()


def _closed_log(tmp_path):
    writer = RecordWriter(tmp_path / "log.jsonl")
    writer.close()
    writer.write_meta({"a": 1})


def _stepped_scaler():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    guard = SpikeGuard(model, opt, scaler=scaler)
    loss = model(torch.ones(1, 2)).sum()
    scaler.scale(loss).backward()
    scaler.step(opt)  # the user stepped before the guard could
    guard.step(loss)


def _nonfinite(tmp_path):
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.tensor([1.0, float("nan")])
    clip_grads_with_norm_([p], 1.0, torch.tensor(float("nan")), nonfinite="error")


def _no_snapshot(tmp_path):
    Snapshot().load()


def _snapshot_file(tmp_path, content: bytes | None):
    path = tmp_path / "snap.pt"
    if content is not None:
        path.write_bytes(content)
    Snapshot(path).load()


#: Every problem of [calls], raised where gradguard raises it.
CALLS = {
    "callback_not_set_up": lambda tmp_path: _lightning(),
    "decide_needs_sync": lambda tmp_path: _guard(sync=False).decide(torch.tensor(1.0)),
    "scaler_stepped": lambda tmp_path: _stepped_scaler(),
    "nonfinite_norm": _nonfinite,
    "log_closed": _closed_log,
    "no_snapshot": _no_snapshot,
    "snapshot_missing": lambda tmp_path: _snapshot_file(tmp_path, None),
    "snapshot_invalid": lambda tmp_path: _snapshot_file(tmp_path, b"not a zip"),
    "snapshot_foreign": lambda tmp_path: (
        torch.save({"x": 1}, tmp_path / "snap.pt"),
        Snapshot(tmp_path / "snap.pt").load(),
    ),
}


def test_every_call_problem_is_raised_somewhere():
    assert set(CALLS) == call_problems()


@pytest.mark.parametrize("problem", sorted(CALLS))
def test_a_call_error_is_one_line_in_every_language(problem, tmp_path):
    with pytest.raises(CallError) as e:
        CALLS[problem](tmp_path)
    error = e.value
    assert error.problem == problem and isinstance(error, RuntimeError)
    for lang in languages():
        text = error.message(lang)
        assert "\n" not in text and "{" not in text, (lang, text)
        assert bool(BENGALI.search(text)) == (lang == "bn"), (lang, text)
    again = pickle.loads(pickle.dumps(error))  # a process pool sends it back whole
    assert type(again) is type(error) and str(again) == str(error)


def test_the_hf_callback_says_it_is_not_set_up():
    with pytest.raises(CallError, match=r"^SpikeGuardCallback is not set up: .*Trainer\.train"):
        _transformers()


def test_snapshot_errors_name_the_file_and_say_nothing_was_restored(tmp_path):
    with pytest.raises(SnapshotError) as e:
        _snapshot_file(tmp_path, b"not a zip")
    assert str(e.value).startswith(f"snapshot file {tmp_path / 'snap.pt'} is not a valid")
    assert "Rolling back was refused" in str(e.value)
    assert "rollback করা হয়নি" in e.value.message("bn")


def test_a_caller_mistake_is_a_type_error():
    with pytest.raises(TypeError, match="unknown problem"):
        CallError("no_such_problem")
    with pytest.raises(TypeError, match="needs the field"):
        CallError("log_closed")


def test_replaying_a_log_without_a_guard_header_names_the_rule():
    run = RunLog(name="r1", meta={}, steps=[])
    with pytest.raises(InputError) as e:
        replay_guard(run)
    assert e.value.rule_id == "guard_run"
    assert str(e.value).startswith("run must be a run of a log written by SpikeGuard")
    assert str(e.value).endswith(", got 'r1'.")
    with pytest.raises(InputError) as e:
        rule_from_header({"name": "nosuch", "state": {}})
    assert e.value.rule_id == "choice" and "got 'nosuch'" in str(e.value)
    for lang in languages():
        assert "\n" not in e.value.message(lang)


def test_a_run_without_steps_and_an_unknown_erratum_are_rule_ids():
    from gradguard.doctor import diagnose
    from gradguard.explain import erratum

    with pytest.raises(InputError) as e:
        diagnose(RunLog(name=None, meta={}, steps=[]))
    assert e.value.rule_id == "run_with_steps"
    assert str(e.value) == (
        "run must be a run with step records (a guard writes one per training step), got None."
    )
    assert BENGALI.search(e.value.message("bn"))
    with pytest.raises(InputError, match=r"^kind must be one of .*table.*, got 'nope'\.$"):
        erratum("nope")


@pytest.mark.parametrize(("locale", "lang"), [("C.UTF-8", "en"), ("bn_BD.UTF-8", "bn")])
def test_a_sync_free_guard_without_fused_warns_in_the_locale_language(monkeypatch, locale, lang):
    monkeypatch.setenv("LC_ALL", locale)
    with pytest.warns(UserWarning, match=r"^`SpikeGuard\(sync=False\)`: ") as w:
        _guard(sync=False)
    (text,) = [str(x.message) for x in w if "sync=False" in str(x.message)]
    assert "SGD" in text and bool(BENGALI.search(text)) == (lang == "bn"), text
