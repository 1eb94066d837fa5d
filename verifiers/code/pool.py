"""Judge workers, seen from the verifier: a pool of warm judge processes, one request each.

A worker is one `judge` process (which owns one fork server). Workers start on first use, up
to ``size``; a request takes an idle worker or waits for one. A worker that times out, hangs up or
fails to start is killed (its whole session: judge, fork server, sandbox) and replaced on a
later request; the request gets a `SandboxFailure`, which the verifier reports as ERROR.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Sequence

from rlfb.verifiers.code import cgroup, wire
from rlfb.verifiers.code.forkserver import SandboxFailure

_START_TIMEOUT_S = 120.0


def _judge_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


_CLEAN_UIDS = """
import os, shutil, sys, tempfile
uids = [int(a) for a in sys.argv[1:]]
for uid in uids:
    pid = os.fork()
    if pid == 0:
        os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)
        try:
            os.kill(-1, 9)
        except ProcessLookupError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
prefixes = tuple(f"rlfb-sandbox-{uid}-" for uid in uids)
for directory in {tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"}:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        continue
    for entry in entries:
        try:
            if not entry.name.startswith(prefixes) and entry.stat(follow_symlinks=False).st_uid not in uids:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
"""


def clean_uids(uids: list[int]) -> None:
    """Kill every process of these uids and remove their host files in the temp dirs, from a
    helper process that becomes each uid in turn (the verifier's own process may have threads:
    it must never change its uid). Used when a worker without namespaces is killed."""
    subprocess.run([sys.executable, "-I", "-c", _CLEAN_UIDS, *map(str, uids)], timeout=30,
                   check=False, env={})


def _widen_pipe(fd: int, want: int = 1 << 20) -> int:
    """Grow a pipe to ``want`` bytes where the system allows; returns its capacity."""
    try:
        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, want)
    except OSError:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


class JudgeWorker:
    """One judge process and its pipes."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cpu: int | None = cfg.get("cpu")  # the CPU the judge binds itself to, if any
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rlfb.verifiers.code.judge", json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_judge_env(),
            start_new_session=True, cwd="/")
        self.pipe_bytes = _widen_pipe(self.proc.stdin.fileno())
        try:
            hello = self._read(time.monotonic() + _START_TIMEOUT_S)
        except SandboxFailure:
            self.kill()
            raise
        if hello.get("op") != "ready":
            self.kill()
            raise SandboxFailure(f"the judge could not start a sandbox: {hello.get('reason')}")
        self.isolation: dict[str, Any] = {"uids": hello["uids"], **hello["isolation"]}

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd, chunks, left = self.proc.stdout.fileno(), [], n
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise SandboxFailure("the judge did not answer in time")
            chunk = os.read(fd, left)
            if not chunk:
                raise SandboxFailure(f"the judge exited (status {self.proc.poll()})")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read(self, deadline: float) -> dict[str, Any]:
        n = wire.header_length(self._read_exact(4, deadline))
        return json.loads(self._read_exact(n, deadline))

    def send(self, frame: bytes) -> None:
        """Write one request frame (the judge reads them in order)."""
        try:
            self.proc.stdin.write(frame)
            self.proc.stdin.flush()
        except OSError as exc:
            raise SandboxFailure(f"the judge is gone: {exc}") from exc

    def receive(self, timeout: float) -> dict[str, Any]:
        """The reply to the oldest request not yet answered."""
        return self._read(time.monotonic() + timeout)

    def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one sample, wait for its verdict."""
        self.send(wire.frame_json(payload))
        return self.receive(timeout)

    def kill(self) -> None:
        """Kill the judge's whole session. With PID and mount namespaces the sandbox dies with
        its fork server; without, its processes (in their own sessions) and host files are
        removed by uid."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        isolation = getattr(self, "isolation", None)
        if isolation is not None and not (isolation.get("pidns") and isolation.get("mntns")):
            clean_uids(isolation["uids"])
        if isolation is not None and isolation.get("memory_cgroup_procs"):
            cgroup.remove(isolation["memory_cgroup_procs"])  # empty once the sandbox is gone
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def close(self, timeout: float = 15.0) -> None:
        """Ask the judge to stop (closing its stdin), kill it if it does not."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
            self.proc.stdout.close()
        except subprocess.TimeoutExpired:
            self.kill()


class WorkerPool:
    """Up to ``size`` judge workers shared by threads.

    With ``pin``, each worker (its judge, fork server and sandboxed children) is bound to one
    CPU of this process's affinity set, spread evenly. A worker is a serial pipeline (the judge
    waits for the child, the child for the judge, the next child for the fork server), so one
    CPU is all it uses at a time; bound there, every hand-off between its processes is a wake-up
    on the same CPU rather than across CPUs (docs/performance.md has the gain). ``pin=None``
    (the verifier's default) binds
    only when the pool has a worker for every CPU: a pool that does not own the machine, such as
    one of several scorer actors with one worker each, would otherwise put every pool's first
    worker on the same CPU. A candidate may widen its own affinity again: it is a scheduling
    choice, not a limit.
    """

    def __init__(self, cfg: dict[str, Any], size: int, pin: bool | None = None) -> None:
        self.cfg, self.size = cfg, size
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self._cpus = cpus if pin or (pin is None and size >= len(cpus)) else []
        self._cpus_starting: list[int] = []
        self._cond = threading.Condition()
        self._idle: list[JudgeWorker] = []
        self._all: list[JudgeWorker] = []
        self._starting = 0
        self.isolation: dict[str, Any] | None = None

    def _acquire(self) -> JudgeWorker:
        with self._cond:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.proc.poll() is None:
                        return worker
                    self._all.remove(worker)  # died while idle: start another
                    worker.kill()
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    cpu = self._pick_cpu()
                    break
                self._cond.wait()
        try:
            worker = JudgeWorker(self.cfg if cpu is None else {**self.cfg, "cpu": cpu})
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._unreserve(cpu)
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._unreserve(cpu)
            self._all.append(worker)
            self.isolation = worker.isolation
        return worker

    def _pick_cpu(self) -> int | None:
        """The CPU with the fewest workers, live or starting (call holding the lock)."""
        if not self._cpus:
            return None
        used = [w.cpu for w in self._all] + self._cpus_starting
        cpu = min(self._cpus, key=lambda c: (used.count(c), c))
        self._cpus_starting.append(cpu)
        return cpu

    def _unreserve(self, cpu: int | None) -> None:
        if cpu is not None:
            self._cpus_starting.remove(cpu)

    def _release(self, worker: JudgeWorker) -> None:
        with self._cond:
            if worker in self._all:
                self._idle.append(worker)
            self._cond.notify()

    def _discard(self, worker: JudgeWorker) -> None:
        worker.kill()
        with self._cond:
            if worker in self._all:
                self._all.remove(worker)
            self._cond.notify()

    def run(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One verdict from some worker; raises `SandboxFailure` when the worker failed."""
        worker = self._acquire()
        try:
            result = worker.request(payload, timeout)
        except BaseException:
            self._discard(worker)
            raise
        self._release(worker)
        return result

    def run_many(self, payloads: Sequence[dict[str, Any]], timeout: float
                 ) -> list[dict[str, Any] | SandboxFailure]:
        """Verdicts of many samples, in order, from up to ``size`` workers at once.

        Each worker gets its next request before it has answered the current one (when both
        fit in its pipe, so a write never blocks), so it never sits idle waiting for this
        process to read a verdict and send more. A sample whose worker failed gets its
        `SandboxFailure`; the requests queued behind it go to another worker.
        """
        frames = [wire.frame_json(p) for p in payloads]
        todo = collections.deque(range(len(frames)))
        results: list[Any] = [None] * len(frames)
        lock = threading.Lock()
        crashed: list[BaseException] = []

        def take() -> int | None:
            with lock:
                return todo.popleft() if todo and not crashed else None

        def drain() -> None:
            try:
                while (first := take()) is not None:
                    try:
                        worker = self._acquire()
                    except SandboxFailure as exc:
                        results[first] = exc
                        continue
                    requeue = self._stream(worker, frames, first, take, results, timeout)
                    with lock:
                        todo.extendleft(reversed(requeue))
            except BaseException as exc:  # re-raised by the calling thread
                crashed.append(exc)

        threads = [threading.Thread(target=drain, daemon=True)
                   for _ in range(min(self.size, len(frames)) - 1)]
        for thread in threads:
            thread.start()
        drain()
        for thread in threads:
            thread.join()
        if crashed:
            raise crashed[0]
        return results

    def _stream(self, worker: JudgeWorker, frames: list[bytes], first: int,
                take: Callable[[], int | None], results: list[Any], timeout: float) -> list[int]:
        """Feed one worker, two requests deep, until nothing is left; returns the requests to
        give another worker (those queued behind a failure)."""
        pending: collections.deque[int] = collections.deque()
        nxt: int | None = first
        try:
            while nxt is not None or pending:
                if nxt is not None:
                    if pending and len(frames[pending[0]]) + len(frames[nxt]) > worker.pipe_bytes:
                        results[pending[0]] = worker.receive(timeout)  # else a write could block
                        pending.popleft()
                    worker.send(frames[nxt])
                    pending.append(nxt)
                    nxt = take() if len(pending) < 2 else None
                    if nxt is not None:
                        continue
                results[pending[0]] = worker.receive(timeout)
                pending.popleft()
                nxt = take()
        except BaseException as exc:
            self._discard(worker)
            if not isinstance(exc, SandboxFailure):
                raise
            failed = pending.popleft() if pending else nxt
            results[failed] = exc
            return list(pending) + ([nxt] if nxt is not None and nxt != failed else [])
        self._release(worker)
        return []

    def sync(self, timeout: float = 60.0) -> list[str]:
        """Wait until every worker has finished reaping its sandboxes; returns the failures
        they report (a worker that does not answer is killed and reported too)."""
        with self._cond:
            while self._starting or len(self._idle) < len(self._all):
                self._cond.wait()
            workers = list(self._all)
        failures = []
        for worker in workers:
            try:
                failures += worker.request({"op": "sync"}, timeout)["failures"]
            except SandboxFailure as exc:
                failures.append(str(exc))
                self._discard(worker)
        return failures

    def workers(self) -> int:
        """How many judge workers are running now."""
        with self._cond:
            return len(self._all)

    def pids(self) -> list[int]:
        """Process ids of the running judge workers."""
        with self._cond:
            return [w.proc.pid for w in self._all]

    def close(self) -> None:
        """Stop every worker (idle ones now; busy ones are killed)."""
        with self._cond:
            workers, self._all, self._idle = list(self._all), [], []
            self._cond.notify_all()
        for worker in workers:
            worker.close()
