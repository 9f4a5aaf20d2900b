"""Replay equals the log: the run's own policy reproduces every decision; counts agree."""

from __future__ import annotations

import json

import pytest
from workloads import WORKLOADS, train

from gradguard.cli import main
from gradguard.records import count_steps, read_log
from gradguard.rules import replay_guard
from gradguard.torch import SpikeGuard


def _logged(path, **kwargs):
    def make(model, opt, sched):
        return SpikeGuard(model, opt, scheduler=sched, clipper=0.25, log=path, **kwargs)

    return make


@pytest.fixture(scope="module")
def faulty_log(tmp_path_factory):
    """An LSTM LM run with a 1e6× gradient at step 20 (a skip), snapshots every 5 steps."""
    path = tmp_path_factory.mktemp("replay") / "lm.jsonl"
    w = WORKLOADS["lstm-lm"]
    train(w, seed=0, steps=40, guard=_logged(path, snapshot_every=5), fault="grad1e6", fault_at=20)
    return path


def test_replaying_the_runs_own_policy_reproduces_every_decision(faulty_log):
    (run,) = read_log(faulty_log).runs
    actions = [r.action for r in run.steps]
    assert "skip" in actions
    result = replay_guard(run)
    assert result.actions == actions
    assert result.mismatches == []


def test_replay_restores_rule_state_on_rollback(tmp_path):
    path = tmp_path / "nan3.jsonl"
    w = WORKLOADS["lstm-lm"]
    guard = _logged(path, rollback_after=3, snapshot_every=10)
    train(w, seed=0, steps=60, guard=guard, fault="nan3", fault_at=35)
    (run,) = read_log(path).runs
    assert [r.action for r in run.steps].count("rollback") == 1
    result = replay_guard(run)
    assert result.mismatches == [] and result.actions == [r.action for r in run.steps]
    # without restoring the rule at the rollback the replayed thresholds would differ
    recorded = [r.spike_threshold for r in run.steps]
    assert result.thresholds == recorded


def test_replay_and_report_count_the_same_way(faulty_log, capsys):
    assert main(["replay", str(faulty_log), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (res,) = payload["runs"]
    counts = count_steps(read_log(faulty_log).steps)
    assert res["recorded"]["skipped"] == counts.skipped
    assert res["recorded"]["rollbacks"] == counts.rollbacks
    assert res["recorded"]["clipped"] == counts.clipped
    assert res["own_policy"]["reproduced"] == res["steps"]

    from gradguard.report import build_report

    text = build_report(faulty_log, lesson=False)
    assert counts.describe().replace(" steps:", " steps from lm.jsonl:") in text


def test_a_log_appended_to_by_a_second_run_is_read_as_two(tmp_path, capsys):
    path = tmp_path / "twice.jsonl"
    w = WORKLOADS["mlp"]
    train(w, seed=0, steps=12, guard=_logged(path))
    train(w, seed=1, steps=9, guard=_logged(path))
    runs = read_log(path).runs
    assert [len(r.steps) for r in runs] == [12, 9]
    assert all(r.meta.get("guard") for r in runs)  # each run opens with the guard's header
    assert main(["replay", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["steps"] for r in payload["runs"]] == [12, 9]


def test_replay_of_a_rollback_through_a_restore_function_keeps_the_rules(tmp_path):
    # With restore= the guard loads the run's own checkpoint and keeps its rules as they
    # are (it has no snapshot of them): the replay must not reset them either.
    path = tmp_path / "own.jsonl"
    w = WORKLOADS["lstm-lm"]
    box: dict = {}

    def make(model, opt, sched):
        box["model"], box["opt"] = model, opt
        box["ckpt"] = ({k: v.clone() for k, v in model.state_dict().items()}, opt.state_dict())

        def restore():
            model.load_state_dict(box["ckpt"][0])
            opt.load_state_dict(box["ckpt"][1])
            return 0

        return SpikeGuard(
            model, opt, scheduler=sched, clipper=0.25, log=path, restore=restore, rollback_after=3
        )

    train(w, seed=0, steps=60, guard=make, fault="nan3", fault_at=35)
    (run,) = read_log(path).runs
    assert run.meta["guard"]["rollback_restores"] == "function"
    assert [r.action for r in run.steps].count("rollback") == 1
    result = replay_guard(run)
    assert result.mismatches == []
    assert result.thresholds == [r.spike_threshold for r in run.steps]
