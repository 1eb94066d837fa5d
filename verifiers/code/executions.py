"""One sandboxed execution as the trusted judge sees it: untrusted bytes, read with deadlines.

Everything read here comes from a process the candidate controls, so every read has a deadline
(wall clock, enforced by this side) and a size limit, and a frame is only ever bytes for
`wire.decode`. A deadline that passes raises `CandidateTimeout`; a peer that hangs up, sends an
oversized or malformed frame raises `CandidateCrash`.
"""

from __future__ import annotations

import os
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from rlfb.verifiers.code import wire
from rlfb.verifiers.code.forkserver import ForkServer, SandboxFailure

_STDERR_TAIL = 2000
_SETUP_TIMEOUT_S = 30.0


class CandidateTimeout(Exception):
    """The wall-clock deadline passed while waiting for the candidate."""


class CandidateCrash(Exception):
    """The candidate's process died, hung up, or broke the protocol (the reason is the text)."""


def _wait(fd: int, events: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(fd, events)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CandidateTimeout("the wall-clock deadline passed")
        if poller.poll(left * 1000):
            return


class _Execution:
    """What every execution has: a fork server, and the read end of the child's setup pipe."""

    def __init__(self, server: ForkServer, request: dict[str, Any], fds: list[int]) -> None:
        setup_r, setup_w = os.pipe()
        try:
            server.spawn(request, [*fds, setup_w])
        except BaseException:
            os.close(setup_r)
            raise
        finally:
            os.close(setup_w)
            for fd in fds:
                os.close(fd)
        self.server, self.setup_r = server, setup_r

    def finish(self, wait: bool = True) -> dict[str, Any] | None:
        """Check that the child's setup finished, then reap it; raises `SandboxFailure` when
        setup did not finish (then nothing the child did can count against the candidate).

        The child closes the setup pipe right after writing "ok" and before any candidate code
        runs, so waiting for its end of file takes no longer than the setup itself. With
        ``wait=False`` the reap is only requested, and settled later by the fork server handle.
        """
        try:
            report = self._setup_report(time.monotonic() + _SETUP_TIMEOUT_S)
        finally:
            os.close(self.setup_r)
        if report != b"ok":
            self.server.reap()
            why = report.decode("utf-8", "replace") or "the child died during setup"
            raise SandboxFailure(f"sandbox setup failed: {why}")
        return self.server.reap(wait=wait)

    def _setup_report(self, deadline: float) -> bytes:
        report = b""
        os.set_blocking(self.setup_r, False)
        while len(report) < 4096:
            try:
                chunk = os.read(self.setup_r, 4096)
            except BlockingIOError:
                try:
                    _wait(self.setup_r, select.POLLIN, deadline)
                except CandidateTimeout:
                    return report
                continue
            if not chunk:
                break
            report += chunk
        return report


class FunctionExecution(_Execution):
    """A sandboxed child serving calls to the candidate's function (see `runtime`)."""

    def __init__(self, server: ForkServer, code: str, entry: str, limits: dict[str, int],
                 max_bytes: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        request = {"mode": "function", "code": code, "entry": entry, "limits": limits}
        try:
            super().__init__(server, request, [theirs.detach()])
        except BaseException:
            ours.close()
            raise
        self.sock, self.max_bytes = ours, max_bytes
        self._buf = bytearray()

    def recv(self, deadline: float) -> bytes:
        """One frame from the child. The waiting is the socket's own timeout (poll and read in
        C), set to what is left of the deadline before each read."""
        while True:
            if len(self._buf) >= 4:
                n = wire.header_length(bytes(self._buf[:4]))
                if n > self.max_bytes:
                    raise CandidateCrash(f"a reply of {n} bytes is over the "
                                         f"{self.max_bytes}-byte limit")
                if len(self._buf) >= 4 + n:
                    payload = bytes(self._buf[4:4 + n])
                    del self._buf[:4 + n]
                    return payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise CandidateTimeout("the wall-clock deadline passed")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                raise CandidateTimeout("the wall-clock deadline passed") from None
            except OSError as exc:
                raise CandidateCrash(f"the candidate's process hung up ({exc})") from None
            if not chunk:
                raise CandidateCrash("the candidate's process exited")
            self._buf += chunk

    def send(self, payload: bytes, deadline: float) -> None:
        """One frame to the child (waits, up to the deadline, while its socket buffer is full)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise CandidateTimeout("the wall-clock deadline passed")
        self.sock.settimeout(left)
        try:
            self.sock.sendall(wire.frame(payload))
        except TimeoutError:
            raise CandidateTimeout("the wall-clock deadline passed") from None
        except OSError as exc:
            if self._drain_reply():  # it said why before it went (e.g. its code did not load)
                return
            raise CandidateCrash(f"the candidate's process hung up ({exc})") from None

    def _drain_reply(self) -> bool:
        """After a failed send: read what the child wrote before it exited, without waiting;
        True when a whole frame is buffered for the next `recv`."""
        self.sock.setblocking(False)
        try:
            while len(self._buf) <= 4 + self.max_bytes:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                self._buf += chunk
        except OSError:
            pass
        if len(self._buf) < 4:
            return False
        return len(self._buf) >= 4 + wire.header_length(bytes(self._buf[:4]))

    def close(self) -> None:
        """Kill the execution (its reap is settled later, see `ForkServer.settle`)."""
        self.sock.close()
        self.finish(wait=False)


@dataclass
class ProgramResult:
    """How one stdio run ended."""

    stdout: bytes
    stderr_tail: str
    status: int | None
    timed_out: bool
    overflow: bool


class ProgramExecution(_Execution):
    """A sandboxed child running a whole program on one input, stdout and stderr piped back."""

    def __init__(self, server: ForkServer, code: str, stdin: str, limits: dict[str, int]) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = {"mode": "stdio", "code": code, "input": stdin, "limits": limits}
        try:
            super().__init__(server, request, [out_w, err_w])
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.out_r, self.err_r = out_r, err_r

    def run(self, deadline: float, max_output: int) -> ProgramResult:
        """Collect output until the program exits, overflows ``max_output`` or times out;
        then reap it and drain what is left in the pipes."""
        out, err = bytearray(), bytearray()
        try:
            exited, timed_out = self._collect(out, err, deadline, max_output)
            reaped = self.finish()
            drain_until = time.monotonic() + 1.0
            for fd, buf in ((self.out_r, out), (self.err_r, err)):
                while len(out) <= max_output and time.monotonic() < drain_until:
                    if not self._read(fd, buf):
                        break
        finally:
            os.close(self.out_r)
            os.close(self.err_r)
        overflow = len(out) > max_output
        tail = bytes(err[-_STDERR_TAIL:]).decode("utf-8", "replace")
        return ProgramResult(bytes(out[:max_output]), tail, reaped["status"],
                             timed_out and not exited and not overflow, overflow)

    def _collect(self, out: bytearray, err: bytearray, deadline: float,
                 max_output: int) -> tuple[bool, bool]:
        """Read both pipes until the fork server says the program exited; (exited, timed out)."""
        poller = select.poll()
        for fd in (self.out_r, self.err_r, self.server.fileno()):
            poller.register(fd, select.POLLIN)
        open_fds = {self.out_r, self.err_r}
        exited = False
        while not exited and len(out) <= max_output:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, True
            for fd, _ in poller.poll(left * 1000):
                if fd == self.server.fileno():
                    event = self.server.event()
                    exited = exited or (event.get("op") == "exited"
                                        and event.get("pid") == self.server.child)
                elif fd in open_fds and not self._read(fd, out if fd == self.out_r else err):
                    open_fds.discard(fd)
                    poller.unregister(fd)
        return exited, False

    def _read(self, fd: int, into: bytearray) -> bool:
        """Append what is readable (stderr keeps only its tail); False at end of file."""
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        into += chunk
        if fd == self.err_r and len(into) > 2 * _STDERR_TAIL:
            del into[: len(into) - _STDERR_TAIL]
        return True
