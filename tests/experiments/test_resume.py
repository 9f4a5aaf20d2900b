"""A grid that resumes: killed mid-way (a worker SIGKILLed, the driver interrupted), run again.

The final results must equal an uninterrupted run's, a run that had finished must not be
trained again (its row keeps its own wall time, its records file is never rewritten), and a
folder made with another configuration or another gradguard is refused, not mixed.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gradguard.errors import FileError
from gradguard.experiments import GridFailed, build_grid, read_summary, run_remedies
from gradguard.experiments._results import ResultsFolder, source_hash

from .test_executors import without_wall_time

#: Six divergence runs of a fraction of a second each (`none` diverges at once): long enough
#: that a worker is caught mid-run, short enough that the three grids below take seconds.
CONFIGS = "none,clip-norm,clip-value,low-lr,init-xavier,gru"
GRID = ["--experiments", "divergence", "--configs", CONFIGS, "--train-steps", "300"]
KW = dict(experiments=["divergence"], configs=CONFIGS.split(","), steps=300)


def _finished(folder: Path) -> dict[str, tuple[str, int]]:
    """Each finished run's summary line and its records file's inode (rewritten → new inode)."""
    lines = (folder / "summary.csv").read_text().splitlines()
    return {
        row.config: (line, (folder / row.log).stat().st_ino)
        for row, line in zip(read_summary(folder / "summary.csv"), lines[1:], strict=True)
    }


@pytest.mark.slow
def test_killed_worker_and_interrupted_driver_then_resume(tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "grid"
    driver = subprocess.Popen(
        [sys.executable, "-m", "gradguard", "remedies", *GRID, "--out", str(out),
         "--jobs", "2", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    summary = out / "summary.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if summary.exists() and len(summary.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    workers = [p for p in psutil.Process(driver.pid).children(recursive=True) if p.is_running()]
    trainers = [p for p in workers if "spawn_main" in " ".join(p.cmdline())]
    assert trainers, [p.cmdline() for p in workers]
    trainers[0].send_signal(signal.SIGKILL)  # a worker dies: its run fails, the grid goes on
    time.sleep(1.0)
    driver.send_signal(signal.SIGINT)  # then Ctrl-C
    _, err = driver.communicate(timeout=300)
    assert driver.returncode in (1, 130), err  # interrupted (or every run ended: 1 failed)
    assert "Traceback" not in err
    before = _finished(out)
    assert 2 <= len(before) < 6, err
    assert not list((out / "runs").glob(".*")), "a half-written file is in view"

    # Again, to the end (here, in this process: no workers to start): only what had not
    # finished trains.
    trained: list[str] = []
    rows = run_remedies("quick", out, jobs=1, progress=lambda p: trained.append(p.run_id), **KW)
    assert len(rows) == 6
    assert not {t.split("/")[2] for t in trained} & set(before)  # none trained twice
    after = _finished(out)
    for config, (line, inode) in before.items():
        assert after[config] == (line, inode), f"{config} was trained twice"

    reference = tmp_path / "reference"
    run_remedies("quick", reference, jobs=1, **KW)
    assert without_wall_time(out) == without_wall_time(reference)


def _blocked_signals() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_worker_starts_deaf_to_ctrl_c():
    # A worker imports torch for seconds before the pool's initializer ignores SIGINT: a
    # Ctrl-C to the terminal's group then printed its KeyboardInterrupt traceback. It is
    # started with SIGINT blocked (inherited from the thread that starts it) instead.
    from gradguard.experiments._executors import open_backend

    before = _blocked_signals()
    backend = open_backend(None, 1)
    try:
        assert signal.SIGINT in backend.executor.submit(_blocked_signals).result(timeout=300)
    finally:
        backend.close()
    assert _blocked_signals() == before  # the driver's own mask is as it was


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_ctrl_c_while_workers_start_is_raised_once_they_have():
    # Raised between a worker's start and the pipe write that feeds it, a KeyboardInterrupt
    # left the worker reading an empty pipe (its EOFError traceback on the driver's stderr)
    # Python's own Ctrl-C handler, as a command has it: a test before this one in the session
    # may have left another (an event loop's), which would swallow the Ctrl-C this test sends.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _held_then_raised()
    finally:
        signal.signal(signal.SIGINT, handler)


def _held_then_raised():
    from gradguard.experiments._executors import _ctrl_c_held

    handler = signal.getsignal(signal.SIGINT)
    reached = []
    # A Ctrl-C goes to the process: a thread that does not block it (as the pool's own) takes
    # it. raise_signal in a thread returns once its handler has run there.
    go = threading.Event()
    other = threading.Thread(target=lambda: go.wait(60) and signal.raise_signal(signal.SIGINT))
    other.start()
    with pytest.raises(KeyboardInterrupt), _ctrl_c_held():
        go.set()  # the Ctrl-C comes here…
        other.join()
        reached.extend(range(3))  # …and this still runs
    assert reached == [0, 1, 2]
    assert signal.getsignal(signal.SIGINT) is handler
    with _ctrl_c_held():  # none came: nothing raised
        pass


def test_a_failed_run_is_retried_and_the_finished_ones_are_not(tmp_path, monkeypatch):
    import gradguard.experiments._runner as runner

    real = runner.train_run

    def flaky(spec, *args, **kwargs):
        if spec.config == "clip-value":
            raise MemoryError("out of memory")  # a run's own failure
        return real(spec, *args, **kwargs)

    small = dict(experiments=["divergence"], configs=["none", "clip-norm", "clip-value"], steps=30)
    monkeypatch.setattr(runner, "train_run", flaky)
    with pytest.raises(GridFailed) as info:
        run_remedies("quick", tmp_path, **small)
    assert [r.config for r in info.value.rows] == ["none", "clip-norm"]
    run = "divergence/T10/clip-value/seed0"
    assert info.value.failures == [(run, f"{run}: MemoryError: out of memory")]
    before = _finished(tmp_path)
    monkeypatch.setattr(runner, "train_run", real)
    trained = []
    rows = run_remedies("quick", tmp_path, progress=lambda p: trained.append(p.run_id), **small)
    assert [r.config for r in rows] == ["none", "clip-norm", "clip-value"]
    assert set(trained) == {"divergence/T10/clip-value/seed0"}
    after = _finished(tmp_path)
    assert {k: after[k] for k in before} == before
    reference = tmp_path.parent / "reference"
    run_remedies("quick", reference, **small)
    assert without_wall_time(tmp_path) == without_wall_time(reference)


def test_another_configuration_is_refused_not_mixed(tmp_path, capsys):
    from gradguard.cli import main

    args = ["remedies", "--experiments", "divergence", "--configs", "none,clip-norm"]
    args += ["--out", str(tmp_path), "--no-progress", "--jobs", "1"]
    assert main([*args, "--train-steps", "20"]) == 0
    kept = (tmp_path / "summary.csv").read_bytes()
    capsys.readouterr()
    # the same command again: nothing to train
    assert main([*args, "--train-steps", "20"]) == 0
    assert "all 2 runs are already in" in capsys.readouterr().err
    # another step budget, another learning rate, fewer configurations: refused, one line
    for change, problem, line in [
        (["--train-steps", "21"], "was made with another configuration", 2),
        (["--train-steps", "20", "--lr", "0.02"], "was made with another configuration", 2),
        (["--train-steps", "20", "--configs", "none"], "is not in this grid", 3),
    ]:
        assert main([*args, *change]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and problem in err and f"summary.csv:{line}:" in err, err
        assert (tmp_path / "summary.csv").read_bytes() == kept


def test_a_run_whose_records_are_gone_trains_again(tmp_path, capsys):
    from gradguard.cli import main

    args = ["remedies", "--experiments", "divergence", "--configs", "none,clip-norm"]
    args += ["--out", str(tmp_path), "--no-progress", "--jobs", "1", "--train-steps", "20"]
    assert main(args) == 0
    before, whole = _finished(tmp_path), without_wall_time(tmp_path)
    gone = tmp_path / read_summary(tmp_path / "summary.csv")[1].log
    gone.unlink()
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "1 of 2 runs is already in" in err and "all 2" not in err, err
    assert gone.is_file()  # trained again, its records back
    after = _finished(tmp_path)
    assert after["none"] == before["none"]  # the other run, with its records, untouched
    assert without_wall_time(tmp_path) == whole  # the same row and records as before


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_a_second_grid_on_one_folder_is_refused(tmp_path, capsys, lang):
    from gradguard.cli import main

    specs = build_grid("quick", experiments=["divergence"], configs=["none"], steps=5)
    first = ResultsFolder(tmp_path, specs, source_hash())  # a grid writing here
    live = tmp_path / "runs" / ".x.jsonl.tmp"  # its temp file, being written
    live.parent.mkdir(exist_ok=True)
    live.write_text("{}")
    args = ["remedies", "--experiments", "divergence", "--configs", "none", "--lang", lang]
    args += ["--out", str(tmp_path), "--no-progress", "--jobs", "1", "--train-steps", "5"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    expected = FileError(tmp_path, "grid_running").message(lang)
    assert err.count("\n") == 0 and expected in err, err
    assert live.exists() and not (tmp_path / "summary.csv").exists()
    with pytest.raises(FileError, match="another `gradguard remedies` grid"):
        run_remedies("quick", tmp_path, experiments=["divergence"], configs=["none"], steps=5)
    first.close()  # the first grid ended: the folder is free
    assert main(args) == 0
    assert len(read_summary(tmp_path / "summary.csv")) == 1


def test_another_gradguard_source_is_refused(tmp_path):
    specs = build_grid("quick", experiments=["divergence"], configs=["none"], steps=5)
    run_remedies("quick", tmp_path, experiments=["divergence"], configs=["none"], steps=5)
    ResultsFolder(tmp_path, specs, source_hash())  # the same source: accepted
    with pytest.raises(FileError, match="made by another gradguard or torch") as info:
        ResultsFolder(tmp_path, specs, "0123456789abcdef")
    assert "source hash " + source_hash() in str(info.value)
    # the hash covers every source file: one changed byte is another source
    (row,) = read_summary(tmp_path / "summary.csv")
    assert len(row.source_hash) == 16 and row.config_hash == specs[0].config_hash
    assert replace(specs[0], lr=0.02).config_hash != specs[0].config_hash


def test_source_hash_changes_with_a_source_file(tmp_path, monkeypatch):
    import shutil

    import gradguard
    from gradguard.experiments import _results

    installed = source_hash()
    copy = tmp_path / "gradguard"
    shutil.copytree(Path(gradguard.__file__).parent, copy, ignore=shutil.ignore_patterns("*.pyc"))
    fake = copy / "experiments" / "_results.py"
    monkeypatch.setattr(_results, "__file__", str(fake))
    _results.source_hash.cache_clear()
    try:
        first = _results.source_hash()
        assert first == installed  # the same files as the installed package: the same hash
        with (copy / "lab" / "__init__.py").open("a") as f:
            f.write("\n# one more line\n")
        _results.source_hash.cache_clear()
        assert _results.source_hash() != first
    finally:
        _results.source_hash.cache_clear()


def test_a_run_whose_records_are_cut_short_or_changed_trains_again(tmp_path):
    small = dict(experiments=["divergence"], configs=["none", "clip-norm", "clip-value"], steps=30)
    run_remedies("quick", tmp_path, **small)
    manifest = json.loads((tmp_path / "records.json").read_text())["runs"]
    rows = read_summary(tmp_path / "summary.csv")
    for row in rows:  # each records file's size and hash, as written
        data = (tmp_path / row.log).read_bytes()
        assert manifest[row.log] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    before, whole = _finished(tmp_path), without_wall_time(tmp_path)
    cut = tmp_path / rows[1].log  # a crash or a full disk cut it short: half its bytes
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    changed = tmp_path / rows[2].log  # as long as before, one byte changed
    data = bytearray(changed.read_bytes())
    data[-2] = ord("0") if data[-2] != ord("0") else ord("1")
    changed.write_bytes(bytes(data))
    trained: list[str] = []
    run_remedies("quick", tmp_path, progress=lambda p: trained.append(p.run_id), **small)
    assert {t.split("/")[2] for t in trained} == {"clip-norm", "clip-value"}  # only those two
    after = _finished(tmp_path)
    assert after["none"] == before["none"]  # the whole one untouched: not trained again
    assert without_wall_time(tmp_path) == whole  # the same rows and records as before


def test_the_lock_file_goes_when_the_grid_ends(tmp_path):
    from gradguard.cli import main

    lock = tmp_path / ".gradguard.lock"
    run_remedies("quick", tmp_path, experiments=["divergence"], configs=["none"], steps=5)
    assert not lock.exists()
    # a grid killed with SIGKILL leaves its file behind: nobody holds it, the next grid runs
    lock.write_bytes(b"")
    args = ["remedies", "--experiments", "divergence", "--configs", "none,clip-norm"]
    args += ["--out", str(tmp_path / "cli"), "--no-progress", "--jobs", "1", "--train-steps", "5"]
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / ".gradguard.lock").write_bytes(b"")
    assert main(args) == 0
    assert not (tmp_path / "cli" / ".gradguard.lock").exists()
    # refused (another configuration): the refusing grid leaves no lock file either
    assert main([*args[:-1], "6"]) == 2
    assert not (tmp_path / "cli" / ".gradguard.lock").exists()
    # while one grid holds the folder, a second is refused and the holder's file stays
    specs = build_grid("quick", experiments=["divergence"], configs=["none"], steps=5)
    first = ResultsFolder(tmp_path, specs, source_hash())
    with pytest.raises(FileError, match="another `gradguard remedies` grid"):
        ResultsFolder(tmp_path, specs, source_hash())
    assert lock.exists()
    first.close()
    assert not lock.exists()
