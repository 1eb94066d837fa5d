"""What runs inside one sandboxed execution, from the fork to ``os._exit``.

The fork server forks the next child ahead of time (right after reaping the previous one) and
runs `armed_main` in it; the child waits, still root, for its request. Then it drops to the
sandbox uid (own session, no new privileges, scrubbed environment; the fork server has already
given it an empty tmpfs on /tmp and /dev/shm (wiped or fresh), or without a mount namespace the child makes
its own host directory), sets its file descriptors and resource limits, writes "ok" on the setup
pipe and closes it, and only after that runs candidate code. Nothing after the "ok" is trusted: the judge reads this process's output as
untrusted bytes, and holds the setup pipe's read end, so an execution whose setup did not finish
is a sandbox failure (ERROR), never the candidate's fault.

The request and the call arguments come from the trusted judge as ``marshal`` bytes (one C call
to read, see `wire.pack`); what goes back is JSON that the judge decodes with bounds.

Function mode: fd 3 is a socket to the judge. The child loads the candidate module; if that
fails it sends ``L`` + why and exits. Then it answers frames: ``C`` + plain-data ``(args,
kwargs)`` with ``R`` + the plain-data result, ``N`` + why the result is not plain data, or ``X``
+ the exception; ``P`` (are you loaded?) with ``K``. stdin, stdout and stderr are /dev/null.

Stdio mode: fd 0 is a memfd holding the input, fds 1 and 2 are pipes to the judge; the program
runs as ``__main__`` and the process exits like ``python main.py`` would (waiting for non-daemon
threads and running atexit handlers).

Loaded by file path inside the fork server; imports nothing from rlfb.
"""

from __future__ import annotations

import _signal
import fcntl
import io
import json
import marshal
import os
import resource
import signal
import socket
import sys
import types
from typing import Any, NoReturn

# Bound as module globals: a candidate rebinding builtins cannot break the runtime (see wire).
len, type, str, callable, compile, exec = (  # noqa: A001
    len, type, str, callable, compile, exec)

SETUP_FD = 4
_SIGCHLD, _SIG_DFL, _SIGKILL = int(signal.SIGCHLD), int(signal.SIG_DFL), int(signal.SIGKILL)
_CTRL_FD = 3
# Leaving by returning would free the candidate's module and run its finalizers, and drop this
# process's socket unclosed, whose ResourceWarning formats the socket's repr: all of it pages
# written after the verdict is known. ``os._exit`` frees nothing.
_exit = os._exit
_PATH = "/usr/local/bin:/usr/bin:/bin"


