"""A grid's results folder: what is done, what may be mixed, each finished run committed atomically.

$ gradguard remedies --preset le2015-adding --out runs/    # interrupted …
$ gradguard remedies --preset le2015-adding --out runs/    # … resumes: skips the finished runs

``OUT/summary.csv`` holds one row per finished run, in the grid's order,
``OUT/runs/<experiment>-T<T>-<config>-seed<k>.jsonl`` its step records, and
``OUT/records.json`` each records file's size in bytes and SHA-256. A run is
*finished* when its row is in ``summary.csv`` and its records file is in ``runs/``
with the size and hash ``records.json`` gives it (a row whose records were
deleted, truncated or changed trains again): its records are renamed into place
first, then ``records.json`` and ``summary.csv`` are rewritten (each write
atomic), so a crash at any moment leaves every finished run whole and nothing
half-written in view. (The hashes are kept apart from ``summary.csv``: records
hold wall times, and ``summary.csv`` is the same bytes on every executor, its
``wall_s`` aside.)

Every row carries two hashes: ``config_hash`` (every setting of the run,
:attr:`RunSpec.config_hash`) and ``source_hash`` (:func:`source_hash`: the
gradguard source files and the torch version — ``__version__`` alone does not
change between commits). A folder whose rows disagree with the grid asked for
is refused, not mixed. One grid at a time writes a folder: it holds an exclusive
``flock`` on ``OUT/.gradguard.lock`` while it runs, and a second is refused; the
grid removes the file as it ends (a grid killed with ``SIGKILL`` leaves it, and
the next grid takes it over: a lock file nobody holds locks nothing).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO

from gradguard._atomic import write_chunks_atomic, write_text_atomic
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


#: A MiB: records are hashed and inflated a piece at a time (long runs are large).
_CHUNK = 1 << 20


def _write_compressed_atomic(path: Path, compressed: bytes) -> tuple[int, str]:
    """Write ``zlib``-compressed ``compressed`` to ``path`` uncompressed, atomically.

    Returns:
      the file's size in bytes and its SHA-256 (hex), as written.
    """
    h = hashlib.sha256()
    size = 0

    def seen(piece: bytes) -> bytes:
        nonlocal size
        h.update(piece)
        size += len(piece)
        return piece

    def inflated() -> Iterator[bytes]:
        inflate = zlib.decompressobj()
        view = memoryview(compressed)
        for start in range(0, len(view), _CHUNK):
            yield seen(inflate.decompress(view[start : start + _CHUNK]))
        yield seen(inflate.flush())

    write_chunks_atomic(path, inflated())
    return size, h.hexdigest()


def _file_digest(path: Path, size: int) -> str | None:
    """``path``'s SHA-256 (hex), or ``None`` if it is missing or not ``size`` bytes long."""
    try:
        if path.stat().st_size != size:  # the cheap test first: a truncated file
            return None
        h = hashlib.sha256()
        with path.open("rb") as f:
            while piece := f.read(_CHUNK):
                h.update(piece)
    except OSError:
        return None
    return h.hexdigest()


def _take_lock(path: Path) -> IO[bytes] | None:
    """Open ``path`` and hold an exclusive ``flock`` on it; ``None`` if another holds it.

    The file a grid removes as it ends may have been opened by a second grid just before:
    that one's lock would be on a file no longer at ``path``, so it checks and tries again.
    """
    while True:
        # a file object: a folder dropped without close() releases the lock when collected
        lock = open(path, "ab")  # noqa: SIM115
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return lock
        lock.close()  # removed (and maybe made anew) since we opened it: again


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
        self.manifest = out / "records.json"
        # One grid at a time: another's temp files and summary.csv are not this one's to touch.
        out.mkdir(parents=True, exist_ok=True)
        self._lock_path = out / ".gradguard.lock"
        self._lock: IO[bytes] | None = _take_lock(self._lock_path)
        if self._lock is None:
            raise FileError(out, "grid_running")
        try:
            self._read(specs, source)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Let another grid use the folder: remove the lock file, then release its lock."""
        if self._lock is not None:
            # removed while still held: a grid that opened it meanwhile sees it gone, retries
            self._lock_path.unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def _read(self, specs: Sequence[RunSpec], source: str) -> None:
        self.source = source
        self._order = {s.run_id: i for i, s in enumerate(specs)}
        self.rows: dict[str, RunSummary] = {}
        self.digests: dict[str, dict[str, object]] = self._read_manifest()
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
                # a row whose records are gone, cut short or changed is no finished run:
                # it trains again
                if self._records_whole(spec):
                    self.rows[run] = row
        # Temp files of a writer that was killed mid-write: never a finished run's.
        for stale in self.runs.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def _read_manifest(self) -> dict[str, dict[str, object]]:
        """``records.json`` as read (a missing or unreadable one: nothing is known whole)."""
        try:
            found = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        runs = found.get("runs") if isinstance(found, dict) else None
        return (
            {k: v for k, v in runs.items() if isinstance(v, dict)} if isinstance(runs, dict) else {}
        )

    def _records_whole(self, spec: RunSpec) -> bool:
        """Whether ``spec``'s records file has the size and hash ``records.json`` gives it."""
        name = f"runs/{spec.file_stem}.jsonl"
        entry = self.digests.get(name, {})
        size, digest = entry.get("bytes"), entry.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or not isinstance(digest, str):
            return False
        return _file_digest(self.out / name, size) == digest

    def done(self, spec: RunSpec) -> bool:
        """Say whether ``spec`` finished before (its row in ``summary.csv``, its records there)."""
        return spec.run_id in self.rows

    def commit(self, spec: RunSpec, row: RunSummary, records: bytes) -> None:
        """Write a finished run: its records (``zlib``-compressed JSONL), their hash, its row."""
        size, digest = _write_compressed_atomic(self.runs / f"{spec.file_stem}.jsonl", records)
        self.digests[f"runs/{spec.file_stem}.jsonl"] = {"bytes": size, "sha256": digest}
        manifest = {"runs": dict(sorted(self.digests.items()))}
        write_text_atomic(self.manifest, json.dumps(manifest, indent=1) + "\n")
        self.rows[spec.run_id] = row
        ordered = sorted(self.rows.values(), key=lambda r: self._order[_run_id(r)])
        write_summary(self.summary, ordered)

    def in_order(self) -> list[RunSummary]:
        """The finished rows, in the grid's order."""
        return sorted(self.rows.values(), key=lambda r: self._order[_run_id(r)])


def _run_id(row: RunSummary) -> str:
    return f"{row.experiment}/T{row.T}/{row.config}/seed{row.seed}"
