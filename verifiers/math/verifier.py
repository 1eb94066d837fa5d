"""`"math"`: is the completion's final answer mathematically equal to the reference?

A judgement goes through four stages, the cheapest first:

1. extraction (`extract`) of the completion's final answer, and of the reference's when the
   reference is a full solution;
2. an LRU cache on (reference answer, extracted answer) per verifier (its options are fixed);
3. the exact path in the calling process: normalised string equality, exact rational arithmetic
   for numbers, the answer's structure (lists, tuples, sets, intervals, relations), and
   multiple-choice letters; most answers end here, without sympy;
4. the sympy path (`symbolic`) in a worker process (`worker`), under the time budget: past it the
   worker is killed and the result is TIMEOUT (masked, never scored 0).

Statuses: CORRECT / WRONG; UNPARSEABLE when the completion has no readable answer (or one beyond
the guards: over 2000 characters, brackets nested over 60 deep, a number over 50,000 digits);
ERROR when the reference has no readable answer or a worker crashed; TIMEOUT past the budget.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from rlfb.errors import ConfigError
from rlfb.golden import case_file, load_cases
from rlfb.verifiers.base import (
    GoldenCase, Verdict, Verifier, VerifyResult, VerifyStatus, judge_failure,
)

from .compare import ExactBackend, OutOfTime, Policy
from .core import Outcome, choice_in_text, choice_letter, decide
from .extract import EXTRACTORS, extract
from .normalize import unescape
from .restate import restates_arithmetic
from .structure import MAX_ANSWER_CHARS
from .worker import WorkerCrash, WorkerTimeout, get_pool

_STATUS = {"correct": VerifyStatus.CORRECT, "wrong": VerifyStatus.WRONG,
           "unparseable": VerifyStatus.UNPARSEABLE, "error": VerifyStatus.ERROR}


class _LRU:
    """A thread-safe least-recently-used map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Verdict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Verdict | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Verdict) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


@dataclass(frozen=True)
class _Pending:
    """A check that the exact path could not settle: the work left for a sympy worker."""

    ref: str
    pred: str
    evidence: dict
    deadline: float


