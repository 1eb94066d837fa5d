"""Sympy work in worker processes, under a deadline that holds in any thread.

math-verify bounds its checks with SIGALRM, which only works in the main thread of the main
interpreter. Here the sympy part of a check runs in a worker process forked by a fork server
(`server`, which imported sympy once and keeps ANTLR's parser cache warm). The caller sends one
JSON line and waits on the socket with ``select`` until the deadline; past it, it kills the
worker (SIGKILL) and reports a timeout, and the next request gets a fresh fork within
milliseconds. Nothing here uses signals, so any thread, asyncio loop or Ray actor can call it.

Workers forked before the fork server finished parsing its warm-up corpus start with a colder
parser cache; when the fork server reports progress since a worker was forked, the worker is
replaced by a fresh fork when it is next released (the check is a non-blocking read of the
control socket), so that workers follow the warm-up.

The pool is per process (a forked child builds its own and never touches its parent's workers)
and shared by every `MathVerifier` in it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

STARTUP_TIMEOUT_S = 60.0


class WorkerTimeout(Exception):
    """The deadline passed before the answer came (the worker was killed)."""


class WorkerCrash(Exception):
    """A worker or the fork server died or answered garbage (a judge failure, not a verdict)."""


def _readline(sock: socket.socket, buf: bytearray, deadline: float) -> bytes:
    """One newline-terminated message from a stream socket, or WorkerTimeout at ``deadline``."""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
            raise WorkerTimeout("deadline passed")
        try:
            chunk = sock.recv(1 << 16)
        except OSError as exc:  # connection reset: the worker died
            raise WorkerCrash(f"worker exited ({exc})") from exc
        if not chunk:
            raise WorkerCrash("worker exited")
        buf.extend(chunk)
    end = buf.index(b"\n")
    line = bytes(buf[:end])
    del buf[:end + 1]
    return line


class ForkServer:
    """The zygote process and its control socket (one request at a time)."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rlfb.verifiers.math.server", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        child.close()
        self.sock = parent
        self.ready = False
        self.corpus_left: int | None = None  # warm-up items the zygote had left, last we heard
        self._seq = 0
        self._lock = threading.Lock()

    def request(self, op: str, deadline: float, fds: tuple[int, ...] = ()) -> dict[str, Any]:
        """Send ``op`` (with ``fds``) and wait for its reply; stale replies are dropped. Another
        thread's request in flight is waited for only until ``deadline``."""
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise WorkerTimeout("the fork server was busy until the deadline")
        try:
            if not self.ready:
                self._expect(lambda m: "ready" in m or "failed" in m, deadline, startup=True)
            self._seq += 1
            seq = self._seq
            socket.send_fds(self.sock, [json.dumps({"op": op, "seq": seq}).encode()], list(fds))
            return self._expect(lambda m: m.get("seq") == seq, deadline)
        finally:
            self._lock.release()

    def _expect(self, match, deadline: float, startup: bool = False) -> dict[str, Any]:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                raise WorkerTimeout("the fork server did not answer before the deadline")
            data = self.sock.recv(1 << 16)
            if not data:
                raise WorkerCrash(f"the fork server exited (status {self.proc.poll()})")
            message = json.loads(data)
            if "remaining" in message:
                self.corpus_left = int(message["remaining"])
            if match(message):
                if "failed" in message:
                    raise WorkerCrash(f"the fork server cannot start: {message['failed']}")
                if startup:
                    self.ready = True
                return message
            if "pid" in message:  # a worker forked for a request that already timed out
                _kill(message["pid"])

    def poll_corpus_left(self) -> int | None:
        """The zygote's warm-up items left to parse, from the progress it sent, read without
        waiting (and without waiting for another thread's request in flight); None if unknown."""
        if self.corpus_left == 0 or not self._lock.acquire(blocking=False):
            return self.corpus_left
        try:
            while select.select([self.sock], [], [], 0)[0]:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                message = json.loads(data)
                if "remaining" in message:
                    self.corpus_left = int(message["remaining"])
                if "pid" in message and "seq" in message:  # forked for a request that timed out
                    _kill(message["pid"])
        except (OSError, ValueError):
            pass  # a dead zygote shows at the next request
        finally:
            self._lock.release()
        return self.corpus_left

    def alive(self) -> bool:
        """False once the zygote has exited."""
        return self.proc.poll() is None

    def close(self) -> None:
        """Close the control socket (the zygote exits) and reap it."""
        self.sock.close()
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


