"""What a rule is: its declaration, its host arithmetic, and its device form.

A rule judges one number per step — a total gradient norm, or a loss — and says what
acting on it means (:attr:`Rule.action`: ``"clip"`` scales the step down, ``"skip"``
withholds it). Everything about one rule is declared on its class, in its own file:

- its name as the CLI and logs spell it (:attr:`Rule.name`), whether it acts on the
  gradient or on the optimizer's update (:attr:`Rule.side`), which
  :mod:`gradguard.torch` class applies it (:attr:`Rule.clipper`);
- its parameters and their checks (its ``__init__``);
- its host arithmetic — :meth:`Rule.judge` (pure) and :meth:`Rule.learn` — run by
  ``gradguard replay`` and by the guard's default mode, or why a norm log cannot replay
  it (:attr:`Rule.replay_needs`);
- its device form (:attr:`Rule.device`, a :class:`DeviceForm`): the same arithmetic on
  0-d tensors with the state as tensors, run by ``SpikeGuard(sync=False)`` with no host
  sync. Device forms import torch when they are built, so this package imports no torch.

The registry (:data:`gradguard.rules.RULES`) lists every rule class, one line each.

NaN safety, everywhere: a non-finite value is never learned — it gets a verdict from the
current state and leaves the state as it was. (One NaN poisons a plain EMA forever, and
``torch.quantile`` over a history holding a NaN returns NaN; both are regression-tested.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

from gradguard._catalog import SOURCE, load_catalog
from gradguard._validate import check_number, check_threshold, check_whole

__all__ = [
    "ReplayParam",
    "Rule",
    "RuleAction",
    "RuleSide",
    "Verdict",
]  # (DeviceForm, Judgement: for rule files)

#: What acting on a flagged value means: scale the step down, or withhold it.
RuleAction = Literal["clip", "skip"]
#: What a rule acts on: the gradients, or the optimizer's update (learning rate).
RuleSide = Literal["gradient", "update"]


@dataclass(frozen=True)
class ReplayParam:
    """One option of ``gradguard replay`` that a rule is built from (``--max-norm`` …).

    A rule lists its own in :attr:`Rule.replay_params`; the command's options, and the
    values :meth:`Rule.for_replay` reads (:class:`gradguard.rules.ReplayOptions`), are
    the registry's rules' parameters, each name once. Rules sharing a name (the spike
    rules' ``window``) declare it alike. Its help text is the ``cli`` catalog's
    ``replay.<name>``.

    Attributes:
      name: the option's Python name (``max_norm``: ``--max-norm``), its key in the
        options.
      default: its value when the command line does not give one — the rule's class's
        own default, so that a replay of ``ZClip()`` replays ``ZClip()``.
      type: ``float`` or ``int``.
      arg: the rule's ``__init__`` argument it is (``None``: the same name).
      none: ``none`` on the command line is a value (``None``: ZClip without a cap).
      recorded: when not given, it is the run's recorded threshold if the run was
        clipped at one fixed value (else :attr:`default`).
    """

    name: str
    default: float | int | None
    type: type[float] | type[int] = float
    arg: str | None = None
    none: bool = False
    recorded: bool = False


@dataclass(frozen=True)
class Verdict:
    """What a rule says about one value.

    Attributes:
      threshold: the level above which the rule acts (``None`` while warming up).
      flagged: the value is above the threshold (never true for a non-finite value:
        callers classify those as ``nonfinite`` themselves).
      clip_to: the norm to clip this value down to, or ``None`` to leave it.
    """

    threshold: float | None
    flagged: bool
    clip_to: float | None


def finite(x: object) -> bool:
    """Whether ``x`` is a finite int or float (the only values a rule learns)."""
    return isinstance(x, (int, float)) and math.isfinite(x)


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0
    (:func:`gradguard._validate.check_number`), else raise (rule ``positive_finite``)."""
    return check_number(value, name, above=0)


def check_clip_threshold(name: str, value: object) -> float:
    """Return a clipping threshold as a ``float``: :func:`gradguard._validate.check_threshold`'s
    one meaning (a number > 0; ``inf``: never clip), for ``max_norm``, ``clip_value``, λ…"""
    return float(check_threshold(value, name))


def check_count(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is a whole number ≥ ``minimum``
    (:func:`gradguard._validate.check_whole`; a string of digits is a command line's
    to parse, not a number here), else raise (rule ``whole``)."""
    return check_whole(value, name, minimum, text=False)


def describe_rule(name: str, params: Mapping[str, Any], lang: str = SOURCE) -> str:
    """A rule named ``name`` with its ``params`` on one line, in ``lang`` (``fixed c=1``).

    The lesson catalog's ``replay.rule_<name>``, then each part said only for some
    values: ``replay.rule_<name>_<param>`` where the parameter is set (not 0: the median
    rule's floor), ``replay.rule_<name>_no_<param>`` where it is ``None`` or absent
    (ZClip without a cap).
    """
    words = load_catalog(lang)
    key = "rule_" + name.replace("-", "_")
    text = str(words.get(f"replay.{key}", **params))
    for part in words.section("replay"):
        param = part.removeprefix(key + "_")
        if param == part:
            continue
        if param.startswith("no_"):
            if params.get(param[3:]) is None:
                text += words[f"replay.{part}"]
        elif params.get(param):
            text += words.get(f"replay.{part}", **params)
    return text


class Rule:
    """A stateful rule on one float per step; checkpointable with ``state_dict``.

    Attributes:
      name: the rule's name as the CLI and logs spell it (a key of :data:`RULES`).
      action: ``"clip"`` (a flagged value is clipped to :attr:`Verdict.clip_to`) or
        ``"skip"`` (a flagged value marks a spike: the step is withheld).
      side: ``"gradient"`` (it judges and scales the gradients) or ``"update"`` (it
        scales the optimizer's update).
      clipper: the :mod:`gradguard.torch` class that applies a clipping rule in
        training (``None`` for a spike rule, given to the guard as it is).
      replay_needs: ``None`` when ``gradguard replay`` can run the rule on a log's
        pre-clip norms; otherwise what it needs that a norm log lacks (an id of the
        ``replay.needs_*`` messages).
      replay_params: the options ``gradguard replay`` builds it from
        (:class:`ReplayParam`; :meth:`for_replay` passes each to ``__init__``).
      device: the rule's :class:`DeviceForm` (``None``: it has none on its own, see
        :attr:`sync_free`).
      sync_free: ``SpikeGuard(sync=False)`` runs it with no host sync (through
        :attr:`device`, or a device form of its :attr:`clipper`).
    """

    name: ClassVar[str] = "rule"
    action: ClassVar[RuleAction] = "clip"
    side: ClassVar[RuleSide] = "gradient"
    clipper: ClassVar[str | None] = None
    replay_needs: ClassVar[str | None] = None
    replay_params: ClassVar[tuple[ReplayParam, ...]] = ()
    device: ClassVar[type[DeviceForm] | None] = None
    sync_free: ClassVar[bool] = False

    def judge(self, x: float) -> Verdict:
        """Judge ``x`` from the current state, changing nothing."""
        raise NotImplementedError

    def learn(self, x: float, verdict: Verdict) -> None:
        """Take ``x`` (judged as ``verdict``) into the state; a non-finite ``x`` changes nothing."""

    def observe(self, x: float) -> Verdict:
        """Judge ``x`` and (if finite) learn it: :meth:`judge`, then :meth:`learn`."""
        verdict = self.judge(x)
        self.learn(x, verdict)
        return verdict

    def state_dict(self) -> dict[str, Any]:
        """Return the state as plain Python data (JSON-serialisable)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`."""
        raise NotImplementedError

    def describe(self, lang: str = SOURCE) -> str:
        """Return the rule with its parameters on one line, in ``lang`` (``fixed c=1``).

        The words are the lesson catalog's ``replay.rule_<name>`` (:func:`describe_rule`),
        as ``gradguard replay`` and ``gradguard doctor`` say them.
        """
        return describe_rule(self.name, self.parameters(), lang)

    def parameters(self) -> dict[str, float]:
        """The rule's numbers by name (``max_norm``, ``window``, ``k`` …), as
        :meth:`describe` and ``gradguard replay --json`` show them."""
        return {
            k: v
            for k, v in vars(self).items()
            if not k.startswith("_") and isinstance(v, (int, float)) and not isinstance(v, bool)
        }

    @classmethod
    def for_replay(cls, options: Mapping[str, Any]) -> Rule:
        """Return the rule ``gradguard replay`` runs, built from its options.

        ``options`` maps every :class:`ReplayParam`'s name to its value; by default each
        of :attr:`replay_params` goes to ``__init__`` as its :attr:`ReplayParam.arg`.

        Raises:
          InputError: a value breaks the rule's check.
        """
        return cls(**{p.arg or p.name: options[p.name] for p in cls.replay_params})


class Judgement(NamedTuple):
    """A device form's verdict on one value: 0-d tensors (``threshold``/``clip_to`` NaN: none)."""

    threshold: Any
    flagged: Any
    clip_to: Any


class DeviceForm:
    """A rule's arithmetic on 0-d tensors, its state a dict of tensors: no host sync.

    Built from a host rule, starting from the rule's state (:meth:`state`); each step
    :meth:`judge` returns the verdict and the state as it would be with the value learned,
    and the caller keeps that state where it counts the step (``torch.where``): a step
    not counted leaves the state bitwise as it was. :meth:`store` writes a state back into
    the host rule (one copy to the host: for checkpoints, not per step).

    The arithmetic follows the host rule's operation by operation, in float64 (the host's
    Python floats), and sums in the same order, so the verdicts are the host's bit for bit
    on the CPU (on a GPU, sums may round differently in the last bit).
    """

    def __init__(self, rule: Any, device: Any) -> None:
        import torch

        self.torch = torch
        self.rule = rule
        self.device = device

    def full(self, value: float, dtype: Any = None) -> Any:
        """A 0-d tensor of ``value`` on the device (float64 by default)."""
        t = self.torch
        return t.full((), value, dtype=dtype or t.float64, device=self.device)

    def state(self) -> dict[str, Any]:
        """The host rule's current state as device tensors."""
        raise NotImplementedError

    def judge(self, state: dict[str, Any], x: Any) -> tuple[Judgement, dict[str, Any]]:
        """Judge ``x`` (0-d); return the verdict and the state with ``x`` learned."""
        raise NotImplementedError

    def store(self, state: dict[str, Any]) -> None:
        """Write ``state`` into the host rule (copies it to the host)."""
        raise NotImplementedError
