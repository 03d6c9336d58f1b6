"""What every API object shares: context, callback handler, its worker, and call marshalling.

MsQuic gives every handle a callback and an application context (``SetCallbackHandler``,
``SetContext``, ``GetContext``; msquic-facts §1.1) and runs all work of a connection and its
streams serialized on one worker: API calls made from a callback run inline, calls from other
threads are queued to the worker and blocking ones wait (msquic-facts §4 "Operations").
:class:`Handle` does the same with a :class:`~pyquic.platform.execution.Worker`:
:meth:`Handle._call` runs a function inline on the worker's thread and otherwise submits it and
waits for its result, so user code may call the API from any thread while every callback runs on
the worker.  :meth:`Handle._indicate` invokes the callback: ``None`` means SUCCESS, and an
exception raised by a handler is logged and becomes ``Status.INTERNAL_ERROR`` (a C handler
cannot throw; a Python one must not take the worker down).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pyquic.api.status import QuicStatusError, Status
from pyquic.platform.execution import Worker

__all__ = ["Callback", "Handle"]

T = TypeVar("T")
E = TypeVar("E")
Callback = Callable[[Any, Any, E], "int | None"]
"""``handler(handle, context, event) -> Status | None`` (MsQuic's ``QUIC_*_CALLBACK``)."""

_LOG = logging.getLogger("pyquic.api")
_CALL_TIMEOUT_S = 30.0  # an API call queued to a worker that never runs it is a bug: fail loudly


class Handle(Generic[E]):
    """The part of a listener, connection or stream that MsQuic's handle functions act on."""

    _kind = "handle"

    def __init__(self, worker: Worker, callback: Callback[E] | None, context: object) -> None:
        self._worker = worker
        self._callback = callback
        self._context = context
        self._closed = False

    # -- MsQuic's handle functions ---------------------------------------------------------------

    def set_context(self, context: object) -> None:
        """``SetContext``: the value passed to the handler as its second argument."""
        self._context = context

    def get_context(self) -> object:
        """``GetContext``."""
        return self._context

    def set_callback_handler(self, handler: Callback[E], context: object = None) -> None:
        """``SetCallbackHandler``: replace the handler and the context together."""
        self._callback = handler
        self._context = context

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (the handle must not be used any more)."""
        return self._closed

    # -- machinery -------------------------------------------------------------------------------

    @property
    def worker(self) -> Worker:
        return self._worker

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker: inline when already there, else queued and awaited."""
        if self._worker.is_current():
            return fn()
        try:
            future = self._worker.submit(fn)
        except RuntimeError as exc:
            raise QuicStatusError(
                Status.INVALID_STATE, f"the {self._kind}'s worker stopped"
            ) from exc
        return future.result(_CALL_TIMEOUT_S)

    def _post(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the worker after the current work (never inline): async completions."""
        if self._worker.running:
            self._worker.post(fn)

    def _check_open(self) -> None:
        if self._closed:
            raise QuicStatusError(Status.INVALID_STATE, f"the {self._kind} handle is closed")

    def _indicate(self, event: E) -> Status:
        """Deliver ``event`` to the handler (on the worker) and return its status."""
        callback = self._callback
        if callback is None:
            return Status.SUCCESS
        try:
            result = callback(self, self._context, event)
        except Exception:
            _LOG.exception("%s handler raised on %s", self._kind, type(event).__name__)
            return Status.INTERNAL_ERROR
        if result is None:
            return Status.SUCCESS
        try:
            return Status(int(result))
        except ValueError:
            return Status.INTERNAL_ERROR if int(result) > 0 else Status.SUCCESS
