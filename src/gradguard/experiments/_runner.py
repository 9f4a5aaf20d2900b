"""The remedy runner: a grid of runs on any executor, resumable, one pure function per run.

$ gradguard remedies --quick --out runs/ --jobs 2
$ gradguard remedies --preset le2015-adding --budget 0.01 --out runs/ --executor ray

:func:`run_remedies` builds a grid (:func:`~gradguard.experiments.build_grid`)
and submits one call of :func:`run_task` per run — a pure function of its
:class:`~gradguard.experiments.RunSpec` that returns the run's summary row and
its step records — to an executor (:mod:`gradguard.experiments._executors`):
this process (``jobs=1``), a local process pool, a Dask or a Ray cluster. As
each run finishes, the grid writes its records to
``OUT/runs/<experiment>-T<T>-<config>-seed<k>.jsonl`` and its row to
``OUT/summary.csv`` (:class:`~gradguard.experiments._results.ResultsFolder`),
each atomically; calling it again with the same grid and ``out`` skips the
finished runs and trains the rest.

Determinism: each run seeds its own generators from ``seed`` and trains
single-threaded with ``torch.use_deterministic_algorithms(True)`` (the caller's
settings restored afterwards). On one machine and torch build the same grid
gives the same bytes in ``summary.csv`` and the records whatever runs it —
here, a pool of any size, Dask, Ray — only the wall-time fields differ.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from gradguard.experiments._executors import Backend, check_jobs, check_out_dir, open_backend
from gradguard.experiments._grid import Preset, RunSpec, build_grid
from gradguard.experiments._results import ResultsFolder, source_hash
from gradguard.experiments._summary_io import RunSummary
from gradguard.experiments._train import train_run
from gradguard.records import RecordWriter

__all__ = [
    "GridFailed",
    "GridProgress",
    "RemediesInterrupted",
    "RunResult",
    "run_remedies",
    "run_task",
]


@dataclass(frozen=True)
class GridProgress:
    """Where a grid stands, as its progress callback receives it.

    Attributes:
      run_id: the run that last moved.
      done: runs finished (in an earlier call too), of ``total``.
      running: runs in flight now.
      failed: runs that raised (rerun the grid to retry them).
      total: runs in the grid.
      work_done, work_total: how much of the grid's work is done: ``work_total``
        is the grid's training steps, and each run counts for its steps weighted
        by its cost per step (:func:`run_cost`), so a bar's ETA holds when runs
        differ in length, size and cell.
    """

    run_id: str
    done: int
    running: int
    failed: int
    total: int
    work_done: float
    work_total: float


ProgressCallback = Callable[[GridProgress], None]


class RemediesInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the grid; ``rows`` holds the finished runs (also in summary.csv)."""

    def __init__(self, rows: list[RunSummary]) -> None:
        super().__init__(f"interrupted after {len(rows)} finished runs")
        self.rows = rows

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor's argument (``args`` holds only the message)."""
        return (type(self), (self.rows,), self.__dict__)


class GridFailed(RuntimeError):
    """Some runs raised; ``rows`` holds the finished ones, ``failures`` ``(run_id, reason)``.

    The finished runs are in ``summary.csv``; calling the grid again retries the others.
    """

    def __init__(self, rows: list[RunSummary], failures: list[tuple[str, str]]) -> None:
        super().__init__(f"{len(failures)} run(s) failed: " + "; ".join(r for _, r in failures))
        self.rows = rows
        self.failures = failures

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor's arguments (``args`` holds only the message)."""
        return (type(self), (self.rows, self.failures), self.__dict__)


@dataclass
class RunResult:
    """What :func:`run_task` sends back: the row, the records, the code that made them.

    Attributes:
      row: the run's summary row (``config_hash`` and ``source_hash`` filled in).
      records: its step records, JSONL compressed with ``zlib``.
    """

    row: RunSummary
    records: bytes


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


