"""The remedy runner's grid: one run's spec, the preset sizes, the grid of a preset.

$ gradguard remedies --quick --configs none,clip-norm --train-steps 100

Two experiments, each a grid of configurations × seeds:

- ``divergence`` — the exploding side. The seed's system in matrix form, a
  *linear* RNN ``h_t = W h_{t-1} + U x_t`` whose ``W`` is orthogonal times
  ``ρ = 2`` (the seed's ``w = 2``), trained with plain SGD on the adding problem.
  Configurations: ``none``; ``clip-norm`` (the seed's rule ``g / max(1, ‖g‖/c)``,
  Pascanu et al. 2013); ``clip-value``; ``low-lr``; ``init-orthogonal`` and
  ``init-xavier`` (``ρ ≈ 1``); ``lstm`` and ``gru`` (same ``ρ = 2`` recurrent
  init on every gate block, same SGD).
- ``adding`` (and ``copy``) — the vanishing side, long-range learning:
  ``rnn`` (tanh), ``rnn-clip``, ``irnn`` (ReLU, identity init; Le et al. 2015),
  ``lstm``, ``gru``, trained with Adam until they reach the task's success
  criterion or their step budget.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from gradguard._validate import check_choice, check_threshold
from gradguard.errors import InputError
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
from gradguard.experiments._tasks import TASK_OBJECTS, Task

__all__ = ["PRESETS", "LongConfig", "Preset", "RunSpec", "build_grid"]

#: Upper bounds for the runner's overrides (a typo must not start a week-long grid).
MAX_T = 10_000
MAX_STEPS = 10_000_000
#: ``rmsprop`` is torch's RMSprop with ``alpha = 0.9`` (the decay Arjovsky et al. train with).
OPTIMIZERS = ("sgd", "adam", "rmsprop")
#: Devices a run may train on: the CPU, a CUDA device (``cuda`` or ``cuda:N``), or ``auto``
#: (decided by the process that trains the run: CUDA where it sees a GPU, else its CPU).
_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]{1,3})?")
_DEVICES = "auto, cpu, cuda, cuda:N"


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
      optimizer: ``sgd`` (torch's SGD, with ``momentum``), ``adam`` or ``rmsprop``
        (``alpha = 0.9``).
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
      stop_at_success: stop once the task's success criterion is met (checked at
        each evaluation); the summary then says ``stopped_early`` and ``stop_step``.
      forget_bias: an LSTM's forget-gate bias at initialization (``None``: drawn like
        every other bias); Gers, Schmidhuber & Cummins (2000) start it positive.
      device: ``cpu``, ``cuda`` or ``cuda:N`` — where the run trains (its data and
        weights are drawn on the CPU from the same seeds either way); ``auto``: the
        worker that trains it decides (``cuda`` where it sees a GPU, else ``cpu``), and
        the summary row's ``device`` says which.
      momentum: SGD's momentum ``μ`` (torch's ``momentum``: ``v ← μ v + g``, ``θ ← θ − η v``;
        Sutskever et al. 2013); 0: plain SGD. Only with ``optimizer="sgd"``, 0 ≤ μ < 1.
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
    stop_at_success: bool = False
    forget_bias: float | None = None
    device: str = "cpu"
    momentum: float = 0.0

    def __post_init__(self) -> None:
        # A spec built by hand is checked as strictly as one from the CLI.
        check_choice(self.experiment, "experiment", EXPERIMENTS)
        check_choice(self.task, "task", TASKS)
        check_T(self.T, minimum=self.problem.min_T, maximum=MAX_T)
        check_cell(self.model)
        check_init(self.init, self.rho)
        check_seed(self.seed)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if not _positive(self.lr):
            raise InputError("lr", self.lr, "learning_rate")
        if self.clip not in (None, "norm", "value"):
            raise InputError("clip", self.clip, "choice", choices="None, 'norm', 'value'")
        if self.clip is not None:
            check_threshold(self.threshold, "threshold")
        check_count(self.hidden, "hidden", 4096)
        check_count(self.steps, "steps", MAX_STEPS)
        check_count(self.batch, "batch", 1_000_000)
        check_count(self.eval_every, "eval_every", 10**9)
        check_count(self.test_size, "test_size", 1_000_000)
        if self.flow_every:
            check_count(self.flow_every, "flow_every", 10**9)
        if self.forget_bias is not None and (self.model != "lstm" or not _finite(self.forget_bias)):
            raise InputError("forget_bias", self.forget_bias, "forget_bias")
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise InputError("device", self.device, "choice", choices=_DEVICES)
        check_momentum(self.momentum, self.optimizer)

    def settings(self) -> dict[str, object]:
        """Every setting by name, as the records' meta line and :attr:`config_hash` hold them.

        ``momentum`` is left out at 0 (plain SGD): it came after grids had been run, and a
        run without it keeps the hash and the records it had.
        """
        settings = asdict(self)
        if not self.momentum:
            del settings["momentum"]
        return settings

    @property
    def config_hash(self) -> str:
        """A hash of every setting (16 hex digits): two runs with the same hash train alike."""
        text = json.dumps(self.settings(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    @property
    def run_id(self) -> str:
        """``experiment/T<T>/config/seed<k>`` — the ``run`` field of every record."""
        return f"{self.experiment}/T{self.T}/{self.config}/seed{self.seed}"

    @property
    def file_stem(self) -> str:
        return self.run_id.replace("/", "-")

    @property
    def problem(self) -> Task:
        """The :class:`~gradguard.experiments.Task` object named by ``task``."""
        return TASK_OBJECTS[self.task]

    @property
    def baseline(self) -> float:
        """The memoryless baseline loss of the task."""
        return self.problem.baseline(self.T)


@dataclass(frozen=True)
class LongConfig:
    """One configuration of a long-range experiment (adding, copy).

    Attributes:
      name: the configuration's name in the output (``rnn``, ``irnn``, ``lstm`` …).
      model: the cell; ``init`` its recurrent-matrix scheme.
      clip, threshold: ``None``, ``"norm"`` or ``"value"`` and its ``c``.
      hidden: hidden size (``None``: the preset's ``long_hidden``).
      lr: learning rate (``None``: the preset's ``long_lr``).
      forget_bias: an LSTM's initial forget-gate bias (``None``: drawn like the others).
    """

    name: str
    model: str
    init: str = "default"
    clip: str | None = None
    threshold: float | None = None
    hidden: int | None = None
    lr: float | None = None
    forget_bias: float | None = None


#: The long-range configurations of the ``quick`` and ``full`` presets.
REMEDY_CONFIGS: tuple[LongConfig, ...] = (
    LongConfig("rnn", "tanh"),
    LongConfig("rnn-clip", "tanh", clip="norm", threshold=1.0),
    # Le et al. (2015) train the IRNN with gradient clipping.
    LongConfig("irnn", "relu", "identity", clip="norm", threshold=1.0),
    LongConfig("lstm", "lstm"),
    LongConfig("gru", "gru"),
)


@dataclass(frozen=True)
class Preset:
    """The sizes of a preset grid.

    Attributes:
      name: the preset's name (``--preset NAME``).
      seeds: seeds to run every configuration with.
      divergence_T, divergence_steps, divergence_hidden, divergence_lr, divergence_rho:
        the divergence experiment (linear RNN, SGD).
      low_lr_factor: ``low-lr`` uses ``divergence_lr × low_lr_factor``.
      clip_norm, clip_value: thresholds ``c`` of the divergence experiment's clipping
        configurations.
      adding_T, copy_T: lengths of the long-range experiments.
      long_steps: optimizer steps per long-range run, by ``T``.
      long_hidden, long_lr, long_batch, long_optimizer, eval_every, test_size:
        long-range training settings (a configuration may set its own hidden size and lr).
      long_momentum: the long-range runs' SGD momentum ``μ`` (0: plain SGD).
      long_configs: the long-range configurations.
      stop_at_success: long-range runs stop once they meet the task's success criterion.
      experiments: the experiments run when none are named.
      source: the paper the preset follows (``""``: gradguard's own).
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
    long_optimizer: str = "adam"
    long_momentum: float = 0.0
    eval_every: int = 100
    test_size: int = 1000
    long_configs: tuple[LongConfig, ...] = REMEDY_CONFIGS
    stop_at_success: bool = True
    experiments: tuple[str, ...] = ("divergence", "adding")
    source: str = ""


#: Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent Networks of Rectified
#: Linear Units" (2015), the adding problem (section 4.1, Figure 2): IRNN, tanh RNN
#: and LSTM at T = 150 … 400, trained with SGD with momentum (as Arjovsky et al.'s draft,
#: section 4.2, reports it; μ = 0.9 is the preset's own). What each setting rests on (read
#: in the paper, or not verified) is listed in :data:`gradguard.experiments.PAPERS`.
LE2015_ADDING = Preset(
    name="le2015-adding",
    seeds=(0,),
    experiments=("adding",),
    adding_T=(150, 200, 300, 400),
    long_steps={150: 1_000_000, 200: 1_000_000, 300: 1_000_000, 400: 1_000_000},
    long_hidden=100,
    long_lr=0.01,
    long_batch=16,
    long_optimizer="sgd",
    long_momentum=0.9,
    eval_every=1000,
    long_configs=(
        LongConfig("irnn", "relu", "identity", clip="norm", threshold=10.0),
        LongConfig("rnn", "tanh", "default", clip="norm", threshold=10.0),
        LongConfig("lstm", "lstm", "default", clip="norm", threshold=10.0, forget_bias=1.0),
    ),
    source="le2015",
)

#: The copying memory problem (Hochreiter & Schmidhuber 1997) as Arjovsky, Shah & Bengio,
#: "Unitary Evolution Recurrent Neural Networks" (ICML 2016), section 4.1 and Figure 1
#: ran it for their baselines: RMSProp η = 10^-3 (decay 0.9), batch 20, gradients clipped
#: elementwise at 1, Glorot-uniform matrices, the LSTM's forget-gate bias 1, the IRNN
#: at the identity — the settings of the authors' code. See :data:`PAPERS`.
COPY_MEMORY = Preset(
    name="copy-memory",
    seeds=(0,),
    experiments=("copy",),
    copy_T=(100, 200, 500),
    long_steps={100: 20_000, 200: 20_000, 500: 20_000},
    long_hidden=80,
    long_lr=1e-3,
    long_batch=20,
    long_optimizer="rmsprop",
    eval_every=50,
    long_configs=(
        LongConfig("rnn", "tanh", "xavier-uniform", clip="value", threshold=1.0, hidden=80),
        LongConfig("irnn", "relu", "identity", clip="value", threshold=1.0, hidden=80),
        LongConfig(
            "lstm",
            "lstm",
            "xavier-uniform",
            clip="value",
            threshold=1.0,
            hidden=40,
            forget_bias=1.0,
        ),
    ),
    source="arjovsky2016",
)

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
    LE2015_ADDING.name: LE2015_ADDING,
    COPY_MEMORY.name: COPY_MEMORY,
}


def _finite(x: object) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def _positive(x: object) -> bool:
    return _finite(x) and x > 0  # type: ignore[operator]


def check_momentum(momentum: object, optimizer: str) -> float:
    """Return SGD's ``momentum`` checked: a number, 0 ≤ μ < 1, and > 0 only with ``sgd``.

    μ ≥ 1 never forgets a gradient (the velocity grows without bound on a constant one);
    Adam and RMSprop are built without it, so a momentum there would be silently unused.
    """
    ok = _finite(momentum) and 0 <= momentum < 1  # type: ignore[operator]
    if not ok or (momentum and optimizer != "sgd"):
        raise InputError("momentum", momentum, "momentum")
    return float(momentum)  # type: ignore[arg-type]


#: Largest ``budget`` factor (a typo must not ask for a thousand times the paper's steps).
MAX_BUDGET = 1000.0
#: A run scaled down by ``budget`` evaluates at most every this many steps.
MIN_EVAL_INTERVAL = 10


def scale_steps(spec: RunSpec, budget: float) -> RunSpec:
    """Return ``spec`` with its steps and its evaluation and flow intervals × ``budget``.

    Each count is rounded and kept ≥ 1. An evaluation costs the same at any budget, so a
    scaled interval is never shorter than :data:`MIN_EVAL_INTERVAL` steps (nor longer
    than the preset's own); it stays ≤ the steps, so the run still evaluates at its last
    step.
    """

    def scaled(n: int) -> int:
        return max(1, round(n * budget))

    steps = min(scaled(spec.steps), MAX_STEPS)

    def interval(n: int) -> int:
        floor = min(MIN_EVAL_INTERVAL, n)
        return min(max(scaled(n), floor), steps)

    return replace(
        spec,
        steps=steps,
        eval_every=interval(spec.eval_every),
        flow_every=interval(spec.flow_every) if spec.flow_every else 0,
    )


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
    return [
        RunSpec(
            experiment=task,
            config=c.name,
            seed=seed,
            task=task,
            T=T,
            model=c.model,
            init=c.init,
            rho=None,
            hidden=p.long_hidden if c.hidden is None else c.hidden,
            optimizer=p.long_optimizer,
            lr=p.long_lr if c.lr is None else c.lr,
            clip=c.clip,
            threshold=c.threshold,
            steps=steps,
            batch=p.long_batch,
            eval_every=p.eval_every,
            test_size=p.test_size,
            flow_every=p.eval_every,
            fused=True,
            stop_at_success=p.stop_at_success,
            forget_bias=c.forget_bias,
            momentum=p.long_momentum,
        )
        for c in p.long_configs
    ]


def _parse_names(values: Sequence[str] | None, allowed: Sequence[str], name: str) -> list[str]:
    if values is None:
        return list(allowed)
    return [check_choice(v, name, allowed) for v in values]


def build_grid(
    preset: str | Preset = "quick",
    *,
    seeds: Sequence[int] | None = None,
    experiments: Sequence[str] | None = None,
    configs: Sequence[str] | None = None,
    T: Sequence[int] | None = None,
    steps: int | None = None,
    lr: float | None = None,
    budget: float | None = None,
    device: str = "cpu",
) -> list[RunSpec]:
    """Return the runs of a preset, optionally narrowed or resized.

    Args:
      preset: a name in :data:`PRESETS` (``quick``, ``full``, ``le2015-adding``,
        ``copy-memory``) or a :class:`Preset`.
      seeds: override the preset's seeds (each a whole number from 0 to 2³²−1).
      experiments: subset of ``divergence``, ``adding``, ``copy`` (``copy`` runs only when named).
      configs: keep only these configuration names.
      T: lengths for the long-range experiments (``adding``/``copy``), each 2…10 000.
      steps: override every run's number of steps (1…10^7).
      lr: override the divergence experiment's SGD learning rate ``η``
        (``low-lr`` keeps its ratio); must be > 0.
      budget: scale every run's steps and its evaluation interval by this factor
        (``0.01``: a class-sized version of a paper's grid); after ``steps``.
      device: where every run trains: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (each
        run's worker decides).

    Raises:
      InputError: an unknown preset, experiment or configuration name; a bad
        seed, ``T``, ``steps``, ``lr``, ``budget`` or ``device``.
    """
    if isinstance(preset, str):
        p = PRESETS[check_choice(preset, "preset", tuple(PRESETS))]
    else:
        p = preset
    exps = _parse_names(experiments, EXPERIMENTS, "experiment") if experiments else p.experiments
    all_configs = DIVERGENCE_CONFIGS + tuple(
        c for c in LONG_RANGE_CONFIGS if c not in ("lstm", "gru")
    )
    wanted = set(_parse_names(configs, all_configs, "config")) if configs else None
    run_seeds = tuple(p.seeds if seeds is None else seeds)
    if not run_seeds:
        raise InputError("seeds", list(run_seeds), "nonempty_list", min=0)
    for s in run_seeds:
        check_seed(s)
    if T is not None:
        if not T:
            raise InputError("T", list(T), "nonempty_list", min=2)
        for t in T:
            check_T(t, minimum=2, maximum=MAX_T)
    if steps is not None:
        check_count(steps, "steps", MAX_STEPS)
    if lr is not None and not _positive(lr):
        raise InputError("lr", lr, "learning_rate")
    if budget is not None and not (_positive(budget) and budget <= MAX_BUDGET):
        raise InputError("budget", budget, "budget", max=MAX_BUDGET)
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise InputError("device", device, "choice", choices=_DEVICES)
    specs: list[RunSpec] = []
    for exp in exps:
        for seed in run_seeds:
            if exp == "divergence":
                specs.extend(_divergence_specs(p, seed, lr))
            else:
                task = TASK_OBJECTS[exp]
                lengths = tuple(T) if T is not None else getattr(p, task.preset_lengths)
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
    if budget is not None:
        specs = [scale_steps(s, budget) for s in specs]
    if device != "cpu":
        specs = [replace(s, device=device) for s in specs]
    # Group by experiment and T, then seed: a cut-short grid still has whole comparisons.
    order = {e: i for i, e in enumerate(EXPERIMENTS)}
    specs.sort(key=lambda s: (order[s.experiment], s.T, s.seed))
    return specs


# ---------------------------------------------------------------------------
