"""Guard logs made by really training small models, each with a known cause.

Every log comes from a real training loop with a real ``SpikeGuard`` (one CPU thread,
well under a second each):

- ``recurring``: a classifier whose data repeats every 10 batches, batch 3 holding a
  NaN feature (a corrupt record): NaN on steps 3, 13, 23, … — with batch ids, and
  ``recurring_no_ids`` without them;
- ``one_off``: one gradient entry set to inf at step 37 (a flipped bit), once — with
  per-layer norms on every step, and ``one_off_default`` with the guard's defaults;
- ``lr_high``: a tanh network trained by SGD whose learning rate warms up to 2.0, far
  above what it can take: the instability builds up, the guard skips and rolls back,
  and it comes back at the same learning rate each time;
- ``layer_grows``: four raw input features whose scale drifts up over training (never
  normalised): the first layer's gradient grows, the others' do not;
- ``all_layers_grow``: the same network on targets whose scale drifts up: the loss's
  gradient grows, and with it every layer's (none first);
- ``clean``: the same classifier on clean data, and ``clean_layers`` with per-layer norms
  every 5 steps (none grows);
- at the classifier's constant learning rate, gradients scaled from outside: ``jumps``,
  ×1000 on four isolated steps (from a normal step, in one step); ``build_up``, the same
  spikes with the two steps before each scaled ×2.5 and ×4 first; ``noise``, every
  step's gradients scaled by a log-normal factor (σ = 2), so that some of the spikes the
  guard flags follow large steps and some do not.
"""

from __future__ import annotations

import math
import statistics
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from gradguard.torch import GuardError, SpikeGuard


def _mlp(inputs: int, outputs: int, act: type[nn.Module] = nn.Tanh) -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            inp=nn.Linear(inputs, 64),
            act1=act(),
            hidden=nn.Linear(64, 64),
            act2=act(),
            out=nn.Linear(64, outputs),
        )
    )


def _classifier_data(n_batches: int = 10, batch: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 16, generator=g) * 2
    batches = []
    for _ in range(n_batches):
        y = torch.randint(0, 4, (batch,), generator=g)
        batches.append((centers[y] + torch.randn(batch, 16, generator=g), y))
    return batches


