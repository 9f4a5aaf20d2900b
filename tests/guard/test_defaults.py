"""The guard's defaults on real workloads: torch's clipping bit for bit, no false alarms."""

from __future__ import annotations

import statistics

import pytest
import torch
from workloads import WORKLOADS, train

from gradguard.torch import SpikeGuard


def _guard(max_norm, **kwargs):
    def make(model, opt, sched):
        return SpikeGuard(model, opt, scheduler=sched, clipper=max_norm, **kwargs)

    return make


def _same(a, b) -> bool:
    pairs = zip(a.model.parameters(), b.model.parameters(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def test_guarded_lstm_lm_equals_torch_clipping_bitwise():
    # The recipe of PyTorch's word_language_model: SGD at lr 20, clip_grad_norm_ at 0.25,
    # hidden state carried. Clipping acts on most steps, and at lr 20 one ulp of
    # difference in the coefficient would show within a few steps.
    w = WORKLOADS["lstm-lm"]
    ref = train(w, seed=0, steps=60)
    guarded = train(w, seed=0, steps=60, guard=_guard(w.max_norm))
    assert guarded.actions == ["step"] * 60  # zero skips
    assert sum(r.clipped for r in guarded.records) >= 30
    assert _same(guarded, ref)
    assert guarded.losses == ref.losses


def test_guarded_transformer_block_equals_torch_clipping_bitwise():
    torch.manual_seed(3)
    block = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    x = torch.randn(8, 12, 32)
    models = [block, torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)]
    models[1].load_state_dict(block.state_dict())
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2) for m in models]
    guard = SpikeGuard(models[1], opts[1], clipper=0.05)
    clipped = 0
    for step in range(50):
        target = torch.roll(x, step % 5, dims=1)
        for i, (m, opt) in enumerate(zip(models, opts, strict=True)):
            opt.zero_grad(set_to_none=True)
            loss = (m(x) - target).square().mean() * 100
            loss.backward()
            if i == 0:
                torch.nn.utils.clip_grad_norm_(m.parameters(), 0.05)
                opt.step()
            else:
                record = guard.step(loss)
                assert record.action == "step"
                clipped += record.clipped
    assert clipped == 50
    pairs = zip(models[0].parameters(), models[1].parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_default_guard_takes_every_step_of_a_clean_run(name):
    w = WORKLOADS[name]
    for seed in (0, 1, 2):  # the benchmark's seeds (seed 2 of the mlp: see the next test)
        run = train(w, seed=seed, steps=120, guard=_guard(w.max_norm))
        assert run.actions == ["step"] * 120, [
            (r.step, r.grad_norm, r.spike_threshold) for r in run.records if r.action != "step"
        ]
        # every judged step carries the threshold in force once the rule has history
        assert all(r.spike_threshold is not None for r in run.records[16:])


def test_without_the_ratio_floor_the_rule_flags_a_clean_step():
    # The control for the test above: median + 6·MAD alone (min_ratio=0) skips an
    # ordinary step of the mlp's clean run (seed 2, step 24: the clipper would have
    # tamed it), which the default's 10× floor takes.
    from gradguard.rules import MedianMadRule

    w = WORKLOADS["mlp"]
    plain = _guard(w.max_norm, spike_rule=MedianMadRule(min_ratio=0))
    run = train(w, seed=2, steps=40, guard=plain)
    flagged = [r for r in run.records if r.action != "step"]
    assert [(r.step, r.flagged_by) for r in flagged] == [(24, "spike-mad")]
    assert flagged[0].grad_norm < 10 * statistics.median(run.norms[:24])


@pytest.mark.parametrize("fault", ["nan", "inf", "grad1e6", "loss1e4"])
def test_default_guard_catches_gross_faults(fault):
    w = WORKLOADS["lstm-lm"]
    run = train(w, seed=0, steps=60, guard=_guard(w.max_norm), fault=fault)
    (bad,) = run.fault_steps
    assert run.actions[bad] == "skip"
    assert run.actions.count("step") == 59  # and nothing else
    record = run.records[bad]
    expected = "nonfinite" if fault in ("nan", "inf") else "spike-mad"
    assert record.flagged_by == expected
    if expected == "spike-mad":
        assert record.grad_norm > record.spike_threshold


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "sync-free"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_guarded_clipping_equals_torch_in_every_float_dtype(dtype, sync):
    # A model held in half precision too: torch computes the coefficient in the norm's
    # dtype and multiplies by it; so does the guard.
    def make():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)
        ).to(dtype)

    models = [make(), make()]
    # (fused: the sync-free guard skips through the optimizer's found_inf)
    opts = [torch.optim.SGD(m.parameters(), lr=0.5, fused=not sync) for m in models]
    guard = SpikeGuard(models[1], opts[1], clipper=0.05, sync=sync)
    records = []
    guard.hooks.append(records.append)
    g = torch.Generator().manual_seed(1)
    for _ in range(30):
        x = torch.randn(8, 16, generator=g).to(dtype)
        for i, (m, opt) in enumerate(zip(models, opts, strict=True)):
            opt.zero_grad(set_to_none=True)
            loss = m(x).float().square().mean() * 10
            loss.backward()
            if i == 0:
                torch.nn.utils.clip_grad_norm_(m.parameters(), 0.05)
                opt.step()
            else:
                guard.step(loss)
    guard.close()
    assert [r.action for r in records] == ["step"] * 30
    assert sum(r.clipped for r in records) >= 25
    pairs = zip(models[0].parameters(), models[1].parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def _defaults_run(fault):
    """60 steps of a small regression under SpikeGuard's defaults; ``fault(step, model, x)``
    may corrupt the model or the batch before the forward pass. Returns the records."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    guard = SpikeGuard(model, opt, clipper=1.0)
    records = []
    for step in range(60):
        g = torch.Generator().manual_seed(step)
        x, y = torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)
        x = fault(step, model, x)
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).square().mean()
        loss.backward()
        records.append(guard.step(loss))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    return records


def test_the_defaults_skip_a_short_burst_and_roll_back_a_model_gone_bad():
    # The defaults as measured (docs/guard/remedies-benchmark.md, "the defaults"): a burst
    # of NaN batches shorter than rollback_after=10 is skipped, nothing rolled back ...
    def nan_batches(step, model, x):
        return torch.full_like(x, float("nan")) if 40 <= step < 43 else x

    actions = [r.action for r in _defaults_run(nan_batches)]
    assert actions[40:43] == ["skip"] * 3 and "rollback" not in actions

    # ... and a weight gone NaN (every later step bad, whatever the batch) is rolled back at
    # the 10th bad step to the snapshot of healthy step 25 (one every 25 healthy steps).
    def corrupt(step, model, x):
        if step == 40:
            with torch.no_grad():
                model[2].weight[0, 0] = float("nan")
        return x

    records = _defaults_run(corrupt)
    actions = [r.action for r in records]
    assert actions[40:50] == ["skip"] * 9 + ["rollback"] and actions[50:] == ["step"] * 10
    assert records[49].extra["restored_step"] == 25


def test_the_contract_page_states_the_signature_defaults():
    import inspect
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "guard" / "contract.md"
    table = dict(re.findall(r"^\| `(\w+)` \| (\d+) \|", page.read_text(), re.MULTILINE))
    signature = inspect.signature(SpikeGuard).parameters
    names = ("rollback_after", "snapshot_every", "skip_batches", "max_rollbacks")
    assert {n: int(table[n]) for n in names} == {n: signature[n].default for n in names}
