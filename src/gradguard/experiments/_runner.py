"""The remedy runner: the seed's four remedies, measured on real recurrent networks.

$ gradguard remedies --quick --out runs/

Two experiments, each a grid of configurations × seeds:

- ``divergence`` — the exploding side. The seed's system in matrix form, a
  *linear* RNN ``h_t = W h_{t-1} + U x_t`` whose ``W`` is orthogonal times
  ``ρ = 2`` (the seed's ``w = 2``), trained with plain SGD on the adding problem.
  Configurations: ``none``; ``clip-norm`` (the seed's rule ``g / max(1, ‖g‖/c)``,
  Pascanu et al. 2013); ``clip-value``; ``low-lr``; ``init-orthogonal`` and
  ``init-xavier`` (``ρ ≈ 1``); ``lstm`` and ``gru`` (same ``ρ = 2`` recurrent
  init on every gate block, same SGD). Measured: the step of the first
  non-finite loss or gradient, the largest finite gradient norm, the final loss.
- ``adding`` (and ``copy``) — the vanishing side, long-range learning:
  ``rnn`` (tanh), ``rnn-clip``, ``irnn`` (ReLU, identity init; Le et al. 2015),
  ``lstm``, ``gru``, trained with Adam; measured: test loss against the
  memoryless baseline, steps until test MSE < 0.01, wall time.

Every run writes its per-step records (:class:`gradguard.records.StepRecord`,
``docs/records.md``) to ``OUT/runs/<experiment>-T<T>-<config>-seed<k>.jsonl``;
``OUT/summary.csv`` holds one row per finished run and is rewritten atomically
after each run, so an interrupted grid keeps every finished run.

Determinism: each run seeds its own generators from ``seed`` (model weights,
training batches and the test set are drawn from separate seeded
``torch.Generator`` objects, identical across configurations for one seed),
torch runs single-threaded and with ``torch.use_deterministic_algorithms(True)``
for the duration of :func:`run_remedies` (both restored afterwards). On one
machine and torch build the same seed gives the same numbers bit for bit.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from gradguard._atomic import write_text_atomic
from gradguard.errors import InputError
from gradguard.experiments._models import RecurrentNet, recurrent_spectrum
from gradguard.experiments._names import (
    DIVERGENCE_CONFIGS,
    EXPERIMENTS,
    LONG_RANGE_CONFIGS,
    TASKS,
    check_cell,
    check_count,
    check_init,
    check_seed,
    check_T,
)
from gradguard.experiments._tasks import (
    Batch,
    adding_baseline,
    adding_problem,
    copy_baseline,
    copy_memory,
)
from gradguard.records import RecordWriter, StepRecord
from gradguard.torch import clip_grad_value_, get_total_norm, grad_stats
from gradguard.torch._clip import EPS

__all__ = [
    "DIVERGENCE_CONFIGS",
    "EXPERIMENTS",
    "LONG_RANGE_CONFIGS",
    "PRESETS",
    "SUMMARY_COLUMNS",
    "Preset",
    "RemediesInterrupted",
    "RunSpec",
    "RunSummary",
    "StepStats",
    "build_grid",
    "run_remedies",
    "train_run",
]

#: Upper bounds for the runner's overrides (a typo must not start a week-long grid).
MAX_T = 10_000
MAX_STEPS = 10_000_000
OPTIMIZERS = ("sgd", "adam")
#: A long-range run succeeds when its test MSE (adding) drops below this.
ADDING_SUCCESS_MSE = 0.01
#: A run "beats the baseline" when its test loss is below this fraction of it: the
#: 1000-sequence test set's sampling error is ≈ 4% of the adding baseline
#: (std of (y − 1)² is √(1/15 − 1/36) ≈ 0.197, / √1000 ≈ 0.0062 vs 0.167).
BEATS_FRACTION = 0.9
#: A copy run succeeds when its test cross-entropy drops below this fraction of the baseline.
COPY_SUCCESS_FRACTION = 0.1


@dataclass(frozen=True)
class RunSpec:
    """One training run: what to train, how, for how long.

    Attributes:
      experiment: ``divergence``, ``adding`` or ``copy``.
      config: the configuration's name in the output (``none``, ``clip-norm``, …).
      seed: seeds weights, batches and test set.
      task: ``adding`` or ``copy`` (the divergence experiment trains on ``adding``).
      T: sequence length (adding) or delay (copy).
      model: cell (``linear``, ``tanh``, ``relu``, ``lstm``, ``gru``).
      init: recurrent init scheme; ``rho`` its spectral radius for ``scaled-orthogonal``.
      hidden: hidden size.
      optimizer: ``sgd`` (plain, no momentum) or ``adam``.
      lr: learning rate ``η``.
      clip: ``None``, ``"norm"`` (``max_norm = threshold``) or ``"value"``
        (``clip_value = threshold``).
      threshold: the clipping threshold ``c``.
      steps: optimizer steps (a run stops early at its first non-finite step).
      batch: sequences per step.
      eval_every: steps between test-set evaluations (also at the last step).
      flow_every: steps between gradient-flow profiles — ``‖∂L/∂h_t‖`` for
        t = 1 … T of the task loss on a fixed probe batch (the first 64 test
        sequences), recorded as ``grad_h`` on that step's record; 0: never.
      test_size: sequences in the fixed test set.
      fused: train with torch's fused kernel (same weights and math as unrolled).
    """

    experiment: str
    config: str
    seed: int
    task: str
    T: int
    model: str
    init: str
    rho: float | None
    hidden: int
    optimizer: str
    lr: float
    clip: str | None
    threshold: float | None
    steps: int
    batch: int
    eval_every: int
    test_size: int = 1000
    fused: bool = False
    flow_every: int = 0

    def __post_init__(self) -> None:
        # A spec built by hand is checked as strictly as one from the CLI.
        if self.experiment not in EXPERIMENTS:
            raise InputError("experiment", self.experiment, "one of " + ", ".join(EXPERIMENTS))
        if self.task not in TASKS:
            raise InputError("task", self.task, "one of " + ", ".join(TASKS))
        check_T(self.T, minimum=2 if self.task == "adding" else 1, maximum=MAX_T)
        check_cell(self.model)
        check_init(self.init, self.rho)
        check_seed(self.seed)
        if self.optimizer not in OPTIMIZERS:
            raise InputError("optimizer", self.optimizer, "one of " + ", ".join(OPTIMIZERS))
        if not _positive(self.lr):
            raise InputError("lr", self.lr, "a finite number > 0 (the learning rate)")
        if self.clip not in (None, "norm", "value"):
            raise InputError("clip", self.clip, "None, 'norm' or 'value'")
        if self.clip is not None and not _positive(self.threshold):
            raise InputError("threshold", self.threshold, "a finite number > 0 when clipping")
        check_count(self.hidden, "hidden", 4096)
        check_count(self.steps, "steps", MAX_STEPS)
        check_count(self.batch, "batch", 1_000_000)
        check_count(self.eval_every, "eval_every", 10**9)
        check_count(self.test_size, "test_size", 1_000_000)
        if self.flow_every:
            check_count(self.flow_every, "flow_every", 10**9)

    @property
    def run_id(self) -> str:
        """``experiment/T<T>/config/seed<k>`` — the ``run`` field of every record."""
        return f"{self.experiment}/T{self.T}/{self.config}/seed{self.seed}"

    @property
    def file_stem(self) -> str:
        return self.run_id.replace("/", "-")

    @property
    def baseline(self) -> float:
        """The memoryless baseline loss of the task."""
        return adding_baseline() if self.task == "adding" else copy_baseline(self.T)


#: Columns of ``summary.csv``, in order.
SUMMARY_COLUMNS = (
    "experiment",
    "config",
    "seed",
    "T",
    "model",
    "init",
    "rho_init",
    "optimizer",
    "lr",
    "clip",
    "threshold",
    "diverged",
    "first_nonfinite_step",
    "max_grad_norm",
    "clipped_steps",
    "final_loss",
    "test_loss",
    "baseline",
    "beats_baseline",
    "steps_to_success",
    "steps_run",
    "wall_s",
    "log",
)


@dataclass
class RunSummary:
    """What one run measured (one row of ``summary.csv``).

    Attributes:
      diverged: a loss or gradient became non-finite.
      first_nonfinite_step: the step at which it first did (``None``: never).
      max_grad_norm: the largest pre-clip gradient norm over the steps taken (``inf`` when
        the float32 norm overflowed although every entry was finite).
      clipped_steps: steps at which clipping acted.
      final_loss: training loss of the last step taken (non-finite if diverged).
      test_loss: loss on the fixed test set after the last step (``nan`` if diverged).
      baseline: the task's memoryless baseline (adding: 1/6; copy: 10·ln 8/(T+20)).
      beats_baseline: ``test_loss < 0.9 × baseline`` (clear of the test set's sampling error).
      steps_to_success: first evaluated step with test MSE < 0.01 (adding) or
        test cross-entropy < 0.1 × baseline (copy); ``None``: not reached.
      steps_run: optimizer steps attempted.
      wall_s: wall-clock seconds of the run (training and evaluation).
      log: path of the run's JSONL records, relative to the output folder.
    """

    experiment: str
    config: str
    seed: int
    T: int
    model: str
    init: str
    rho_init: float | None
    optimizer: str
    lr: float
    clip: str | None
    threshold: float | None
    diverged: bool
    first_nonfinite_step: int | None
    max_grad_norm: float
    clipped_steps: int
    final_loss: float
    test_loss: float
    baseline: float
    beats_baseline: bool
    steps_to_success: int | None
    steps_run: int
    wall_s: float
    log: str | None = None

    def to_row(self) -> dict[str, Any]:
        """Return the row as ``summary.csv`` writes it (``None`` → empty cell)."""
        return {k: ("" if v is None else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Preset:
    """The sizes of a preset grid.

    Attributes:
      seeds: seeds to run every configuration with.
      divergence_T, divergence_steps, divergence_hidden, divergence_lr, divergence_rho:
        the divergence experiment (linear RNN, SGD).
      low_lr_factor: ``low-lr`` uses ``divergence_lr × low_lr_factor``.
      clip_norm, clip_value: thresholds ``c`` of the clipping configurations.
      adding_T, copy_T: lengths of the long-range experiments.
      long_steps: optimizer steps per long-range run, by ``T``.
      long_hidden, long_lr, long_batch, eval_every: long-range training settings.
    """

    name: str
    seeds: tuple[int, ...]
    divergence_T: int = 10
    divergence_steps: int = 300
    divergence_hidden: int = 32
    divergence_batch: int = 32
    divergence_lr: float = 0.01
    divergence_rho: float = 2.0
    low_lr_factor: float = 1e-4
    clip_norm: float = 1.0
    clip_value: float = 0.1
    adding_T: tuple[int, ...] = (50,)
    copy_T: tuple[int, ...] = (20,)
    long_steps: dict[int, int] = field(default_factory=lambda: {50: 1500})
    long_hidden: int = 64
    long_lr: float = 3e-3
    long_batch: int = 64
    eval_every: int = 100
    experiments: tuple[str, ...] = ("divergence", "adding")


PRESETS: dict[str, Preset] = {
    "quick": Preset(name="quick", seeds=(0,)),
    "full": Preset(
        name="full",
        seeds=(0, 1, 2),
        adding_T=(50, 100, 200),
        divergence_steps=1000,
        long_steps={50: 3000, 100: 2500, 200: 1500},
        copy_T=(20,),
    ),
}


def _positive(x: object) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _divergence_specs(p: Preset, seed: int, lr: float | None) -> list[RunSpec]:
    base = RunSpec(
        experiment="divergence",
        config="none",
        seed=seed,
        task="adding",
        T=p.divergence_T,
        model="linear",
        init="scaled-orthogonal",
        rho=p.divergence_rho,
        hidden=p.divergence_hidden,
        optimizer="sgd",
        lr=p.divergence_lr if lr is None else lr,
        clip=None,
        threshold=None,
        steps=p.divergence_steps,
        batch=p.divergence_batch,
        eval_every=max(1, p.divergence_steps // 5),
        flow_every=max(1, p.divergence_steps // 10),
    )
    return [
        base,
        replace(base, config="clip-norm", clip="norm", threshold=p.clip_norm),
        replace(base, config="clip-value", clip="value", threshold=p.clip_value),
        replace(base, config="low-lr", lr=base.lr * p.low_lr_factor),
        replace(base, config="init-orthogonal", init="orthogonal", rho=None),
        replace(base, config="init-xavier", init="xavier-normal", rho=None),
        replace(base, config="lstm", model="lstm"),
        replace(base, config="gru", model="gru"),
    ]


def _long_range_specs(p: Preset, task: str, T: int, seed: int) -> list[RunSpec]:
    steps = p.long_steps.get(T, max(p.long_steps.values()))
    base = RunSpec(
        experiment=task,
        config="rnn",
        seed=seed,
        task=task,
        T=T,
        model="tanh",
        init="default",
        rho=None,
        hidden=p.long_hidden,
        optimizer="adam",
        lr=p.long_lr,
        clip=None,
        threshold=None,
        steps=steps,
        batch=p.long_batch,
        eval_every=p.eval_every,
        flow_every=p.eval_every,
        fused=True,
    )
    return [
        base,
        replace(base, config="rnn-clip", clip="norm", threshold=p.clip_norm),
        # Le et al. (2015) train the IRNN with gradient clipping.
        replace(
            base,
            config="irnn",
            model="relu",
            init="identity",
            clip="norm",
            threshold=p.clip_norm,
        ),
        replace(base, config="lstm", model="lstm"),
        replace(base, config="gru", model="gru"),
    ]


def _parse_names(values: Sequence[str] | None, allowed: Sequence[str], name: str) -> list[str]:
    if values is None:
        return list(allowed)
    out = []
    for v in values:
        if v not in allowed:
            raise InputError(name, v, "one of " + ", ".join(allowed))
        out.append(v)
    return out


def build_grid(
    preset: str | Preset = "quick",
    *,
    seeds: Sequence[int] | None = None,
    experiments: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    T: Sequence[int] | None = None,
    steps: int | None = None,
    lr: float | None = None,
) -> list[RunSpec]:
    """Return the runs of a preset, optionally narrowed or resized.

    Args:
      preset: ``"quick"``, ``"full"`` or a :class:`Preset`.
      seeds: override the preset's seeds (each a whole number from 0 to 2³²−1).
      experiments: subset of ``divergence``, ``adding``, ``copy`` (``copy`` runs only when named).
      configs: keep only these configuration names.
      T: lengths for the long-range experiments (``adding``/``copy``), each 2…10 000.
      steps: override every run's number of steps (1…10⁷).
      lr: override the divergence experiment's SGD learning rate ``η``
        (``low-lr`` keeps its ratio); must be > 0.

    Raises:
      InputError: an unknown preset, experiment or configuration name; a bad
        seed, ``T``, ``steps`` or ``lr``.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise InputError("preset", preset, "one of " + ", ".join(PRESETS))
        p = PRESETS[preset]
    else:
        p = preset
    exps = _parse_names(experiments, EXPERIMENTS, "experiment") if experiments else p.experiments
    all_configs = DIVERGENCE_CONFIGS + tuple(
        c for c in LONG_RANGE_CONFIGS if c not in ("lstm", "gru")
    )
    wanted = set(_parse_names(configs, all_configs, "config")) if configs else None
    run_seeds = tuple(p.seeds if seeds is None else seeds)
    if not run_seeds:
        raise InputError("seeds", list(run_seeds), "a non-empty list of whole numbers ≥ 0")
    for s in run_seeds:
        check_seed(s)
    if T is not None:
        if not T:
            raise InputError("T", list(T), "a non-empty list of whole numbers ≥ 2")
        for t in T:
            check_T(t, minimum=2, maximum=MAX_T)
    if steps is not None:
        check_count(steps, "steps", MAX_STEPS)
    if lr is not None and not _positive(lr):
        raise InputError("lr", lr, "a finite number > 0 (the learning rate)")
    specs: list[RunSpec] = []
    for exp in exps:
        for seed in run_seeds:
            if exp == "divergence":
                specs.extend(_divergence_specs(p, seed, lr))
            else:
                lengths = (
                    tuple(T) if T is not None else (p.adding_T if exp == "adding" else p.copy_T)
                )
                for t in lengths:
                    specs.extend(_long_range_specs(p, exp, t, seed))
    if wanted is not None:
        specs = [s for s in specs if s.config in wanted]
    if steps is not None:
        specs = [
            replace(
                s,
                steps=steps,
                eval_every=min(s.eval_every, steps),
                flow_every=min(s.flow_every, steps),
            )
            for s in specs
        ]
    # Group by experiment and T, then seed: a cut-short grid still has whole comparisons.
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    specs.sort(key=lambda s: (order[s.experiment], s.T, s.seed))
    return specs


# ---------------------------------------------------------------------------
# One run


class StepStats(NamedTuple):
    """What :func:`clip_and_measure` read from one step, as host floats."""

    pre: float  #: pre-clip total norm ``‖g‖``
    post: float  #: post-clip total norm
    coef: float  #: clip coefficient (1: clipping did not act)
    max_abs: float  #: max |g| before clipping
    nonfinite: int  #: non-finite gradient tensors
    loss: float  #: the step's loss (``nan`` when none was given)


def clip_and_measure(
    parameters: list[nn.Parameter],
    clip: str | None,
    threshold: float | None,
    loss: torch.Tensor | None = None,
) -> StepStats:
    """Clip the gradients of ``parameters`` in place; return their statistics.

    The statistics are those of the guard's :func:`gradguard.torch.grad_stats`
    (a test compares): for the runner's models — every gradient dense, on one
    device, one dtype — a short path computes them with six small kernels (the
    total norm as torch's ``get_total_norm`` computes it, one ``aminmax`` over
    all entries, one stack for the host read: ≈ 0.016 ms less per step than
    ``grad_stats`` inside the divergence experiment's loop); a step with any
    non-finite value, or other gradients, goes through ``grad_stats`` itself,
    whose non-finite bookkeeping is exact. The clipping is the seed's
    ``g / max(1, ‖g‖/c)`` with torch's ``1e-6`` added to the norm — bit for bit
    what ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_`` do (a test
    compares). Gradients with a non-finite entry
    are left alone (the runner stops at that step without applying it).

    The runner must read the statistics on the host every step anyway (to stop at
    the first non-finite step), so unlike torch's clipper this one decides on the
    host: one read for the statistics and ``loss``, then a multiply only when
    clipping acts. At the divergence experiment's sizes (a 0.4 ms step) each tiny
    kernel saved is about 1 % of the step.

    Args:
      parameters: the model's parameters, ``.grad`` filled.
      clip: ``None``, ``"norm"`` (``max_norm = threshold``) or ``"value"``.
      threshold: the clipping threshold ``c``.
      loss: the step's loss (0-d tensor), read in the same host read.
    """
    grads = [q.grad for q in parameters if q.grad is not None]
    stats = _fast_stats(grads, loss)
    if stats is None:
        gs = grad_stats(parameters, per_layer=False)
        host, extra = gs.host(*([] if loss is None else [loss.detach()]))
        stats = (
            host.total_norm,
            host.max_abs,
            host.nonfinite_count,
            extra[0] if extra else math.nan,
        )
    pre, max_abs, bad, loss_v = stats
    post, coef = pre, 1.0
    if clip is not None and bad == 0 and math.isfinite(pre):
        assert threshold is not None
        if clip == "norm":
            # float32 arithmetic, as torch computes clamp(c / (‖g‖ + 1e-6), max=1) on
            # the float32 norm: the same coefficient, so the same clipped gradients.
            f32 = np.float32
            c32 = f32(threshold) / (f32(pre) + f32(EPS))
            if c32 < 1:
                coef = float(c32)
                torch._foreach_mul_(grads, coef)
                post = float(f32(pre) * c32)
        elif max_abs > threshold:  # clip == "value"; clamping acts only above c
            clip_grad_value_(parameters, threshold)
            post = float(get_total_norm(grads))
            coef = float(np.float32(post) / np.float32(pre)) if pre > 0 else 1.0
    return StepStats(pre, post, coef, max_abs, int(bad), loss_v)


def _fast_stats(
    grads: list[torch.Tensor], loss: torch.Tensor | None
) -> tuple[float, float, int, float] | None:
    """``(‖g‖, max |g|, 0, loss)`` when every value is finite; ``None``: use grad_stats."""
    if not grads:
        return None
    first = grads[0]
    for g in grads:
        if type(g) is not torch.Tensor or g.dtype != first.dtype or g.device != first.device:
            return None
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    lo, hi = torch.aminmax(torch.cat([g.reshape(-1) for g in grads]))
    head = [total, lo, hi]
    with_loss = loss is not None and loss.dtype == first.dtype
    if loss is not None and with_loss:
        head.append(loss.detach().reshape(()))
    values = torch.stack(head).tolist()  # the one host read
    pre, lo_v, hi_v = values[:3]
    if not (math.isfinite(pre) and math.isfinite(lo_v) and math.isfinite(hi_v)):
        return None  # the rare bad step: grad_stats counts the non-finite tensors
    loss_v = values[3] if with_loss else math.nan if loss is None else float(loss.detach())
    return pre, max(-lo_v, hi_v), 0, loss_v


def _task_batch(spec: RunSpec, batch: int, gen: torch.Generator) -> Batch:
    if spec.task == "adding":
        return adding_problem(spec.T, batch, gen)
    return copy_memory(spec.T, batch, gen)


def _loss(spec: RunSpec, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if spec.task == "adding":
        return nn.functional.mse_loss(out, y)
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def make_model(spec: RunSpec, generator: torch.Generator) -> RecurrentNet:
    """Build the run's model from its seeded generator."""
    if spec.task == "adding":
        return RecurrentNet(
            spec.model, 2, spec.hidden, 1, init=spec.init, rho=spec.rho,
            fused=spec.fused and spec.model != "linear", generator=generator,
        )  # fmt: skip
    return RecurrentNet(
        spec.model, 10, spec.hidden, 10, init=spec.init, rho=spec.rho, per_step_output=True,
        fused=spec.fused and spec.model != "linear", generator=generator,
    )  # fmt: skip


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
    _loss(spec, out, probe.y).backward()
    norms = torch.stack([torch.linalg.vector_norm(h.grad) for h in states if h.grad is not None])
    net.zero_grad(set_to_none=True)
    return [float(v) for v in norms.tolist()]


def _evaluate(spec: RunSpec, net: RecurrentNet, test: Batch) -> float:
    with torch.no_grad():
        return float(_loss(spec, net(test.x), test.y))


def _success(spec: RunSpec, test_loss: float) -> bool:
    if spec.task == "adding":
        return test_loss < ADDING_SUCCESS_MSE
    return test_loss < COPY_SUCCESS_FRACTION * spec.baseline


def train_run(
    spec: RunSpec,
    log: RecordWriter | None = None,
    on_step: Callable[[int], None] | None = None,
) -> RunSummary:
    """Train one configuration; record every step; return its summary.

    The run stops at its first non-finite loss or gradient (recorded with
    ``kind="nonfinite"``, ``action="skip"``: that update is not applied).

    Args:
      spec: what to run.
      log: where the step records go (``None``: not recorded).
      on_step: called with the number of steps advanced (for a progress bar).
    """
    gen_model = torch.Generator().manual_seed(spec.seed)
    gen_train = torch.Generator().manual_seed(10_000 + spec.seed)
    gen_test = torch.Generator().manual_seed(20_000 + spec.seed)
    net = make_model(spec, gen_model)
    test = _task_batch(spec, spec.test_size, gen_test)
    probe = Batch(x=test.x[:64], y=test.y[:64])
    params = list(net.parameters())
    opt: torch.optim.Optimizer
    if spec.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=spec.lr)
    else:
        opt = torch.optim.Adam(params, lr=spec.lr)
    if log is not None:
        spectrum = recurrent_spectrum(net)  # of W as initialised
        log.write_meta(
            {
                "run": spec.run_id,
                "baseline": spec.baseline,
                **asdict(spec),
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
    step = 0
    for step in range(spec.steps):
        batch = _task_batch(spec, spec.batch, gen_train)
        loss = _loss(spec, net(batch.x), batch.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        pre, post, coef, max_abs, nonfinite, loss_value = clip_and_measure(
            params, spec.clip, spec.threshold, loss
        )
        loss_ok, grad_ok = math.isfinite(loss_value), nonfinite == 0
        record = StepRecord(
            step=step,
            loss=loss_value,
            grad_norm=pre,
            lr=spec.lr,
            max_abs=max_abs,
            nonfinite_count=int(nonfinite),
            loss_finite=loss_ok,
            grad_finite=grad_ok,
            threshold=spec.threshold,
            run=run_id,
        )
        if not (loss_ok and grad_ok):
            first_bad = step
            record.action, record.kind = "skip", "nonfinite"
            record.time = time.perf_counter() - start
            if log is not None:
                log.write(record)
            break
        opt.step()
        max_norm = max(max_norm, pre)
        acted = spec.clip is not None and coef < 1.0
        clipped += acted
        record.grad_norm_clipped, record.clip_coef, record.clipped = post, coef, acted
        record.kind = "clipped" if acted else "ok"
        if (step + 1) % spec.eval_every == 0 or step + 1 == spec.steps:
            test_loss = _evaluate(spec, net, test)
            record.extra["test_loss"] = test_loss
            if success is None and _success(spec, test_loss):
                success = step + 1
        if spec.flow_every and (step == 0 or (step + 1) % spec.flow_every == 0):
            record.extra["grad_h"] = task_flow(spec, net, probe)
        record.time = time.perf_counter() - start
        if log is not None:
            log.write(record)
        if on_step is not None:
            on_step(1)
    steps_run = step + 1
    if on_step is not None and first_bad is not None:
        on_step(spec.steps - first_bad)  # the bar counts the steps a diverged run skips
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
        wall_s=time.perf_counter() - start,
    )


# ---------------------------------------------------------------------------
# The grid


class RemediesInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the grid; ``rows`` holds the runs that finished (also in summary.csv)."""

    def __init__(self, rows: list[RunSummary]) -> None:
        super().__init__(f"interrupted after {len(rows)} finished runs")
        self.rows = rows


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Run single-threaded with deterministic algorithms; restore the settings after."""
    threads = torch.get_num_threads()
    was = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
        torch.set_num_threads(threads)


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` (and ``out/runs``) if needed; raise :class:`InputError` if unwritable."""
    path = Path(out)
    try:
        (path / "runs").mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise InputError(
            "out", str(path), "a folder gradguard can create and write", f"({e.strerror})."
        ) from None
    return path


def write_summary(path: str | os.PathLike[str], rows: Sequence[RunSummary]) -> None:
    """Write ``rows`` to ``path`` as CSV atomically (temp file + rename)."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow(row.to_row())
    write_text_atomic(path, buf.getvalue())


def read_summary(path: str | os.PathLike[str]) -> list[RunSummary]:
    """Read a ``summary.csv`` written by :func:`write_summary` back into rows."""
    types = {f.name: f.type for f in fields(RunSummary)}
    rows = []
    with Path(path).open(newline="", encoding="utf-8") as f:
        for raw in csv.DictReader(f):
            kwargs: dict[str, Any] = {}
            for key, value in raw.items():
                kind = str(types[key])
                if value == "":
                    kwargs[key] = None
                elif kind.startswith("bool"):
                    kwargs[key] = value == "True"
                elif kind.startswith("int"):
                    kwargs[key] = int(value)
                elif kind.startswith("float"):
                    kwargs[key] = float(value)
                else:
                    kwargs[key] = value
            rows.append(RunSummary(**kwargs))
    return rows


ProgressCallback = Callable[[str, int, int], None]


def run_remedies(
    preset: str | Preset = "quick",
    out: str | os.PathLike[str] | None = None,
    *,
    seeds: Sequence[int] | None = None,
    experiments: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    T: Sequence[int] | None = None,
    steps: int | None = None,
    lr: float | None = None,
    progress: ProgressCallback | None = None,
) -> list[RunSummary]:
    """Run a grid of remedy configurations × seeds; return one summary row per run.

    Args:
      preset: ``"quick"`` (one seed, divergence + adding at T = 50; under 2 min
        on 2 cores) or ``"full"`` (3 seeds, adding at T = 50, 100, 200), or a
        :class:`Preset`.
      out: folder for ``runs/*.jsonl`` and ``summary.csv`` (``None``: nothing written).
      seeds, experiments, configs, T, steps, lr: see :func:`build_grid`.
      progress: called as ``progress(run_id, steps_done, steps_total)`` after every step.

    Returns:
      the :class:`RunSummary` rows, in run order.

    Raises:
      InputError: bad names or sizes (see :func:`build_grid`), or an unwritable ``out``.
      RemediesInterrupted: on Ctrl-C; finished runs are kept (in ``rows`` and
        ``summary.csv``); the interrupted run's records stay in ``runs/*.jsonl.partial``.
    """
    specs = build_grid(
        preset, seeds=seeds, experiments=experiments, configs=configs, T=T, steps=steps, lr=lr
    )
    out_dir = check_out_dir(out) if out is not None else None
    total = sum(s.steps for s in specs)
    done = 0
    rows: list[RunSummary] = []
    with deterministic():
        for spec in specs:
            run_id = spec.run_id

            def advance(n: int, run_id: str = run_id) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(run_id, done, total)

            try:
                if out_dir is None:
                    row = train_run(spec, None, advance)
                else:
                    final = out_dir / "runs" / f"{spec.file_stem}.jsonl"
                    partial = final.with_name(final.name + ".partial")
                    partial.unlink(missing_ok=True)
                    with RecordWriter(partial) as writer:
                        row = train_run(spec, writer, advance)
                    os.replace(partial, final)
                    row.log = str(final.relative_to(out_dir))
            except KeyboardInterrupt:
                raise RemediesInterrupted(rows) from None
            rows.append(row)
            if out_dir is not None:
                write_summary(out_dir / "summary.csv", rows)
    return rows
