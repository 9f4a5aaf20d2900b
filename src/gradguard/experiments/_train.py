"""One remedy run: the training loop, its per-step statistics and clipping, its records.

$ gradguard remedies --quick --configs gru --experiments adding

:func:`train_run` trains one :class:`~gradguard.experiments.RunSpec` and
returns its :class:`~gradguard.experiments.RunSummary`; every step becomes one
:class:`gradguard.records.StepRecord` (``docs/records.md``).

Determinism: a run seeds its own generators from ``seed`` (model weights,
training batches and the test set are drawn from separate seeded
``torch.Generator`` objects, identical across configurations for one seed).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from gradguard.experiments._grid import RunSpec
from gradguard.experiments._models import RecurrentNet, recurrent_spectrum
from gradguard.experiments._summary_io import RunSummary
from gradguard.experiments._tasks import Batch
from gradguard.records import RecordWriter, make_record
from gradguard.torch import Clipper, NormClipper, ValueClipper, grad_stats

__all__ = ["train_run"]

#: A run "beats the baseline" when its test loss is below this fraction of it: the
#: 1000-sequence test set's sampling error is ≈ 4% of the adding baseline
#: (std of (y − 1)² is √(1/15 − 1/36) ≈ 0.197, / √1000 ≈ 0.0062 vs 0.167).
BEATS_FRACTION = 0.9


class StepStats(NamedTuple):
    """What :func:`clip_and_measure` read from one step, as host floats."""

    pre: float  #: pre-clip total norm ``‖g‖``
    post: float  #: post-clip total norm
    coef: float  #: clip coefficient (1: clipping did not act)
    max_abs: float  #: max |g| before clipping
    nonfinite: int  #: non-finite gradient tensors
    loss: float  #: the step's loss (``nan`` when none was given)
    clipped: bool = False  #: whether the clipper scaled any gradient down


def run_clipper(clip: str | None, threshold: float | None) -> Clipper | None:
    """The clipper of a run's ``clip`` setting: ``"norm"`` → :class:`NormClipper`\\ (c),
    ``"value"`` → :class:`ValueClipper`\\ (c), ``None`` → no clipping."""
    if clip is None:
        return None
    assert threshold is not None  # RunSpec checks it
    return NormClipper(threshold) if clip == "norm" else ValueClipper(threshold)


def clip_and_measure(
    parameters: list[nn.Parameter],
    clipper: Clipper | None,
    loss: torch.Tensor | None = None,
) -> StepStats:
    """Clip the gradients of ``parameters`` in place by ``clipper``; return their statistics.

    The statistics are the guard's :func:`gradguard.torch.grad_stats` (total norm,
    max |g|, non-finite count), read on the host in one transfer together with
    ``loss``; the clipping is the clipper's own :meth:`~gradguard.torch.Clipper.clip_`
    given those statistics — the seed's ``g / max(1, ‖g‖/c)`` through
    :func:`gradguard.torch.clip_coef`, bit for bit what ``torch.nn.utils.clip_grad_norm_``
    / ``clip_grad_value_`` do (a test compares), with a multiply only when clipping
    acts. Gradients with a non-finite entry are left alone (the runner stops at that
    step without applying it).

    The runner must read the statistics on the host every step anyway (to stop at the
    first non-finite step), so the clipper decides on the host, as the guard's default
    mode does.

    Args:
      parameters: the model's parameters, ``.grad`` filled.
      clipper: the run's clipper (:func:`run_clipper`), or ``None``.
      loss: the step's loss (0-d tensor), read in the same host read.
    """
    stats = grad_stats(parameters, per_layer=False, keep_groups=clipper is not None)
    host, extra = stats.host(*([] if loss is None else [loss.detach()]))
    pre, bad = host.total_norm, host.nonfinite_count
    max_abs = math.nan if host.max_abs is None else host.max_abs  # measured: max_abs=True
    loss_v = extra[0] if extra else math.nan
    if clipper is None or bad:
        return StepStats(pre, pre, 1.0, max_abs, bad, loss_v)
    res = clipper.clip_(parameters, stats, host)
    return StepStats(pre, res.total_norm_clipped, res.clip_coef, max_abs, 0, loss_v, res.clipped)


def make_model(spec: RunSpec, generator: torch.Generator) -> RecurrentNet:
    """Build the run's model from its seeded generator."""
    task = spec.problem
    return RecurrentNet(
        spec.model, task.inputs, spec.hidden, task.outputs, init=spec.init, rho=spec.rho,
        per_step_output=task.per_step_output, fused=spec.fused and spec.model != "linear",
        forget_bias=spec.forget_bias, generator=generator,
    )  # fmt: skip


def _on(batch: Batch, device: torch.device) -> Batch:
    """``batch`` moved to ``device`` (drawn on the CPU: the same data on every device)."""
    if device.type == "cpu":
        return batch
    return Batch(x=batch.x.to(device), y=batch.y.to(device))


def make_optimizer(spec: RunSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """The run's optimizer: SGD with ``spec.momentum`` (0: plain), Adam, or RMSprop with
    decay ``alpha = 0.9``."""
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum)
    if spec.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=0.9)
    return torch.optim.Adam(params, lr=spec.lr)


