"""Long-range tasks, generated in-process from a seed (no downloads).

Both follow Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural
Networks" (ICML 2016), section 4, which in turn follows Hochreiter &
Schmidhuber (1997) and Le, Jaitly & Hinton (2015).

Each task is one :class:`Task` object (:data:`TASK_OBJECTS`): how to draw a
batch, the loss, the memoryless baseline and the success criterion — what the
remedy runner needs to know about a task, in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gradguard.errors import InputError
from gradguard.experiments._names import TASKS, check_T

__all__ = [
    "TASKS",
    "TASK_OBJECTS",
    "Batch",
    "Task",
    "adding_baseline",
    "adding_problem",
    "copy_baseline",
    "copy_memory",
]

#: Copy memory: how many symbols to remember, drawn from this many (1..8).
COPY_LENGTH = 10
COPY_SYMBOLS = 8
#: Copy memory token ids: 0 is the blank, 1..8 the symbols, 9 the delimiter.
BLANK, DELIMITER = 0, COPY_SYMBOLS + 1
#: An adding run succeeds when its test MSE drops below this.
ADDING_SUCCESS_MSE = 0.01
#: A copy run succeeds when its test cross-entropy drops below this fraction of the baseline.
COPY_SUCCESS_FRACTION = 0.1


@dataclass
class Batch:
    """Inputs and targets of one batch.

    Attributes:
      x: ``(batch, length, features)`` float inputs (copy memory: one-hot tokens).
      y: adding: ``(batch, 1)`` float targets; copy: ``(batch, length)`` token ids.
    """

    x: torch.Tensor
    y: torch.Tensor


def _check_batch(batch: object) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError("batch", batch, "whole", min=1)
    return batch


def adding_problem(
    T: int, batch: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> Batch:
    """Draw a batch of the adding problem of length ``T``.

    Two channels of length ``T``: values ``a_t ~ U[0, 1]`` and markers ``m_t`` with
    exactly one 1 in the first half (``t < ⌊T/2⌋``) and one in the second half;
    the target is ``Σ_t a_t m_t``, the sum of the two marked values.

    Predicting the constant 1 has MSE ``Var(a + b) = 2 · 1/12 = 1/6 ≈ 0.167`` —
    the baseline a model must beat to show it remembers anything.

    Args:
      T: sequence length, a whole number ≥ 2 (each half holds a marker).
      batch: number of sequences.
      generator: the seeded source of randomness (same seed, same batch).
      dtype: floating dtype of ``x`` and ``y``.

    Returns:
      a :class:`Batch` with ``x`` of shape ``(batch, T, 2)`` and ``y`` of shape ``(batch, 1)``.

    Raises:
      InputError: ``T < 2`` or ``batch < 1``.
    """
    check_T(T, minimum=2)
    _check_batch(batch)
    values = torch.rand(batch, T, generator=generator, dtype=dtype)
    half = T // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, T, (batch,), generator=generator)
    markers = torch.zeros(batch, T, dtype=dtype)
    rows = torch.arange(batch)
    markers[rows, first] = 1
    markers[rows, second] = 1
    x = torch.stack([values, markers], dim=-1)
    y = (values * markers).sum(dim=1, keepdim=True)
    return Batch(x=x, y=y)


def adding_baseline() -> float:
    """Return the adding problem's baseline MSE, ``1/6`` (always predict 1)."""
    return 1 / 6


