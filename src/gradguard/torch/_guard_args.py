"""The checks on :class:`~gradguard.torch.SpikeGuard`'s arguments, before it builds anything.

Every check raises :class:`~gradguard.errors.InputError` naming the argument, the
value and the rule, so a bad argument fails before a log file is opened or a
snapshot taken.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gradguard._validate import check_choice, check_threshold, check_whole, is_number
from gradguard.errors import InputError
from gradguard.rules import RULES, Rule, check_policy
from gradguard.torch._clippers import Clipper, NormClipper
from gradguard.torch._stats import check_norm_type

__all__: list[str] = []  # private: SpikeGuard's helpers


def clipper_names(*, sync_free: bool = False) -> list[str]:
    """The clippers of :data:`gradguard.rules.RULES`, by class name (``sync_free``: those
    ``SpikeGuard(sync=False)`` runs), for the messages that list them."""
    return [r.clipper for r in RULES.values() if r.clipper and (r.sync_free or not sync_free)]


def check_optimizer(optimizer: object) -> None:
    """Raise :class:`InputError` unless ``optimizer`` is a ``torch.optim.Optimizer``."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InputError(
            "optimizer",
            type(optimizer).__name__,
            "torch_optimizer",
            "use_optimizer",
        )


def check_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``state`` (objects saved with every snapshot) as a dict, or raise."""
    if state is None:
        return {}
    if not isinstance(state, Mapping):
        raise InputError("state", type(state).__name__, "state_objects")
    for name, obj in state.items():
        if not (
            callable(getattr(obj, "state_dict", None))
            and callable(getattr(obj, "load_state_dict", None))
        ):
            raise InputError(
                f"state[{name!r}]",
                type(obj).__name__,
                "state_object",
                "rebound_state",
            )
    return dict(state)


#: The arguments :func:`check_options` checks, by name.
CHECKED = (
    "on_nonfinite", "on_spike", "rollback_after", "skip_batches", "snapshot_every",
    "max_rollbacks", "layer_norms_every", "update_ratio_every", "clipper", "spike_rule",
    "loss_rule", "norm_type", "restore", "reset_moments", "sync",
)  # fmt: skip
#: The whole-number arguments, with the least value each may take.
_COUNTS = {
    "skip_batches": 0,
    "snapshot_every": 1,
    "max_rollbacks": 0,
    "layer_norms_every": 0,
    "update_ratio_every": 0,
}


def check_options(
    *,
    on_nonfinite: object,
    on_spike: object,
    rollback_after: object,
    clipper: object,
    spike_rule: object,
    loss_rule: object,
    norm_type: object,
    restore: object = None,
    reset_moments: object = None,
    sync: object = True,
    **counts: object,
) -> float:
    """Check the guard's policies, counts, clipper, rules and ``restore``; return ``norm_type``.

    Args:
      on_nonfinite, on_spike: the policies (``"skip"``, ``"raise"``, ``"step"``).
      rollback_after: a whole number ≥ 1 or ``None``.
      clipper: a :class:`Clipper`, a number or ``None``.
      spike_rule, loss_rule: a rule, ``None`` (or ``"default"`` for the spike rule).
      norm_type: the norm's order ``p``.
      restore: a function taking no arguments, or ``None``.
      reset_moments: ``"all"``, ``"spiked"`` or ``None``; ``None`` when ``sync`` is False
        (a reset must follow the step it answers; without a sync its record comes later).
      sync: the guard's mode.
      **counts: the whole-number arguments (``skip_batches``, ``snapshot_every``, …).
    """
    check_policy("on_nonfinite", on_nonfinite)
    check_policy("on_spike", on_spike)
    for name, value in counts.items():
        lo = _COUNTS[name]
        check_whole(value, name, lo, text=False)
    if rollback_after is not None:
        try:
            check_whole(rollback_after, "rollback_after", 1, text=False)
        except InputError:
            raise InputError("rollback_after", rollback_after, "whole_or_none") from None
    if is_number(clipper):
        check_threshold(clipper, "clipper")
    elif not (clipper is None or isinstance(clipper, Clipper)):
        raise InputError(
            "clipper",
            clipper,
            "clipper",
            clippers=", ".join(clipper_names()),
        )
    for name, rule in (("spike_rule", spike_rule), ("loss_rule", loss_rule)):
        if not (rule is None or rule == "default" or isinstance(rule, Rule)):
            raise InputError(name, rule, "rule_or_none")
    check_restore(restore)
    if reset_moments is not None:
        check_choice(reset_moments, "reset_moments", ("all", "spiked"))
        if sync is False:
            raise InputError("reset_moments", reset_moments, "none_without_sync", "use_sync")
    return check_norm_type(norm_type)


def process_group_of(process_group: Any) -> tuple[Any, int, bool]:
    """``(group, rank, distributed)``: under torch.distributed the group the statistics are
    reduced over (by default the whole world: every rank must judge the same, globally
    reduced numbers) and this rank in it."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return process_group, 0, False
    group = torch.distributed.group.WORLD if process_group is None else process_group
    return group, torch.distributed.get_rank(group), True


def guard_clipper(
    clipper: Clipper | float | None, norm_type: float, optimizer: torch.optim.Optimizer
) -> Clipper | None:
    """Return the guard's clipper: a number ``c`` becomes ``NormClipper(c, norm_type)``; a
    clipper of the update is attached to ``optimizer`` (it acts on every step it takes)."""
    if clipper is None or isinstance(clipper, Clipper):
        return None if clipper is None else clipper.attach(optimizer)
    try:  # a number: check_options checked it is a threshold
        return NormClipper(clipper, norm_type)
    except InputError as err:
        raise err.renamed("clipper") from None


def rank_path(
    path: str | os.PathLike[str] | None, rank: int, distributed: bool
) -> str | os.PathLike[str] | None:
    """Return the snapshot path of this rank: ``NAME.rankR.EXT`` under torch.distributed."""
    if path is None or not distributed:
        return path
    # Every rank keeps its own state (its shards, its RNG): one file per rank.
    p = Path(path)
    return p.with_name(f"{p.stem}.rank{rank}{p.suffix}")


def check_restore(restore: object) -> None:
    """Raise :class:`InputError` unless ``restore`` is a function (or ``None``)."""
    if restore is not None and not callable(restore):
        raise InputError("restore", restore, "function_or_none")
