"""Golden cases for the `phrases` hedge detector, run by `check_hedge_detector("phrases")`.

"clear" cases are ones any reasonable detector must get; "adversarial" cases are content uses,
negations and traps where a naive keyword match goes wrong.
"""

from __future__ import annotations

from rlfb.rewards.hedge_detect import HedgeCase, HedgeClass

U, H, N = HedgeClass.UNHEDGED, HedgeClass.HEDGED, HedgeClass.UNINFORMATIVE


def _c(text: str, expected: HedgeClass, note: str = "") -> HedgeCase:
    return HedgeCase(text, expected, "clear", note)


def _a(text: str, expected: HedgeClass, note: str = "") -> HedgeCase:
    return HedgeCase(text, expected, "adversarial", note)


_HANDCRAFTED: tuple[HedgeCase, ...] = (
    # unhedged
    _c("The answer is 7.", U),
    _c("3 + 4 = 7", U),
    _c("Paris is the capital of France.", U),
    _c("First, 12 * 3 = 36. Then 36 + 6 = 42. The answer is \\boxed{42}.", U),
    # hedged: guesses
    _c("I think the answer is 7.", H),
    _c("I believe it was Lincoln.", H),
    _c("It's probably 7.", H),
    _c("The answer is likely 12.", H),
    _c("The answer is most likely 12.", H),
    _c("Maybe 7?", H),
    _c("Perhaps the answer is 42.", H),
    _c("It might be 7.", H),
    _c("The answer may be 7, but check my work.", H),
    _c("It could be 1867.", H),
    _c("My best guess is 7.", H),
    _c("If I had to guess, I'd say Paris.", H),
    _c("It seems to be 7.", H),
    _c("It's possible that the answer is 7.", H),
    _c("Chances are it's 7.", H),
    _c("I'd go with B.", H),
    _c("Possibly 1905.", H),
    _c("Presumably the answer is 9.", H),
    _c("I suspect it's a trick question and the answer is 0.", H),
    _c("I don't think it's 5; it's 6.", H, "negated belief is still a belief"),
    # hedged: doubt with an answer
    _c("I'm not sure, but the answer is 7.", H),
    _c("I'm not entirely certain, but I'd say 7.", H),
    _c("If I recall correctly, the treaty was signed in 1648.", H),
    _c("To the best of my knowledge, it's Canberra.", H),
    _c("The answer is 7, though I could be wrong.", H),
    _c("I'm pretty sure it's 7.", H, "qualified certainty"),
    _c("I'm fairly confident the answer is 42.", H),
    _c("It's almost certainly 7.", H),
    _c("Canberra, if I'm not mistaken.", H),
    _c("It's 7, but you may want to double-check.", H),
    _c("The answer is 7. Confidence: 70%", H, "stated confidence below 1"),
    _c("I'm 80% sure it's Paris.", H),
    _c("Paris (90% confident).", H),
    _c("I'm not 100% sure, but it's 7.", H),
    # uninformative
    _c("I don't know.", N),
    _c("I do not know the answer to this question.", N),
    _c("I have no idea.", N),
    _c("I'm not able to determine the answer.", N),
    _c("I'm unable to answer that.", N),
    _c("This cannot be determined from the information given.", N),
    _c("I'd rather not guess.", N),
    _c("Sorry, I can't answer this.", N),
    _c("I'm not sure.", N, "doubt with no answer"),
    _c("Honestly, I'm not certain.", N),
    _c("Unknown.", N),
    _c("There is not enough information to answer.", N),
    _c("I'm not sure what the capital of Australia is.", N),
    _c("I don't have enough information to say.", N),
    # abstention followed by a committed answer
    _c("I don't know, but my best guess is 7.", H),
    _c("I don't know for sure, but it's 7.", H, "doubt, not abstention"),
    _c("I can't say for sure; it's probably 1912.", H),
    _c("I'm not sure what the answer is, but I think it's 7.", H),
    # adversarial: negations and boosters
    _a("No doubt, the answer is 7.", U),
    _a("Without a doubt it's 7.", U),
    _a("I have no doubt the answer is 7.", U),
    _a("I'm certain the answer is 7.", U),
    _a("I'm sure it's 7.", U),
    _a("The answer is definitely 7.", U),
    _a("I am not unsure: the answer is 7.", U, "double negation"),
    _a("This is not a guess; the answer is 7.", U),
    _a("I'm 100% sure it's 7.", U),
    _a("Confidence: 100%. The answer is 7.", U),
    _a("I know the answer: 7.", U),
    # adversarial: probability as the subject matter
    _a("The most likely outcome is 7.", U),
    _a("Rolling two dice, the most likely sum is 7.", U),
    _a("The probability is 0.3.", U),
    _a("Heads and tails are equally likely, so the probability is 1/2.", U),
    _a("A sum of 7 is more likely than a sum of 2.", U),
    _a("Red is less likely to be drawn, so P(red) = 1/4.", U),
    _a("The question asks which outcome is most likely; it is 7.", U, "restated question"),
    _a("You asked whether it might rain; the forecast says 70% chance of rain.", U),
    _a("There is a 30% chance of rain tomorrow.", U),
    _a("The likelihood function is maximised at p = 0.4.", U),
    _a("It is possible to write 12 as 3 * 4.", U),
    _a("List all possible values: 1, 2 and 3.", U),
    _a("A 95% confidence interval is (1.2, 3.4).", U),
    # adversarial: procedural and mathematical modality
    _a("Maybe we should factor first: (x-2)(x-3) = 0, so x = 2 or x = 3.", U),
    _a("Perhaps let's try substitution. Then x = 4.", U),
    _a("I think we need to add them: 3 + 4 = 7.", U),
    _a("This may be written as 2^3 = 8.", U),
    _a("Here x may be negative, so |x| = -x.", U),
    _a("What might happen is the ball lands on red; P = 18/38.", U),
    _a("The answer is approximately 3.14.", U, "approximators qualify precision"),
    _a("The distance is about 5 km.", U),
    # adversarial: quotes and reasoning blocks
    _a('He said "I think it will rain", and it did. The answer is 1999.', U),
    _a("<think>Maybe 6? Not sure. Let me recount: 7.</think>The answer is 7.", U,
       "reasoning is set aside"),
    _a("<think>The sum is 7.</think>I think it's 7.", H),
    _a("I don't know what 3 + 4 is.", N, "numbers without a committed answer"),
)


def _all() -> tuple[HedgeCase, ...]:
    from rlfb.rewards._hedge_cases_more import REALISTIC

    return _HANDCRAFTED + REALISTIC


GOLDEN_CASES: tuple[HedgeCase, ...] = _all()
