"""Text preparation for hedge detection: normalisation and the regions that are not the
speaker's own voice (reasoning blocks, code, quotations, restated questions).

Every function keeps character offsets: a region is blanked with spaces rather than deleted, so a
phrase found in the prepared text points at the same characters of the original.
"""

from __future__ import annotations

import re

_QUOTES = (
    re.compile(r'"[^"\n]{1,400}"'),
    re.compile(r"\u201c[^\u201d]{1,400}\u201d"),
    re.compile(r"\u2018[^\u2019\n]{1,400}\u2019(?!\w)"),
    re.compile(r"\u00ab[^\u00bb]{1,400}\u00bb"),
)
_CODE = (re.compile(r"```.*?(?:```|\Z)", re.DOTALL), re.compile(r"`[^`\n]+`"))
_BLOCKQUOTE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)

#: Reported speech: from one of these markers to the end of its sentence, the words are the
#: question's (or someone else's), not the speaker's hedges.
_REPORTED = re.compile(
    r"\b(?:the\s+(?:question|problem|prompt|task|user)\s+(?:asks|is\s+asking|says|states|wants|"
    r"reads|mentions|is\s+whether)|you\s+(?:asked|are\s+asking|want\s+to\s+know|wonder)|"
    r"you're\s+asking|(?:we|i)\s+(?:are|am|were|was)\s+asked|we're\s+asked|i'm\s+asked|"
    r"asked\s+(?:whether|which|what|how|if|to)|the\s+question\s+of\s+(?:whether|which|how))\b"
    r"[^.!?\n]*"
)

#: Words that carry no answer: pronouns, auxiliaries, articles, prepositions, politeness, and the
#: vocabulary of doubt itself. A hedge whose completion has nothing else is an abstention.
FILLER = frozenset(
    """
    a an the i i'm im i've i'd i'll me my mine myself you your we our us it it's its this that
    these those there here is am are was were be been being do does did doing have has had not
    no nor n't don't doesn't didn't isn't aren't wasn't can can't cannot could couldn't would
    wouldn't will won't shall should may might must to of in on at by for from with about as
    into over than then so too very really quite entirely completely totally fully exactly
    truly honestly frankly actually just only even also still yet though but and or if whether
    what which who whom how why when where sure certain confident positive unsure uncertain
    sorry apologies apologize afraid unfortunately hmm hm um uh er well oh ah okay ok yes
    question answer answers this one response reply know knowing idea clue say tell think
    believe guess maybe perhaps probably possibly honest mind bit little any anything some
    something much more most all that's what's correct correctly right wrong help answering
    100 percent
    """.split()
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def normalise(text: str) -> str:
    """Lower case with straight apostrophes; the result has the same length as ``text``."""
    out = []
    for ch in text:
        low = ch.lower()
        if len(low) != 1:
            low = ch
        if low in "\u2019\u02bc":
            low = "'"
        out.append(low)
    return "".join(out)


def blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each ``(start, end)`` span replaced by spaces (newlines kept)."""
    chars = list(text)
    for start, end in spans:
        for i in range(start, end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


def reasoning_spans(text: str) -> list[tuple[int, int]]:
    """Closed ``<think>…</think>`` (or thinking/reasoning) blocks; empty when blanking them would
    leave no visible text (then the reasoning is all there is, and it is judged)."""
    spans = [m.span() for m in _THINK.finditer(text)]
    if spans and not blank(text, spans).strip():
        return []
    return spans


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Quotations, code and blockquote lines: words the speaker cites rather than asserts."""
    spans: list[tuple[int, int]] = []
    for pattern in (*_CODE, *_QUOTES, _BLOCKQUOTE):
        spans.extend(m.span() for m in pattern.finditer(text))
    return spans


def reported_spans(text: str) -> list[tuple[int, int]]:
    """Restated questions ("the question asks which outcome is most likely")."""
    return [m.span() for m in _REPORTED.finditer(text)]


#: A question the speaker asks back ("When was he born? I'm not sure.") restates, not answers.
_ASKED = re.compile(
    r"(?:^|(?<=[.!?\n]))\s*(?:who|what|when|where|which|why|how|is|are|was|were|does|do|did|can|"
    r"could|would|will|should)\b[^.!?\n]*\?"
)


def content_words(text: str, skip: list[tuple[int, int]]) -> list[str]:
    """Words of ``text`` outside the ``skip`` spans and outside questions asked back, that are
    not in `FILLER`."""
    skip = skip + [m.span() for m in _ASKED.finditer(text)]
    words = []
    for m in _WORD.finditer(text):
        if any(s <= m.start() < e for s, e in skip):
            continue
        if m.group() not in FILLER:
            words.append(m.group())
    return words
