"""The remedy runner: the seed's four remedies, measured on real recurrent networks.

$ gradguard remedies --quick --out runs/ --jobs 2

:func:`run_remedies` runs a grid (:func:`~gradguard.experiments.build_grid`)
of independent runs (:func:`~gradguard.experiments.train_run`), one after the
other or in ``jobs`` worker processes. Every run writes its per-step records
(:class:`gradguard.records.StepRecord`, ``docs/records.md``) to
``OUT/runs/<experiment>-T<T>-<config>-seed<k>.jsonl``; ``OUT/summary.csv``
(:func:`~gradguard.experiments.write_summary`) holds one row per finished run,
in the grid's order, and is rewritten atomically after each run, so an
interrupted grid keeps every finished run.

Determinism: each run seeds its own generators from ``seed``, and runs
single-threaded with ``torch.use_deterministic_algorithms(True)`` — in this
process for :func:`run_remedies`'s duration (the caller's settings restored
afterwards), or in a worker process that does nothing else. On one machine
and torch build the same grid gives the same numbers bit for bit, whatever
``jobs`` is: only the wall-time fields differ.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from gradguard._atomic import check_writable
from gradguard.errors import InputError
from gradguard.experiments._grid import Preset, RunSpec, build_grid
from gradguard.experiments._summary_io import RunSummary, write_summary
from gradguard.experiments._train import train_run
from gradguard.records import RecordWriter

__all__ = ["RemediesInterrupted", "run_remedies"]

ProgressCallback = Callable[[str, int, int], None]
#: Most worker processes accepted (a typo must not fork a thousand interpreters).
MAX_JOBS = 256
#: Seconds between a worker's progress messages (a divergence step takes far less).
_PROGRESS_EVERY_S = 0.1


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


def available_cores() -> int:
    """Return the CPU cores this process may run on (its affinity mask where known)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def check_jobs(jobs: object, name: str = "jobs") -> int:
    """Return ``jobs`` if it is a whole number from 1 to :data:`MAX_JOBS`, else raise."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise InputError(name, jobs, "workers", max=MAX_JOBS)
    return jobs


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` (and ``out/runs``) if needed; raise :class:`InputError` if unwritable."""
    path = Path(out)
    try:
        (path / "runs").mkdir(parents=True, exist_ok=True)
        check_writable(path)
    except OSError as e:
        raise InputError("out", str(path), "folder_usable", "os_error", reason=e) from None
    return path


def _run_one(spec: RunSpec, out_dir: Path | None, advance: Callable[[int], None]) -> RunSummary:
    """Train ``spec``; its records go to ``runs/*.jsonl.partial``, renamed when it finishes."""
    if out_dir is None:
        return train_run(spec, None, advance)
    final = out_dir / "runs" / f"{spec.file_stem}.jsonl"
    partial = final.with_name(final.name + ".partial")
    partial.unlink(missing_ok=True)
    with RecordWriter(partial) as writer:
        row = train_run(spec, writer, advance)
    os.replace(partial, final)
    row.log = str(final.relative_to(out_dir))
    return row


def _cost(spec: RunSpec) -> float:
    """A rough relative cost of a run (steps × T × n² × gate blocks), to start long runs first."""
    gates = {"lstm": 4, "gru": 3}.get(spec.model, 1)
    return spec.steps * spec.T * spec.hidden**2 * gates


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
    jobs: int = 1,
) -> list[RunSummary]:
    """Run a grid of remedy configurations × seeds; return one summary row per run.

    Args:
      preset: ``"quick"`` (one seed, divergence + adding at T = 50) or ``"full"``
        (3 seeds, adding at T = 50, 100, 200), or a :class:`Preset`.
      out: folder for ``runs/*.jsonl`` and ``summary.csv`` (``None``: nothing written).
      seeds, experiments, configs, T, steps, lr: see :func:`build_grid`.
      progress: called as ``progress(run_id, steps_done, steps_total)`` as the
        grid advances (after every step with ``jobs=1``, a few times a second
        with workers), in this process.
      jobs: worker processes (``1``: run here, one run after the other). Each
        worker trains one run at a time, single-threaded; the rows come back in
        the grid's order whatever finishes first. Workers are started with
        multiprocessing's ``spawn``: a script that calls this with ``jobs > 1``
        needs the usual ``if __name__ == "__main__":`` guard.

    Returns:
      the :class:`RunSummary` rows, in grid order.

    Raises:
      InputError: bad names or sizes (see :func:`build_grid`), a bad ``jobs``, or
        an unwritable ``out``.
      RemediesInterrupted: on Ctrl-C; finished runs are kept (in ``rows`` and
        ``summary.csv``); an interrupted run's records stay in ``runs/*.jsonl.partial``.
    """
    specs = build_grid(
        preset, seeds=seeds, experiments=experiments, configs=configs, T=T, steps=steps, lr=lr
    )
    check_jobs(jobs)
    out_dir = check_out_dir(out) if out is not None else None
    total = sum(s.steps for s in specs)
    workers = min(jobs, len(specs))
    if workers <= 1:
        return _run_here(specs, out_dir, progress, total)
    return _run_in_workers(specs, out_dir, progress, total, workers)


