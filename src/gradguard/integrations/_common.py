"""What the trainer callbacks share: the guard's options and the gate on ``optimizer.step``.

A trainer owns its loop: it calls ``optimizer.step()`` itself, after the hook where a
callback sees the gradients. The callbacks therefore run :meth:`SpikeGuard.decide` in
that hook (statistics, rules, clipping, record) and put a :class:`StepGate` on the
optimizer the trainer steps: the trainer's next ``step()`` goes through when the decision
was ``"step"`` and is withheld otherwise — a true skip, parameters and optimizer state
untouched.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from gradguard._catalog import default_lang, load_catalog
from gradguard._validate import check_threshold, is_number
from gradguard.errors import InputError

__all__ = ["StepGate", "check_options", "guard_options", "metrics_of", "needs_extra"]


def needs_extra(module: str, extra: str, requirement: str) -> str:
    """The line an integration raises when its trainer is not installed, in the locale's
    language (the catalog's ``cli.needs_extra``, as the command line says it):
    ``gradguard.integrations.lightning: needs the [lightning] extra (lightning>=2.6):
    pip install 'gradguard[lightning]'``."""
    words = load_catalog(default_lang())
    return f"{module}: " + words.get("cli.needs_extra", extra=extra, why=f" ({requirement})")


#: :class:`gradguard.torch.SpikeGuard` arguments a trainer callback does not take as
#: options: the clipper is the callback's own argument, and the trainer supplies the LR
#: scheduler, the grad scaler and the process groups (from its strategy).
_FROM_TRAINER = ("clipper", "scheduler", "scaler", "process_group", "pipeline_group", "restore")


# Options of SpikeGuard a trainer callback cannot honour: the values it accepts, and the
# rule id (errors catalog) that says why.
_REFUSED: dict[str, tuple[tuple[Any, ...], str]] = {
    "skip_batches": ((0, None), "callback_skip_batches"),
    "update_ratio_every": ((0, None), "callback_update_ratio"),
    "skip_steps": ((None,), "callback_skip_steps"),
    "sync": ((True,), "callback_sync"),
}


def guard_options() -> tuple[str, ...]:
    """The :class:`~gradguard.torch.SpikeGuard` options a trainer callback takes, in order.

    Read from ``SpikeGuard``'s own signature, so a new guard option reaches the callbacks
    (or must be refused here, with the reason).
    """
    from gradguard.torch import SpikeGuard

    names = inspect.signature(SpikeGuard).parameters
    return tuple(n for n in names if n not in ("model", "optimizer", *_FROM_TRAINER, *_REFUSED))


def check_clipper(clipper: Any) -> Any:
    """Return a callback's ``clipper`` if it is ``None``, a clipper or a threshold
    (:func:`gradguard._validate.check_threshold`) — refused when the callback is made,
    as SpikeGuard refuses it, not minutes later at fit start."""
    from gradguard.rules import RULES
    from gradguard.torch import Clipper

    if is_number(clipper):
        check_threshold(clipper, "clipper")
    elif not (clipper is None or isinstance(clipper, Clipper)):
        clippers = ", ".join(r.clipper for r in RULES.values() if r.clipper)
        raise InputError("clipper", clipper, "clipper", clippers=clippers)
    return clipper


def check_options(trainer: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``options`` if each is a guard option the trainer callback takes.

    Raises:
      InputError: an unknown option, or one the callback cannot honour.
    """
    for name, value in options.items():
        if name in _REFUSED:
            accepted, rule = _REFUSED[name]
            if any(value is a or (type(value) is type(a) and value == a) for a in accepted):
                continue
            raise InputError(name, value, rule)
        known = guard_options()
        if name not in known:
            raise InputError(
                "option",
                name,
                "callback_option",
                trainer=trainer,
                options=", ".join(("clipper", *known)),
            )
    return {k: v for k, v in options.items() if k not in _REFUSED}


class StepGate:
    """Let ``obj.step`` through only when the guard decided ``"step"``.

    Installed as an instance attribute, so it wraps whatever ``step`` the object had
    (including an LR scheduler's step counter). ``step(closure)`` runs the closure first
    (Lightning's closure runs ``training_step``, ``backward`` and the hook that decides),
    then steps or not; a withheld step returns the closure's result.

    Args:
      obj: the object whose ``step`` is gated (an optimizer, an accelerate
        ``AcceleratedOptimizer``, an LR scheduler).
      on_withheld: called after a withheld step (e.g. to keep a grad scaler consistent).
      on_allowed: called before a step that goes through.
    """

    def __init__(
        self,
        obj: Any,
        on_withheld: Callable[[], None] | None = None,
        on_allowed: Callable[[], None] | None = None,
    ) -> None:
        self.obj = obj
        self.on_withheld = on_withheld
        self.on_allowed = on_allowed
        #: ``None``: no decision this step (the step goes through); else the verdict.
        self.allow: bool | None = None
        self.withheld = 0
        self._inner = obj.step
        self._had_attr = "step" in vars(obj)

        @functools.wraps(self._inner)
        def step(closure: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
            return self._step(closure, **kwargs)

        obj.step = step

    def _step(self, closure: Callable[[], Any] | None, **kwargs: Any) -> Any:
        result = None
        if closure is not None:
            # The closure makes the decision (its backward runs the trainer's hook), so it
            # runs first, as torch's optimizers run it: once, with gradients enabled.
            import torch

            with torch.enable_grad():
                result = closure()
        allow, self.allow = self.allow, None
        if allow is False:
            self.withheld += 1
            if self.on_withheld is not None:
                self.on_withheld()
            return result
        if self.on_allowed is not None:
            self.on_allowed()
        out = self._inner(**kwargs)
        return result if out is None else out

    def remove(self) -> None:
        """Put the original ``step`` back."""
        if self._had_attr:
            self.obj.step = self._inner
        else:
            vars(self.obj).pop("step", None)


def metrics_of(record: Any, skipped_total: int) -> dict[str, float]:
    """Return the record's numbers for a trainer's loggers (``grad_norm``, …)."""
    out = {
        "grad_norm": float(record.grad_norm),
        "skipped": float(record.action != "step"),
        "skipped_total": float(skipped_total),
    }
    if record.grad_norm_clipped is not None:
        out["grad_norm_clipped"] = float(record.grad_norm_clipped)
    return out
