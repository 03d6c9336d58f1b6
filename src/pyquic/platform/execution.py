"""Execution: the clock, workers that each own an asyncio event loop, and library open/close.

MsQuic runs every operation of a connection serialized on one *worker*, and in user mode that
worker is an execution context on a per-partition platform thread that also drives the datapath's
event queue: one thread runs both UDP and QUIC (msquic-facts §4 "Workers").  pyquic's
:class:`Worker` is that thread: it owns one asyncio event loop, on which the datapath's reader
callbacks, the connections' operations and their timer wheel all run.  A worker either starts
its own thread (:meth:`Worker.start` / :meth:`Worker.stop`) or adopts a loop that is already
running, such as the application's (:meth:`Worker.adopt`), the way MsQuic's preview "custom
execution" lets an application own the event queue.

* :func:`now_us` is the one place the library reads a clock: ``time.monotonic_ns`` in
  microseconds.  The core is sans-I/O and receives ``now_us`` values; timers are deadlines on
  this clock, which :meth:`Worker.call_at_us` converts to the loop's own clock.
* :meth:`Worker.post` is the multi-producer queue into a worker: thread-safe, FIFO, and cheap from
  the worker's own thread (no self-pipe wakeup).  :meth:`Worker.submit` adds a future for callers
  that wait, and runs inline when already on the worker (MsQuic runs API calls made from a
  callback inline and queues calls from other threads).
* :func:`library_open` / :func:`library_close` are MsQuic's CxPlatSystemLoad + CxPlatInitialize
  and their inverses (``docs/Architecture.md`` "Platform Initialization"): reference counted;
  the first open detects the datapath features and creates the default state (the processor
  count and a default worker started on first use), the last close releases it.  The handle
  that :func:`library_open` returns is a context manager that closes it once.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TypeVar

from pyquic.platform.datapath import DatapathFeatures, detect_features

__all__ = [
    "LibraryHandle",
    "LibraryState",
    "Worker",
    "library_close",
    "library_open",
    "library_reference_count",
    "now_us",
]

T = TypeVar("T")

_STOP_TIMEOUT_S = 5.0


def now_us() -> int:
    """Microseconds on the monotonic clock: the library's only clock read."""
    return time.monotonic_ns() // 1_000