class _MemoryLog(RecordWriter):
    """A :class:`RecordWriter` into memory, ``zlib``-compressed: the records travel with the row."""

    def __init__(self) -> None:
        self.path = Path("<memory>")
        self._fsync = False
        self._fd = None
        self._deflate = zlib.compressobj(1)
        self._chunks: list[bytes] = []

    def _write_line(self, line: str) -> None:
        self._chunks.append(self._deflate.compress((line + "\n").encode("utf-8")))

    def close(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return b"".join(self._chunks) + self._deflate.flush()


def run_task(spec: RunSpec, on_step: Callable[[int], None] | None = None) -> RunResult:
    """Train one run and return its row and records — the one function every executor runs.

    Pure: it reads and writes no file and shares no state; what it returns
    depends on ``spec`` alone (and on the code and torch build, named by the
    row's ``source_hash``). Trains single-threaded with deterministic
    algorithms, restoring the process's settings afterwards.

    Args:
      spec: the run.
      on_step: called with the number of steps advanced (in this process only).
    """
    log = _MemoryLog()
    asked = spec
    if spec.device == "auto":  # decided here, by the worker that trains it, not by the driver
        spec = replace(spec, device="cuda" if torch.cuda.is_available() else "cpu")
    if spec.device.startswith("cuda"):
        # cuBLAS needs a fixed workspace for deterministic results (read at its first use).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with deterministic():
        row = train_run(spec, log, on_step)
    row.log = f"runs/{spec.file_stem}.jsonl"
    row.config_hash = asked.config_hash  # the grid's spec (``auto`` stays ``auto``)
    row.device = spec.device
    row.source_hash = source_hash()
    return RunResult(row, log.getvalue())


def run_cost(spec: RunSpec) -> float:
    """A run's relative cost: steps × T × hidden² × gate blocks (for the order and the ETA)."""
    gates = {"lstm": 4, "gru": 3}.get(spec.model, 1)
    return float(spec.steps * spec.T * spec.hidden**2 * gates)


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
    budget: float | None = None,
    device: str = "cpu",
    progress: ProgressCallback | None = None,
    jobs: int = 1,
    executor: object = None,
) -> list[RunSummary]:
    """Run a grid of remedy configurations × lengths × seeds; return one row per run.

    With ``out``, a grid resumes: the runs whose rows are in ``out/summary.csv``
    are not trained again, and a folder holding runs of another configuration
    or another gradguard source is refused (:class:`~gradguard.errors.FileError`).

    Args:
      preset: a name in :data:`~gradguard.experiments.PRESETS` or a :class:`Preset`.
      out: folder for ``runs/*.jsonl`` and ``summary.csv`` (``None``: nothing written).
      seeds, experiments, configs, T, steps, lr, budget, device: see :func:`build_grid`.
      progress: called with a :class:`GridProgress` as the grid advances (after
        every step for a run trained in this process; as each run finishes or
        fails on an executor), in this process.
      jobs: local worker processes when ``executor`` is ``None`` (``1``: train
        here, one run after the other). Workers are started with ``spawn``: a
        script that calls this with ``jobs > 1`` needs the usual
        ``if __name__ == "__main__":`` guard.
      executor: ``None`` (the local pool), ``"dask://HOST:PORT"``, ``"ray"``,
        ``"ray://ADDRESS"``, a ``distributed.Client`` or any
        :class:`concurrent.futures.Executor` (see :mod:`~gradguard.experiments._executors`).

    Returns:
      the rows of the finished runs, in grid order.

    Raises:
      InputError: bad names or sizes (see :func:`build_grid`), a bad ``jobs`` or
        ``executor``, or an unwritable ``out``.
      FileError: ``out`` holds results this grid must not mix with.
      RemediesInterrupted: on Ctrl-C; finished runs are kept (in ``rows`` and
        ``summary.csv``); the runs in flight are lost.
      GridFailed: some runs raised (a worker died, a device was missing …); the
        others finished and are kept.
    """
    specs = build_grid(
        preset, seeds=seeds, experiments=experiments, configs=configs, T=T, steps=steps,
        lr=lr, budget=budget, device=device,
    )  # fmt: skip
    check_jobs(jobs)
    folder = None
    if out is not None:
        folder = ResultsFolder(check_out_dir(out), specs, source_hash())
    try:
        return _Grid(specs, folder, progress).run(executor, jobs)
    finally:
        if folder is not None:
            folder.close()


