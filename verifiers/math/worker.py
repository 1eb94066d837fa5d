"""Sympy work in persistent worker processes, under a deadline that holds in any thread.

math-verify bounds its checks with SIGALRM, which only works in the main thread of the main
interpreter. Here the sympy part of a check runs in a separate process (``python -m
rlfb.verifiers.math.worker``, which imports sympy once and then serves requests). The caller writes
one JSON line and waits on the pipe with ``select`` until the deadline; on overrun it kills the
worker (SIGKILL), starts a replacement in the background and reports a timeout. Nothing here
uses signals, so any thread, asyncio loop, forked process or Ray actor can call it.

The pool is per process (a forked child builds its own) and shared by every `MathVerifier` in
it. Each worker caps its address space at `MEMORY_LIMIT_MB` so a runaway expression fails with
MemoryError instead of exhausting the machine.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

MEMORY_LIMIT_MB = 2048
STARTUP_TIMEOUT_S = 60.0


class WorkerTimeout(Exception):
    """The deadline passed before the worker answered (the worker was killed)."""


class WorkerCrash(Exception):
    """The worker died or answered garbage (a judge failure, not a verdict)."""


class Worker:
    """One worker process and its pipe."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rlfb.verifiers.math.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True, env=env)
        self.ready = False
        self._buf = b""

    def call(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request; the reply, or WorkerTimeout at ``deadline``."""
        if not self.ready:
            self.wait_ready(deadline)
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerCrash(f"worker pipe closed: {exc}") from exc
        line = self._readline(deadline)
        try:
            return json.loads(line)
        except ValueError as exc:
            raise WorkerCrash(f"unreadable worker reply {line[:80]!r}") from exc

    def wait_ready(self, deadline: float) -> None:
        """Block until the worker has imported sympy (WorkerTimeout at ``deadline``)."""
        line = self._readline(deadline)
        if not line.startswith(b'{"ready"'):
            raise WorkerCrash(f"worker failed to start: {line[:200]!r}")
        self.ready = True

    def _readline(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("deadline passed")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                raise WorkerTimeout("deadline passed")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = self.proc.poll()
                raise WorkerCrash(f"worker exited (status {code})")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def kill(self) -> None:
        """SIGKILL the process and reap it (in the background if it is slow to go)."""
        try:
            self.proc.kill()
        except OSError:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            threading.Thread(target=self.proc.wait, daemon=True).start()


class WorkerPool:
    """Up to ``max_workers`` workers shared by the threads of one process."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max(1, max_workers)
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._count = 0
        self.timeouts = 0
        self.crashes = 0

    def call(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Run one request on a free worker before ``deadline``."""
        worker = self._acquire(deadline)
        try:
            reply = worker.call(message, deadline)
        except WorkerTimeout:
            if worker.ready:  # busy past the deadline: kill it, start a replacement
                self.timeouts += 1
                self._discard(worker, respawn=True)
            else:  # still importing sympy: keep it for the next request
                self._release(worker)
            raise
        except WorkerCrash:
            self.crashes += 1
            self._discard(worker, respawn=True)
            raise
        self._release(worker)
        return reply

    def warm(self, count: int, wait_s: float = STARTUP_TIMEOUT_S) -> None:
        """Make ``count`` workers exist and wait until each has imported sympy."""
        self.ensure_capacity(count)
        deadline = time.monotonic() + wait_s
        taken: list[Worker] = []
        try:
            for _ in range(count):
                taken.append(self._acquire(deadline))
            for worker in taken:
                if not worker.ready:
                    worker.wait_ready(deadline)
        finally:
            for worker in taken:
                self._release(worker)

    def ensure_capacity(self, count: int) -> None:
        """Allow at least ``count`` concurrent workers."""
        with self._cond:
            self.max_workers = max(self.max_workers, count)
            self._cond.notify_all()

    def close(self) -> None:
        """Kill the idle workers (a forked child never touches its parent's workers)."""
        if self.pid != os.getpid():
            return
        with self._cond:
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for w in idle:
            w.kill()

    def _acquire(self, deadline: float) -> Worker:
        with self._cond:
            while not self._idle and self._count >= self.max_workers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeout("no free worker before the deadline")
                self._cond.wait(remaining)
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return self._spawn()
        except OSError as exc:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise WorkerCrash(f"cannot start a worker: {exc}") from exc

    def _spawn(self) -> Worker:
        return Worker()

    def _release(self, worker: Worker) -> None:
        with self._cond:
            self._idle.append(worker)
            self._cond.notify()

    def _discard(self, worker: Worker, respawn: bool) -> None:
        worker.kill()
        replacement = None
        if respawn:
            try:
                replacement = self._spawn()
            except OSError:
                replacement = None
        with self._cond:
            if replacement is None:
                self._count -= 1
            else:  # a fresh (still starting) worker is handed out last
                self._idle.insert(0, replacement)
            self._cond.notify()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> WorkerPool:
    """This process's pool (a forked child gets a new one, never its parent's workers)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid():
            _POOL = WorkerPool(max(2, os.cpu_count() or 1))
            atexit.register(_POOL.close)
        return _POOL


def _limit_memory() -> None:
    try:
        import resource

        limit = MEMORY_LIMIT_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def handle(message: dict[str, Any]) -> dict[str, Any]:
    """Answer one request inside the worker."""
    from .compare import Policy
    from .core import decide
    from .symbolic import SympyBackend

    if message.get("op") == "ping":
        return {"status": "pong", "info": {"pid": os.getpid()}}
    backend = SympyBackend(Policy(**message["policy"]))
    outcome = decide(message["reference"], message["prediction"], backend)
    return {"status": outcome.status, "info": outcome.info}


def main() -> None:
    """The worker loop: one JSON request per line on stdin, one JSON reply per line."""
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol
    _limit_memory()
    sys.setrecursionlimit(20_000)
    try:
        import rlfb.verifiers.math.symbolic  # noqa: F401  (the slow import, done once)
    except Exception as exc:  # report why the worker cannot run, then exit
        protocol.write(json.dumps({"failed": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        protocol.flush()
        return
    protocol.write(json.dumps({"ready": True, "pid": os.getpid()}).encode() + b"\n")
    protocol.flush()
    for line in sys.stdin.buffer:
        try:
            reply = handle(json.loads(line))
        except MemoryError:
            reply = {"status": "error", "info": {"reason": f"over the {MEMORY_LIMIT_MB} MB "
                                                           "worker memory limit"}}
        except Exception as exc:  # the judge failed, not the answer
            reply = {"status": "error", "info": {"exception": f"{type(exc).__name__}: {exc}"}}
        protocol.write(json.dumps(reply, default=str).encode() + b"\n")
        protocol.flush()


if __name__ == "__main__":
    main()
