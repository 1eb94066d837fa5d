"""The process side of `worker`: a fork server (zygote) and the workers it forks.

``python -m rlfb.verifiers.math.server FD`` starts the zygote on the control socket FD (an
``AF_UNIX``/``SOCK_SEQPACKET`` socket inherited from the verifier's process). The zygote imports
sympy and latex2sympy once, runs a few comparisons (`warmup.ESSENTIAL`, loading what sympy and
ANTLR load lazily), reports ``ready``, and then, between requests, parses a corpus of common LaTeX
(`warmup.CORPUS`) so that ANTLR's prediction cache is warm in every worker it forks.
A request is one ``spawn`` message carrying a socket in its ancillary data; the zygote forks a
worker that serves judgement requests on that socket (one JSON line in, one JSON line out) and
replies with the worker's pid. Forking costs milliseconds, so a worker killed at its deadline is
replaced at once, already warm.

Workers cap their address space (`MEMORY_LIMIT_MB`) and die with the zygote; the zygote exits
when the verifier's process closes the control socket.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
from typing import Any

MEMORY_LIMIT_MB = 2048


def handle(message: dict[str, Any]) -> dict[str, Any]:
    """Answer one request inside a worker."""
    from .compare import Policy
    from .core import decide
    from .symbolic import SympyBackend

    if message.get("op") == "ping":
        return {"status": "pong", "info": {"pid": os.getpid()}}
    backend = SympyBackend(Policy(**message["policy"]))
    outcome = decide(message["reference"], message["prediction"], backend)
    return {"status": outcome.status, "info": outcome.info}


def serve(channel: socket.socket) -> None:
    """The worker loop: until the verifier closes the socket."""
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
    essential: list = list(ESSENTIAL)
    while essential:
        _warm_one(essential)
    control.send(json.dumps({"ready": True, "pid": os.getpid()}).encode())
    corpus: list = list(reversed(COMPARISONS)) + list(reversed(CORPUS))  # parses first
    while True:
        readable, _, _ = select.select([control], [], [], 0 if corpus else None)
        if not readable:
            _warm_one(corpus)
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
        control.send(json.dumps({"seq": request["seq"], "pid": pid}).encode())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the zygote process."""
    args = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(args[0]))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # library prints must not go anywhere
    sys.setrecursionlimit(5_000)
    zygote(control)


if __name__ == "__main__":
    main()