def task_flow(spec: RunSpec, net: RecurrentNet, probe: Batch) -> list[float]:
    """Return ``‖∂L/∂h_t‖`` for t = 1 … T of the task loss on ``probe``, run unrolled.

    Leaves the parameters' ``.grad`` empty (``None``) and the parameters untouched,
    so measuring between optimizer steps does not change the training.
    """
    net.zero_grad(set_to_none=True)
    hs, states = net.unroll(probe.x)
    for h in states:
        h.retain_grad()
    out = net.readout(hs if net.per_step_output else hs[:, -1])
    spec.problem.loss(out, probe.y).backward()
    norms = torch.stack([torch.linalg.vector_norm(h.grad) for h in states if h.grad is not None])
    net.zero_grad(set_to_none=True)
    return [float(v) for v in norms.tolist()]


def _evaluate(spec: RunSpec, net: RecurrentNet, test: Batch) -> float:
    with torch.no_grad():
        return float(spec.problem.loss(net(test.x), test.y))


def train_run(
    spec: RunSpec,
    log: RecordWriter | None = None,
    on_step: Callable[[int], None] | None = None,
) -> RunSummary:
    """Train one configuration; record every step; return its summary.

    The run stops at its first non-finite loss or gradient (recorded with
    ``kind="nonfinite"``, ``action="skip"``: that update is not applied), and,
    when ``spec.stop_at_success``, after the evaluation at which it first meets
    its task's success criterion (that step's record carries
    ``extra["stopped_early"] = True``; the summary says ``stopped_early`` and
    ``stop_step``).

    Args:
      spec: what to run.
      log: where the step records go (``None``: not recorded).
      on_step: called with the number of steps advanced (for a progress bar).
    """
    gen_model = torch.Generator().manual_seed(spec.seed)
    gen_train = torch.Generator().manual_seed(10_000 + spec.seed)
    gen_test = torch.Generator().manual_seed(20_000 + spec.seed)
    device = torch.device(spec.device)
    net = make_model(spec, gen_model).to(device)
    task = spec.problem
    test = _on(task.batch(spec.T, spec.test_size, gen_test), device)
    probe = Batch(x=test.x[:64], y=test.y[:64])
    params = list(net.parameters())
    opt = make_optimizer(spec, params)
    if log is not None:
        spectrum = recurrent_spectrum(net)  # of W as initialised
        log.write_meta(
            {
                "run": spec.run_id,
                "baseline": spec.baseline,
                **spec.settings(),
                "W_spectral_radius": spectrum.rho,
                "W_sigma_max": spectrum.sigma_max,
            }
        )
    run_id = spec.run_id
    start = time.perf_counter()
    first_bad: int | None = None
    max_norm = 0.0
    clipped = 0
    loss_value = math.nan
    test_loss = math.nan
    success: int | None = None
    stopped = False
    step = advanced = 0
    clipper = run_clipper(spec.clip, spec.threshold)
    for step in range(spec.steps):
        batch = _on(task.batch(spec.T, spec.batch, gen_train), device)
        loss = task.loss(net(batch.x), batch.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        pre, post, coef, max_abs, nonfinite, loss_value, acted = clip_and_measure(
            params, clipper, loss
        )
        record_of = functools.partial(
            make_record, step, grad_norm=pre, max_abs=max_abs, nonfinite_count=int(nonfinite),
            loss=loss_value, threshold=spec.threshold, lr=spec.lr, run=run_id,
        )  # fmt: skip
        if not (math.isfinite(loss_value) and nonfinite == 0):
            first_bad = step
            record = record_of(action="skip", kind="nonfinite", time=time.perf_counter() - start)
            if log is not None:
                log.write(record)
            break
        opt.step()
        max_norm = max(max_norm, pre)
        clipped += acted
        extra: dict[str, object] = {}
        if (step + 1) % spec.eval_every == 0 or step + 1 == spec.steps:
            test_loss = _evaluate(spec, net, test)
            extra["test_loss"] = test_loss
            if success is None and task.success(test_loss, spec.T):
                success = step + 1
                stopped = spec.stop_at_success and step + 1 < spec.steps
        if spec.flow_every and (step == 0 or (step + 1) % spec.flow_every == 0 or stopped):
            extra["grad_h"] = task_flow(spec, net, probe)
        if stopped:
            extra["stopped_early"] = True
        record = record_of(
            clip_coef=coef, grad_norm_clipped=post,
            kind="clipped" if acted else "ok", extra=extra, time=time.perf_counter() - start,
        )  # fmt: skip
        if log is not None:
            log.write(record)
        if on_step is not None:
            on_step(1)
        advanced += 1
        if stopped:
            break
    steps_run = step + 1
    if on_step is not None and advanced < spec.steps:
        on_step(spec.steps - advanced)  # the bar counts the steps a diverged or solved run skips
    diverged = first_bad is not None
    if diverged:
        test_loss = math.nan
    return RunSummary(
        experiment=spec.experiment,
        config=spec.config,
        seed=spec.seed,
        T=spec.T,
        model=spec.model,
        init=spec.init,
        rho_init=spec.rho,
        optimizer=spec.optimizer,
        momentum=spec.momentum or None,
        lr=spec.lr,
        clip=spec.clip,
        threshold=spec.threshold,
        diverged=diverged,
        first_nonfinite_step=first_bad,
        max_grad_norm=max_norm,
        clipped_steps=clipped,
        final_loss=loss_value,
        test_loss=test_loss,
        baseline=spec.baseline,
        beats_baseline=bool(test_loss < BEATS_FRACTION * spec.baseline),
        steps_to_success=success,
        steps_run=steps_run,
        stopped_early=stopped,
        stop_step=steps_run if stopped else None,
        wall_s=time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------
