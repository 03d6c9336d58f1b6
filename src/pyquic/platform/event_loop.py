"""Running a coroutine on the fastest event loop available.

uvloop is used when it is installed (a drop-in, faster loop on Linux and macOS) and never required:
without it, asyncio's default loop runs.  The datapath only needs ``add_reader``/``add_writer``,
which both loops provide.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's loop when uvloop is installed."""
    if uvloop_available():
        uvloop = importlib.import_module("uvloop")
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        return runner.run(main)
