"""Where a grid's runs train: a local process pool, or a cluster engine the user already runs.

$ gradguard remedies --preset full --out runs/ --jobs 2
$ gradguard remedies --preset le2015-adding --out runs/ --executor dask://scheduler:8786
$ gradguard remedies --preset copy-memory --out runs/ --executor ray

Every backend is a :class:`concurrent.futures.Executor`, and the grid submits
the same pure function to each (:func:`gradguard.experiments._runner.run_task`):

- ``local`` — :class:`concurrent.futures.ProcessPoolExecutor`, ``jobs`` fresh
  interpreters (``spawn``), each training one run at a time;
- ``dask`` — a ``dask.distributed`` cluster: ``dask://HOST:PORT`` (the
  scheduler's address) or a ``distributed.Client`` passed from Python; its
  :meth:`~distributed.Client.get_executor` is the executor (the ``[dask]`` extra);
- ``ray`` — a Ray cluster: ``ray`` (a local runtime, or the cluster that
  ``RAY_ADDRESS`` names) or ``ray://ADDRESS`` (Ray Client); each run is one Ray
  task of one CPU, its ``ObjectRef.future()`` the future (the ``[ray]`` extra);
- any other :class:`~concurrent.futures.Executor` passed from Python.

Scheduling, placement, retrying a task whose worker died and monitoring are the
engine's. The grid only keeps as many runs in flight as the engine has slots,
so an interruption loses at most those. Dask and Ray are imported only when a
grid asks for them.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradguard._atomic import check_writable
from gradguard.errors import InputError

__all__ = ["ExecutorUnavailable"]

#: How long to try reaching a Dask scheduler before saying it cannot be reached.
DASK_CONNECT_TIMEOUT = "10s"


class ExecutorUnavailable(RuntimeError):
    """The cluster named could not be reached; ``engine``, ``address`` and ``reason`` say which."""

    def __init__(self, engine: str, address: str, reason: BaseException) -> None:
        super().__init__(f"cannot reach the {engine} cluster at {address}: {reason}")
        self.engine = engine
        self.address = address
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor's arguments (``args`` holds only the message)."""
        return (type(self), (self.engine, self.address, self.reason), self.__dict__)


def parse_executor(text: str) -> tuple[str, str | None]:
    """Split ``--executor`` into ``(engine, address)``: ``("dask", "tcp://h:8786")``.

    Raises:
      InputError: anything but ``dask://HOST:PORT``, ``ray`` or ``ray://ADDRESS``.
    """
    if not isinstance(text, str):
        raise InputError("executor", text, "executor")
    if text == "ray":
        return "ray", None
    if text.startswith("ray://") and len(text) > len("ray://"):
        return "ray", text
    if text.startswith("dask://"):
        host, _, port = text[len("dask://") :].rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return "dask", f"tcp://{host}:{port}"
    raise InputError("executor", text, "executor")


@dataclass
class Backend:
    """An executor and what the grid needs to know about it.

    Attributes:
      name: ``local``, ``dask``, ``ray`` or ``executor`` (one passed from Python).
      executor: where :meth:`~concurrent.futures.Executor.submit` sends a run.
      slots: runs the engine trains at once; the grid keeps no more in flight.
      close: release what this backend opened (never a client or runtime the
        caller owns).
      cancel: stop the runs in flight (on Ctrl-C).
      restart: a fresh executor after a worker died (the local pool only: a
        cluster engine reschedules a lost worker's task itself).
    """

    name: str
    executor: cf.Executor
    slots: int
    close: Callable[[], None]
    cancel: Callable[[list[cf.Future[Any]]], None]
    restart: Callable[[], cf.Executor] | None = None


def _ignore_sigint() -> None:
    # Ctrl-C reaches every process of the terminal's group: the grid (the parent)
    # handles it and stops the workers; a worker must not die mid-write on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Start worker processes deaf to Ctrl-C, and hold this process's own until they have started.

    A spawned worker imports gradguard and torch for seconds before the pool's initializer
    (:func:`_ignore_sigint`) runs: a Ctrl-C to the terminal's process group in that time
    printed the worker's ``KeyboardInterrupt`` traceback. A process inherits the signal
    mask of the thread that starts it, so SIGINT is blocked here while workers start (it
    stays blocked in them: the grid stops them itself). And a ``KeyboardInterrupt`` raised
    in this process between a worker's start and the pipe write that feeds it left that
    worker reading an empty pipe (``EOFError`` traceback): a Ctrl-C arriving meanwhile is
    held, and raised once the start is done. Without ``pthread_sigmask`` (Windows), nothing
    is held.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held: list[int] = []
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if previous is not None:  # None: a handler set outside Python, left alone
            signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if previous is not None:
            # signal.signal first runs the handler of a Ctrl-C that came meanwhile (held)
            signal.signal(signal.SIGINT, previous)
            if held:
                signal.raise_signal(signal.SIGINT)  # as if it came now