class _Grid:
    """One call of :func:`run_remedies`: the runs left, the rows, the counts shown."""

    def __init__(
        self, specs: list[RunSpec], folder: ResultsFolder | None, progress: ProgressCallback | None
    ) -> None:
        self.specs = specs
        self.folder = folder
        self.progress = progress
        self.rows: dict[str, RunSummary] = dict(folder.rows) if folder else {}
        self.todo = [s for s in specs if s.run_id not in self.rows]
        self.failures: list[tuple[str, str]] = []
        self.running = 0
        steps = sum(s.steps for s in specs)
        cost = sum(run_cost(s) for s in specs)
        self.unit = steps / cost if cost else 0.0  # cost → steps of the average run
        self.work_total = float(steps)
        self.work_done = sum(self.work(s) for s in specs if s.run_id in self.rows)

    def work(self, spec: RunSpec) -> float:
        return run_cost(spec) * self.unit

    def tell(self, run_id: str, partial: float = 0.0) -> None:
        if self.progress is not None:
            self.progress(
                GridProgress(
                    run_id, len(self.rows), self.running, len(self.failures), len(self.specs),
                    self.work_done + partial, self.work_total,
                )
            )  # fmt: skip

    def finish(self, spec: RunSpec, result: RunResult) -> None:
        row = result.row
        if row.source_hash != source_hash():
            reason = f"{spec.run_id}: trained by another gradguard or torch (source hash "
            reason += f"{row.source_hash}, here {source_hash()})"
            self.failures.append((spec.run_id, reason))
            return
        if self.folder is not None:
            self.folder.commit(spec, row, result.records)
        self.rows[spec.run_id] = row
        self.work_done += self.work(spec)

    def result(self) -> list[RunSummary]:
        rows = [self.rows[s.run_id] for s in self.specs if s.run_id in self.rows]
        if self.failures:
            raise GridFailed(rows, self.failures)
        return rows

    def run(self, executor: object, jobs: int) -> list[RunSummary]:
        if executor is None and min(jobs, len(self.todo)) <= 1:
            return self.run_here()
        backend = open_backend(executor, min(jobs, len(self.todo)) if executor is None else jobs)
        try:
            return self.run_on(backend)
        finally:
            backend.close()

    def run_here(self) -> list[RunSummary]:
        for spec in self.todo:
            done = 0
            cost = self.work(spec)

            def on_step(n: int, run_id: str = spec.run_id, per: float = cost / spec.steps) -> None:
                nonlocal done
                done += n
                self.tell(run_id, per * done)

            self.running = 1
            try:
                result = run_task(spec, on_step)
            except KeyboardInterrupt:
                raise RemediesInterrupted(self.in_order()) from None
            except Exception as e:  # a run's own failure: the others still train
                self.failures.append((spec.run_id, f"{spec.run_id}: {type(e).__name__}: {e}"))
            else:
                self.finish(spec, result)
            self.running = 0
            self.tell(spec.run_id)
        return self.result()

    def in_order(self) -> list[RunSummary]:
        return [self.rows[s.run_id] for s in self.specs if s.run_id in self.rows]

    def run_on(self, backend: Backend) -> list[RunSummary]:
        # Longest first, so the last run to finish is a short one; no more in flight
        # than the engine has slots, so an interruption loses at most those.
        queue = sorted(self.todo, key=lambda s: -run_cost(s))
        executor = backend.executor
        flying: dict[cf.Future[RunResult], RunSpec] = {}
        last = queue[0].run_id if queue else ""
        try:
            while queue or flying:
                while queue and len(flying) < backend.slots:
                    try:
                        future = executor.submit(run_task, queue[0])
                    except cf.process.BrokenProcessPool:
                        executor = self.restart(backend, flying)
                        continue
                    flying[future] = queue.pop(0)
                self.running = len(flying)
                self.tell(last)
                finished: set[cf.Future[RunResult]] = set()
                while not finished:
                    finished, _ = cf.wait(flying, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                broken = False
                for future in finished:
                    spec = flying.pop(future)
                    last = spec.run_id
                    try:
                        result = future.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        self.failures.append((spec.run_id, f"{spec.run_id}: a worker died"))
                    except Exception as e:
                        why = f"{spec.run_id}: {type(e).__name__}: {e}"
                        self.failures.append((spec.run_id, why))
                    else:
                        self.finish(spec, result)
                self.running = len(flying)
                if broken:
                    executor = self.restart(backend, flying)
            self.tell(last)
        except KeyboardInterrupt:
            backend.cancel(list(flying))
            raise RemediesInterrupted(self.in_order()) from None
        except BaseException:
            backend.cancel(list(flying))
            raise
        return self.result()

    def restart(self, backend: Backend, flying: dict[cf.Future[RunResult], RunSpec]) -> cf.Executor:
        """A local worker died: the pool's runs in flight failed; a fresh pool trains the rest."""
        if backend.restart is None:
            raise cf.process.BrokenProcessPool("the executor's worker died")
        for spec in flying.values():
            self.failures.append((spec.run_id, f"{spec.run_id}: a worker died"))
        flying.clear()
        backend.executor = backend.restart()
        return backend.executor
