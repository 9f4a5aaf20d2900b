"""The registry is the one list of rules: the CLI, the error messages and the docs read it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

import gradguard.rules as rules
import gradguard.torch as gt
from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.records import RecordWriter, StepRecord
from gradguard.rules import RULES

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "gradguard"
CLIPPERS = [r.clipper for r in RULES.values() if r.clipper]


def test_every_rule_declares_itself_completely():
    for name, rule in RULES.items():
        assert rule.name == name and rule.action in ("clip", "skip"), name
        assert rule.side in ("gradient", "update"), name
        assert (rule.clipper is None) == (rule.action == "skip"), name  # clip rules have one
        if rule.device is not None:
            assert rule.sync_free, name
        if rule.replay_needs is None:
            rule.for_replay(rules.ReplayOptions())  # replay can build it from its options


def test_replay_runs_every_replayable_rule_and_names_the_others(tmp_path, capsys):
    log = tmp_path / "run.jsonl"
    with RecordWriter(log) as w:
        for step in range(40):
            w.write(StepRecord(step=step, grad_norm=1.0 + (step == 30) * 1e3 + 0.01 * step))
    assert main(["replay", str(log), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ran = [p["policy"] for p in out["runs"][0]["policies"]]
    assert ran == [n for n, r in RULES.items() if r.replay_needs is None]
    named = {x["rule"]: x["needs"] for x in out["not_replayable"]}
    assert named == {n: r.replay_needs for n, r in RULES.items() if r.replay_needs is not None}
    # The text table says what each one needs, in either language.
    for lang in ("en", "bn"):
        assert main(["replay", str(log), "--lang", lang]) == 0
        text = capsys.readouterr().out
        for name in named:
            assert name in text


def test_every_rule_and_clipper_is_in_the_api_docs():
    assert all(rule.__name__ in rules.__all__ for rule in RULES.values())
    assert all(name in gt.__all__ for name in CLIPPERS)
    assert "::: gradguard.rules" in (ROOT / "docs/api/rules.md").read_text()
    assert "::: gradguard.torch" in (ROOT / "docs/api/torch.md").read_text()
    guide = (ROOT / "docs/guard/index.md").read_text()
    missing = [name for name in CLIPPERS if f"`{name}(" not in guide]
    assert not missing, f"docs/guard/index.md's table of clippers lacks {missing}"


def test_the_guards_error_messages_list_every_clipper():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
    with pytest.raises(InputError) as err:
        gt.SpikeGuard(model, opt, clipper="fixed")
    assert all(name in str(err.value) for name in CLIPPERS)
    with pytest.raises(InputError) as err:
        gt.SpikeGuard(model, opt, clipper=gt.AutoClip(per_parameter=True), sync=False)
    sync_free = [r.clipper for r in RULES.values() if r.clipper and r.sync_free]
    not_sync_free = [r.clipper for r in RULES.values() if r.clipper and not r.sync_free]
    for name in not_sync_free:
        with pytest.raises(InputError) as err:
            gt.SpikeGuard(model, opt, clipper=_a(name), sync=False)
        assert all(n in str(err.value) for n in sync_free), str(err.value)


def _a(name: str):
    return {"ValueClipper": lambda: gt.ValueClipper(1.0), "AGC": gt.AGC}.get(
        name, lambda: getattr(gt, name)()
    )()


def _messages(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings (messages, mostly)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_no_message_lists_the_clippers_by_hand():
    # A message naming three or more clippers is a list someone will forget to extend:
    # messages join RULES' names instead.
    for path in SRC.rglob("*.py"):
        for text in _messages(path):
            named = [c for c in CLIPPERS if c in text]
            assert len(named) < 3, f"{path.relative_to(SRC)}: {text!r}"


def test_a_rule_without_a_device_form_is_refused_by_the_sync_free_guard():
    class Mine(rules.FixedThreshold):
        name = "mine"
        device = None

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
    with pytest.raises(InputError, match="spike_rule") as err:
        gt.SpikeGuard(model, opt, spike_rule=Mine(1.0), sync=False)
    assert "MedianMadRule" in str(err.value)