def copy_memory(
    T: int, batch: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> Batch:
    """Draw a batch of the copy-memory task with ``T`` blanks to bridge.

    A sequence of length ``T + 20``: 10 symbols drawn uniformly from 8 (ids 1..8),
    ``T − 1`` blanks (id 0), the delimiter (id 9), then 10 blanks. The target is
    ``T + 10`` blanks followed by the 10 symbols: after the delimiter the model
    must reproduce what it saw ``T + 10`` steps before.

    A memoryless model at best predicts blank until the last 10 steps and a
    uniform guess there, with cross-entropy ``10 · ln 8 / (T + 20)``.

    Args:
      T: delay, a whole number ≥ 1.
      batch: number of sequences.
      generator: the seeded source of randomness.
      dtype: floating dtype of the one-hot inputs.

    Returns:
      a :class:`Batch` with one-hot ``x`` of shape ``(batch, T + 20, 10)`` and
      ``y`` of shape ``(batch, T + 20)`` (token ids).

    Raises:
      InputError: ``T < 1`` or ``batch < 1``.
    """
    check_T(T)
    _check_batch(batch)
    length = T + 2 * COPY_LENGTH
    symbols = torch.randint(1, COPY_SYMBOLS + 1, (batch, COPY_LENGTH), generator=generator)
    tokens = torch.full((batch, length), BLANK, dtype=torch.long)
    tokens[:, :COPY_LENGTH] = symbols
    tokens[:, COPY_LENGTH + T - 1] = DELIMITER
    target = torch.full((batch, length), BLANK, dtype=torch.long)
    target[:, -COPY_LENGTH:] = symbols
    x = torch.nn.functional.one_hot(tokens, COPY_SYMBOLS + 2).to(dtype)
    return Batch(x=x, y=target)


def copy_baseline(T: int) -> float:
    """Return the copy task's memoryless cross-entropy ``10 · ln 8 / (T + 20)``."""
    check_T(T)
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH)


class Task:
    """A long-range task as the remedy runner trains it.

    Attributes:
      name: the task's name in :data:`TASKS`.
      min_T: the smallest length ``T`` the task accepts.
      inputs, outputs: the model's input features and output units.
      per_step_output: the model reads out every time step (else only ``h_T``).
      preset_lengths: the :class:`gradguard.experiments.Preset` field holding the task's
        default lengths ``T``.
    """

    name: str
    min_T: int
    inputs: int
    outputs: int
    per_step_output: bool
    preset_lengths: str

    def batch(self, T: int, batch: int, generator: torch.Generator) -> Batch:
        """Draw ``batch`` sequences of length ``T`` from ``generator``."""
        raise NotImplementedError

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return the task's training loss of the model's output ``out`` on targets ``y``."""
        raise NotImplementedError

    def baseline(self, T: int) -> float:
        """Return the loss of the best memoryless model (what a model must beat)."""
        raise NotImplementedError

    def success(self, test_loss: float, T: int) -> bool:
        """Say whether ``test_loss`` meets the task's success criterion."""
        raise NotImplementedError


class AddingTask(Task):
    """The adding problem (:func:`adding_problem`): MSE; success is test MSE < 0.01."""

    name, min_T, inputs, outputs, per_step_output = "adding", 2, 2, 1, False
    preset_lengths = "adding_T"

    def batch(self, T: int, batch: int, generator: torch.Generator) -> Batch:
        return adding_problem(T, batch, generator)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(out, y)

    def baseline(self, T: int) -> float:
        return adding_baseline()

    def success(self, test_loss: float, T: int) -> bool:
        return test_loss < ADDING_SUCCESS_MSE


class CopyTask(Task):
    """Copy memory (:func:`copy_memory`): cross-entropy; success is < 0.1 × the baseline."""

    name, min_T, inputs, outputs, per_step_output = (
        "copy",
        1,
        COPY_SYMBOLS + 2,
        COPY_SYMBOLS + 2,
        True,
    )
    preset_lengths = "copy_T"

    def batch(self, T: int, batch: int, generator: torch.Generator) -> Batch:
        return copy_memory(T, batch, generator)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    def baseline(self, T: int) -> float:
        return copy_baseline(T)

    def success(self, test_loss: float, T: int) -> bool:
        return test_loss < COPY_SUCCESS_FRACTION * copy_baseline(T)


ADDING, COPY = AddingTask(), CopyTask()
#: Task name → its :class:`Task`.
TASK_OBJECTS: dict[str, Task] = {t.name: t for t in (ADDING, COPY)}
