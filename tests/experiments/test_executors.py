"""The grid on every executor: a local pool, a real Dask LocalCluster, a local Ray runtime.

Each runs the quick preset's grid (all 13 runs, at a tenth of its steps) and must write the
same bytes as one process does (``summary.csv`` and every record, wall times aside). Ray
starts slowly: one runtime serves the whole module.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from gradguard.errors import InputError
from gradguard.experiments import run_remedies
from gradguard.experiments._executors import parse_executor

pytestmark = pytest.mark.distributed

#: The quick preset's grid, small: every configuration, 15 divergence and 75 adding steps.
QUICK = dict(budget=0.05)
#: Two short runs, for the command-line spellings of an engine.
TINY = dict(experiments=["divergence"], configs=["none", "clip-norm"], steps=20)


def without_wall_time(folder: Path) -> tuple[list[list[str]], dict[str, list[dict]]]:
    """summary.csv without its wall_s column, and every record without its time field."""
    with (folder / "summary.csv").open(newline="") as f:
        table = list(csv.reader(f))
    wall = table[0].index("wall_s")
    summary = [row[:wall] + row[wall + 1 :] for row in table]
    records = {}
    for path in sorted((folder / "runs").iterdir()):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        records[path.name] = [{k: v for k, v in d.items() if k != "time"} for d in lines]
    return summary, records


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The quick grid trained in this process, one run after the other."""
    out = tmp_path_factory.mktemp("one")
    rows = run_remedies("quick", out, jobs=1, **QUICK)
    assert len(rows) == 13 and {r.experiment for r in rows} == {"divergence", "adding"}
    return without_wall_time(out)


def test_local_pool_gives_the_same_bytes(reference, tmp_path):
    run_remedies("quick", tmp_path, jobs=2, **QUICK)
    assert without_wall_time(tmp_path) == reference


def test_dask_local_cluster_gives_the_same_bytes(reference, tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the [dask] extra")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # from Python: a Client; from the command line: the scheduler's address
        seen = []
        run_remedies("quick", tmp_path / "client", executor=client, progress=seen.append, **QUICK)
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        run_remedies("quick", tmp_path / "address", executor=address, **TINY)
        run_remedies("quick", tmp_path / "here", **TINY)
        assert len(client.scheduler_info()["workers"]) == 2  # two worker processes did it
    assert without_wall_time(tmp_path / "client") == reference
    assert without_wall_time(tmp_path / "address") == without_wall_time(tmp_path / "here")
    assert max(p.running for p in seen) == 2  # no more in flight than the cluster's slots
    assert seen[-1].done == 13 and seen[-1].failed == 0 and seen[-1].running == 0


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray", reason="needs the [ray] extra")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_runtime_gives_the_same_bytes(reference, ray_runtime, tmp_path):
    seen = []
    run_remedies("quick", tmp_path, executor="ray", progress=seen.append, **QUICK)
    assert without_wall_time(tmp_path) == reference
    assert ray_runtime.is_initialized()  # the grid leaves a runtime it did not start
    assert max(p.running for p in seen) == 2 and seen[-1].done == 13


def test_ray_from_the_command_line(ray_runtime, tmp_path, capsys):
    from gradguard.cli import main

    args = ["remedies", "--experiments", "divergence", "--configs", "none,clip-norm"]
    args += ["--train-steps", "20", "--out", str(tmp_path), "--executor", "ray"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "| clip-norm |" in out and "2/2 runs done · 0 running · 0 failed" in err


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("ray", ("ray", None)),
        ("ray://head:10001", ("ray", "ray://head:10001")),
        ("dask://10.0.0.5:8786", ("dask", "tcp://10.0.0.5:8786")),
    ],
)
def test_executor_names(text, parsed):
    assert parse_executor(text) == parsed


@pytest.mark.parametrize("text", ["spark", "dask://", "dask://host", "dask://h:0", "ray://", ""])
def test_bad_executor_is_one_line_exit_2(text, capsys):
    from gradguard.cli import main

    with pytest.raises(InputError, match="executor must be dask://HOST:PORT, ray or ray://"):
        parse_executor(text)
    assert main(["remedies", "--executor", text]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--executor must be dask://HOST:PORT" in err


@pytest.mark.parametrize("lang", ["en", "bn"])
@pytest.mark.parametrize("executor", ["ray", "dask://127.0.0.1:8786"])
def test_jobs_with_an_executor_is_refused_one_line_exit_2(executor, lang, capsys, tmp_path):
    from gradguard.cli import main
    from gradguard.errors import InputError

    # refused before any cluster is reached or anything is written
    args = ["remedies", "--out", str(tmp_path / "out"), "--no-progress", "--lang", lang]
    assert main([*args, "--executor", executor, "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    expected = InputError("--jobs", 2, "executor_jobs").message(lang)
    assert err.count("\n") == 0 and expected in err, err
    assert not (tmp_path / "out").exists()


def test_unreachable_dask_scheduler_is_one_line_exit_1(capsys, monkeypatch, tmp_path):
    pytest.importorskip("distributed", reason="needs the [dask] extra")
    import socket

    import gradguard.experiments._executors as executors
    from gradguard.cli import main

    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT", "1s")
    with socket.socket() as s:  # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["remedies", "--experiments", "divergence", "--configs", "none", "--no-progress"]
    code = main([*args, "--out", str(tmp_path), "--executor", f"dask://127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(
        f"gradguard: error: cannot reach the dask cluster at tcp://127.0.0.1:{port}"
    )


def test_unreachable_ray_cluster_is_one_line_exit_1(tmp_path):
    # Ray's own INFO line and its multi-line UserWarning are not printed before gradguard's.
    # A process of its own: this module's Ray runtime would otherwise serve the grid.
    pytest.importorskip("ray", reason="needs the [ray] extra")
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # 1 s per try (Ray's default: 5, 10, 15 s), so the test takes seconds
    env = dict(os.environ, RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S="1")
    env["RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "gradguard", "remedies", "--experiments", "divergence",
         "--configs", "none", "--no-progress", "--out", str(tmp_path),
         "--executor", f"ray://127.0.0.1:{port}"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    err = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(err) == 1, err
    assert err[0].startswith(
        f"gradguard: error: cannot reach the ray cluster at ray://127.0.0.1:{port}"
    )
    assert done.stdout == ""


def test_ray_address_while_another_runtime_runs_is_refused(ray_runtime, tmp_path):
    # ray.init() already ran in this process (the fixture): a ray:// address elsewhere would
    # be skipped silently and the runs sent to this runtime instead — refused, naming both
    running = ray_runtime.get_runtime_context().gcs_address
    asked = "ray://127.0.0.1:1"
    with pytest.raises(InputError) as info:
        run_remedies("quick", tmp_path, executor=asked, **TINY)
    for lang in ("en", "bn"):
        line = info.value.message(lang)
        assert line.count("\n") == 0 and running in line and repr(asked) in line, line
    assert "ray.shutdown()" in info.value.message("en")
    assert not (tmp_path / "summary.csv").exists()
    assert ray_runtime.is_initialized()  # the caller's runtime is left alone
    # the address of the runtime that runs here is that runtime: accepted
    run_remedies("quick", tmp_path, executor="ray", **TINY)
