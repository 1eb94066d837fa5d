"""`"hedging"`: Schulman's reward for saying how sure you are.

Two axes: *correctness* from any registered verifier (``verifier="math"`` by default) and the
*hedge class* (unhedged, hedged, uninformative) from a registered hedge detector
(``detector="phrases"`` by default). A declarative payoff table maps the pair to the reward.
The default table is Schulman's (2023):

================  =======  =====
class             correct  wrong
================  =======  =====
unhedged             +1.0   −4.0
hedged               +0.5   −2.0
uninformative         0.0    0.0
================  =======  =====

Like log loss, it is close to a proper scoring rule: it punishes confident errors hardest. For a
model that is right with probability p, the expected payoffs are 5p − 4 (unhedged), 2.5p − 2
(hedged) and 0 (uninformative); with the default table all three break even at p = 0.8, so the
best policy answers flatly above 80% and abstains below, and a hedge halves both the gain and
the loss of a flat answer. Override any cell with
``payoffs={"uninformative": {"correct": 1.0}}`` (cells not given keep their defaults); e.g. set
uninformative/correct when some references are themselves abstentions ("cannot be
determined"), so that saying so when it is the right answer is paid.

Further rules:

- **Judge failure.** A verifier TIMEOUT or ERROR, or a hedge detector that raises (a learned
  classifier can), gives ``value = None`` (masked), never 0.
- **Hedged but unparseable.** A hedged completion in which the verifier finds no answer
  (UNPARSEABLE) has expressed doubt and given nothing to check: it counts as uninformative
  (``hedged_unparseable="uninformative"``, default) or as a hedged wrong answer
  (``"wrong"``). An unhedged unparseable completion is an unhedged wrong answer.
- **Stated confidence.** With ``confidence_scoring="log"`` or ``"brier"``, a completion that
  states a probability ("Confidence: 70%") is scored by that proper rule instead of the table
  (see `rlfb.rewards.hedging.confidence`; ``confidence_scale`` multiplies it, ``log_eps`` clips it).
  Completions without one use the table. With ``confidence_scoring=None`` (default) a stated
  confidence below 1 simply makes the completion hedged.

Every result reports ``components`` ``{"correct": verifier score, "payoff": value}``, the
`VerifyResult` under the verifier's name, and ``info`` with ``hedge_class``, ``hedge_evidence``,
``correct``, ``stated_confidence`` and ``scoring`` ("table", "log", "brier" or "masked"), which
`rlfb.rewards.hedging.metrics.records_from_results` turns into hedge-rate / ECE metrics.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Hashable, Mapping, Sequence

from rlfb.errors import ConfigError
from rlfb.rewards.base import Reward, RewardResult
from rlfb.rewards.hedging.confidence import proper_score
from rlfb.rewards.hedging.detect import HedgeClass, HedgeDetection, get_hedge_detector
from rlfb.verifiers import VerifyResult, VerifyStatus, get_verifier

#: Schulman's payoff table: class → outcome → reward.
DEFAULT_PAYOFFS: dict[str, dict[str, float]] = {
    "unhedged": {"correct": 1.0, "wrong": -4.0},
    "hedged": {"correct": 0.5, "wrong": -2.0},
    "uninformative": {"correct": 0.0, "wrong": 0.0},
}
OUTCOMES = ("correct", "wrong")


def _unknown(kind: str, key: str, known: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ConfigError(f"unknown {kind} {key!r} in hedging payoffs; {hint}"
                       f"(known: {', '.join(known)})")


def payoff_table(
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, dict[str, float]]:
    """`DEFAULT_PAYOFFS` with the cells in ``overrides`` replaced; unknown classes or outcomes
    and non-numbers are a `ConfigError`.

    >>> payoff_table({"hedged": {"wrong": -1}})["hedged"]
    {'correct': 0.5, 'wrong': -1.0}
    """
    table = {cls: dict(row) for cls, row in DEFAULT_PAYOFFS.items()}
    for cls, row in (overrides or {}).items():
        if cls not in table:
            raise _unknown("hedge class", cls, list(table))
        if not isinstance(row, Mapping):
            raise ConfigError(f"hedging payoffs[{cls!r}] must map 'correct'/'wrong' to numbers, "
                              f"got {row!r}")
        for outcome, value in row.items():
            if outcome not in OUTCOMES:
                raise _unknown("outcome", outcome, list(OUTCOMES))
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ConfigError(f"hedging payoffs[{cls!r}][{outcome!r}] must be a number, "
                                  f"got {value!r}")
            table[cls][outcome] = float(value)
    return table


class HedgingReward(Reward):
    """Correctness × hedge class → payoff (see the module docstring).

    Args:
        verifier: registry name of the correctness verifier.
        verifier_options: its options.
        detector: registry name of the hedge detector.
        detector_options: its options.
        payoffs: cells overriding Schulman's table, ``{class: {"correct"|"wrong": value}}``.
        confidence_scoring: None (always the table), "log" or "brier" for stated confidences.
        confidence_scale: multiplies the proper score.
        log_eps: clipping of p in the log score.
        brier_form: "negative" (−(p−y)²) or "one_minus" (1 − (p−y)²).
        hedged_unparseable: "uninformative" or "wrong" (see the module docstring).
    """

    version = "1"

    def __init__(
        self,
        verifier: str = "math",
        verifier_options: dict[str, Any] | None = None,
        detector: str = "phrases",
        detector_options: dict[str, Any] | None = None,
        payoffs: dict[str, dict[str, float]] | None = None,
        confidence_scoring: str | None = None,
        confidence_scale: float = 1.0,
        log_eps: float = 1e-4,
        brier_form: str = "negative",
        hedged_unparseable: str = "uninformative",
    ) -> None:
        if confidence_scoring not in (None, "log", "brier"):
            raise ConfigError(f"confidence_scoring {confidence_scoring!r} must be null, 'log' "
                              "or 'brier'")
        if hedged_unparseable not in ("uninformative", "wrong"):
            raise ConfigError(f"hedged_unparseable {hedged_unparseable!r} must be "
                              "'uninformative' or 'wrong'")
        if brier_form not in ("negative", "one_minus"):
            raise ConfigError(f"brier_form {brier_form!r} must be 'negative' or 'one_minus'")
        if not 0.0 < log_eps < 0.5:
            raise ConfigError(f"log_eps {log_eps!r} must be in (0, 0.5), e.g. 1e-4")
        self.verifier_name = verifier
        self.verifier = get_verifier(verifier, **(verifier_options or {}))
        self.detector = get_hedge_detector(detector, **(detector_options or {}))
        self.payoffs = payoff_table(payoffs)
        self.confidence_scoring = confidence_scoring
        self.confidence_scale = float(confidence_scale)
        self.log_eps = float(log_eps)
        self.brier_form = brier_form
        self.hedged_unparseable = hedged_unparseable

    def score(self, completion: str, reference: Any) -> RewardResult:
        """Verify, detect the hedge class, and look up (or properly score) the payoff."""
        return self.combine(self.verifier.verify(completion, reference),
                            self._detect([completion])[0])

    def score_batch(
        self,
        completions: Sequence[str],
        references: Sequence[Any],
        group_ids: Sequence[Hashable] | None = None,
    ) -> list[RewardResult]:
        """Score many completions through the verifier's and detector's batch paths."""
        if len(completions) != len(references):
            raise ValueError(f"score_batch got {len(completions)} completions and "
                             f"{len(references)} references")
        verdicts = self.verifier.verify_batch(completions, references)
        detections = self._detect(completions)
        return [self.combine(v, d) for v, d in zip(verdicts, detections)]

    def _detect(self, completions: Sequence[str]) -> list[HedgeDetection | Exception]:
        """Detections, or the exception for each completion whose detection failed."""
        try:
            return list(self.detector.detect_batch(completions))
        except Exception:  # find which ones fail; the others still count
            out: list[HedgeDetection | Exception] = []
            for text in completions:
                try:
                    out.append(self.detector.detect(text))
                except Exception as exc:  # the detector failed, not the answer: masked
                    out.append(exc)
            return out

    def combine(self, result: VerifyResult, detection: HedgeDetection | Exception) -> RewardResult:
        """The reward for one verifier result and one hedge detection (an exception from the
        detector masks the sample)."""
        if isinstance(detection, Exception):
            info = {"hedge_class": None, "correct": None, "scoring": "masked",
                    "hedge_error": f"{type(detection).__name__}: {detection}"}
            return RewardResult(None, {"correct": None, "payoff": None},
                                {self.verifier_name: result}, info)
        hedge_class = detection.hedge_class
        info: dict[str, Any] = {
            "hedge_class": hedge_class.value,
            "hedge_evidence": detection.evidence,
            "hedge_reason": detection.reason,
            "stated_confidence": detection.confidence,
        }
        if not result.judged:
            info.update(correct=None, scoring="masked")
            return RewardResult(None, {"correct": None, "payoff": None},
                                {self.verifier_name: result}, info)
        correct = result.status is VerifyStatus.CORRECT
        if (hedge_class is HedgeClass.HEDGED and result.status is VerifyStatus.UNPARSEABLE
                and self.hedged_unparseable == "uninformative"):
            hedge_class = HedgeClass.UNINFORMATIVE
            info["hedge_class"] = hedge_class.value
            info["hedge_reason"] = "hedged, and the verifier found no answer"
        if self.confidence_scoring is not None and detection.confidence is not None:
            value = proper_score(detection.confidence, correct, self.confidence_scoring,
                                 eps=self.log_eps, scale=self.confidence_scale,
                                 brier_form=self.brier_form)  # type: ignore[arg-type]
            scoring = self.confidence_scoring
        else:
            value = self.payoffs[hedge_class.value]["correct" if correct else "wrong"]
            scoring = "table"
        info.update(correct=correct, scoring=scoring)
        return RewardResult(value, {"correct": result.score, "payoff": value},
                            {self.verifier_name: result}, info)
