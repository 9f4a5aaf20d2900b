"""The guard's snapshots: what a rollback restores, and the error a bad snapshot file raises.

- :class:`Snapshot` — the last good state (the model's, the optimizer's and the rules'),
  in host memory or in a file, taken every ``snapshot_every`` steps and restored by a
  rollback;
- :class:`SnapshotError` — a snapshot file that cannot be read back safely (its name,
  and why), instead of unpickling something that could run code.
"""

from gradguard.torch._snapshot import Snapshot, SnapshotError

__all__ = ["Snapshot", "SnapshotError"]
