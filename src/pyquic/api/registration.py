"""Registration: the application's execution context, owning its worker threads.

MsQuic (``docs/api/RegistrationOpen.md``, ``RegistrationClose.md``, ``RegistrationShutdown.md``,
``docs/Execution.md``; msquic-facts §1.1, §4): ``RegistrationOpen({AppName, ExecutionProfile})``
opens the library (ref-counted ``MsQuicOpen2`` / ``MsQuicClose``) and gets workers on which every
object under the registration runs; ``RegistrationShutdown`` shuts down all its connections and
``RegistrationClose`` waits until its objects are closed.

Design: a registration takes a library reference (:func:`~pyquic.platform.execution.
library_open`) and starts ``worker_count`` :class:`~pyquic.platform.execution.Worker` threads
(one for the SCAVENGER profile, as MsQuic gives it one).  Listeners and client connections are
spread over the workers round-robin; a server connection runs on its listener's worker, a stream
on its connection's.  All callbacks of one object (and of a connection's streams) therefore run
on one thread, serialized.  ``close()`` closes whatever the application left open (silently, as
``ConnectionClose`` does) instead of blocking forever, stops the workers and drops the library
reference; it must not be called from one of the registration's own callbacks.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from pyquic.api.flags import ConnectionShutdownFlags, ExecutionProfile
from pyquic.api.status import QuicStatusError, Status
from pyquic.core.settings import Settings
from pyquic.platform.execution import Worker, library_open

if TYPE_CHECKING:
    from pyquic.api.connection import Connection

__all__ = ["Registration"]


class _Child(Protocol):
    def close(self) -> None: ...


class Registration:
    """``RegistrationOpen``; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        app_name: str = "pyquic",
        execution_profile: ExecutionProfile = ExecutionProfile.LOW_LATENCY,
        *,
        worker_count: int = 1,
    ) -> None:
        if worker_count < 1:
            raise QuicStatusError(Status.INVALID_PARAMETER, "worker_count must be at least 1")
        self.app_name = app_name
        self.execution_profile = ExecutionProfile(execution_profile)
        if self.execution_profile is ExecutionProfile.SCAVENGER:
            worker_count = 1
        self._library = library_open()
        self._workers = [Worker(f"pyquic-{app_name}-{index}") for index in range(worker_count)]
        for worker in self._workers:
            worker.start()
        self._lock = threading.Lock()
        self._round_robin = itertools.cycle(self._workers)
        self._children: dict[object, None] = {}  # listeners and connections, in creation order
        self._tasks: set[asyncio.Task[None]] = set()
        self._latest_server_settings: Settings | None = None
        self._closed = False

    # -- MsQuic's functions ----------------------------------------------------------------------

    def shutdown(
        self, flags: ConnectionShutdownFlags = ConnectionShutdownFlags.NONE, error_code: int = 0
    ) -> None:
        """``RegistrationShutdown``: shut down every connection (asynchronously, like MsQuic)."""
        self._check_open()
        for connection in self.connections:
            worker = connection.worker

            def shut(connection: Connection = connection) -> None:
                if not connection.closed:
                    connection._shutdown_now(ConnectionShutdownFlags(flags), error_code)

            if worker.running:
                worker.post(shut)

    def close(self) -> None:
        """``RegistrationClose``: close the children still open, stop the workers, and drop the
        library reference (the last one releases the library)."""
        if self._closed:
            return
        if any(worker.is_current() for worker in self._workers):
            raise QuicStatusError(
                Status.INVALID_STATE, "close() from the registration's own callback would deadlock"
            )
        with self._lock:
            children = list(self._children)
        for child in reversed(children):
            close = getattr(child, "close", None)
            if close is not None:
                close()
        self._closed = True
        for worker in self._workers:
            worker.stop()
        self._library.close()

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- what the objects under it use -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def workers(self) -> tuple[Worker, ...]:
        return tuple(self._workers)

    @property
    def connections(self) -> list[Connection]:
        from pyquic.api.connection import Connection

        with self._lock:
            return [child for child in self._children if isinstance(child, Connection)]

    def _check_open(self) -> None:
        if self._closed:
            raise QuicStatusError(Status.INVALID_STATE, "the registration is closed")

    def _next_worker(self) -> Worker:
        with self._lock:
            return next(self._round_robin)

    def _register(self, child: _Child) -> None:
        with self._lock:
            self._children[child] = None

    def _unregister(self, child: _Child) -> None:
        with self._lock:
            self._children.pop(child, None)

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold a strong reference to a worker task until it ends."""
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _note_server_settings(self, settings: Settings) -> None:
        """A server Configuration loaded its credential: listeners started later use these."""
        self._latest_server_settings = settings

    def _server_settings(self) -> Settings:
        latest = self._latest_server_settings
        return latest if latest is not None else Settings()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._workers)} worker(s)"
        return f"<Registration {self.app_name!r} {self.execution_profile.name} {state}>"