class _Pool(cf.ProcessPoolExecutor):
    """A process pool whose workers start deaf to Ctrl-C (:func:`_ctrl_c_held`).

    Workers start in :meth:`submit` (on demand, with ``spawn``).
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        with _ctrl_c_held():
            return super().submit(fn, *args, **kwargs)


def _local(jobs: int) -> Backend:
    # spawn: a fresh interpreter per worker (forking a process that runs torch's thread
    # pools is unsafe), the same on Linux, macOS and Windows.
    ctx = multiprocessing.get_context("spawn")
    state: dict[str, cf.ProcessPoolExecutor] = {}

    def new() -> cf.ProcessPoolExecutor:
        state["pool"] = _Pool(jobs, mp_context=ctx, initializer=_ignore_sigint)
        return state["pool"]

    def kill() -> None:
        pool = state["pool"]
        # ProcessPoolExecutor has no public way to stop a running task before Python
        # 3.14 (terminate_workers): end its processes so no run outlives the grid.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=10)

    def cancel(futures: list[cf.Future[Any]]) -> None:
        for f in futures:
            f.cancel()
        kill()

    def restart() -> cf.Executor:
        state["pool"].shutdown(wait=False, cancel_futures=True)
        return new()

    return Backend(
        "local",
        new(),
        jobs,
        close=lambda: state["pool"].shutdown(wait=True),
        cancel=cancel,
        restart=restart,
    )


def _dask(client: Any, own: bool) -> Backend:
    executor = client.get_executor(pure=False)
    slots = max(1, sum(client.nthreads().values()))

    def cancel(futures: list[cf.Future[Any]]) -> None:
        executor.shutdown(wait=False)  # cancels every task this executor submitted

    def close() -> None:
        executor.shutdown(wait=False)
        if own:
            client.close()

    return Backend("dask", executor, slots, close=close, cancel=cancel)


class RayExecutor(cf.Executor):
    """Submit each call as a Ray task of one CPU; its future is ``ObjectRef.future()``."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._remote: dict[Callable[..., Any], Any] = {}
        self._refs: dict[cf.Future[Any], Any] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(num_cpus=1)(fn)
        ref = self._remote[fn].remote(*args, **kwargs)
        future: cf.Future[Any] = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda f: self._refs.pop(f, None))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for ref in list(self._refs.values()):
                self._ray.cancel(ref, force=True)
        elif wait:
            cf.wait(list(self._refs))


@contextlib.contextmanager
def _quiet_ray() -> Iterator[None]:
    """Ray's INFO lines and warnings muted while it connects (its errors still raise and log).

    A failed ``ray://`` connection otherwise prints Ray's kwargs note and a multi-line
    ``UserWarning`` before gradguard's one-line error.
    """
    # ray.init may set its loggers' levels itself: each one that speaks here, by name
    logs = [logging.getLogger(n) for n in ("ray", "ray.client_builder", "ray.util.client")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(logs, levels, strict=True):
            log.setLevel(level)


def _ray_running(ray: Any) -> str:
    """Where this process's Ray runtime is: ``ray://HOST:PORT`` (Ray Client) or its GCS address."""
    from ray.util.client import ray as client

    if client.is_connected():
        where = getattr(client.client_worker, "_conn_str", "")  # Ray keeps no public name
        return f"ray://{where}" if where else "ray:// (Ray Client)"
    return str(ray.get_runtime_context().gcs_address)


def _ray(address: str | None) -> Backend:
    import ray

    own = not ray.is_initialized()
    if not own and address is not None:
        # ray.init() would be skipped: the runs would go to the runtime already here, not
        # to the cluster asked for
        running = _ray_running(ray)
        if running != address:
            raise InputError("executor", address, "ray_other_runtime", running=running)
    if own:
        with _quiet_ray():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    executor = RayExecutor(ray)
    slots = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def close() -> None:
        executor.shutdown(wait=False, cancel_futures=True)
        if own:
            ray.shutdown()

    return Backend(
        "ray",
        executor,
        slots,
        close=close,
        cancel=lambda futures: executor.shutdown(wait=False, cancel_futures=True),
    )


def open_backend(executor: object, jobs: int) -> Backend:
    """Open the backend a grid runs on.

    Args:
      executor: ``None`` (the local pool of ``jobs`` processes), ``dask://HOST:PORT``,
        ``ray``, ``ray://ADDRESS``, a ``distributed.Client``, or any
        :class:`concurrent.futures.Executor` (its ``_max_workers`` slots, else the
        cores here).
      jobs: local worker processes (ignored for the other backends).

    Raises:
      InputError: ``executor`` is none of the above, or is ``ray://ADDRESS`` while this
        process already runs a Ray runtime elsewhere (``ray.init()`` was called).
      ExecutorUnavailable: the cluster named cannot be reached.
      ImportError: the engine's extra is not installed.
    """
    if executor is None:
        return _local(jobs)
    if isinstance(executor, str):
        engine, address = parse_executor(executor)
        try:
            if engine == "ray":
                return _ray(address)
            from distributed import Client

            return _dask(Client(address, timeout=DASK_CONNECT_TIMEOUT), own=True)
        except (OSError, TimeoutError, RuntimeError, ConnectionError) as e:
            raise ExecutorUnavailable(engine, address or "RAY_ADDRESS / local", e) from None
    if type(executor).__module__.startswith("distributed") and hasattr(executor, "get_executor"):
        return _dask(executor, own=False)
    if isinstance(executor, cf.Executor):
        slots = getattr(executor, "_max_workers", None) or os.cpu_count() or 1

        def cancel(futures: list[cf.Future[Any]]) -> None:
            for f in futures:
                f.cancel()

        return Backend("executor", executor, int(slots), close=lambda: None, cancel=cancel)
    raise InputError("executor", repr(executor), "executor")


#: Most worker processes accepted (a typo must not fork a thousand interpreters).
MAX_JOBS = 256


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