class Worker:
    """One forked worker: its pid and its end of the request socket."""

    def __init__(self, server: ForkServer, deadline: float) -> None:
        mine, theirs = socket.socketpair()
        try:
            reply = server.request("spawn", deadline, (theirs.fileno(),))
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        if "pid" not in reply:
            mine.close()
            raise WorkerCrash(f"the fork server refused: {reply}")
        self.pid = int(reply["pid"])
        self.corpus_left = int(reply.get("remaining", 0))  # the zygote's warm-up left at fork
        self.sock = mine
        self._buf = bytearray()

    def call(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """One request; the reply, WorkerTimeout at ``deadline``, or WorkerCrash."""
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as exc:
            raise WorkerCrash(f"worker socket closed: {exc}") from exc
        line = _readline(self.sock, self._buf, deadline)
        try:
            return json.loads(line)
        except ValueError as exc:
            raise WorkerCrash(f"unreadable worker reply {line[:80]!r}") from exc

    def alive(self) -> bool:
        """False when the process is gone (killed while idle, e.g. by the OOM killer)."""
        try:
            os.kill(self.pid, 0)
            return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the worker (the fork server reaps it) and close the socket."""
        _kill(self.pid)
        self.sock.close()


class WorkerPool:
    """Up to ``max_workers`` workers shared by the threads of one process."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, max_workers)
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._busy: set[int] = set()
        self._count = 0
        self._server: ForkServer | None = None
        self.timeouts = 0
        self.crashes = 0
        self.refreshed = 0

    def call(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Run one request on a free worker before ``deadline``."""
        worker = self._acquire(deadline)
        with self._cond:
            self._busy.add(worker.pid)
        try:
            reply = worker.call(message, deadline)
        except WorkerTimeout:
            self.timeouts += 1
            self._discard(worker)
            raise
        except WorkerCrash:
            self.crashes += 1
            self._discard(worker)
            raise
        except BaseException:  # never lose a worker: an interrupted call leaves it unusable
            self._discard(worker)
            raise
        self._release(worker)
        return reply

    def warm(self, count: int, full: bool = True, wait_s: float = STARTUP_TIMEOUT_S,
             corpus_wait_s: float = 300.0) -> None:
        """Make ``count`` ready workers; with ``full``, first wait (up to ``corpus_wait_s``)
        until the fork server has parsed its warm-up corpus, so that they start warm."""
        self.ensure_capacity(count)
        corpus_deadline = time.monotonic() + corpus_wait_s
        while full and time.monotonic() < corpus_deadline:
            step = time.monotonic() + wait_s
            if not self.server(step).request("status", step).get("remaining", 0):
                break
            time.sleep(0.1)
        deadline = time.monotonic() + wait_s
        taken = []
        try:
            for _ in range(count):
                taken.append(self._acquire(deadline))
        finally:
            for worker in taken:
                self._release(worker)

    def pids(self) -> tuple[list[int], list[int]]:
        """Process ids of the idle and of the busy workers (diagnostics)."""
        with self._cond:
            idle = [w.pid for w in self._idle]
            return idle, [pid for pid in self._busy if pid not in idle]

    def ensure_capacity(self, count: int) -> None:
        """Allow at least ``count`` concurrent workers."""
        with self._cond:
            self.max_workers = max(self.max_workers, count)
            self._cond.notify_all()

    def server(self, deadline: float) -> ForkServer:
        """The fork server, started (again) when needed."""
        with self._cond:
            if self._server is None or not self._server.alive():
                self._server = ForkServer()
            return self._server

    def close(self) -> None:
        """Kill the idle workers and stop the fork server (not in a forked child)."""
        if self.pid != os.getpid():
            return
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            server, self._server = self._server, None
        for worker in idle:
            worker.kill()
        if server is not None:
            server.close()

    def _acquire(self, deadline: float) -> Worker:
        with self._cond:
            while True:
                while not self._idle and self._count >= self.max_workers:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise WorkerTimeout("no free worker before the deadline")
                    self._cond.wait(remaining)
                if not self._idle:
                    break
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.sock.close()  # died while idle: forget it, take or start another
                self._count -= 1
            self._count += 1
        try:
            return Worker(self.server(deadline), deadline)
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise

    def _release(self, worker: Worker) -> None:
        server = self._server
        if worker.corpus_left and server is not None:
            left = server.poll_corpus_left()
            if left is not None and left < worker.corpus_left:
                self.refreshed += 1  # a fresh fork inherits the warmer parser cache
                self._discard(worker)
                return
        with self._cond:
            self._busy.discard(worker.pid)
            self._idle.append(worker)
            self._cond.notify()

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        with self._cond:
            self._busy.discard(worker.pid)
            self._count -= 1
            self._cond.notify()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> WorkerPool:
    """This process's pool (a forked child gets a new one)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            import atexit

            _POOL = WorkerPool(max(4, 2 * (os.cpu_count() or 1)))  # slow checks must not starve
            atexit.register(_POOL.close)
        return _POOL
