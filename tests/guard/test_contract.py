"""The guard's contract (docs/guard/contract.md): accumulation, torch.compile, hooks, errors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from gradguard.errors import InputError
from gradguard.torch import NormClipper, SpikeGuard

DOC = Path(__file__).resolve().parents[2] / "docs" / "guard" / "contract.md"


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _batches(steps: int, k: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    g = torch.Generator().manual_seed(1)
    return [
        [
            (torch.randn(4, 6, generator=g) * 3, torch.randint(0, 3, (4,), generator=g))
            for _ in range(k)
        ]
        for _ in range(steps)
    ]


def test_gradient_accumulation_is_one_decision_per_step_and_torch_clipping_bitwise():
    steps, k, c = 30, 4, 0.05
    data = _batches(steps, k)

    ref = _model(0)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5, momentum=0.9)
    for micro in data:
        for x, y in micro:
            (torch.nn.functional.cross_entropy(ref(x), y) / k).backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), c)
        ref_opt.step()
        ref_opt.zero_grad()

    model = _model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    guard = SpikeGuard(model, opt, clipper=NormClipper(c))
    records = []
    guard.hooks.append(records.append)
    for micro in data:
        total = 0.0
        for x, y in micro:
            loss = torch.nn.functional.cross_entropy(model(x), y) / k
            loss.backward()
            total += loss.item()
        guard.step(total)
        opt.zero_grad()

    assert len(records) == steps  # one record per optimizer step, none per micro-batch
    assert guard.step_count == steps
    assert [r.action for r in records] == ["step"] * steps
    assert sum(r.clipped for r in records) == steps  # c is small: clipping acts every step
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)


def _compiled_run(backend: str):
    model = _model(2)
    compiled = torch.compile(model, backend=backend)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    guard = SpikeGuard(compiled, opt, clipper=1.0)
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
        loss = torch.nn.functional.cross_entropy(compiled(x), y)
        loss.backward()
        assert guard.step(loss).action == "step"
        opt.zero_grad()
    params = [p.detach().clone() for p in model.parameters()]
    state = {i: {k: v.clone() for k, v in s.items()} for i, s in enumerate(opt.state.values())}
    x = torch.randn(8, 6, generator=g)
    x[0, 0] = math.nan  # same shape and dtype: no recompilation, a NaN loss and gradients
    loss = torch.nn.functional.cross_entropy(compiled(x), y)
    loss.backward()
    record = guard.step(loss)
    opt.zero_grad()
    return record, model, opt, params, state


@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_compiled_model_steps_and_a_nan_step_changes_nothing(backend):
    record, model, opt, params, state = _compiled_run(backend)
    assert record.action == "skip" and record.kind == "nonfinite"
    for p, q in zip(model.parameters(), params, strict=True):
        assert torch.equal(p, q)
    for i, s in enumerate(opt.state.values()):
        assert s.keys() == state[i].keys()
        for key, value in s.items():
            assert torch.equal(value, state[i][key])


def test_a_hand_written_update_is_refused_with_the_way_out():
    model = _model(0)

    class HandWritten:  # p.data.add_(p.grad, alpha=-lr), not a torch.optim.Optimizer
        def __init__(self, params, lr):
            self.params, self.lr = list(params), lr

        def step(self):
            for p in self.params:
                p.data.add_(p.grad, alpha=-self.lr)

    with pytest.raises(InputError) as err:
        SpikeGuard(model, HandWritten(model.parameters(), 0.1))  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    assert "optimizer" in message and "HandWritten" in message
    assert "torch.optim.Optimizer" in message and "torch.optim.SGD" in message


def _doc_example(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"no python block after <!-- {marker} --> in {DOC}"
    return match.group(1)


def test_the_documented_hook_example_runs_and_sees_every_record():
    namespace: dict = {}
    exec(compile(_doc_example("hooks-example"), str(DOC), "exec"), namespace)
    seen, guard = namespace["seen"], namespace["guard"]
    assert guard.step_count == 6
    assert [r.step for r in seen] == list(range(guard.step_count))
    assert [r.action for r in seen] == ["step"] * 3 + ["skip"] + ["step"] * 2
    assert namespace["acted"] == [(3, "skip", "nonfinite")]