class MathVerifier(Verifier):
    """Mathematical equivalence of the final answer with the reference (module docstring).

    Args:
        timeout_s: time budget of one check, counted from the call (a cold start of the worker
            processes included, see `warmup`); past it the result is TIMEOUT (within about
            0.2 s), from any thread.
        extraction: ``"auto"`` (default: the marked answer that stands last in the completion —
            ``\\boxed{}``, "final answer is", ``<answer>``, ``####``, "the answer is" — else the
            bare text, the last math environment or the last number), or a list of extractor
            names tried in that strict priority order: ``boxed``, ``final_answer``,
            ``answer_tag``, ``gsm8k``, ``answer_is``, ``bare``, ``last_math``, ``last_number``.
            References are always read with ``"auto"``.
        percent: how ``p%`` compares with a bare number: ``"either"`` (default: ``10%`` equals
            10 and 0.1), ``"fraction"`` (only 0.1) or ``"strip"`` (only 10).
        rounding_digits: a decimal written with at least this many significant digits also
            equals an exact value it is a rounding or truncation of (``0.3333`` ~ ``1/3``,
            ``4.1231`` ~ ``\\sqrt{17}``); two decimals, or two exact values, must be equal.
            0 turns this off.
        rel_tol: numbers (not expressions) within this relative tolerance are equal; 0 (default)
            means exact.
        multiple_choice: when the reference is an option letter (``C``, ``(C)``, ``C. text``),
            compare option letters.
        inequality_for_interval: also credit an inequality (``-2 \\leq x \\leq 7``) against an
            interval reference (``[-2, 7]``); off by default because such a reference usually
            answers a question that asks for interval notation. An inequality reference always
            accepts the matching interval.
        require_value: when the reference is a plain number, an answer that is still an
            arithmetic expression over numbers (``2 - 4`` or ``3 \\times 7`` where ``-2`` or
            ``21`` is due) is WRONG, although it equals the number: a policy trained on a lenient
            check learns to restate the question. Fractions, scientific notation and ``x = 3``
            are values. On by default; ``False`` credits any equal expression.
        cache_size: entries in the (reference answer, extracted answer) LRU cache; 0 disables.
        workers: worker processes `verify_batch` fans out to; also raises the process-wide cap
            on concurrent sympy checks (default cap: twice the CPU count, at least 4), which
            threads calling `verify` at once share.
        batch_parallel_min: fewest sympy checks in a batch for `verify_batch` to spread them
            over the workers.
    """

    version = "1"
    # Adversarial cases include math-verify 0.9.0's known false positives (1 - 1/e vs 1 + 1/e,
    # 1/2004! vs 1/2006!, two different equations that both reduce to 0) and hedged answers.
    golden_cases = load_cases(case_file(__file__, "math"), GoldenCase, VerifyStatus)

    def __init__(
        self,
        timeout_s: float = 5.0,
        extraction: str | Sequence[str] = "auto",
        percent: str = "either",
        rounding_digits: int = 4,
        rel_tol: float = 0.0,
        multiple_choice: bool = True,
        inequality_for_interval: bool = False,
        require_value: bool = True,
        cache_size: int = 65536,
        workers: int | None = None,
        batch_parallel_min: int = 8,
    ) -> None:
        if not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise ConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if percent not in ("either", "fraction", "strip"):
            raise ConfigError(f"percent must be 'either', 'fraction' or 'strip', got {percent!r}")
        if extraction != "auto":
            if isinstance(extraction, str) or not extraction:
                raise ConfigError("extraction must be 'auto' or a non-empty list of extractor "
                                  f"names from {list(EXTRACTORS)}, got {extraction!r}")
            unknown = [e for e in extraction if e not in EXTRACTORS]
            if unknown:
                raise ConfigError(f"unknown extractor(s) {unknown}; choose from {list(EXTRACTORS)}")
            extraction = tuple(extraction)
        if rel_tol < 0 or rounding_digits < 0 or cache_size < 0:
            raise ConfigError("rel_tol, rounding_digits and cache_size must not be negative")
        self.timeout_s = float(timeout_s)
        self.extraction = extraction
        self.policy = Policy(percent, int(rounding_digits), float(rel_tol),
                             bool(inequality_for_interval))
        self.multiple_choice = bool(multiple_choice)
        self.require_value = bool(require_value)
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers
        if workers:
            get_pool().ensure_capacity(workers)
        self.batch_parallel_min = batch_parallel_min
        self._cache = _LRU(cache_size)

    def judge(self, completion: str, reference: Any) -> Verdict:
        """One judgement (see the class docstring)."""
        front = self._front(completion, reference, time.monotonic() + self.timeout_s)
        return front if isinstance(front, Verdict) else self._back(front)

    def _front(self, completion: str, reference: Any, deadline: float) -> Verdict | _Pending:
        """Everything before the sympy worker: a verdict, or the work left for the worker."""
        if reference is None:
            return Verdict(VerifyStatus.ERROR, info={"reason": "no reference answer given"})
        ref = extract(str(reference), bare_limit=MAX_ANSWER_CHARS)
        if ref is None or len(ref.answer) > MAX_ANSWER_CHARS:
            return Verdict(VerifyStatus.ERROR, info={"reason": "no readable reference answer"})
        pred = extract(str(completion), self.extraction) if completion is not None else None
        if pred is None:
            return Verdict(VerifyStatus.UNPARSEABLE, info={"reason": "no answer found"})
        evidence = {"extractor": pred.method, "reference_answer": ref.answer}
        if len(pred.answer) > MAX_ANSWER_CHARS:
            return Verdict(VerifyStatus.UNPARSEABLE, extracted=pred.answer[:200] + "...",
                           info={**evidence, "reason": f"answer over {MAX_ANSWER_CHARS} chars"})
        cached = self._cache.get((ref.answer, pred.answer))
        if cached is not None:
            return Verdict(cached.status, cached.score, pred.answer,
                           {**cached.info, "cached": True})
        try:
            outcome = self._exact(ref.answer, pred.answer, str(completion), deadline)
        except OutOfTime:
            return self._finish(ref.answer, pred.answer, Outcome(
                "timeout", {"reason": f"budget {self.timeout_s} s spent", "path": "exact"}),
                evidence)
        if outcome.status == "undecided":
            return _Pending(ref.answer, pred.answer, evidence, deadline)
        return self._finish(ref.answer, pred.answer, outcome, evidence)

    def _exact(self, ref: str, pred: str, completion: str, deadline: float) -> Outcome:
        letter = choice_letter(unescape(ref)) if self.multiple_choice else None
        if letter is not None:
            given = choice_letter(unescape(pred)) or choice_in_text(completion)
            return Outcome("correct" if given == letter else "wrong",
                           {"path": "choice", "choice": given, "expected_choice": letter})
        return decide(ref, pred, ExactBackend(self.policy, deadline))

    def _back(self, job: _Pending) -> Verdict:
        """The sympy path in a worker process, under the job's deadline."""
        message = {"op": "judge", "reference": job.ref, "prediction": job.pred,
                   "policy": self.policy.__dict__}
        try:
            reply = get_pool().call(message, job.deadline)
            outcome = Outcome(reply.get("status", "error"), reply.get("info", {}))
        except WorkerTimeout as exc:
            outcome = Outcome("timeout", {"reason": f"{exc} (budget {self.timeout_s} s)",
                                          "path": "sympy"})
        except WorkerCrash as exc:
            outcome = Outcome("error", {"reason": str(exc), "path": "sympy"})
        return self._finish(job.ref, job.pred, outcome, job.evidence)

    def _finish(self, ref: str, pred: str, outcome: Outcome, evidence: dict) -> Verdict:
        if (outcome.status == "correct" and self.require_value
                and restates_arithmetic(ref, pred)):
            outcome = Outcome("wrong", {**outcome.info, "reason": "an arithmetic expression, "
                                        "not a value (require_value)"})
        status = _STATUS.get(outcome.status, VerifyStatus.ERROR)
        if outcome.status == "timeout":
            status = VerifyStatus.TIMEOUT
        verdict = Verdict(status, None, pred, {**evidence, **outcome.info})
        if status.judged:
            self._cache.put((ref, pred), verdict)
        return verdict

    def verify_batch(self, completions: Sequence[str],
                     references: Sequence[Any]) -> list[VerifyResult]:
        """Judge many. The exact path runs here item by item; when at least
        ``batch_parallel_min`` items need sympy they fan out over the worker processes (each item
        keeps its own time budget, counted from the start of its own check)."""
        if len(completions) != len(references):
            raise ValueError(f"verify_batch got {len(completions)} completions and "
                             f"{len(references)} references")
        fronts: list[tuple[Verdict | _Pending, float]] = []
        for completion, reference in zip(completions, references):
            start = time.monotonic()
            try:
                front = self._front(completion, reference, start + self.timeout_s)
            except Exception as exc:  # the judge failed, not the answer
                front = judge_failure(exc)
            fronts.append((front, time.monotonic() - start))
        pending = [i for i, (f, _) in enumerate(fronts) if isinstance(f, _Pending)]
        workers = self.workers or get_pool().max_workers
        backs: dict[int, tuple[Verdict, float]] = {}
        if len(pending) >= self.batch_parallel_min and workers > 1:
            get_pool().ensure_capacity(workers)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i, result in zip(pending, pool.map(self._timed_back,
                                                       [fronts[i][0] for i in pending])):
                    backs[i] = result
        else:
            backs = {i: self._timed_back(fronts[i][0]) for i in pending}
        results = []
        for i, (front, elapsed) in enumerate(fronts):
            verdict, extra = backs.get(i, (front, 0.0))
            results.append(self.make_result(verdict, elapsed + extra))
        return results

    def _timed_back(self, job: _Pending) -> tuple[Verdict, float]:
        start = time.monotonic()
        try:
            verdict = self._back(job)
        except Exception as exc:  # the judge failed, not the answer
            verdict = judge_failure(exc)
        return verdict, time.monotonic() - start

    def warmup(self, workers: int = 1, full: bool = True) -> None:
        """Start ``workers`` worker processes before the first check, so that no check pays
        for the start (about half a second: the budget counts from the call, start included).
        With ``full`` (default), also wait until the fork server has parsed its warm-up corpus
        (a few seconds), so that workers parse common LaTeX at full speed from the first check.
        """
        get_pool().warm(workers, full=full)