def _classify(path: Path, steps: int, *, corrupt: int | None = None, ids: bool = True,
              inf_at: int | None = None, **guard_kwargs) -> Path:  # fmt: skip
    torch.manual_seed(0)
    model = _mlp(16, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data = _classifier_data()
    if corrupt is not None:
        x, y = data[corrupt]
        x = x.clone()
        x[5, 7] = math.nan  # one corrupt record in the batch
        data[corrupt] = (x, y)
    with SpikeGuard(model, opt, clipper=1.0, log=path, **guard_kwargs) as guard:
        for i in range(steps):
            x, y = data[i % len(data)]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            if i == inf_at:
                model.hidden.weight.grad[3, 5] = math.inf  # a flipped bit
            guard.step(loss, batch=i % len(data) if ids else None)
    return path


#: The isolated steps ``jumps`` and ``build_up`` scale ×1000 (no common period).
JUMPS = (47, 83, 131, 178)


def _scaled(path: Path, scale: list[float], *, ids: bool = True) -> Path:
    """The classifier at its constant learning rate, 200 steps, each step's gradients
    multiplied by ``scale[i]`` before the guard sees them; batch ids ``i % 10``, or the
    step itself (``ids=False``: no batch comes back)."""
    torch.manual_seed(0)
    model = _mlp(16, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data = _classifier_data()
    with SpikeGuard(model, opt, clipper=1.0, log=path) as guard:
        for i in range(len(scale)):
            x, y = data[i % len(data)]
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            for p in model.parameters():
                p.grad *= scale[i]
            guard.step(loss, batch=i % len(data) if ids else i)
    return path


def _jumps(path: Path, *, build_up: bool = False) -> Path:
    scale = [1.0] * 200
    for s in JUMPS:
        scale[s] = 1000.0
        if build_up:  # the norm climbs over two steps first
            scale[s - 2], scale[s - 1] = 2.5, 4.0
    return _scaled(path, scale)


def _noise(path: Path) -> Path:
    g = torch.Generator().manual_seed(2)
    return _scaled(path, torch.exp(2.0 * torch.randn(200, generator=g)).tolist(), ids=False)


def _lr_high(path: Path) -> Path:
    torch.manual_seed(0)
    x_all = torch.randn(2048, 16)
    y_all = torch.tanh(x_all @ torch.randn(16, 1)) + 0.1 * torch.randn(2048, 1)
    model = _mlp(16, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    steps = 400
    warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 2.0 * min(1.0, (i + 1) / steps))
    guard = SpikeGuard(model, opt, scheduler=warmup, log=path, layer_norms_every=5,
                       rollback_after=3, snapshot_every=50)  # fmt: skip
    try:
        for i in range(steps):
            if guard.skip_batch():
                continue
            idx = torch.randint(0, 2048, (64,), generator=torch.Generator().manual_seed(i))
            opt.zero_grad(set_to_none=True)
            loss = (model(x_all[idx]) - y_all[idx]).square().mean()
            loss.backward()
            guard.step(loss)
            warmup.step()
    except GuardError:
        pass  # too many rollbacks: the run ends, as a real one would
    finally:
        guard.close()
    return path


def _layer_grows(path: Path, *, targets: bool = False) -> Path:
    """``targets=False``: four raw input features drift up (the first layer's gradient
    grows); ``True``: the targets drift up instead (every layer's gradient grows)."""
    torch.manual_seed(0)
    x_all = torch.randn(2048, 16)
    y_all = torch.tanh(x_all @ torch.randn(16, 1)) + 0.1 * torch.randn(2048, 1)
    model = _mlp(16, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with SpikeGuard(model, opt, clipper=1.0, log=path, layer_norms_every=5) as guard:
        for i in range(300):
            idx = torch.randint(0, 2048, (64,), generator=torch.Generator().manual_seed(i))
            x, y = x_all[idx].clone(), y_all[idx]
            if targets:
                y = y * (1 + i / 2)  # targets whose scale drifts up: the loss's gradient
            else:
                x[:, :4] *= 1 + i / 10  # raw features whose scale drifts up, never normalised
            opt.zero_grad(set_to_none=True)
            loss = (model(x) - y).square().mean()
            loss.backward()
            guard.step(loss)
    return path


def episode_ramps(records) -> dict[int, float | None]:
    """Each episode's first step → the norm just before it in multiples of its median,
    counted from the records alone: the geometric mean of the two norms just before the
    episode over the median of the healthy norms among the 20 steps before those two
    (``None``: those two steps not both healthy and taken, or fewer than 8 healthy norms).
    An episode is a run of bad records (a rollback ends one)."""

    def bad(r):
        return r.kind in ("nonfinite", "spike")

    def healthy(r):
        ok = r.action == "step" and r.kind in ("ok", "clipped")
        return ok and r.grad_norm is not None and math.isfinite(r.grad_norm)

    out: dict[int, float | None] = {}
    for i, r in enumerate(records):
        if not bad(r) or (i and bad(records[i - 1]) and records[i - 1].action != "rollback"):
            continue  # not the first step of an episode
        two = records[max(0, i - 2) : i]
        earlier = [q.grad_norm for q in records[max(0, i - 22) : i - 2] if healthy(q)]
        median = statistics.median(earlier) if earlier else 0.0
        if len(two) == 2 and all(healthy(q) for q in two) and len(earlier) >= 6 and median > 0:
            out[r.step] = math.sqrt(two[0].grad_norm * two[1].grad_norm) / median
        else:
            out[r.step] = None
    return out


@pytest.fixture(scope="session")
def logs(tmp_path_factory) -> dict[str, Path]:
    """Every scenario's log, made once per test session."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("doctor")
    try:
        return {
            "recurring": _classify(d / "recurring.jsonl", 60, corrupt=3),
            "recurring_no_ids": _classify(d / "recurring_no_ids.jsonl", 60, corrupt=3, ids=False),
            "one_off": _classify(d / "one_off.jsonl", 80, inf_at=37, layer_norms_every=1),
            "one_off_default": _classify(d / "one_off_default.jsonl", 80, inf_at=37),
            "lr_high": _lr_high(d / "lr_high.jsonl"),
            "layer_grows": _layer_grows(d / "layer_grows.jsonl"),
            "all_layers_grow": _layer_grows(d / "all_layers_grow.jsonl", targets=True),
            "clean": _classify(d / "clean.jsonl", 120),
            "clean_layers": _classify(d / "clean_layers.jsonl", 120, layer_norms_every=5),
            "jumps": _jumps(d / "jumps.jsonl"),
            "build_up": _jumps(d / "build_up.jsonl", build_up=True),
            "noise": _noise(d / "noise.jsonl"),
        }
    finally:
        torch.set_num_threads(old)
