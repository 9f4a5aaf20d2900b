"""The benchmark's workloads: generated data, the documented loop, forked fault runs."""

from __future__ import annotations

import pytest
import torch
from workloads import (
    FAULTS,
    WORKLOADS,
    markov_corpus,
    train,
    train_with_faults,
)

from gradguard.errors import InputError
from gradguard.torch import SpikeGuard


def test_corpus_is_generated_from_its_seed_and_has_structure():
    a, b = markov_corpus(5000, 32, seed=1), markov_corpus(5000, 32, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, markov_corpus(5000, 32, seed=2))
    # every pair of words has at most 4 successors: far fewer than the 32 a uniform stream has
    pairs: dict[tuple[int, int], set[int]] = {}
    for x, y, z in zip(a[:-2].tolist(), a[1:-1].tolist(), a[2:].tolist(), strict=True):
        pairs.setdefault((x, y), set()).add(z)
    assert max(len(v) for v in pairs.values()) <= 4


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_each_workload_learns_in_a_few_steps(name):
    w = WORKLOADS[name]
    first = train(w, seed=0, steps=1).eval_loss
    run = train(w, seed=0, steps=40)
    assert run.eval_loss < first  # training lowers the held-out loss
    assert run.actions == ["step"] * 40 and all(torch.isfinite(torch.tensor(run.norms)))


def test_forked_fault_runs_equal_separate_runs():
    w = WORKLOADS["lstm-lm"]

    def guard(model, opt, sched):
        return SpikeGuard(model, opt, scheduler=sched, clipper=w.max_norm)

    runs = train_with_faults(w, seed=1, steps=20, guard=guard, faults=("nan", "nan3"))
    for fault in ("nan", "nan3", None):
        alone = train(w, seed=1, steps=20, guard=guard, fault=fault)
        assert runs[fault].actions == alone.actions
        assert (
            runs[fault].fault_steps
            == alone.fault_steps
            == ([] if fault is None else [14] if fault == "nan" else [14, 15, 16])
        )
        got, want = runs[fault].model.parameters(), alone.model.parameters()
        assert all(torch.equal(x, y) for x, y in zip(got, want, strict=True))


def test_bad_arguments_name_themselves():
    w = WORKLOADS["mlp"]
    with pytest.raises(InputError, match="steps must be a whole number ≥ 1, got 0"):
        train(w, steps=0)
    with pytest.raises(InputError, match="fault must be one of " + ", ".join(FAULTS)):
        train(w, steps=2, fault="boom")
