"""The verifier contract: `VerifyStatus`, `VerifyResult`, `Verdict`, `GoldenCase`, `Verifier`.

A verifier judges one completion against one reference. Subclasses implement `judge`, which
returns a `Verdict` (status, optional score, extracted answer, evidence); `Verifier.verify` adds
the registry name, version and latency, and turns an exception inside the judge into ERROR —
the judge failed, not the answer. TIMEOUT and ERROR results carry ``score = nan`` so that a
failed judgement can never be mistaken for a score of 0: rewards mask them (``value = None``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, ClassVar, Sequence


class VerifyStatus(str, Enum):
    """How a judgement ended. CORRECT/WRONG/UNPARSEABLE judge the answer; TIMEOUT/ERROR mean the
    judge itself failed and the sample must be masked, never scored."""

    CORRECT = "correct"
    WRONG = "wrong"
    UNPARSEABLE = "unparseable"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def judged(self) -> bool:
        """True when the judge reached a verdict on the answer (not TIMEOUT/ERROR)."""
        return self in (VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.UNPARSEABLE)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of one `Verifier.verify` call.

    Attributes:
        status: the verdict.
        score: 1.0 correct, 0.0 wrong/unparseable, partial credit in between where the verifier
            offers it; ``nan`` when the judge failed (TIMEOUT/ERROR).
        extracted: what the verifier read as the answer, or None.
        info: evidence (failing test, parse trace, sandbox stats, exception text ...).
        verifier: registry name of the verifier.
        version: changes whenever the verifier's judgement can change.
        latency_s: wall-clock seconds spent in the judgement.
    """

    status: VerifyStatus
    score: float
    extracted: str | None
    info: dict[str, Any]
    verifier: str
    version: str
    latency_s: float

    @property
    def judged(self) -> bool:
        """True unless the judge failed (TIMEOUT/ERROR)."""
        return self.status.judged

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; a ``nan`` score becomes None."""
        d = asdict(self)
        d["status"] = self.status.value
        d["score"] = None if math.isnan(self.score) else self.score
        return d


@dataclass(frozen=True)
class Verdict:
    """What `Verifier.judge` returns; ``score=None`` means 1.0 for CORRECT, else 0.0."""

    status: VerifyStatus
    score: float | None = None
    extracted: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldenCase:
    """A labelled example that `rlfb verifiers check NAME` runs.

    ``kind`` is "positive" (should pass), "negative" (should fail) or "adversarial" (an attempt
    to fool the judge that must fail). ``options`` are verifier options for this case.
    """

    completion: str
    reference: Any
    expected: VerifyStatus
    kind: str = "positive"
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def default_score(status: VerifyStatus) -> float:
    """1.0 for CORRECT, 0.0 for WRONG/UNPARSEABLE, nan when the judge failed."""
    if status is VerifyStatus.CORRECT:
        return 1.0
    if status.judged:
        return 0.0
    return math.nan


def judge_failure(exc: BaseException) -> Verdict:
    """The verdict of a sample whose judge raised: ERROR (the judge failed, not the answer),
    masked downstream, with the exception named in ``info``."""
    return Verdict(VerifyStatus.ERROR, info={"exception": f"{type(exc).__name__}: {exc}"})


class Verifier:
    """Base class of every verifier. Subclasses set `version`, define their options as keyword
    arguments of ``__init__``, implement `judge`, and may list `golden_cases`.

    `verify_batch` runs `verify` in a loop; verifiers with a faster path (a process pool, a
    sandbox fork server) override it.
    """

    name: str = ""
    version: ClassVar[str] = "0"
    golden_cases: ClassVar[Sequence[GoldenCase]] = ()

    def judge(self, completion: str, reference: Any) -> Verdict:
        """Judge one completion; implemented by subclasses."""
        raise NotImplementedError

    def verify(self, completion: str, reference: Any) -> VerifyResult:
        """Judge one completion against one reference; never raises for a judge failure."""
        start = time.perf_counter()
        try:
            verdict = self.judge(completion, reference)
        except Exception as exc:
            verdict = judge_failure(exc)
        return self.make_result(verdict, time.perf_counter() - start)

    def verify_batch(
        self, completions: Sequence[str], references: Sequence[Any]
    ) -> list[VerifyResult]:
        """Judge many completions; ``references[i]`` belongs to ``completions[i]``."""
        if len(completions) != len(references):
            raise ValueError(
                f"verify_batch got {len(completions)} completions and {len(references)} references"
            )
        return [self.verify(c, r) for c, r in zip(completions, references)]

    def make_result(self, verdict: Verdict, latency_s: float) -> VerifyResult:
        """Wrap a `Verdict` with this verifier's name, version and the latency."""
        score = default_score(verdict.status) if verdict.score is None else float(verdict.score)
        if not verdict.status.judged:
            score = math.nan
        return VerifyResult(
            status=verdict.status,
            score=score,
            extracted=verdict.extracted,
            info=dict(verdict.info),
            verifier=self.name or type(self).__name__,
            version=self.version,
            latency_s=latency_s,
        )
