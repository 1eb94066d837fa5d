"""`"python"`: run the model's code in the code verifier's sandbox and show what it printed.

The code runs exactly where a candidate's code runs when the ``code`` verifier judges it (see
docs/sandbox.md): a separate judge process hands it to a fork server, whose child runs it with
the verifier's isolation (namespaces, the minimal file-system view, seccomp, no network) and its
per-run limits (wall time ``timeout_s``, address space ``memory_mb``, processes, files). Nothing
of the host's trust boundary is new: this tool is `CodeVerifier.run_program` plus formatting.

The observation is the program's stdout, then its stderr (the last lines: a traceback) and a
non-zero exit status, cut to ``output_chars``. A run past ``timeout_s`` is a ``"timeout"``
result; a failure of the sandbox itself (never the code's fault) an ``"error"`` result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlfb.environments.base import Tool, ToolResult
from rlfb.verifiers import get_verifier
from rlfb.verifiers.code.extract import extract_code

SANDBOX_START_S = 30.0
"""Wall time allowed beyond ``timeout_s`` for the sandbox itself (a judge worker and its fork
server start on the first call): `Tool.overhead_s` of this tool."""


class PythonTool(Tool):
    """Runs a Python program in the code verifier's sandbox (see the module docstring).

    Args:
        timeout_s: wall-clock limit of one run.
        memory_mb: address-space limit of the sandboxed process.
        output_chars: budget of the observation, in characters.
        concurrency: sandbox workers (calls from concurrent episodes run in parallel up to it).
        sandbox: further options of the ``code`` verifier (``view``, ``max_processes``,
            ``uid_base``, ...), which builds the sandbox.
    """

    name = "python"
    description = ("Run a Python 3 program and return what it prints (stdout, then any error). "
                   "Use print() to see results; each call starts a fresh interpreter.")
    parameters = {"type": "object",
                  "properties": {"code": {"type": "string",
                                          "description": "the Python program to run"}},
                  "required": ["code"]}
    overhead_s = SANDBOX_START_S

    def __init__(self, timeout_s: float = 5.0, memory_mb: int = 512, output_chars: int = 2000,
                 concurrency: int = 2, sandbox: Mapping[str, Any] | None = None) -> None:
        self.timeout_s = float(timeout_s)
        self.output_chars = int(output_chars)
        self.verifier = get_verifier(
            "code", timeout_s=timeout_s, sample_timeout_s=timeout_s, memory_mb=memory_mb,
            concurrency=concurrency, max_output_bytes=4 * self.output_chars,
            **dict(sandbox or {}))

    def __call__(self, arguments: dict[str, Any]) -> ToolResult:
        """Run ``arguments["code"]`` (a fenced block in it is taken out of its fence)."""
        code, _ = extract_code(arguments["code"])
        reply = self.verifier.run_program(code)
        info = reply["info"]
        if reply["status"] == "error":
            return ToolResult(f"ERROR: the sandbox failed: {info['reason']}", "error")
        text = describe_run(info)
        if reply["status"] == "timeout":
            return ToolResult(f"TIMEOUT: the program ran past its limit of {self.timeout_s:g} s"
                              + (f"\n{text}" if info["stdout"] or info["stderr"] else ""),
                              "timeout")
        return ToolResult(text)

    def close(self) -> None:
        """Stop the sandbox workers (they start again on the next call)."""
        self.verifier.close()


def describe_run(info: Mapping[str, Any]) -> str:
    """The observation text of one run: stdout, stderr without the sandbox's own frames, and a
    non-zero exit status; ``(no output)`` when there is nothing.

    >>> describe_run({"stdout": "42\\n", "stderr": "", "exit_status": 0, "overflow": False})
    '42\\n'
    >>> describe_run({"stdout": "", "stderr": "", "exit_status": 0, "overflow": False})
    '(no output)'
    """
    parts = [info["stdout"]] if info["stdout"] else []
    if info.get("overflow"):
        parts.append("...[output cut]\n")
    stderr = "".join(line for line in info["stderr"].splitlines(keepends=True)
                     if '"<rlfb-sandbox:' not in line)
    if stderr:
        parts.append(stderr)
    status = info.get("exit_status")
    if status not in (0, None):
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        parts.append(f"({how})\n")
    return "".join(parts) or "(no output)"
