"""A grid's results folder: what is done, what may be mixed, each finished run committed atomically.

$ gradguard remedies --preset le2015-adding --out runs/    # interrupted …
$ gradguard remedies --preset le2015-adding --out runs/    # … resumes: skips the finished runs

``OUT/summary.csv`` holds one row per finished run, in the grid's order, and
``OUT/runs/<experiment>-T<T>-<config>-seed<k>.jsonl`` its step records. A run
is *finished* when its row is in ``summary.csv`` and its records file is in
``runs/`` (a row whose records were deleted trains again): its records are
renamed into place first, then ``summary.csv`` is rewritten (each write atomic),
so a crash at any moment leaves every finished run whole and nothing
half-written in view.

Every row carries two hashes: ``config_hash`` (every setting of the run,
:attr:`RunSpec.config_hash`) and ``source_hash`` (:func:`source_hash`: the
gradguard source files and the torch version — ``__version__`` alone does not
change between commits). A folder whose rows disagree with the grid asked for
is refused, not mixed. One grid at a time writes a folder: it holds an exclusive
``flock`` on ``OUT/.gradguard.lock`` while it runs, and a second is refused.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import zlib
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO

from gradguard._atomic import write_chunks_atomic
from gradguard.errors import FileError
from gradguard.experiments._grid import RunSpec
from gradguard.experiments._summary_io import RunSummary, read_summary, write_summary

__all__ = ["source_hash"]


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """A hash (16 hex digits) of gradguard's ``*.py`` files and the installed torch version.

    Two processes with the same hash train a spec alike (on one kind of machine):
    the same code and the same torch build. Cached for the process's life.
    """
    root = Path(__file__).resolve().parents[1]  # the gradguard package
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        h.update(path.read_bytes() + b"\0")
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    h.update(b"torch " + torch_version.encode("utf-8"))
    return h.hexdigest()[:16]


def _write_compressed_atomic(path: Path, compressed: bytes) -> None:
    """Write ``zlib``-compressed ``compressed`` to ``path`` uncompressed, atomically."""

    def inflated() -> Iterator[bytes]:
        inflate = zlib.decompressobj()
        view = memoryview(compressed)
        for start in range(0, len(view), 1 << 20):  # a MiB at a time: long runs are large
            yield inflate.decompress(view[start : start + (1 << 20)])
        yield inflate.flush()

    write_chunks_atomic(path, inflated())


class ResultsFolder:
    """The results folder of one grid: its finished rows, and where new runs go.

    Args:
      out: the folder (``runs/`` is created in it).
      specs: the grid, in its order.
      source: this process's :func:`source_hash`.

    Raises:
      FileError: ``summary.csv`` is malformed, or holds a run of another
        configuration, another source, or not in ``specs``; or another grid holds the
        folder's lock (call :meth:`close` to release this one's).
    """

    def __init__(self, out: Path, specs: Sequence[RunSpec], source: str) -> None:
        self.out = out
        self.runs = out / "runs"
        self.summary = out / "summary.csv"
        # One grid at a time: another's temp files and summary.csv are not this one's to touch.
        out.mkdir(parents=True, exist_ok=True)
        # a file object: a folder dropped without close() releases the lock when collected
        self._lock: IO[bytes] | None = open(out / ".gradguard.lock", "ab")  # noqa: SIM115
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise FileError(out, "grid_running") from None
        try:
            self._read(specs, source)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Let another grid use the folder (closing the lock file releases its lock)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _read(self, specs: Sequence[RunSpec], source: str) -> None:
        self.source = source
        self._order = {s.run_id: i for i, s in enumerate(specs)}
        self.rows: dict[str, RunSummary] = {}
        if self.summary.exists():
            by_id = {s.run_id: s for s in specs}
            for line, row in enumerate(read_summary(self.summary), start=2):
                run = f"{row.experiment}/T{row.T}/{row.config}/seed{row.seed}"
                where = f"{self.summary}:{line}"
                spec = by_id.get(run)
                if spec is None:
                    raise FileError(where, "not_in_grid", run=run)
                if row.source_hash != source:
                    raise FileError(
                        where, "other_source", run=run, found=row.source_hash, expected=source
                    )
                if row.config_hash != spec.config_hash:
                    raise FileError(
                        where,
                        "other_config",
                        run=run,
                        found=row.config_hash,
                        expected=spec.config_hash,
                    )
                # a row whose records are gone is no finished run: it trains again
                if (self.runs / f"{spec.file_stem}.jsonl").is_file():
                    self.rows[run] = row
        # Temp files of a writer that was killed mid-write: never a finished run's.
        for stale in self.runs.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def done(self, spec: RunSpec) -> bool:
        """Say whether ``spec`` finished before (its row in ``summary.csv``, its records there)."""
        return spec.run_id in self.rows

    def commit(self, spec: RunSpec, row: RunSummary, records: bytes) -> None:
        """Write a finished run: its records (``zlib``-compressed JSONL), then its row."""
        _write_compressed_atomic(self.runs / f"{spec.file_stem}.jsonl", records)
        self.rows[spec.run_id] = row
        ordered = sorted(self.rows.values(), key=lambda r: self._order[_run_id(r)])
        write_summary(self.summary, ordered)

    def in_order(self) -> list[RunSummary]:
        """The finished rows, in the grid's order."""
        return sorted(self.rows.values(), key=lambda r: self._order[_run_id(r)])


def _run_id(row: RunSummary) -> str:
    return f"{row.experiment}/T{row.T}/{row.config}/seed{row.seed}"
