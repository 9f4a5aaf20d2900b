"""Launch one worker script as N gloo ranks and collect each rank's JSON results."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(worker: Path, world: int, out: Path, timeout: float = 180) -> list[dict]:
    """Run ``worker RANK WORLD PORT OUT`` as ``world`` processes; return rankN.json of each.

    A deadlock (one rank skipping alone, say) would hang the collectives: the ranks are
    killed after ``timeout`` seconds and the test fails with their output.
    """
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(r), str(world), str(port), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for r in range(world)
    ]
    logs = []
    try:
        for p in procs:
            stdout, _ = p.communicate(timeout=timeout)
            logs.append(stdout)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if any(p.returncode for p in procs):
        report = "\n".join(
            f"--- rank {r} (exit {p.returncode}):\n{logs[r][-3000:]}" for r, p in enumerate(procs)
        )
        pytest.fail(f"a rank failed:\n{report}")
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
