"""The judge's handle on its fork server (`zygote.py`): start it, spawn and reap executions.

Each fork server gets its own two sandbox uids (executions alternate between them), so that
parallel workers neither share a process-count limit nor can signal each other's children. A uid is taken by binding the abstract Unix socket
``rlfb-sandbox-uid-N``: the kernel releases it when the holder dies, so a crashed run leaves no
lock file behind, and two rlfb processes on one machine never pick the same uid.
"""

from __future__ import annotations

import binascii
import importlib.machinery
import json
import marshal
import os
import socket
import struct
import subprocess
import sys
import tempfile
import types
from typing import Any

from rlfb.verifiers.code import cgroup, wire

_HERE = os.path.dirname(os.path.abspath(__file__))
# What the fork server runs: its modules, compiled here once and sent with its configuration.
SERVER_MODULES = ("zygote", "linux", "wire", "runtime", "namespaces", "seccomp", "sweep")
# The fork server's whole command line (``python -I -B -S -c BOOT``, the same in every child's
# /proc/self/cmdline): read one frame, the configuration with the compiled modules, from fd 0,
# and run the zygote. No path or setting of the host is in argv or the environment.
BOOT = (
    "import binascii, json, marshal, os\n"
    "def _read(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        c = os.read(0, n - len(b))\n"
    "        if not c:\n"
    "            raise SystemExit(3)\n"
    "        b += c\n"
    "    return b\n"
    "BOOT_CONFIG = json.loads(_read(int.from_bytes(_read(4), 'big')))\n"
    "del _read\n"
    "exec(marshal.loads(binascii.a2b_base64(BOOT_CONFIG['code']['zygote'])))\n"
)
_compiled: dict[str, str] = {}


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """``code`` and every code object inside it, with ``filename`` as their file name."""
    consts = tuple(_renamed(c, filename) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def server_code() -> dict[str, str]:
    """The fork server's modules, by name: marshalled code objects (for this interpreter, which
    runs the server too), base64-encoded, once per process, from the bytecode cache where it is
    current. Their file names say only which module they are, not where it is installed."""
    if not _compiled:
        for name in SERVER_MODULES:
            path = os.path.join(_HERE, f"{name}.py")
            code = importlib.machinery.SourceFileLoader(f"_rlfb_sandbox_{name}", path).get_code(
                f"_rlfb_sandbox_{name}")
            code = _renamed(code, f"<rlfb-sandbox:{name}>")
            _compiled[name] = binascii.b2a_base64(marshal.dumps(code), newline=False).decode()
    return dict(_compiled)


UID_SPAN = 1024
_CONTROL_TIMEOUT_S = 30.0
# The fork server runs with exactly the environment its children get (`runtime.sandbox_env`
# for a /tmp working directory), so a child has nothing to scrub; a test checks they agree.
_ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
               "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}


# The dynamic linker binds every symbol when the server starts (and when it loads an extension
# module), instead of on first call: a child that calls a function the server never did would
# otherwise write the binding into a page it shares with the server (a copied page). The
# server removes the variable from its environment at once (`zygote.main`).
_BIND_NOW = {"LD_BIND_NOW": "1"}


class SandboxFailure(Exception):
    """The sandbox machinery failed (never the candidate's fault): the verdict is ERROR."""


def claim_uid(base: int, span: int = UID_SPAN) -> tuple[int, socket.socket]:
    """The first free uid in ``[base, base + span)`` and the socket that holds it."""
    for uid in range(base, base + span):
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            holder.bind(f"\0rlfb-sandbox-uid-{uid}")
            return uid, holder
        except OSError:
            holder.close()
    raise SandboxFailure(f"all sandbox uids {base}..{base + span - 1} are taken")


def site_config() -> dict[str, Any]:
    """What ``site`` would give the fork server, which starts without it (``-S``): the prefixes
    and the site-packages directories, with the directories their ``.pth`` files name. The
    ``.pth`` files' ``import`` lines are not run: they load import hooks (editable installs,
    setuptools' distutils shim) that would double the memory every fork copies."""
    import site

    paths: list[str] = []
    for base in site.getsitepackages():
        if not os.path.isdir(base) or base in paths:
            continue
        paths.append(base)
        for name in sorted(n for n in os.listdir(base) if n.endswith(".pth")):
            try:
                with open(os.path.join(base, name), encoding="utf-8") as fh:
                    lines = fh.read().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                if not line.strip() or line.startswith(("#", "import ", "import\t")):
                    continue
                path = os.path.abspath(os.path.join(base, line.rstrip()))
                if os.path.isdir(path) and path not in paths:
                    paths.append(path)
    return {"prefix": sys.prefix, "exec_prefix": sys.exec_prefix, "paths": paths}


class ForkServer:
    """A running fork server: two sandbox uids, one execution at a time.

    Args:
        uid_base: first uid of the sandbox uid range.
        options: what the server needs to know once: ``namespaces`` (use Linux namespaces where
            allowed), ``preload`` (modules imported before forking), ``hide_paths``
            (directories shown empty), ``file_mb`` (size of each execution's /tmp),
            ``ipc_shm_mb`` (System V shared memory cap) and ``memory_total_mb`` (the limit of
            the worker's memory cgroup, where one can be made: see `cgroup`).
    """

    def __init__(self, uid_base: int, options: dict[str, Any]) -> None:
        self._holders: list[socket.socket] = []
        self.uids: list[int] = []
        for _ in range(2):  # executions alternate between two uids (see `zygote.Server`)
            uid, holder = claim_uid(uid_base)
            self.uids.append(uid)
            self._holders.append(holder)
        # Not root: the sandbox runs in its own user namespace, where its only uid is 0 (the
        # claimed uids then only keep two workers' names apart).
        self.userns = os.geteuid() != 0
        if self.userns:
            self.uids = [0, 0]
        self.seq = 0
        self.failures: list[str] = []
        self.replaced: list[str] = []  # why the server was replaced between executions
        self.options = options
        self._cgroup_procs: str | None = None
        self._cgroup_note = ""
        self.workprefix = os.path.join(tempfile.gettempdir(), "rlfb-sandbox-")
        self._start()

    def _start(self) -> None:
        """Start a fork server process and wait for its ``ready``."""
        self.pending: set[int] = set()
        self.awaited: set[int] = set()
        self.reaped: dict[int, dict[str, Any]] = {}
        self.child: int | None = None
        self.armed: tuple[int, socket.socket] | None = None
        options = self.options
        if self._cgroup_procs is None:  # without root: only where a subtree is delegated
            self._cgroup_procs, self._cgroup_note = cgroup.prepare(
                self.uids[0], int(options["memory_total_mb"]))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cfg = {**options, "phase": "setup", "cgroup_procs": self._cgroup_procs,
               "userns": self.userns, "uids": self.uids, "site": site_config(),
               "parent_pid": os.getpid(), "workprefix": self.workprefix,
               "temp_dirs": sorted({tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"}),
               "code": server_code(), "boot": BOOT}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-S", "-c", BOOT], stdin=theirs.fileno(),
            env={**_ZYGOTE_ENV, **_BIND_NOW}, stdout=subprocess.DEVNULL, cwd="/")
        theirs.close()
        self.sock = ours
        self.sock.settimeout(_CONTROL_TIMEOUT_S)
        self._setup_report: dict[str, Any] = {}
        try:
            self.sock.sendall(wire.frame_json(cfg))
        except OSError as exc:
            raise SandboxFailure(f"could not configure the fork server: {exc}") from exc
        ready = self._expect({"ready"})
        self.isolation: dict[str, Any] = {**self._setup_report, **ready["isolation"],
                                          "memory_cgroup_note": self._cgroup_note,
                                          "memory_cgroup_procs": self._cgroup_procs}

    def fileno(self) -> int:
        """The control socket, for polling for ``exited`` events."""
        return self.sock.fileno()

    def _recv(self) -> dict[str, Any]:
        """One message; an ``armed`` message's socket to the waiting child is kept."""
        try:
            header, fds, _, _ = socket.recv_fds(self.sock, 4, 1)
            if not header:
                raise EOFError("the fork server hung up")
            header += wire.recv_exact(self.sock, 4 - len(header))
            msg = json.loads(wire.recv_exact(self.sock, wire.header_length(header)))
        except (OSError, EOFError, ValueError) as exc:
            raise SandboxFailure(f"fork server stopped answering: {type(exc).__name__}: {exc}")
        if msg.get("op") == "armed" and fds:
            self._disarm()
            self.armed = (int(msg["pid"]), socket.socket(fileno=fds[0]))
        else:
            for fd in fds:
                os.close(fd)
        if msg.get("op") == "isolation":
            self._setup_report = msg["isolation"]
        if msg.get("op") == "failed":
            raise SandboxFailure(f"the sandbox could not be set up: {msg.get('reason')}")
        if msg.get("op") == "broken":
            raise SandboxFailure(f"the fork server could not clean up: {msg.get('reason')}")
        if msg.get("op") == "reaped":
            self.pending.discard(msg["pid"])
            if msg["pid"] in self.awaited:
                self.reaped[msg["pid"]] = msg
            elif not msg["clean"]:
                self.failures.append(f"the reap of execution {msg['pid']} left processes or "
                                     f"files behind")
        return msg

    def _disarm(self) -> None:
        if self.armed is not None:
            self.armed[1].close()
            self.armed = None

    def _expect(self, ops: set[str]) -> dict[str, Any]:
        while True:
            msg = self._recv()
            if msg.get("op") in ops:
                return msg

    def event(self) -> dict[str, Any]:
        """Read one event (call only when `fileno` is readable)."""
        return self._recv()

    def spawn(self, request: dict[str, Any], fds: list[int]) -> int:
        """Start one execution: hand ``request`` and ``fds`` (the child's channels, then the
        write end of its setup pipe) to the armed child. Nothing is awaited: the child reports
        its setup on that pipe. Returns the child's pid (in the sandbox's PID namespace)."""
        for attempt in (1, 2):
            self._await_armed()
            pid, conn = self.armed
            self.armed = None
            body = marshal.dumps({"seq": self.seq + 1, **request})  # read by the child only
            try:
                socket.send_fds(conn, [struct.pack(">I", len(body))], fds)
                conn.sendall(body)
                break
            except OSError as exc:  # the armed child died: reap it (which arms another), retry
                if attempt == 2:
                    raise SandboxFailure(f"could not start an execution: {exc}") from exc
                try:
                    self.reap(pid)
                except SandboxFailure as gone:  # with the server: replace it
                    self._replace(gone)
            finally:
                conn.close()
        self.seq += 1
        self.child = pid
        return pid

    def _await_armed(self) -> None:
        """Wait for the next armed child. A server that died or broke while cleaning up after
        the last execution (whatever that execution left behind) is replaced here, once, so
        that the next execution still runs: it is not that execution's fault."""
        try:
            while self.armed is None:
                self._recv()
        except SandboxFailure as exc:
            self._replace(exc)
            while self.armed is None:
                self._recv()

    def _replace(self, why: SandboxFailure) -> None:
        """Stop a server that died or broke between executions and start a fresh one on the
        same uids; ``why`` goes to `replaced` (reported by the judge's sync)."""
        self.replaced.append(f"fork server replaced before an execution: {why}")
        self._stop()
        self._start()

    def reap(self, pid: int | None = None, wait: bool = True) -> dict[str, Any] | None:
        """Kill what is left of an execution (default: the last one). With ``wait``, wait until
        all of it is gone and return the ``reaped`` report (``status``: the child's exit status,
        negative when killed by that signal); without, return at once (see `settle`)."""
        pid = self.child if pid is None else pid
        try:
            self.sock.sendall(wire.frame_json({"op": "reap", "pid": pid}))
        except OSError as exc:
            raise SandboxFailure(f"fork server unreachable: {exc}") from exc
        self.pending.add(pid)
        if not wait:
            return None
        self.awaited.add(pid)
        try:
            while pid in self.pending:
                self._recv()
        finally:
            self.awaited.discard(pid)
        reply = self.reaped.pop(pid)
        if not reply["clean"]:
            raise SandboxFailure("sandbox processes or files survived the reap")
        return reply

    def settle(self) -> None:
        """Wait for every reap asked for so far; raise `SandboxFailure` if one left anything
        behind (reaps that were not awaited report into `failures`, checked without waiting
        by the judge before each sample)."""
        while self.pending:
            self._recv()
        if self.failures:
            raise SandboxFailure("; ".join(self.failures))

    def _stop(self) -> None:
        """Stop the server process (it kills every sandbox process on the way out)."""
        try:
            self._disarm()
            self.sock.close()
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        """Stop the server and give its uids back."""
        try:
            self._stop()
            if self._cgroup_procs is not None:  # its processes are gone with the server
                cgroup.remove(self._cgroup_procs)
        finally:
            for holder in self._holders:
                holder.close()