def _run_here(
    specs: list[RunSpec], out_dir: Path | None, progress: ProgressCallback | None, total: int
) -> list[RunSummary]:
    done = 0
    rows: list[RunSummary] = []
    with deterministic():
        for spec in specs:

            def advance(n: int, run_id: str = spec.run_id) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(run_id, done, total)

            try:
                row = _run_one(spec, out_dir, advance)
            except KeyboardInterrupt:
                raise RemediesInterrupted(rows) from None
            rows.append(row)
            if out_dir is not None:
                write_summary(out_dir / "summary.csv", rows)
    return rows


# ---------------------------------------------------------------------------
# Worker processes

_progress_queue: Any = None


def _worker_init(progress_queue: Any) -> None:
    """Set a worker up: Ctrl-C is the parent's to handle; one thread; deterministic kernels."""
    global _progress_queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    _progress_queue = progress_queue


def _worker_run(index: int, spec: RunSpec, out_dir: Path | None) -> RunSummary:
    """Train one run in a worker; report its steps to the parent a few times a second."""
    pending, last = 0, time.perf_counter()

    def advance(n: int) -> None:
        nonlocal pending, last
        pending += n
        now = time.perf_counter()
        if now - last >= _PROGRESS_EVERY_S:
            _progress_queue.put((index, pending))
            pending, last = 0, now

    row = _run_one(spec, out_dir, advance)
    if pending:
        _progress_queue.put((index, pending))
    return row


def _run_in_workers(
    specs: list[RunSpec],
    out_dir: Path | None,
    progress: ProgressCallback | None,
    total: int,
    workers: int,
) -> list[RunSummary]:
    # spawn: a fresh interpreter per worker (forking a process that runs torch's
    # thread pools is unsafe), the same on Linux, macOS and Windows.
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    finished: dict[int, RunSummary] = {}
    reported = [0] * len(specs)
    done = 0

    def advance(index: int, n: int) -> None:
        nonlocal done
        if index in finished:
            return  # a late message: the run's steps are counted already
        reported[index] += n
        done += n
        if progress is not None:
            progress(specs[index].run_id, done, total)

    def drain(timeout: float) -> None:
        try:
            advance(*messages.get(timeout=timeout))
            while True:
                advance(*messages.get_nowait())
        except queue.Empty:
            pass

    pool = ctx.Pool(workers, initializer=_worker_init, initargs=(messages,))
    try:
        # Longest first, so the last run to finish is a short one; the order of the
        # results is the grid's whatever the order of the work.
        order = sorted(range(len(specs)), key=lambda i: -_cost(specs[i]))
        pending = {i: pool.apply_async(_worker_run, (i, specs[i], out_dir)) for i in order}
        while pending:
            drain(0.05)
            for i in [i for i, result in pending.items() if result.ready()]:
                row = pending.pop(i).get()  # a worker's exception is raised here
                advance(i, specs[i].steps - reported[i])  # what its last message has not said
                finished[i] = row
                if out_dir is not None:
                    write_summary(out_dir / "summary.csv", [finished[k] for k in sorted(finished)])
    except KeyboardInterrupt:
        pool.terminate()
        raise RemediesInterrupted([finished[k] for k in sorted(finished)]) from None
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()
        messages.close()
    return [finished[i] for i in range(len(specs))]
