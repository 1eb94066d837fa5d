"""The process side of `worker`: a fork server (zygote) and the workers it forks.

``python -m rlfb.verifiers.math.server FD`` starts the zygote on the control socket FD (an
``AF_UNIX``/``SOCK_SEQPACKET`` socket inherited from the verifier's process). The zygote imports
sympy and latex2sympy once, runs a few comparisons (`warmup.ESSENTIAL` and
`warmup.COMPARISONS`, loading what sympy and ANTLR load lazily: the inequality solver, matrices,
sums), reports ``ready``, and then, between requests, parses a corpus of common LaTeX
(`warmup.CORPUS`) so that ANTLR's prediction cache is warm in every worker it forks later.
A request is one ``spawn`` message carrying a socket in its ancillary data; the zygote forks a
worker that serves judgement requests on that socket (one JSON line in, one JSON line out) and
replies with the worker's pid. Forking costs milliseconds, so a worker killed at its deadline is
replaced at once, already warm. Every `PROGRESS_EVERY` corpus items, and when it is done, the
zygote says how many are left (``remaining``, also in each ``spawn`` reply), and the pool
replaces the workers forked before that progress with warmer ones.

Workers cap their address space (`MEMORY_LIMIT_MB`) and die with the zygote; the zygote exits
when the verifier's process closes the control socket.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any

MEMORY_LIMIT_MB = 2048
#: The zygote reports its warm-up progress every this many corpus items.
PROGRESS_EVERY = 256


def handle(message: dict[str, Any]) -> dict[str, Any]:
    """Answer one request inside a worker."""
    from .compare import Policy
    from .core import decide
    from .symbolic import SympyBackend

    if message.get("op") == "ping":
        return {"status": "pong", "info": {"pid": os.getpid(), "gc_enabled": gc.isenabled(),
                                           "gc_frozen": gc.get_freeze_count()}}
    backend = SympyBackend(Policy(**message["policy"]))
    outcome = decide(message["reference"], message["prediction"], backend)
    return {"status": outcome.status, "info": outcome.info}


def serve(channel: socket.socket) -> None:
    """The worker loop: until the verifier closes the socket.

    Garbage collection runs between requests, never inside one: the objects inherited from the
    zygote (sympy, the ANTLR caches: most of the heap) are frozen, so no collection scans them
    (nor copies their pages on write), and automatic collection is off; after each reply,
    `collect_between_requests` runs the collections that were due.
    """
    gc.freeze()
    gc.disable()
    stream = channel.makefile("rb")
    for line in stream:
        try:
            reply = handle(json.loads(line))
        except MemoryError:
            reply = {"status": "error",
                     "info": {"reason": f"over the {MEMORY_LIMIT_MB} MB worker memory limit"}}
        except RecursionError:
            reply = {"status": "unparseable", "info": {"reason": "expression nested too deeply"}}
        except Exception as exc:  # the judge failed, not the answer
            reply = {"status": "error", "info": {"exception": f"{type(exc).__name__}: {exc}"}}
        channel.sendall(json.dumps(reply, default=str).encode() + b"\n")
        collect_between_requests(channel)


#: A request that waits puts the due collections off, until this many times the youngest
#: generation's threshold of allocations has piled up (then they run before it is served).
DEFER_LIMIT = 50
#: Seconds to wait for the caller's next request before collecting: a caller that checks answers
#: back to back sends it within this, and is served first.
NEXT_REQUEST_GRACE_S = 0.005


def collect_between_requests(channel: socket.socket) -> None:
    """Run the collection that automatic GC would have run by now (the oldest generation
    whose count is over its threshold, as CPython picks it), once the reply is sent. A full
    collection's pause is tens of milliseconds, which inside a request would land on one
    check's latency. When the next request comes within `NEXT_REQUEST_GRACE_S`, it is served
    first, up to `DEFER_LIMIT`."""
    counts, limits = gc.get_count(), gc.get_threshold()
    if counts[0] < limits[0]:
        return
    if (counts[0] < DEFER_LIMIT * limits[0]
            and select.select([channel], [], [], NEXT_REQUEST_GRACE_S)[0]):
        return
    generation = 2 if counts[2] >= limits[2] else 1 if counts[1] >= limits[1] else 0
    gc.collect(generation)


def _worker_setup() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the zygote
    except (OSError, AttributeError):
        pass
    try:
        import resource

        limit = MEMORY_LIMIT_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _fork_worker(control: socket.socket, fd: int) -> int:
    pid = os.fork()
    if pid == 0:  # the worker
        code = 0
        try:
            control.close()
            _worker_setup()
            serve(socket.socket(fileno=fd))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(fd)
    return pid


def _warm_one(corpus: list) -> None:
    from .compare import Policy
    from .core import decide
    from .normalize import normalize
    from .parsing import parse_leaf
    from .symbolic import SympyBackend

    item = corpus.pop()
    try:
        if isinstance(item, tuple):
            decide(item[0], item[1], SympyBackend(Policy()))
        else:
            parse_leaf(normalize(item))
    except Exception:  # warming is best effort: a failure only means a colder cache
        pass


def zygote(control: socket.socket) -> None:
    """Serve ``spawn`` requests; warm the parser while idle."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked workers are reaped automatically
    try:
        from . import symbolic  # noqa: F401  (sympy and latex2sympy: the slow imports)
        from .warmup import COMPARISONS, CORPUS, ESSENTIAL
    except Exception as exc:
        control.send(json.dumps({"failed": f"{type(exc).__name__}: {exc}"}).encode())
        return
    essential: list = list(reversed(COMPARISONS)) + list(reversed(ESSENTIAL))
    while essential:
        _warm_one(essential)
    control.send(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    corpus: list = list(reversed(CORPUS))  # parses first
    while True:
        readable, _, _ = select.select([control], [], [], 0 if corpus else None)
        if not readable:
            _warm_one(corpus)
            if len(corpus) % PROGRESS_EVERY == 0:  # the pool replaces workers forked colder
                control.send(json.dumps({"remaining": len(corpus)}).encode())
            continue
        message, fds, _, _ = socket.recv_fds(control, 4096, 4)
        if not message:
            return  # the verifier's process is gone
        request = json.loads(message)
        if request.get("op") == "status" and not fds:
            control.send(json.dumps({"seq": request.get("seq"), "remaining": len(corpus)}).encode())
            continue
        if request.get("op") != "spawn" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"seq": request.get("seq"), "error": "bad request"}).encode())
            continue
        pid = _fork_worker(control, fds[0])
        control.send(json.dumps({"seq": request["seq"], "pid": pid,
                                 "remaining": len(corpus)}).encode())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the zygote process."""
    args = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(args[0]))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # library prints must not go anywhere
    sys.setrecursionlimit(5_000)
    zygote(control)


if __name__ == "__main__":
    main()
