"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["check_writable", "write_bytes_atomic", "write_chunks_atomic", "write_text_atomic"]


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    return write_chunks_atomic(path, (data,))


def write_chunks_atomic(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> Path:
    """Write the ``chunks`` one after another to ``path`` atomically (streamed, not joined)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def check_writable(folder: str | os.PathLike[str]) -> None:
    """Write and remove a probe file in ``folder``: fail now, not after minutes of work.

    Raises:
      OSError: the folder cannot take a new file (no permission, read-only, full …).
    """
    probe = Path(folder) / f".write-test-{os.getpid()}"
    probe.write_text("")
    probe.unlink()
