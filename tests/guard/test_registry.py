"""The registry is the one list of rules: the CLI, the error messages and the docs read it."""

from __future__ import annotations

import ast
import json
import re
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
    # the table's gradguard.rules row names every rule class, and no class that is gone
    (row,) = [line for line in guide.splitlines() if line.startswith("| `gradguard.rules` |")]
    named = set(re.findall(r"`([A-Z]\w*(?:Rule|Threshold))`", row))
    assert named == {rule.__name__ for rule in RULES.values()}, named


def test_the_guides_replay_section_names_every_rule_as_replay_does():
    guide = (ROOT / "docs/guard/index.md").read_text()
    section = guide.split("## Replay a log", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`([a-z][a-z-]*)`", section)
    # each rule by its CLI name, in RULES' order: the replayable ones, then the others
    order = [n for n, r in RULES.items() if r.replay_needs is None]
    order += [n for n, r in RULES.items() if r.replay_needs is not None]
    assert [n for n in named if n in RULES] == order, named


def test_the_guards_error_messages_list_every_clipper():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
    with pytest.raises(InputError) as err:
        gt.SpikeGuard(model, opt, clipper="fixed")
    assert all(name in str(err.value) for name in CLIPPERS)
    with pytest.raises(InputError) as err:
        gt.SpikeGuard(model, opt, clipper=gt.AutoClip(per_parameter=True), sync=False)
    sync_free = [r.clipper for r in RULES.values() if r.clipper and r.sync_free]
    for rule in RULES.values():
        if rule.clipper and not rule.sync_free:
            with pytest.raises(InputError) as err:
                gt.SpikeGuard(model, opt, clipper=_a(rule), sync=False)
            assert all(n in str(err.value) for n in sync_free), str(err.value)


def test_the_sync_free_refusal_names_what_is_in_use():
    """``sync=False`` refuses a clipper by what is in use: ``per_parameter=True`` on any
    clipper (not on AutoClip alone), with its own hint; a ``RuleClipper`` by the rule it
    applies — in English and Bengali."""

    class PerTensor(gt.NormClipper):  # any clipper that keeps a history per tensor
        per_parameter = True

    class HostOnly(rules.FixedThreshold):  # a total-norm rule with no device form
        device = None

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
    with pytest.raises(InputError) as err:
        gt.SpikeGuard(model, opt, clipper=PerTensor(1.0), sync=False)
    assert err.value.value == "PerTensor(per_parameter=True)"
    assert err.value.hint_id == "per_parameter_needs_sync"
    for lang in ("en", "bn"):
        assert "per_parameter=False" in err.value.message(lang)
    with pytest.raises(InputError) as err:
        gt.SpikeGuard(model, opt, clipper=gt.RuleClipper(HostOnly(1.0)), sync=False)
    assert err.value.value == "RuleClipper(HostOnly)"
    assert err.value.hint_id == "clipper_needs_sync"
    for lang in ("en", "bn"):
        assert "'RuleClipper(HostOnly)'" in err.value.message(lang)


def _a(rule: type[rules.Rule]) -> gt.Clipper:
    """The clipper of ``rule``, built with its defaults."""
    if rule.clipper == "RuleClipper":  # the shared one: it applies the rule itself
        return gt.RuleClipper(rule.for_replay(rules.ReplayOptions()))
    return {"ValueClipper": lambda: gt.ValueClipper(1.0), "AGC": gt.AGC}.get(
        rule.clipper, lambda: getattr(gt, rule.clipper)()
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


def test_rules_sharing_a_replay_option_declare_it_alike():
    seen: dict[str, rules.ReplayParam] = {}
    for rule in RULES.values():
        for param in rule.replay_params:
            assert seen.setdefault(param.name, param) == param, (rule.name, param)


def test_every_replay_option_reaches_a_rule_and_is_on_the_command_line(capsys):
    # Each option changes the rule built from it: for_replay passes it on (none is dropped).
    base = {n: r.state_dict() for n, r in rules.replay_rules(rules.ReplayOptions()).items()}
    params = rules.replay_params()
    assert list(params) == list(
        dict.fromkeys(
            p.name for r in RULES.values() if r.replay_needs is None for p in r.replay_params
        )
    )
    for name, param in params.items():
        other = param.default + 1 if param.type is int else param.default / 2
        built = rules.replay_rules(rules.ReplayOptions(**{name: other}))
        changed = [n for n, r in built.items() if r.state_dict() != base[n]]
        assert changed, name
    assert main(["replay", "--help"]) == 0
    shown = capsys.readouterr().out
    for name in params:
        assert "--" + name.replace("_", "-") in shown, name
    with pytest.raises(InputError, match="toy_level"):
        rules.ReplayOptions(toy_level=1.0)  # no rule declares it: refused, naming it


class _ToySkip(rules.Rule):
    """A skip rule registered by the test alone: flags a norm above ``toy_level``."""

    name = "toy-skip"
    action = "skip"
    replay_params = (rules.ReplayParam("toy_level", 3.0),)

    def __init__(self, toy_level: float = 3.0) -> None:
        self.toy_level = float(toy_level)

    def judge(self, x: float) -> rules.Verdict:
        return rules.Verdict(self.toy_level, x == x and x > self.toy_level, None)

    def state_dict(self) -> dict:
        return {"toy_level": self.toy_level}

    def load_state_dict(self, state: dict) -> None:
        self.toy_level = float(state["toy_level"])

    def describe(self) -> str:
        return f"toy > {self.toy_level:g}"


class _ToyClip(rules.FixedThreshold):
    """A clipping rule a norm log cannot replay, applied by a clipper named ``ToyClipper``."""

    name = "toy-clip"
    clipper = "ToyClipper"
    replay_needs = "weights"
    device = None
    sync_free = False


def test_a_rule_registered_once_is_everywhere_rules_are_listed(tmp_path, monkeypatch, capsys):
    """One line in the registry is all: replay's options, runs and --help, the doctor's
    skip rules and the guard's errors take a new rule with nothing else edited."""
    from gradguard.doctor import diagnose
    from gradguard.records import read_log

    monkeypatch.setitem(RULES, _ToySkip.name, _ToySkip)
    monkeypatch.setitem(RULES, _ToyClip.name, _ToyClip)
    log = tmp_path / "run.jsonl"
    norms = [1.0 + 0.01 * s + (s in (30, 35)) * 1e3 + (s == 20) * 4.0 for s in range(40)]
    with RecordWriter(log) as w:
        for step, norm in enumerate(norms):
            spike = norm > 100  # the guard skipped the two spikes: the doctor's episodes
            kind, action = ("spike", "skip") if spike else ("ok", "step")
            w.write(StepRecord(step=step, grad_norm=norm, kind=kind, action=action))
    # replay: its option, its list in --help, its run, and the rule it cannot replay
    for lang in ("en", "bn"):
        assert main(["replay", "--help", "--lang", lang]) == 0
        shown = " ".join(capsys.readouterr().out.split())
        replayable = ", ".join(n for n, r in RULES.items() if r.replay_needs is None)
        others = ", ".join(n for n, r in RULES.items() if r.replay_needs is not None)
        assert replayable.endswith("toy-skip") and others.endswith("toy-clip")
        assert "--toy-level" in shown and replayable in shown and others in shown, lang
    assert main(["replay", str(log), "--json", "--toy-level", "4.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    toy = {p["policy"]: p for p in out["runs"][0]["policies"]}["toy-skip"]
    assert toy["steps"] == [20, 30, 35] and toy["action"] == "skip"  # step 20: 1.2 + 4 > 4.5
    assert {"rule": "toy-clip", "needs": "weights"} in out["not_replayable"]
    # the doctor replays every skip rule a norm log can replay
    findings = diagnose(read_log(log).runs[0]).findings
    said = [f.evidence.get("rule") for f in findings if f.topic == "replay"]
    assert _ToySkip().describe() in said, said
    # the guard's error names its clipper among the others
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
    with pytest.raises(InputError, match="ToyClipper"):
        gt.SpikeGuard(model, opt, clipper="fixed")


def _train(clipper, sync: bool, steps: int = 30):
    """A small guarded run with two loss spikes: its clip coefficients and parameters."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    guard = gt.SpikeGuard(model, opt, clipper=clipper, sync=sync)
    coefs: list[float] = []
    guard.hooks.append(lambda r: coefs.append(r.clip_coef))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).pow(2).mean() * (30.0 if step in (12, 20) else 1.0)
        loss.backward()
        guard.step(loss)
    guard.close()
    return coefs, [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("sync", [True, False])
def test_rule_clipper_applies_a_rule_as_its_own_clipper_does(sync):
    # ZClip is RuleClipper with a rule built from torch-style arguments: bit for bit the same.
    own = _train(gt.ZClip(z_thresh=1.0, warmup_steps=5), sync)
    shared = _train(gt.RuleClipper(rules.EmaZScoreRule(0.97, 1.0, 5, max_norm=1.0)), sync)
    assert any(c < 1 for c in own[0] if c is not None), own[0]  # it clipped
    assert [str(c) for c in shared[0]] == [str(c) for c in own[0]]  # (NaN == NaN as text)
    assert all(torch.equal(p, q) for p, q in zip(own[1], shared[1], strict=True))


class _ToyNorm(rules.FixedThreshold):
    """A total-norm clipping rule with no torch class: RuleClipper applies it."""

    name = "toy-norm"
    clipper = "RuleClipper"


def test_a_registered_total_norm_rule_needs_no_clipper_class(monkeypatch):
    monkeypatch.setitem(RULES, _ToyNorm.name, _ToyNorm)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, fused=True)
    with pytest.raises(InputError, match="RuleClipper"):
        gt.SpikeGuard(model, opt, clipper="fixed")
    for sync in (True, False):  # its device form (FixedThreshold's) runs it sync-free
        coefs, _ = _train(gt.RuleClipper(_ToyNorm(0.05)), sync, steps=3)
        assert all(0 < c < 1 for c in coefs), coefs
    with pytest.raises(InputError, match="clips the total gradient norm"):
        gt.RuleClipper(rules.ValueRule(1.0))  # a rule of each entry, not of the norm


def test_every_rule_has_its_words_in_every_language():
    # What a rule adds besides its file: replay's row for it, or what it needs, in each
    # language (its options' help is checked by tests/test_cli_help.py, from the registry).
    from gradguard._catalog import languages, load_catalog

    for lang in languages():
        words = load_catalog(lang)
        for name, rule in RULES.items():
            if rule.replay_needs is None:
                key = "replay.rule_" + name.replace("-", "_")
                options = rules.ReplayOptions()
                params = {
                    k: v for k, v in vars(rule.for_replay(options)).items() if not k.startswith("_")
                }
                assert key in words and words.get(key, **params), (lang, key)
            else:
                assert f"replay.needs_{rule.replay_needs}" in words, (lang, name)


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_replays_rows_say_a_rules_parts_for_the_values_it_has(tmp_path, capsys, monkeypatch, lang):
    # replay.rule_<name>_<param> where the parameter is set, _no_<param> where it is None:
    # read from the catalog, with no rule named in the code.
    from gradguard._catalog import load_catalog

    monkeypatch.setenv("COLUMNS", "400")
    words = load_catalog(lang)
    log = tmp_path / "run.jsonl"
    with RecordWriter(log) as w:
        for step in range(40):
            w.write(StepRecord(step=step, grad_norm=1.0 + 0.01 * step))
    cap = words.get("replay.rule_zclip_max_norm", max_norm=1.0)
    floor = words.get("replay.rule_spike_mad_min_ratio", min_ratio=10.0)
    assert main(["replay", str(log), "--lang", lang]) == 0
    shown = capsys.readouterr().out
    assert cap in shown and floor in shown and words["replay.rule_zclip_no_max_norm"] not in shown
    assert main(["replay", str(log), "--lang", lang, "--zclip-cap", "none"]) == 0
    shown = capsys.readouterr().out
    assert cap not in shown and words["replay.rule_zclip_no_max_norm"] in shown
