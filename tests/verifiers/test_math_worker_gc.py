"""The math verifier's workers: garbage collection between requests, and cold workers replaced
by warm forks once the fork server has parsed its warm-up corpus."""

from __future__ import annotations

import gc
import socket
import time
import weakref

import pytest

from rlfb.verifiers.math.server import DEFER_LIMIT, collect_between_requests
from rlfb.verifiers.math.worker import WorkerPool


class _Node:
    """A reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def manual_gc():
    """Automatic collection off, as in a worker; restored afterwards."""
    was = gc.isenabled()
    gc.disable()
    gc.collect()
    yield
    if was:
        gc.enable()


def _cyclic_garbage(count: int) -> weakref.ref:
    first = _Node()
    probe = weakref.ref(first)
    del first
    for _ in range(count):
        _Node()
    return probe


def test_due_collection_runs_between_requests(manual_gc):
    mine, theirs = socket.socketpair()
    with mine, theirs:
        probe = _cyclic_garbage(gc.get_threshold()[0] + 10)
        assert probe() is not None  # automatic collection is off: the cycle is still there
        collect_between_requests(theirs)
        assert probe() is None
        assert gc.get_count()[0] < gc.get_threshold()[0]


def test_nothing_runs_before_a_collection_is_due(manual_gc):
    mine, theirs = socket.socketpair()
    with mine, theirs:
        probe = _cyclic_garbage(5)
        collect_between_requests(theirs)
        assert probe() is not None


def test_a_waiting_request_is_served_first_up_to_the_limit(manual_gc):
    mine, theirs = socket.socketpair()
    with mine, theirs:
        mine.sendall(b'{"op": "ping"}\n')  # the next request is already there
        probe = _cyclic_garbage(gc.get_threshold()[0] + 10)
        collect_between_requests(theirs)
        assert probe() is not None  # put off
        _cyclic_garbage(DEFER_LIMIT * gc.get_threshold()[0])
        collect_between_requests(theirs)
        assert probe() is None  # too much garbage waited: collected before the request


def test_workers_freeze_what_they_inherit_and_collect_between_requests():
    pool = WorkerPool(1)
    try:
        pool.warm(1, full=False)
        info = pool.call({"op": "ping"}, time.monotonic() + 30)["info"]
        assert info["gc_enabled"] is False
        assert info["gc_frozen"] > 10_000  # sympy, latex2sympy and the parser cache
    finally:
        pool.close()


def test_a_worker_forked_cold_is_replaced_once_the_fork_server_is_warm():
    pool = WorkerPool(1)
    try:
        pool.warm(1, full=False)  # forked before the warm-up corpus is parsed
        cold = pool.call({"op": "ping"}, time.monotonic() + 30)["info"]["pid"]
        pool.warm(1, full=True)  # waits for the corpus, then takes and releases the worker
        assert pool.refreshed >= 1  # the worker forked colder was not put back
        warm = pool.call({"op": "ping"}, time.monotonic() + 30)["info"]["pid"]
        assert warm != cold
        refreshed = pool.refreshed
        assert pool.call({"op": "ping"}, time.monotonic() + 30)["info"]["pid"] == warm
        assert pool.refreshed == refreshed  # a worker forked warm is kept
    finally:
        pool.close()
