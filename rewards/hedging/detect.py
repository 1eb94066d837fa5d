"""Hedge detectors: is a completion unhedged, hedged, or uninformative?

The hedging reward needs the *hedge class* of an answer, independent of whether it is right.
Detectors have their own registry (entry-point group ``rlfb.hedge_detectors``):

>>> from rlfb.rewards.hedging.detect import get_hedge_detector
>>> d = get_hedge_detector("phrases")
>>> [d.detect(t).hedge_class.value for t in ("It is 7.", "It's probably 7.", "I don't know.")]
['unhedged', 'hedged', 'uninformative']
>>> d.detect("The most likely outcome is 7.").hedge_class.value
'unhedged'

``phrases`` (`PhraseHedgeDetector`) is a documented phrase-and-pattern detector; the phrase lists
and the choices behind them are in `rlfb.rewards.hedging.lexicon`. A learned classifier joins by
subclassing `HedgeDetector` (implement `detect`) and registering under a name.

How `PhraseHedgeDetector` decides:

1. Text that is not the speaker's own claim is set aside: closed ``<think>`` blocks (unless they
   are all there is; ``ignore_reasoning``), code, quotations, blockquotes, and restated questions
   ("the question asks which is most likely ...", to the end of that sentence).
2. Cues are found: *guess* hedges (commit to an answer: "probably", "I think", "my best guess"),
   *doubt* hedges ("I'm not sure", "if I recall correctly", "pretty sure"), *abstentions*
   ("I don't know", "cannot be determined") and *boosters* ("definitely", evidence only).
3. A cue overlapped by a *shield* phrase (not wholly inside the cue) is dropped: negations
   ("no doubt", "I'm not unsure"), probability as the subject matter ("the most likely
   outcome", "equally likely"), procedural modality ("maybe we should try", "may be written
   as"). Overlapping cues keep the longer one ("I don't know for sure" is a doubt, not an
   abstention).
4. A stated probability ("confidence: 70%") below ``certain_at`` is a hedge.
5. Class: an abstention is *uninformative* unless an answer is committed (a guess cue, "the
   answer is ...", ``\\boxed{}``, "= 7", "it's either ...", or after the abstention "but it's
   ..."), which makes it *hedged*. An ``<answer>`` tag that holds an answer commits one too: "I
   don't know. <answer>12</answer>" is a hedged answer that a verifier will score, not an
   abstention. Any other hedge makes it *hedged*, except doubt alone with no
   content words left ("I'm not sure, sorry."), which is *uninformative*. No cue: *unhedged*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, ClassVar, Iterable, Sequence

from rlfb.golden import case_file, load_cases
from rlfb.registry import Registry, make_instance, subclass_check
from rlfb.rewards.hedging import lexicon as lex
from rlfb.rewards.hedging.text import (
    blank,
    content_words,
    normalise,
    quoted_spans,
    reasoning_spans,
    reported_spans,
)
from rlfb.rewards.hedging.confidence import parse_stated_confidence


class HedgeClass(str, Enum):
    """How an answer is expressed: flatly, with hedges, or not at all."""

    UNHEDGED = "unhedged"
    HEDGED = "hedged"
    UNINFORMATIVE = "uninformative"


@dataclass(frozen=True)
class HedgeCue:
    """One phrase that bears on the hedge class.

    ``kind`` is "guess", "doubt", "abstain", "booster" or "confidence"; ``start``/``end`` are
    offsets in the original text, so ``text[start:end]`` is the phrase as written.
    """

    kind: str
    phrase: str
    start: int
    end: int


@dataclass(frozen=True)
class HedgeDetection:
    """A detector's verdict.

    Attributes:
        hedge_class: the class.
        cues: the phrases found, in text order (the evidence).
        confidence: a stated probability of being correct, when the text gives one.
        reason: one line on why this class.
    """

    hedge_class: HedgeClass
    cues: tuple[HedgeCue, ...] = ()
    confidence: float | None = None
    reason: str = ""

    @property
    def evidence(self) -> list[str]:
        """The cues as ``"kind: phrase"`` strings, for logs and `RewardResult.info`."""
        return [f"{c.kind}: {c.phrase}" for c in self.cues]


@dataclass(frozen=True)
class HedgeCase:
    """A labelled response for `check_hedge_detector`: ``kind`` is "clear" (an obvious case)
    or "adversarial" (a content use, negation or trap that a naive detector gets wrong)."""

    text: str
    expected: HedgeClass
    kind: str = "clear"
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)


class HedgeDetector:
    """Base class of hedge detectors: options are ``__init__`` keyword arguments; subclasses
    implement `detect` and may list `golden_cases`."""

    name: str = ""
    version: ClassVar[str] = "0"
    golden_cases: ClassVar[Sequence[HedgeCase]] = ()

    def detect(self, text: str) -> HedgeDetection:
        """Classify one completion."""
        raise NotImplementedError

    def detect_batch(self, texts: Sequence[str]) -> list[HedgeDetection]:
        """Classify many completions (a learned classifier overrides this to batch)."""
        return [self.detect(t) for t in texts]


HEDGE_DETECTORS: Registry[type[HedgeDetector]] = Registry(
    "hedge detector", group="rlfb.hedge_detectors", check=subclass_check(HedgeDetector)
)


def register_hedge_detector(name: str, target: Any = None) -> Callable[[Any], Any] | Any:
    """Register a `HedgeDetector` subclass (decorator form) or a lazy ``"module:Class"``."""
    return HEDGE_DETECTORS.register(name, target)


def get_hedge_detector(name: str, **options: Any) -> HedgeDetector:
    """A new detector instance; raises `rlfb.errors.RegistryError` for unknown names/options."""
    detector = make_instance(HEDGE_DETECTORS, name, options)
    detector.name = name
    return detector


def list_hedge_detectors() -> list[str]:
    """Names of all registered hedge detectors, sorted."""
    return HEDGE_DETECTORS.names()


def _compile(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


_GUESS, _DOUBT, _ABSTAIN = _compile(lex.GUESS), _compile(lex.DOUBT), _compile(lex.ABSTAIN)
_SHIELD, _BOOSTER = _compile(lex.SHIELD), _compile(lex.BOOSTER)
# An answer committed anywhere ("the answer is 7", "\\boxed{7}", "= 7", "it's either A or B") ...
_ANSWER = _compile((
    r"\\boxed\s*\{",
    r"\banswer[\s*_]*(?:is|would\s+be|will\s+be|:|=)[\s*_]*(?!(?:to|for|of|in|here|supposed|going|"
    r"that|what|unknown|not|unclear|beyond|i|i'm|cannot|can't|none|n/a|undetermined|"
    r"indeterminate|unanswerable)\b)[^\s.?!,*_]",
    r"=\s*-?\d",
    r"\b(?:it's|it\s+is|it\s+was)\s+either\b",
))
# ... or an answer tag holding an answer ("I don't know. <answer>12</answer>": a verifier extracts
# and scores the 12, so the response is a hedged answer, not an abstention) ...
_ANSWER_TAG = re.compile(r"<answer>(?P<body>.*?)</answer>", re.DOTALL)
_NON_ANSWER = re.compile(r"[\W_]*(?:n/?a|none|null|unknown|idk|no\s+answer|undetermined|"
                         r"indeterminate|unanswerable|not\s+sure|\?+|-+)?[\W_]*")
# ... or a contrast after the abstention that goes on to an answer ("I don't know, but it's 7").
_CONTRAST = re.compile(
    r"\b(?:but|however|though|although|still|that\s+said|nevertheless)\b[^.!?\n]{0,60}?"
    r"(?:\d|\bit's\b|\bit\s+(?:is|was|would)\b|\bthe\s+answer\b|\bi'd\b|\bi\s+would\b|\bmy\b)"
)


def _find(patterns: Sequence[re.Pattern[str]], text: str, kind: str) -> list[HedgeCue]:
    return [HedgeCue(kind, m.group(), m.start(), m.end())
            for p in patterns for m in p.finditer(text) if m.end() > m.start()]


def _shielded(cue: HedgeCue, shields: list[tuple[int, int]]) -> bool:
    """A cue is shielded when a shield phrase overlaps it without lying wholly inside it
    ("the most likely outcome" shields "likely"; "more likely than not" keeps its own words)."""
    return any(s < cue.end and cue.start < e and not (cue.start <= s and e <= cue.end)
               for s, e in shields)


def _longest_non_overlapping(cues: list[HedgeCue]) -> list[HedgeCue]:
    kept: list[HedgeCue] = []
    for cue in sorted(cues, key=lambda c: (c.start - c.end, c.start)):
        if all(cue.end <= k.start or cue.start >= k.end for k in kept):
            kept.append(cue)
    return sorted(kept, key=lambda c: c.start)


def _tagged_answer(visible: str, abstains: list[HedgeCue]) -> bool:
    """True when an ``<answer>`` tag holds an answer: not empty, not a stand-in for one
    ("N/A", "unknown", "?"), and not itself an abstention ("<answer>I don't know</answer>")."""
    for m in _ANSWER_TAG.finditer(visible):
        start, end = m.span("body")
        if _NON_ANSWER.fullmatch(m.group("body")):
            continue
        if not any(start < a.end and a.start < end for a in abstains):
            return True
    return False


def _introduces(cue: HedgeCue, abstains: list[HedgeCue], visible: str) -> bool:
    """True when ``cue`` only introduces an abstention ("I guess I don't know")."""
    return any(cue.end <= a.start and re.fullmatch(r"[\s,]*(?:that\s+)?", visible[cue.end:a.start])
               for a in abstains)


class PhraseHedgeDetector(HedgeDetector):
    """Phrase-and-pattern hedge detector (see the module docstring and `_hedge_lexicon`).

    Args:
        ignore_reasoning: set aside closed ``<think>``/``<thinking>``/``<reasoning>`` blocks.
        ignore_quotes: set aside quotations, code and blockquote lines.
        ignore_reported: set aside restated questions.
        certain_at: a stated confidence at or above this is not a hedge.
        extra_guess, extra_doubt, extra_abstain, extra_shield: more regular expressions
            (over lower-cased text) for each list, e.g. for another language or domain.
    """

    version = "2"

    def __init__(
        self,
        ignore_reasoning: bool = True,
        ignore_quotes: bool = True,
        ignore_reported: bool = True,
        certain_at: float = 1.0,
        extra_guess: Sequence[str] = (),
        extra_doubt: Sequence[str] = (),
        extra_abstain: Sequence[str] = (),
        extra_shield: Sequence[str] = (),
    ) -> None:
        self.ignore_reasoning = ignore_reasoning
        self.ignore_quotes = ignore_quotes
        self.ignore_reported = ignore_reported
        self.certain_at = float(certain_at)
        try:
            self._guess = _GUESS + _compile(extra_guess)
            self._doubt = _DOUBT + _compile(extra_doubt)
            self._abstain = _ABSTAIN + _compile(extra_abstain)
            self._shield = _SHIELD + _compile(extra_shield)
        except re.error as exc:
            raise ValueError(f"bad extra hedge pattern: {exc}") from None

    # "clear" cases any reasonable detector must get; "adversarial" ones are content uses,
    # negations and traps where a naive keyword match goes wrong.
    golden_cases = load_cases(case_file(__file__, "hedge"), HedgeCase, HedgeClass)

    def visible_text(self, text: str) -> str:
        """The normalised text with set-aside regions blanked (same length as ``text``)."""
        spans: list[tuple[int, int]] = []
        if self.ignore_reasoning:
            spans += reasoning_spans(text)
        if self.ignore_quotes:
            spans += quoted_spans(text)
        visible = blank(normalise(text), spans)
        if self.ignore_reported:
            visible = blank(visible, reported_spans(visible))
        return visible

    def find_cues(self, text: str) -> list[HedgeCue]:
        """All surviving cues in ``text`` (shielded ones dropped, overlaps resolved), in order,
        with phrases as written in ``text``."""
        visible = self.visible_text(text)
        shields = [m.span() for p in self._shield for m in p.finditer(visible)]
        found = (_find(self._guess, visible, "guess") + _find(self._doubt, visible, "doubt")
                 + _find(self._abstain, visible, "abstain"))
        hedges = [c for c in found if not _shielded(c, shields)]
        cues = _longest_non_overlapping(hedges) + _find(_BOOSTER, visible, "booster")
        cues = [HedgeCue(c.kind, text[c.start:c.end], c.start, c.end) for c in cues]
        return sorted(cues, key=lambda c: (c.start, c.kind))

    def detect(self, text: str) -> HedgeDetection:
        """Classify one completion (rules in the module docstring)."""
        cues = self.find_cues(text)
        visible = self.visible_text(text)
        stated = parse_stated_confidence(visible)
        confidence = stated.value if stated is not None else None
        if stated is not None:
            cues.append(HedgeCue("confidence", text[stated.start:stated.start + len(stated.text)],
                                 stated.start, stated.start + len(stated.text)))
        cls, reason = self._classify(visible, cues, confidence)
        return HedgeDetection(cls, tuple(sorted(cues, key=lambda c: c.start)), confidence, reason)

    def _classify(
        self, visible: str, cues: list[HedgeCue], confidence: float | None
    ) -> tuple[HedgeClass, str]:
        kinds = {c.kind for c in cues}
        abstains = [c for c in cues if c.kind == "abstain"]
        if abstains:
            first = min(c.start for c in abstains)
            guesses = [c for c in cues
                       if c.kind == "guess" and not _introduces(c, abstains, visible)]
            committed = (bool(guesses) or any(p.search(visible) for p in _ANSWER)
                         or _tagged_answer(visible, abstains)
                         or _CONTRAST.search(visible, first) is not None)
            if committed:
                return HedgeClass.HEDGED, "an answer is committed after an abstention"
            return HedgeClass.UNINFORMATIVE, "abstains without committing to an answer"
        hedged_by_confidence = confidence is not None and confidence < self.certain_at
        if "guess" in kinds or hedged_by_confidence:
            return HedgeClass.HEDGED, "hedged answer"
        if "doubt" in kinds:
            skip = [(c.start, c.end) for c in cues]
            if not content_words(visible, skip):
                return HedgeClass.UNINFORMATIVE, "expresses doubt and gives no answer"
            return HedgeClass.HEDGED, "answer with expressed doubt"
        return HedgeClass.UNHEDGED, "no hedge found"


@dataclass(frozen=True)
class HedgeCheck:
    """The outcome of one golden case."""

    case: HedgeCase
    detection: HedgeDetection

    @property
    def passed(self) -> bool:
        """True when the detector gave the expected class."""
        return self.detection.hedge_class is self.case.expected


def check_hedge_detector(
    name: str, cases: Sequence[HedgeCase] | None = None, **options: Any
) -> list[HedgeCheck]:
    """Run ``cases`` (default: the detector's golden cases) through detector ``name``; each case's
    own options override ``options``. Like `rlfb verifiers check`, for hedge detectors."""
    if cases is None:
        cases = get_hedge_detector(name, **options).golden_cases
    checks = []
    for case in cases:
        detector = get_hedge_detector(name, **{**options, **case.options})
        checks.append(HedgeCheck(case, detector.detect(case.text)))
    return checks
