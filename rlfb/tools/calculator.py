"""`"calculator"`: exact arithmetic with sympy, bounded in time and memory like the math verifier.

The expression is parsed and evaluated by `rlfb.tools.arithmetic` (arithmetic only, never
``eval``; the math verifier's size guard first) in a worker process, as the math verifier runs
sympy in worker processes: the worker caps its address space, and a call past ``timeout_s``
kills it (the next call starts a fresh one). So neither a slow sympy evaluation nor one that
eats memory can stall or grow the rollout process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from typing import Any

from rlfb.environments.base import Tool, ToolResult

WORKER_START_S = 30.0
"""Wall time allowed beyond ``timeout_s`` for starting the worker (it imports sympy once):
`Tool.overhead_s` of this tool."""


class CalculatorWorker:
    """One worker process (``python -m rlfb.tools.arithmetic``), started on first use."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def ask(self, expression: str, timeout_s: float) -> dict[str, Any] | None:
        """The worker's reply, or None when it ran past ``timeout_s`` (it is then killed).
        Starting the worker does not count against ``timeout_s``."""
        proc = self._ensure()
        assert proc.stdin is not None
        proc.stdin.write((json.dumps({"expression": expression}) + "\n").encode())
        proc.stdin.flush()
        line = self._readline(proc, time.monotonic() + timeout_s)
        if line is None:
            self.close()
            return None
        return json.loads(line)

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._buffer = b""
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "rlfb.tools.arithmetic"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
            self._ping(self._proc)
        return self._proc

    def _ping(self, proc: subprocess.Popen[bytes]) -> None:
        """Wait until the worker has imported sympy and answers (one warm-up request)."""
        assert proc.stdin is not None
        proc.stdin.write(b'{"expression": "1"}\n')
        proc.stdin.flush()
        if self._readline(proc, time.monotonic() + WORKER_START_S) is None:
            self.close()
            raise RuntimeError(f"the calculator worker did not start in {WORKER_START_S:g} s")

    def _readline(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes | None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RuntimeError(f"the calculator worker exited (status {proc.wait()})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def close(self) -> None:
        """Kill the worker (a new one starts on the next call)."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None


class Calculator(Tool):
    """Evaluates an arithmetic expression exactly (see the module docstring).

    Args:
        timeout_s: wall-clock limit of one evaluation.
        output_chars: budget of the observation, in characters.
    """

    name = "calculator"
    description = ("Evaluate an arithmetic expression exactly, e.g. '123 * 456' or "
                   "'(7 + 3) / 4'. Supports + - * / // % ** (or ^), parentheses, pi, e, sqrt, "
                   "abs, exp, log, sin, cos, tan, floor, ceil, factorial.")
    parameters = {"type": "object",
                  "properties": {"expression": {"type": "string",
                                                "description": "the arithmetic to evaluate"}},
                  "required": ["expression"]}
    overhead_s = WORKER_START_S

    def __init__(self, timeout_s: float = 2.0, output_chars: int = 500) -> None:
        self.timeout_s = float(timeout_s)
        self.output_chars = int(output_chars)
        self._worker = CalculatorWorker()
        self._lock = threading.Lock()  # one worker, one request at a time
        weakref.finalize(self, self._worker.close)  # no worker outlives its tool

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        """The value of ``arguments["expression"]``, or why it has none."""
        expression = arguments["expression"]
        with self._lock:
            reply = self._worker.ask(expression, self.timeout_s)
        if reply is None:
            return ToolResult(f"TIMEOUT: {expression!r} took longer than {self.timeout_s:g} s",
                              "timeout")
        if reply["status"] != "ok":
            return ToolResult(f"ERROR: {reply['message']}", "error")
        return ToolResult(reply["value"])

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._worker.close()
