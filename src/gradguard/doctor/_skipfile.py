"""A skip list given beside a log: Lightning's ``skip_batches.json`` or gradguard's.

Lightning's ``SpikeDetection`` writes a JSON list of batch indices (each spike adds the
batch before it too); ``gradguard replay LOG --skip-list --json`` writes
``{"steps": [[first, last], ...], "batches": [...]}``. Both read into one
:class:`~gradguard.skiplist.SkipList`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gradguard.errors import FileError, InputError
from gradguard.skiplist import SkipList

__all__ = ["read_skip_file"]


def read_skip_file(path: str | os.PathLike[str]) -> SkipList:
    """Read a skip list: a JSON list of batch indices (Lightning) or gradguard's JSON.

    Lightning's batch indices become the list's batch identifiers.

    Raises:
      FileError: the file is missing, unreadable, or neither form.
    """
    p = Path(path)
    if not p.is_file():
        raise FileError(p, "no_skip_list")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise FileError(p, "not_utf8", reason=e.reason) from None
    except OSError as e:
        raise FileError(p, "unreadable", reason=e) from None
    except json.JSONDecodeError:
        raise FileError(p, "not_skip_list") from None
    if isinstance(data, list) and all(isinstance(b, int) and not isinstance(b, bool) for b in data):
        return SkipList(batches=data)
    if isinstance(data, dict) and set(data) <= {"steps", "batches"} and data:
        try:
            return SkipList.coerce(data)
        except (InputError, TypeError):
            raise FileError(p, "not_skip_list") from None
    raise FileError(p, "not_skip_list")