class Worker:
    """One asyncio event loop that runs posted work in order (see the module docstring)."""

    def __init__(self, name: str = "pyquic-worker") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self._stopped = False

    @classmethod
    def adopt(cls, loop: asyncio.AbstractEventLoop, *, name: str = "pyquic-worker") -> Worker:
        """A worker on ``loop``, which must be running in the calling thread.

        The worker never stops or closes an adopted loop; :meth:`stop` only detaches from it.
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            raise RuntimeError("Worker.adopt() must be called from inside the running loop")
        worker = cls(name)
        worker._loop = loop
        worker._thread_id = threading.get_ident()
        return worker

    def start(self) -> None:
        """Start the worker's own thread and event loop; returns once the loop runs."""
        if self._loop is not None or self._stopped:
            raise RuntimeError("a worker starts once")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(loop, ready), name=self._name)
        thread.daemon = True
        self._loop = loop
        self._thread = thread
        thread.start()
        ready.wait()

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._thread_id = threading.get_ident()
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """Stop the worker: its own loop stops after the work already posted; idempotent.

        Called from another thread it waits (up to ``timeout_s``) for the thread to end; called
        from the worker itself it returns at once and the loop stops after the current callback.
        """
        if self._stopped or self._loop is None:
            self._stopped = True
            return
        self._stopped = True
        thread = self._thread
        if thread is None:  # adopted: the loop belongs to someone else
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.get_ident() != self._thread_id:
            thread.join(timeout_s)

    # -- properties -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The worker's event loop (raises RuntimeError before start/adopt)."""
        if self._loop is None:
            raise RuntimeError("the worker has not been started")
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._stopped

    @property
    def owns_thread(self) -> bool:
        return self._thread is not None

    def is_current(self) -> bool:
        """True when called from the worker's thread."""
        return self._thread_id is not None and threading.get_ident() == self._thread_id

    # -- scheduling -----------------------------------------------------------------------------

    def _live_loop(self) -> asyncio.AbstractEventLoop:
        if self._stopped or self._loop is None:
            raise RuntimeError("the worker is not running")
        return self._loop

    def post(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` on the worker, after everything posted before it.  Thread-safe."""
        loop = self._live_loop()
        if self.is_current():
            loop.call_soon(fn)
        else:
            loop.call_soon_threadsafe(fn)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn()`` on the worker and return a future of its result.  Thread-safe.

        From the worker's own thread ``fn`` runs inline (waiting on the future there could only
        deadlock); from any other thread it is posted.
        """
        future: Future[T] = Future()
        if self.is_current() and not self._stopped:
            _run_into(future, fn)
        else:
            self.post(lambda: _run_into(future, fn))
        return future

    def call_at_us(self, deadline_us: int, fn: Callable[[], object]) -> asyncio.TimerHandle:
        """Run ``fn()`` on the worker at ``deadline_us`` (a :func:`now_us` time).

        Must be called on the worker's thread; cancel the returned handle to call it off.
        """
        loop = self._live_loop()
        if not self.is_current():
            raise RuntimeError("call_at_us() must be called on the worker's thread")
        delay_s = max(0, deadline_us - now_us()) / 1e6
        return loop.call_at(loop.time() + delay_s, fn)

    def __repr__(self) -> str:
        kind = "thread" if self._thread is not None else "adopted"
        state = "running" if self.running else "stopped"
        return f"<Worker {self._name!r} {kind} {state}>"


def _run_into(future: Future[T], fn: Callable[[], T]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


# -- library open / close -----------------------------------------------------------------------


def _processor_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class LibraryState:
    """The process-wide state created by the first :func:`library_open`."""

    def __init__(self, features: DatapathFeatures, processor_count: int) -> None:
        self.features = features
        self.processor_count = processor_count
        self._lock = threading.Lock()
        self._default_worker: Worker | None = None
        self._released = False

    def default_worker(self) -> Worker:
        """The shared worker thread, started on first use and stopped by the last close."""
        with self._lock:
            if self._released:
                raise RuntimeError("the library has been closed")
            if self._default_worker is None:
                worker = Worker("pyquic-default-worker")
                worker.start()
                self._default_worker = worker
            return self._default_worker

    @property
    def released(self) -> bool:
        return self._released

    def _release(self) -> None:
        with self._lock:
            self._released = True
            worker, self._default_worker = self._default_worker, None
        if worker is not None:
            worker.stop()


class LibraryHandle:
    """One reference to the open library: :meth:`close` (or leaving ``with``) drops it once."""

    def __init__(self, state: LibraryState) -> None:
        self._state = state
        self._closed = False

    @property
    def state(self) -> LibraryState:
        return self._state

    @property
    def features(self) -> DatapathFeatures:
        return self._state.features

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            library_close()

    def __enter__(self) -> LibraryHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Library:
    """The reference count and the state it guards (one instance per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.references = 0
        self.state: LibraryState | None = None


_LIBRARY = _Library()


def library_open() -> LibraryHandle:
    """Take a reference to the library, initializing it on the first one.  Thread-safe."""
    with _LIBRARY.lock:
        if _LIBRARY.state is None:
            _LIBRARY.state = LibraryState(detect_features(), _processor_count())
        _LIBRARY.references += 1
        return LibraryHandle(_LIBRARY.state)


def library_close() -> None:
    """Drop a reference; the last one releases the state.  Raises if the library is not open."""
    with _LIBRARY.lock:
        if _LIBRARY.references == 0 or _LIBRARY.state is None:
            raise RuntimeError("library_close() without a matching library_open()")
        _LIBRARY.references -= 1
        state = None
        if _LIBRARY.references == 0:
            state, _LIBRARY.state = _LIBRARY.state, None
    if state is not None:
        state._release()


def library_reference_count() -> int:
    """How many :func:`library_open` references are outstanding."""
    with _LIBRARY.lock:
        return _LIBRARY.references
