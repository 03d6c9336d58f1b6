"""The event-loop runner: uvloop when installed, asyncio's loop otherwise."""

from __future__ import annotations

import asyncio

from pyquic.platform.event_loop import run, uvloop_available


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_returns_the_result_on_the_expected_loop() -> None:
    module = run(_loop_module())
    if uvloop_available():
        assert module.startswith("uvloop")
    else:
        assert module.startswith("asyncio")
