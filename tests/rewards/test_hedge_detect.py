"""The `phrases` hedge detector: golden cases, evidence, options and the registry."""

from __future__ import annotations

import pytest

from rlfb.errors import RegistryError
from rlfb.rewards.hedging.detect import (
    HedgeClass,
    HedgeDetection,
    HedgeDetector,
    check_hedge_detector,
    get_hedge_detector,
    list_hedge_detectors,
    register_hedge_detector,
)

U, H, N = HedgeClass.UNHEDGED, HedgeClass.HEDGED, HedgeClass.UNINFORMATIVE
GOLDEN_CASES = get_hedge_detector("phrases").golden_cases


@pytest.fixture(scope="module")
def detector():
    return get_hedge_detector("phrases")


def test_phrases_is_registered_through_its_entry_point():
    assert "phrases" in list_hedge_detectors()
    assert get_hedge_detector("phrases").name == "phrases"


def test_every_golden_case_passes():
    checks = check_hedge_detector("phrases")
    failures = [(c.case.text, c.case.expected.value, c.detection.hedge_class.value,
                 c.detection.evidence) for c in checks if not c.passed]
    assert not failures
    assert len(checks) == len(GOLDEN_CASES)


def test_golden_cases_cover_every_class_and_kind():
    by_class = {cls: sum(c.expected is cls for c in GOLDEN_CASES) for cls in HedgeClass}
    assert min(by_class.values()) >= 30, by_class
    assert sum(c.kind == "adversarial" for c in GOLDEN_CASES) >= 40
    assert len({c.text for c in GOLDEN_CASES}) == len(GOLDEN_CASES), "duplicate golden cases"


def test_check_fails_a_case_with_the_wrong_label():
    from rlfb.rewards.hedging.detect import HedgeCase

    checks = check_hedge_detector("phrases", cases=[HedgeCase("It's probably 7.", U)])
    assert not checks[0].passed
    assert checks[0].detection.hedge_class is H


@pytest.mark.parametrize("text, kind, phrase", [
    ("I think it's 7.", "guess", "I think"),
    ("It's 7, I'm not entirely sure.", "doubt", "not entirely sure"),
    ("I DON'T KNOW.", "abstain", "I DON'T KNOW"),
    ("Definitely 7.", "booster", "Definitely"),
    ("7. Confidence: 60%", "confidence", "Confidence: 60%"),
])
def test_evidence_names_the_phrase_as_written(detector, text, kind, phrase):
    detection = detector.detect(text)
    assert (kind, phrase) in [(c.kind, c.phrase) for c in detection.cues]
    cue = next(c for c in detection.cues if c.kind == kind)
    assert text[cue.start:cue.end] == phrase
    assert f"{kind}: {phrase}" in detection.evidence


def test_shielded_word_leaves_no_hedge_evidence(detector):
    detection = detector.detect("The most likely outcome is 7.")
    assert detection.hedge_class is U
    assert [c for c in detection.cues if c.kind in ("guess", "doubt", "abstain")] == []


def test_overlapping_cues_keep_the_longer(detector):
    detection = detector.detect("I don't know for sure, but it's 7.")
    kinds = [c.kind for c in detection.cues]
    assert "doubt" in kinds and "abstain" not in kinds


def test_stated_confidence_is_reported(detector):
    detection = detector.detect("The answer is 7. Confidence: 0.7")
    assert detection.confidence == pytest.approx(0.7, abs=1e-12)
    assert detection.hedge_class is H


def test_certain_at_option_moves_the_threshold():
    text = "The answer is 7 (95% confident)."
    assert get_hedge_detector("phrases").detect(text).hedge_class is H
    assert get_hedge_detector("phrases", certain_at=0.9).detect(text).hedge_class is U


def test_curly_apostrophes_and_case_are_normalised(detector):
    assert detector.detect("I DON\u2019T KNOW.").hedge_class is N
    assert detector.detect("I\u2019m Not Sure, But It\u2019s 7.").hedge_class is H


def test_reasoning_blocks_can_be_judged_when_asked():
    text = "<think>Maybe 6?</think>The answer is 7."
    assert get_hedge_detector("phrases").detect(text).hedge_class is U
    assert get_hedge_detector("phrases", ignore_reasoning=False).detect(text).hedge_class is H


def test_reasoning_alone_is_judged(detector):
    assert detector.detect("<think>Probably 7.</think>").hedge_class is H


def test_quotes_can_be_counted_when_asked():
    text = 'He wrote "I think so". The answer is 1999.'
    assert get_hedge_detector("phrases").detect(text).hedge_class is U
    assert get_hedge_detector("phrases", ignore_quotes=False).detect(text).hedge_class is H


def test_extra_patterns_extend_the_lists():
    text = "Je pense que c'est 7."
    assert get_hedge_detector("phrases").detect(text).hedge_class is U
    french = get_hedge_detector("phrases", extra_guess=[r"\bje pense\b"])
    assert french.detect(text).hedge_class is H
    shielded = get_hedge_detector("phrases", extra_shield=[r"\bprobably\s+approximately\s+correct\b"])
    assert shielded.detect("The learner is probably approximately correct.").hedge_class is U


def test_bad_extra_pattern_is_a_clear_error():
    with pytest.raises(RegistryError, match="bad extra hedge pattern"):
        get_hedge_detector("phrases", extra_guess=["(unclosed"])


def test_unknown_detector_and_option_are_clear_errors():
    with pytest.raises(RegistryError, match="did you mean 'phrases'"):
        get_hedge_detector("phrase")
    with pytest.raises(RegistryError, match="did you mean 'ignore_quotes'"):
        get_hedge_detector("phrases", ignore_quote=True)


def test_a_learned_detector_plugs_in_by_subclassing():
    @register_hedge_detector("test_length_rule")
    class LengthRule(HedgeDetector):
        def detect(self, text: str) -> HedgeDetection:
            return HedgeDetection(H if len(text) > 10 else U, reason="length")

    d = get_hedge_detector("test_length_rule")
    assert [r.hedge_class for r in d.detect_batch(["short", "a longer text"])] == [U, H]


def test_non_detector_is_rejected_at_registration():
    with pytest.raises(RegistryError, match="not usable"):
        register_hedge_detector("test_not_a_detector", object)