def sandbox_env(workdir: str) -> dict[str, str]:
    """The whole environment of a sandboxed process: nothing inherited from the parent."""
    return {"PATH": _PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def armed_main(conn: socket.socket, cfg: dict[str, Any], uid: int, workdir: str | None,
               parent: int, lx: Any, wire: Any, seccomp: Any) -> NoReturn:
    """A pre-forked child: drop privileges now, wait for one request from the fork server (its
    JSON and file descriptors, the last of which is the judge's setup pipe), finish the setup,
    report "ok", run the candidate. Never returns."""
    try:
        lx.prctl(lx.PR_SET_PDEATHSIG, _SIGKILL)  # armed children die with the server too
        signal.set_wakeup_fd(-1)
        os.closerange(3, conn.fileno())  # nothing of the server's but this child's socket
        os.closerange(conn.fileno() + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        if os.getppid() != parent:
            raise RuntimeError("the fork server died")
        # The OOM killer (the worker's memory cgroup's, or the host's) takes a sandboxed
        # process first, never the fork server or the judge (raising needs no privilege).
        try:
            _write_small("/proc/self/oom_score_adj", b"1000")
        except OSError:  # a read-only /proc: the cgroup limit holds all the same
            pass
        if cfg["userns"]:
            _nest(conn, lx)
        req, fds = _recv_request(conn, wire)  # still root while armed: no sandbox-uid process
        if workdir is None:  # lingers between executions, and no host directory either
            workdir = f"{cfg['workprefix']}{uid}-{os.getpid()}"
            os.mkdir(workdir, 0o700)
            os.chown(workdir, uid, uid)
        _drop_privileges(uid, workdir, parent, lx, cfg["last_cap"] if cfg["userns"] else None)
    except BaseException:  # no setup pipe yet: the judge will see it closed without "ok"
        os._exit(124)
    report = [fds.pop()]  # where the setup pipe is: moved to SETUP_FD once fds are arranged
    if cfg["userns"]:  # the server, its parent and the two relays count against RLIMIT_NPROC
        req["limits"] = {**req["limits"], "nproc": req["limits"]["nproc"] + 4}
    try:
        _finish_setup(req, fds, report, None if cfg["memory_cgroup"] else seccomp)
        os.write(report[0], b"ok")
        os.close(report[0])
    except BaseException as exc:  # setup failed before any candidate code ran: the judge's fault
        try:
            os.write(report[0], f"fail: {type(exc).__name__}: {exc}".encode()[:2000])
        finally:
            os._exit(125)
    try:
        if req["mode"] == "function":
            _serve_function(req, wire)
        else:
            _run_program(req)
    finally:
        os._exit(1)


def _nest(conn: socket.socket, lx: Any) -> None:
    """In the sandbox's own user namespace every process has the fork server's uid, which
    would let a candidate signal, renice or ``prlimit`` it by its pid. So the candidate runs in
    a PID namespace of its own, where no pid names the server: this (armed) process becomes a
    relay, a new PID namespace's init reaps the candidate's orphans, and only the candidate,
    its pid 2, returns from here. Each relay leaves the way the candidate did."""
    r, w = os.pipe()
    lx.unshare(lx.CLONE_NEWPID)
    init = os.fork()
    if init:
        conn.close()
        os.close(w)
        _relay(init, r)
    os.close(r)
    lx.prctl(lx.PR_SET_PDEATHSIG, _SIGKILL)
    child = os.fork()
    if child == 0:
        os.close(w)
        lx.prctl(lx.PR_SET_PDEATHSIG, _SIGKILL)
        return
    conn.close()
    for sig in (int(signal.SIGINT), _SIGCHLD):  # default actions: dropped for an init
        _signal.signal(sig, _SIG_DFL)
    while True:  # PID 1 of the new namespace: reap everything until the candidate is gone
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            os.write(w, status.to_bytes(4, "little"))
            os._exit(0)  # the kernel kills what is left in this namespace


def _relay(init: int, r: int) -> NoReturn:
    """Wait for the nested init, then leave as the candidate did (its wait status comes on
    ``r``; exit code, or death by the same signal)."""
    raw = os.read(r, 4)
    os.waitpid(init, 0)
    status = int.from_bytes(raw, "little") if len(raw) == 4 else (128 + _SIGKILL) << 8
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            _signal.signal(sig, _SIG_DFL)
        except (OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            pass
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 1)


def _recv_request(conn: socket.socket, wire: Any) -> tuple[dict[str, Any], list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, 4, 8)
    if not header:
        raise EOFError
    header += wire.recv_exact(conn, 4 - len(header))
    req = marshal.loads(wire.recv_exact(conn, wire.header_length(header)))
    conn.close()
    return req, fds


def _drop_privileges(uid: int, workdir: str, parent: int, lx: Any,
                     last_cap: int | None) -> None:
    """Own session, unprivileged uid and gid (or, with ``last_cap``, in the sandbox's own user
    namespace, where the only uid is 0: no capability at all), no new privileges, death with
    the server, scrubbed environment, default signals, and a working directory that is really
    empty."""
    os.setsid()
    if last_cap is None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    else:
        lx.drop_capabilities(last_cap)
    lx.prctl(lx.PR_SET_NO_NEW_PRIVS, 1)
    lx.prctl(lx.PR_SET_PDEATHSIG, _SIGKILL)
    if os.getppid() != parent:
        raise RuntimeError("the fork server died")
    if workdir != "/tmp":  # the server itself runs with exactly sandbox_env("/tmp")
        os.environ.clear()
        os.environ.update(sandbox_env(workdir))
    os.chdir(workdir)
    if os.listdir(workdir) or (workdir == "/tmp" and os.listdir("/dev/shm")):
        raise RuntimeError("the new working directory is not empty")
    signal.set_wakeup_fd(-1)
    _signal.signal(_SIGCHLD, _SIG_DFL)  # the C function: signal.signal's enum wrapping is dear
    sys.argv = ["main.py"]
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None


def _write_small(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _finish_setup(req: dict[str, Any], fds: list[int], report: list[int],
                  seccomp: Any) -> None:
    """What depends on the request: stdin, the descriptor layout, the resource limits; with
    ``seccomp`` (no memory cgroup bounds this worker), no memfd after stdin's."""
    stdin = _stdin_fd(req)
    if seccomp is not None:
        seccomp.deny(seccomp.MEMFD_DENY)
    _arrange_fds(req["mode"], fds, stdin, report[0])
    report[0] = SETUP_FD
    _set_limits(req["limits"])
    if req["mode"] == "stdio":  # function mode keeps the server's streams, on /dev/null
        _rebind_stdio()


def _stdin_fd(req: dict[str, Any]) -> int:
    if req["mode"] != "stdio":
        return os.open(os.devnull, os.O_RDONLY)
    fd = os.memfd_create("stdin", 0)
    data = req["input"].encode("utf-8", "surrogateescape")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _arrange_fds(mode: str, fds: list[int], stdin: int, setup_w: int) -> None:
    """Put exactly the needed descriptors at fixed numbers and close every other one."""
    if mode == "function":
        null = os.open(os.devnull, os.O_WRONLY)
        wanted = {0: stdin, 1: null, 2: null, _CTRL_FD: fds[0], SETUP_FD: setup_w}
    else:
        wanted = {0: stdin, 1: fds[0], 2: fds[1], SETUP_FD: setup_w}
    high = {target: fcntl.fcntl(src, fcntl.F_DUPFD, 64) for target, src in wanted.items()}
    for target, src in high.items():
        os.dup2(src, target, inheritable=True)
    for fd in range(SETUP_FD + 1):
        if fd not in wanted:
            try:
                os.close(fd)
            except OSError:
                pass
    os.closerange(SETUP_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1])


def _set_limits(limits: dict[str, Any]) -> None:
    mib = 1 << 20
    pairs = {
        resource.RLIMIT_AS: limits["memory_mb"] * mib,
        resource.RLIMIT_FSIZE: limits["file_mb"] * mib,
        resource.RLIMIT_NOFILE: limits["nofile"],
        resource.RLIMIT_NPROC: limits["nproc"],
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_MSGQUEUE: 0,
    }
    for which, value in pairs.items():
        resource.setrlimit(which, (value, value))
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _rebind_stdio() -> None:
    def stream(fd: int, mode: str) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buf = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(buf, encoding="utf-8", errors="surrogateescape",
                                line_buffering=False, write_through=(fd == 2))

    sys.stdin, sys.stdout, sys.stderr = stream(0, "r"), stream(1, "w"), stream(2, "w")
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


# -- function mode ----------------------------------------------------------------------------
def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}"[:1000]


def _serve_function(req: dict[str, Any], wire: Any) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=_CTRL_FD)
    mod = types.ModuleType("__candidate__")
    sys.modules["__candidate__"] = mod
    try:
        exec(compile(req["code"], "<candidate>", "exec"), mod.__dict__)
        fn = mod.__dict__.get(req["entry"])
        if not callable(fn):
            raise NameError(f"the code defines no function named {req['entry']!r}")
    except BaseException as exc:
        sock.sendall(wire.frame(b"L" + _describe(exc).encode("utf-8", "replace")))
        _exit(1)  # what is written stays readable for the judge
    frames = _FrameReader(sock, wire)
    while True:
        try:
            msg = frames.next()
        except EOFError:  # the judge is done: exit now, tearing nothing down (see below)
            _exit(0)
        if msg[:1] == b"P":
            sock.sendall(wire.frame(b"K"))
            continue
        args, kwargs = marshal.loads(msg[1:])  # from the judge: see wire.pack
        try:
            result = fn(*args, **kwargs)
            reply = b"R" + wire.encode(result)
        except wire.NotPlain as exc:
            reply = b"N" + str(exc).encode("utf-8", "replace")[:1000]
        except BaseException as exc:
            reply = b"X" + json.dumps([type(exc).__name__, _describe(exc)]).encode()
        sock.sendall(wire.frame(reply))


class _FrameReader:
    """Frames from the judge, read with as few system calls as possible."""

    def __init__(self, sock: socket.socket, wire: Any) -> None:
        self.sock, self.wire, self.buf = sock, wire, b""

    def next(self) -> bytes:
        while True:
            if len(self.buf) >= 4:
                n = self.wire.header_length(self.buf[:4])
                if len(self.buf) >= 4 + n:
                    frame, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return frame
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk


# -- stdio mode -------------------------------------------------------------------------------
def _run_program(req: dict[str, Any]) -> None:
    import threading  # imported here: in the fork server it would run at-fork hooks every fork
    import traceback

    main = types.ModuleType("__main__")
    main.__dict__["__file__"] = "main.py"
    sys.modules["__main__"] = main
    status = 0
    try:
        exec(compile(req["code"], "main.py", "exec"), main.__dict__)
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException:
        traceback.print_exc()
        status = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    try:
        import atexit
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        status = status or 1
    os._exit(status)


def _exit_status(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if type(code) is int:
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1
