"""The judge's handle on its fork server (`zygote.py`): start it, spawn and reap executions.

Each fork server gets its own sandbox uid, so that parallel workers neither share a process-count
limit nor can signal each other's children. A uid is taken by binding the abstract Unix socket
``rlfb-sandbox-uid-N``: the kernel releases it when the holder dies, so a crashed run leaves no
lock file behind, and two rlfb processes on one machine never pick the same uid.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
from typing import Any

from rlfb.verifiers.code import wire

ZYGOTE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote.py")
UID_SPAN = 1024
_CONTROL_TIMEOUT_S = 30.0
_ZYGOTE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


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


class ForkServer:
    """A running fork server: one sandbox uid, one execution at a time.

    Args:
        uid_base: first uid of the sandbox uid range.
        namespaces: use Linux namespaces where the kernel allows them.
        preload: modules the server imports before forking (children get them for free).
        hide_paths: directories shown empty inside the sandbox.
    """

    def __init__(self, uid_base: int, namespaces: bool, preload: list[str],
                 hide_paths: list[str]) -> None:
        self.uid, self._holder = claim_uid(uid_base)
        self.workroot = os.path.join(tempfile.gettempdir(), f"rlfb-sandbox-{self.uid}")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cfg = {"fd": theirs.fileno(), "uid": self.uid, "gid": self.uid,
               "parent_pid": os.getpid(), "namespaces": namespaces, "preload": preload,
               "hide_paths": hide_paths, "workroot": self.workroot}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-B", ZYGOTE, json.dumps(cfg)], pass_fds=[theirs.fileno()],
            env=_ZYGOTE_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd="/")
        theirs.close()
        self.sock = ours
        self.sock.settimeout(_CONTROL_TIMEOUT_S)
        ready = self._expect({"ready"})
        self.isolation: dict[str, Any] = ready["isolation"]

    def fileno(self) -> int:
        """The control socket, for polling for ``exited`` events."""
        return self.sock.fileno()

    def _recv(self) -> dict[str, Any]:
        try:
            return wire.recv_json(self.sock)
        except (OSError, EOFError, ValueError) as exc:
            raise SandboxFailure(f"fork server stopped answering: {type(exc).__name__}: {exc}")

    def _expect(self, ops: set[str]) -> dict[str, Any]:
        while True:
            msg = self._recv()
            if msg.get("op") in ops:
                return msg

    def event(self) -> dict[str, Any]:
        """Read one event (call only when `fileno` is readable)."""
        return self._recv()

    def spawn(self, request: dict[str, Any], fds: list[int]) -> int:
        """Start one execution; ``fds`` are handed to the child. Returns its pid (in the
        sandbox's PID namespace). Raises `SandboxFailure` when the child could not be set up."""
        body = json.dumps({"op": "spawn", **request}).encode("utf-8")
        try:
            socket.send_fds(self.sock, [struct.pack(">I", len(body))], fds)
            self.sock.sendall(body)
        except OSError as exc:
            raise SandboxFailure(f"fork server unreachable: {exc}") from exc
        reply = self._expect({"spawned", "spawn_failed"})
        if reply["op"] == "spawn_failed":
            raise SandboxFailure(f"sandbox setup failed: {reply['reason']}")
        return int(reply["pid"])

    def reap(self) -> dict[str, Any]:
        """Kill whatever is left of the execution, wait for all of it; ``status`` is the
        child's exit status (negative: killed by that signal), ``clean`` that nothing survived."""
        try:
            self.sock.sendall(wire.frame_json({"op": "reap"}))
        except OSError as exc:
            raise SandboxFailure(f"fork server unreachable: {exc}") from exc
        reply = self._expect({"reaped"})
        if not reply["clean"]:
            raise SandboxFailure("sandbox processes or files survived the reap")
        return reply

    def close(self) -> None:
        """Stop the server (it kills every sandbox process on the way out)."""
        try:
            self.sock.close()
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        finally:
            self._holder.close()
            if os.path.isdir(self.workroot):
                import shutil
                shutil.rmtree(self.workroot, ignore_errors=True)
