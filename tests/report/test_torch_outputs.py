"""The report on real torch output: flow over training, a real remedy run (needs issue 3)."""

from __future__ import annotations

import math

import pytest


def test_flow_over_training_shape_and_first_row():
    import torch

    from gradguard.experiments import RecurrentNet, adding_problem, measure_flow
    from gradguard.report._training_flow import flow_over_training

    d = flow_over_training("tanh", "xavier-normal", T=8, steps=6, every=3, hidden=4, batch=4)
    assert d["steps"] == [0, 3, 6]
    assert len(d["matrix"]) == 3 and all(len(row) == 8 for row in d["matrix"])
    assert all(math.isfinite(x) and x > 0 for row in d["matrix"] for x in row)
    # row 0 is the untrained net: the same seed gives the same net and probe as built here
    net = RecurrentNet(
        "tanh", 2, 4, 1, init="xavier-normal", generator=torch.Generator().manual_seed(0)
    )
    probe = adding_problem(8, 8, torch.Generator().manual_seed(10_000))
    expected, _ = measure_flow(net, probe.x)
    assert d["matrix"][0] == pytest.approx(expected)
    # training changed the weights, so the later rows differ
    assert d["matrix"][-1] != pytest.approx(d["matrix"][0])


def test_report_from_a_real_remedy_run(tmp_path):
    """The report reads what the remedy runner writes (a small slice of the quick preset)."""
    from gradguard.experiments import run_remedies
    from gradguard.report import build_report

    rows = run_remedies(
        "quick", out=tmp_path, experiments=["divergence"], configs=["none", "clip-norm"], steps=30
    )
    assert [r.config for r in rows] == ["none", "clip-norm"]
    text = build_report(tmp_path)
    none, clip = rows
    assert none.diverged and not clip.diverged  # the runner's own result under fixed seeds
    k = none.first_nonfinite_step
    said = f"divergence / none (T = {none.T}): diverged — the first non-finite loss or gradient"
    assert f"{said} at step {k}." in text
    assert f"divergence / clip-norm (T = {clip.T}): stayed finite" in text
    assert f"divergence/T{none.T}/none/seed0: loss and gradient norm" not in text  # plots are PNG
    assert text.count("<img") == 2 + 1 + 2  # explosion, sgd; summary; one run plot per config


def test_report_from_a_real_guard_log(tmp_path):
    """The report reads what SpikeGuard writes: clipped, skipped and rolled-back steps."""
    import torch

    from gradguard.records import read_log
    from gradguard.report import build_report
    from gradguard.torch import SpikeGuard

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = tmp_path / "train.jsonl"
    with SpikeGuard(
        model, opt, clipper=0.5, log=log, layer_norms_every=2, rollback_after=2, spike_rule=None
    ) as guard:
        for step in range(20):
            x = torch.randn(16, 4)
            loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            if step in (8, 9):  # inject a NaN gradient twice in a row: skip, then roll back
                next(model.parameters()).grad[0, 0] = float("nan")
            guard.step(loss)
    records = read_log(log).steps
    actions = [r.action for r in records]
    assert actions[8] == "skip" and "rollback" in actions[8:10]
    text = build_report(log)
    n_clipped = sum(r.clipped for r in records)
    n_skip, n_roll = actions.count("skip"), actions.count("rollback")
    assert (
        f"20 steps from train.jsonl: {n_clipped} clipped, {n_skip} skipped, {n_roll} rolled back"
        in text
    )
    run_html = text[text.index('<section id="run">') :].split("</section>")[0]
    assert run_html.count("<img") == 2  # the timeline and the per-layer heat map
