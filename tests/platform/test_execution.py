"""Execution: the clock, workers on a thread or an adopted loop, library reference counting."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pyquic.platform.datapath import detect_features
from pyquic.platform.execution import (
    Worker,
    library_close,
    library_open,
    library_reference_count,
    now_us,
)

_WAIT_S = 5.0


def test_now_us_is_monotonic_microseconds() -> None:
    first = now_us()
    time.sleep(0.002)
    second = now_us()
    assert 1_500 <= second - first < 1_000_000


def test_worker_thread_runs_posted_work_in_order() -> None:
    worker = Worker("test-worker")
    worker.start()
    try:
        seen: list[tuple[int, int]] = []
        done = threading.Event()
        for index in range(500):
            worker.post(lambda index=index: seen.append((index, threading.get_ident())))
        worker.post(done.set)
        assert done.wait(_WAIT_S)
        assert [index for index, _ in seen] == list(range(500))
        thread_ids = {ident for _, ident in seen}
        assert len(thread_ids) == 1 and threading.get_ident() not in thread_ids
        assert not worker.is_current()
    finally:
        worker.stop()
    assert not worker.running
    with pytest.raises(RuntimeError):
        worker.post(lambda: None)


def test_posts_from_many_threads_keep_each_producers_order() -> None:
    worker = Worker()
    worker.start()
    try:
        seen: list[tuple[int, int]] = []

        def produce(producer: int) -> None:
            for index in range(200):
                worker.post(lambda index=index: seen.append((producer, index)))

        producers = [threading.Thread(target=produce, args=(p,)) for p in range(4)]
        for thread in producers:
            thread.start()
        for thread in producers:
            thread.join()
        assert worker.submit(lambda: len(seen)).result(_WAIT_S) == 800
        for producer in range(4):
            assert [i for p, i in seen if p == producer] == list(range(200))
    finally:
        worker.stop()


def test_work_posted_from_the_worker_itself_runs_after_current_work() -> None:
    worker = Worker()
    worker.start()
    try:
        order: list[str] = []
        done = threading.Event()

        def inside() -> None:
            order.append("posted-inside")
            done.set()

        def first() -> None:
            worker.post(inside)
            order.append("first")

        def setup() -> None:  # both queued before either runs
            worker.post(first)
            worker.post(lambda: order.append("second"))

        worker.post(setup)
        assert done.wait(_WAIT_S)
        assert order == ["first", "second", "posted-inside"]
    finally:
        worker.stop()


def test_submit_returns_results_and_exceptions() -> None:
    worker = Worker()
    worker.start()
    try:
        assert worker.submit(lambda: threading.current_thread().name).result(_WAIT_S) == (
            "pyquic-worker"
        )

        def fail() -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            worker.submit(fail).result(_WAIT_S)
        inline = worker.submit(lambda: worker.submit(lambda: 42).done()).result(_WAIT_S)
        assert inline is True  # on the worker itself, submit ran inline
    finally:
        worker.stop()


def test_call_at_fires_at_the_deadline() -> None:
    worker = Worker()
    worker.start()
    try:
        fired: list[tuple[str, int]] = []
        done = threading.Event()
        delays_us = {"late": 30_000, "early": 10_000, "cancelled": 5_000}

        def schedule() -> None:
            start_us = now_us()
            for label, delay_us in delays_us.items():
                handle = worker.call_at_us(
                    start_us + delay_us, lambda label=label: fired.append((label, now_us()))
                )
                if label == "cancelled":
                    handle.cancel()
            worker.call_at_us(start_us + 40_000, done.set)
            fired.append(("start", start_us))

        worker.post(schedule)
        assert done.wait(_WAIT_S)
        labels = [label for label, _ in fired]
        assert labels == ["start", "early", "late"]
        start_us = fired[0][1]
        for label, at_us in fired[1:]:
            assert at_us - start_us >= delays_us[label] - 1_000  # loop clock resolution
        with pytest.raises(RuntimeError):
            worker.call_at_us(now_us(), lambda: None)  # not on the worker's thread
    finally:
        worker.stop()


def test_call_at_with_a_past_deadline_runs_soon() -> None:
    worker = Worker()
    worker.start()
    try:
        ran = threading.Event()
        worker.post(lambda: worker.call_at_us(now_us() - 1_000_000, ran.set))
        assert ran.wait(_WAIT_S)
    finally:
        worker.stop()


def test_adopted_loop_runs_posted_work_and_is_not_stopped() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        worker = Worker.adopt(loop)
        assert worker.is_current() and not worker.owns_thread
        order: list[str] = []
        finished = asyncio.Event()
        worker.post(lambda: order.append("local"))
        threading.Thread(target=lambda: worker.post(finished.set)).start()
        worker.call_at_us(now_us() + 2_000, lambda: order.append("timer"))
        await asyncio.wait_for(finished.wait(), _WAIT_S)
        await asyncio.sleep(0.01)
        worker.stop()
        assert not worker.running
        assert loop.is_running()  # the loop belongs to asyncio.run, not the worker
        return order

    assert asyncio.run(main()) == ["local", "timer"]


def test_adopt_needs_the_running_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError):
            Worker.adopt(loop)
    finally:
        loop.close()


def test_a_worker_starts_once() -> None:
    worker = Worker()
    worker.start()
    try:
        with pytest.raises(RuntimeError):
            worker.start()
    finally:
        worker.stop()
    worker.stop()  # idempotent
    with pytest.raises(RuntimeError):
        worker.start()


def test_stop_from_inside_the_worker() -> None:
    worker = Worker()
    worker.start()
    worker.post(worker.stop)
    deadline = time.monotonic() + _WAIT_S
    while worker.loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not worker.loop.is_running()
    assert not worker.running


def test_library_is_reference_counted() -> None:
    base = library_reference_count()
    first = library_open()
    second = library_open()
    assert library_reference_count() == base + 2
    assert first.state is second.state
    assert first.features == detect_features()
    assert first.state.processor_count >= 1
    worker = first.state.default_worker()
    assert worker.submit(lambda: 7).result(_WAIT_S) == 7
    assert second.state.default_worker() is worker
    first.close()
    first.close()  # a handle drops its reference once
    assert library_reference_count() == base + 1
    assert worker.running and not second.state.released
    second.close()
    assert library_reference_count() == base
    if base == 0:
        assert second.state.released and not worker.running
        with pytest.raises(RuntimeError):
            second.state.default_worker()


def test_library_context_manager_and_fresh_state_after_release() -> None:
    base = library_reference_count()
    with library_open() as handle:
        assert library_reference_count() == base + 1
        state = handle.state
    assert handle.closed and library_reference_count() == base
    with library_open() as again:
        assert (again.state is state) == (base > 0)  # the last close released the old state


def test_library_close_without_open_raises() -> None:
    base = library_reference_count()
    for _ in range(base):  # release references other tests may hold, then restore them
        library_close()
    try:
        with pytest.raises(RuntimeError):
            library_close()
    finally:
        for _ in range(base):
            library_open()


def test_library_open_is_thread_safe() -> None:
    base = library_reference_count()
    handles = []
    lock = threading.Lock()

    def opener() -> None:
        for _ in range(50):
            handle = library_open()
            with lock:
                handles.append(handle)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert library_reference_count() == base + 400
    assert len({id(h.state) for h in handles}) == 1
    for handle in handles:
        handle.close()
    assert library_reference_count() == base
