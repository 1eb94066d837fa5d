"""The phrase lists behind the `phrases` hedge detector, with the reasoning for each choice.

Every entry is a regular expression over the *normalised* text (lower case, curly apostrophes
made straight; see `rlfb.rewards.hedging.detect.normalise`). Five lists:

``GUESS``
    Epistemic hedges that commit to an answer while marking it uncertain: "I think", "I believe",
    "probably", "likely", "maybe", "perhaps", "possibly", "my best guess", "I'd say", "it might
    be", "it seems", "most likely", "chances are". After an abstention they turn it into a hedged
    answer ("I don't know, but my best guess is 7").
``DOUBT``
    Hedges that express uncertainty without committing to anything: "I'm not sure", "not
    entirely certain", "I could be wrong", "if I recall correctly", "to the best of my knowledge",
    "pretty sure" (qualified certainty), "you may want to double-check", "I doubt", "that's a
    tough one", "with low confidence".
``ABSTAIN``
    Refusals to answer: "I don't know", "I have no idea", "I'm unable to answer", "cannot be
    determined", "not enough information", "I'd rather not guess". Uninformative unless an answer
    is committed after them.
``SHIELD``
    Longer phrases in which a hedge word is *not* a hedge. A cue that a shield match overlaps
    (without lying wholly inside the cue) is dropped. Three kinds:

    - negated hedges and boosters: "no doubt", "without a doubt", "I'm not unsure", "this is not
      a guess", "I'm not guessing";
    - probability as the subject matter: "the most likely outcome", "which is more likely",
      "equally likely", "more likely than", "how likely", "possible to";
    - procedural or mathematical modality: "maybe we should try", "perhaps let's", "I think we
      need to", "may be written as", "could be any", "what might happen".
``BOOSTER``
    Certainty markers, reported as evidence only (they never change the class): "definitely",
    "certainly", "I'm sure", "I'm certain", "I'm 100% confident", "without a doubt".

Choices, written down:

- Approximators ("approximately", "roughly", "about", "around", "≈", "give or take") are **not**
  hedges: in a numeric answer they qualify precision ("π is approximately 3.14"), not belief.
  First-person estimates *are* hedges: "I'd estimate", "my rough estimate", "rough guess".
- "should" ("the answer should be 7") is not a hedge: in model outputs it mostly states an
  expected result of a derivation. "I assume" is not a hedge either (it sets up a premise);
  the conditional "I'd assume" is.
- Modal verbs (might, may, could) hedge only with an answer-like subject ("it / this / that /
  the answer / the result / he / they ... might be", or "Might be 12." opening a sentence),
  never with a variable ("x may be negative") or "there" ("there may be two roots").
- "possible" hedges only as "it's possible (that)" and "possibly"; "possible to", "all possible
  values" are content.
- Qualified certainty ("pretty sure", "fairly confident", "almost certainly") is a hedge;
  unqualified certainty ("I'm sure", "quite sure", "most certainly") is a booster.
- Stated probabilities are parsed separately (`rlfb.rewards.hedging.confidence`); a stated confidence
  below 1 makes the completion hedged.
"""

from __future__ import annotations

# Words that may sit between "not" and "sure"/"certain" ("not entirely sure", "not 100% certain").
_QUAL = r"(?:(?:entirely|completely|totally|fully|quite|really|very|absolutely|100\s?%|a hundred percent|all that|that|so|too|exactly|altogether|particularly|super|overly|one hundred percent)\s+){0,2}"
_SUBJ = r"(?:it|this|that|the answer|the result|the value|the solution|he|she|they|which)"
_FP = r"(?:i'm|i am|im)"
_ANSWER_NOUNS = (
    r"(?:answer|answers|solution|explanation|interpretation|guess|candidate|reading|option|"
    r"choice|possibility|cause|reason|culprit|one|response|conclusion|author|year|date|person|"
    r"place|location|name|country|city)"
)
_LIKELY = r"(?:un)?(?:likely|probable)"
# Adverbs that may follow "I" ("I honestly don't know", "I really couldn't say").
_ADV = r"(?:(?:really|honestly|simply|just|truly|genuinely|frankly|unfortunately|actually|sadly)\s+)?"

GUESS: tuple[str, ...] = (
    # first-person belief verbs
    r"\bi\s+(?:really\s+|honestly\s+|personally\s+|still\s+|also\s+|do\s+|kind\s+of\s+|sort\s+of\s+)?"
    r"(?:think|believe|suspect|reckon|suppose|presume|imagine|expect|gather|figure|guess)\b",
    r"\bi\s+(?:feel|felt)\s+(?:like|that)\b",
    r"\bi\s+(?:don't|do not|dont)\s+(?:think|believe)\b",
    r"\bi(?:'d|\s+would)\s+(?:say|guess|go\s+with|lean|venture|bet|wager|estimate|pick|choose|assume|imagine|think|expect|suspect|believe)\b",
    r"\bi\s+have\s+a\s+(?:feeling|hunch|sense|suspicion)\b",
    r"\b(?:my\s+sense|my\s+understanding)\s+is\b",
    r"\b(?:it's|it\s+is)\s+my\s+understanding\b",
    rf"\b{_FP}\s+under\s+the\s+impression\b",
    r"\bin\s+my\s+(?:opinion|view|estimation|humble\s+opinion)\b",
    r"\b(?:imo|imho)\b",
    r"(?:^|[.!?\n]\s*)(?:could|might|may)\s+it\s+be\b",
    r"\bi(?:'ll|\s+will)\s+(?:go\s+with|guess|venture|bet)\b",
    r"\bi\s+(?:estimate|lean\s+towards?)\b",
    rf"\b{_FP}\s+(?:inclined|leaning|guessing|tempted)\b",
    # adverbs and adjectives of likelihood (see SHIELD for their content uses)
    r"\b(?:probably|perhaps|maybe|possibly|presumably|supposedly|apparently|seemingly|conceivably|plausibly|arguably|ostensibly)\b",
    rf"\b{_LIKELY}\b",
    r"\bit(?:'s|\s+is|\s+seems|\s+may\s+be|\s+might\s+be)\s+(?:quite\s+|very\s+|entirely\s+|certainly\s+|definitely\s+)?possible\b",
    r"\bin\s+all\s+(?:likelihood|probability)\b",
    r"\b(?:chances|odds)\s+are\b(?!\s+(?:\d|one|two|three|four|five|six|seven|eight|nine|ten)\b)",
    r"\b(?:there's|there\s+is)\s+a\s+(?:good|high|decent|fair|strong|reasonable|real|slight|small|big)\s+chance\b",
    r"\bmore\s+likely\s+than\s+not\b",
    # modal verbs with an answer-like subject
    rf"\b{_SUBJ}\s+(?:might|may|could)\s+(?:well\s+|also\s+|actually\s+|possibly\s+|perhaps\s+)?(?:be|have|not|equal|mean|refer)\b",
    r"(?:^|[.!?:;,\n]\s*)(?:might|may|could)\s+(?:well\s+)?be\b",
    # appearance and evidentials
    rf"\b{_SUBJ}\s+(?:would\s+)?(?:seems?|appears?)\s+(?:to\b|like\b|that\b|as\s+(?:though|if)\b|correct|right|plausible|reasonable)",
    r"\bit\s+(?:would\s+)?(?:seems?|appears?)\b",
    r"\bseems?\s+(?:to\s+be|like|that)\b",
    r"\bappears?\s+to\s+be\b",
    r"\b(?:it|this|that)\s+looks\s+like\b",
    # guesses and estimates
    r"\bmy\s+(?:\w+\s+)?(?:guess|estimate|bet|hunch|intuition|instinct|gut\s+feeling)\b",
    r"\b(?:best|educated|rough|wild|informed|blind|quick)\s+(?:guess|estimate)\b",
    r"\bat\s+a\s+guess\b",
    r"\b(?:just|only|merely)\s+a\s+guess\b",
    r"\b(?:it's|it\s+is|this\s+is|that's|that\s+is)\s+a\s+(?:\w+\s+)?guess\b",
    r"\bguessing\b",
    r"\bif\s+i\s+(?:had|have|were)\s+to\s+(?:guess|choose|pick|bet|say|answer|estimate)\b",
    r"\bmy\s+(?:tentative|preliminary|initial)\s+(?:answer|guess|thought|take)\b",
    r"\btentative(?:ly)?\b",
    r"\bspeculat(?:e|ing|ion|ive)\b",
)

DOUBT: tuple[str, ...] = (
    rf"\bnot\s+{_QUAL}(?:sure|certain|positive|confident)\b",
    r"\b(?:can't|cannot|can not|couldn't|could not)\s+be\s+(?:\w+\s+)?(?:sure|certain|positive|confident)\b",
    r"\b(?:can't|cannot|can not|couldn't|could not)\s+say\s+(?:for\s+(?:sure|certain)|with\s+(?:any\s+)?(?:certainty|confidence)|definitively|exactly|precisely)\b",
    r"\bi\s+(?:don't|do not|dont|can't|cannot|can\s+not)\s+(?:know|remember|recall|say)\s+(?:for\s+(?:sure|certain)|exactly|precisely|with\s+(?:any\s+)?certainty|100\s?%|definitively)\b",
    r"\b(?:hard|difficult|tough|tricky|impossible)\s+to\s+(?:say|tell|know|be\s+sure)\s+(?:for\s+(?:sure|certain)|with\s+certainty|exactly|definitively)\b",
    r"\b(?:hard|difficult|tough|tricky)\s+to\s+(?:say|tell|know|be\s+sure)\b",
    r"\bunsure\b",
    # a hard question named as such ("that's a tough one"), and confidence described as low
    r"\b(?:tough|tricky)\s+one\b",
    r"\b(?:that's|that\s+is|this\s+is|it's)\s+(?:a\s+)?(?:really\s+|very\s+)?(?:hard|difficult)\s+one\b",
    r"\b(?:low|little|limited|moderate|medium)\s+(?:confidence|certainty)\b",
    r"\buncertain\b",
    r"\bno\s+way\s+to\s+be\s+(?:sure|certain)\b",
    # qualified certainty
    r"\b(?:pretty|fairly|reasonably|relatively|mostly|almost|nearly|somewhat|moderately|largely|kind\s+of|sort\s+of|more\s+or\s+less)\s+(?:sure|certain|confident|positive)\b",
    r"\b(?:almost|nearly|probably|likely)\s+(?:certainly|definitely)\b",
    # memory and knowledge limits
    r"\bif\s+i\s+(?:recall|remember)(?:\s+(?:correctly|right|rightly))?\b",
    r"\bif\s+(?:i'm|i\s+am)\s+(?:remembering|recalling|reading\s+(?:this|it)|understanding\s+(?:this|it))\b",
    r"\bif\s+(?:my\s+)?memory\s+serves\b",
    r"\b(?:iirc|afaik|afaict)\b",
    r"\bas\s+far\s+as\s+i\s+(?:know|can\s+tell|remember|recall|understand|am\s+aware|'m\s+aware)\b",
    r"\bto\s+(?:the\s+best\s+of\s+)?my\s+(?:knowledge|recollection|understanding)\b",
    r"\bi\s+(?:seem\s+to|vaguely|think\s+i)\s+(?:recall|remember)\b",
    r"\bfrom\s+(?:what\s+i\s+(?:recall|remember|know)|memory)\b",
    r"\b(?:if|unless)\s+(?:i'm|i\s+am)\s+(?:not\s+)?(?:mistaken|wrong|misremembering)\b",
    # fallibility and requests to verify
    r"\bi\s+(?:could|might|may)\s+(?:well\s+|easily\s+)?be\s+(?:wrong|mistaken|misremembering|off|incorrect|confusing)\b",
    r"\bcorrect\s+me\s+if\b",
    r"\bi\s+(?:may|might)\s+(?:well\s+)?have\b",
    r"\bunless\s+i(?:'ve|\s+have)?\s+(?:made|miscalculated|misread|misunderstood|messed)\b",
    r"\bif\s+i(?:'ve|\s+have|'m|\s+am)?\s+[^.!?\n,;]{0,60}?\b(?:correctly|right|properly)\b",
    r"\b(?:won't|will\s+not|can't|cannot)\s+pretend\s+to\s+(?:be\s+(?:sure|certain)|know)\b",
    r"\bnot\s+(?:a\s+)?100\s?%\s+(?:on|about)\b",
    r"\bhope(?:fully)?\s+(?:this|that|it|i'm|i\s+am|my\s+answer)(?:\s+is|\s+was|'s|\s+got(?:\s+it|\s+this)?)?\s+(?:right|correct|accurate)\b",
    r"\bdon't\s+(?:quote|hold)\s+me\b",
    r"\bgrain\s+of\s+salt\b",
    r"\b(?:you\s+(?:may|might|should|could)\s+want\s+to|please|i'd\s+(?:recommend|suggest)|i\s+(?:recommend|suggest)|it's\s+(?:best|worth|a\s+good\s+idea)\s+to|it\s+(?:would|might)\s+be\s+(?:best|wise|worth)\s+to)\s+(?:double[- ]?check|verify|confirm)(?:ing)?\b",
    r"\b(?:i'd|i\s+would)\s+(?:need|have)\s+to\s+(?:double[- ]?check|verify|confirm|look\s+it\s+up)\b",
    rf"\b{_FP}\s+not\s+(?:an?\s+)?(?:expert|specialist)\b",
    r"\bi\s+(?:have\s+)?(?:some\s+|my\s+|serious\s+|slight\s+)?doubts?\b",
    r"\b(?:some|slight|a\s+little|a\s+bit\s+of)\s+doubt\b",
    r"\bdoubtful\b",
    rf"\b(?:it's|it\s+is)\s+(?:a\s+bit\s+|somewhat\s+|not\s+entirely\s+)?unclear\b",
    # knowledge-cutoff disclaimers
    r"\bas\s+of\s+my\s+(?:last\s+|latest\s+|most\s+recent\s+)?(?:knowledge\s+|training\s+)?(?:update|cutoff|cut-off|training)\b",
    r"\bmy\s+(?:knowledge|training)\s+(?:cutoff|cut-off|data)\b",
    r"\bbased\s+on\s+(?:my|the)\s+(?:training|knowledge)\s+(?:data|cutoff)\b",
)

ABSTAIN: tuple[str, ...] = (
    rf"\bi\s+{_ADV}(?:don't|do\s+not|dont)\s+know\b",
    rf"\bi\s+{_ADV}(?:have\s+)?(?:absolutely\s+)?no\s+(?:idea|clue)\b",
    r"(?:^|[.!?,;:\n])\W*no\s+(?:idea|clue)\b",
    r"\bdrawing\s+a\s+blank\b",
    r"\bnot\s+the\s+(?:slightest|faintest|foggiest)\s+idea\b",
    r"\bi\s+(?:have\s+)?no\s+(?:way\s+(?:of\s+knowing|to\s+know)|knowledge\s+of|information\s+(?:on|about))\b",
    rf"\b(?:{_FP}|i've\s+been)\s+(?:not\s+able|unable)\s+to\s+(?:\w+\s+)?(?:answer|determine|tell|say|know|provide|solve|compute|calculate|figure|give|verify|confirm|access|recall|identify|predict|guess|find\s+the\s+answer)\b",
    rf"\bi\s+{_ADV}(?:can't|cannot|can\s+not|couldn't|could\s+not)\s+(?:\w+\s+)?(?:answer|determine|tell|say|know|provide|solve|figure|compute|calculate|give|recall|remember|identify|predict|guess|help\s+with|assist)\b",
    r"\b(?:cannot|can't|could\s+not|couldn't|can\s+not)\s+be\s+(?:\w+\s+)?(?:determined|known|answered|calculated|computed|said|decided|established|ascertained)\b",
    r"\b(?:is|are|remains)\s+(?:undeterminable|unknowable|unanswerable)\b",
    r"\bimpossible\s+to\s+(?:determine|know|say|tell|answer|predict|calculate|compute)\b",
    r"\bno\s+way\s+(?:to|of)\s+(?:know|knowing|tell|telling|determine|determining)\b",
    r"\b(?:not\s+enough|insufficient|missing)\s+(?:information|info|data|context|details)\b",
    r"\bi\s+(?:don't|do\s+not)\s+have\s+(?:enough\s+|sufficient\s+|the\s+|any\s+|reliable\s+|access\s+to\s+(?:the\s+)?)?(?:[\w-]+\s+)?(?:information|data|knowledge|context|details|an?\s+answer)\b",
    r"\bi\s+(?:don't|do\s+not)\s+have\s+(?:personal\s+)?(?:opinions|experiences|feelings|beliefs)\b",
    r"\b(?:would\s+)?need\s+more\s+(?:information|context|details|data)\b",
    r"\bcould\s+you\s+(?:please\s+)?(?:clarify|provide\s+more|rephrase|specify)\b",
    r"\b(?:exact|precise)\s+(?:\w+\s+){0,5}?(?:is|are|remains|remain)\s+unknown\b",
    r"\bi(?:\s+would|'d)\s+rather\s+not\s+(?:guess|speculate|answer|say)\b",
    r"\bi(?:\s+won't|\s+will\s+not|\s+prefer\s+not\s+to|\s+decline\s+to|\s+refuse\s+to|'d\s+prefer\s+not\s+to)\s+(?:guess|speculate|answer)\b",
    rf"\b{_FP}\s+not\s+(?:aware|familiar)\b",
    r"\b(?:beyond|outside)\s+(?:of\s+)?(?:my\s+(?:knowledge|ability|expertise)|what\s+i\s+know)\b",
    rf"\b{_FP}\s+(?:completely\s+|totally\s+|a\s+bit\s+)?(?:stumped|at\s+a\s+loss|clueless)\b",
    r"\b(?:predicting|knowing|determining|saying|answering)\b[^.!?\n]{0,40}\bis\s+(?:impossible|not\s+possible)\b",
    rf"\b{_FP}\s+not\s+in\s+a\s+position\s+to\b",
    rf"\bi\s+{_ADV}(?:don't|do\s+not|can't|cannot)\s+(?:recall|remember)\b",
    rf"\bnot\s+{_QUAL}(?:sure|certain|confident)\s+(?:that\s+)?i\s+(?:can|could|know)\b",
    rf"\b{_FP}\s+not\s+(?:comfortable|going)\s+(?:answering|to\s+answer|providing|to\s+provide)\b",
    r"\bnot\s+available\s+to\s+me\b",
    r"\b(?:hard|difficult|impossible|tough)\s+(?:question\s+)?to\s+answer\b",
    r"\bmy\s+(?:training\s+)?(?:data|knowledge)\s+(?:doesn't|does\s+not)\s+(?:include|cover|contain|extend)\b",
    r"\bno\s+(?:definitive|definite|clear|single|known|simple)\s+answer\b",
    r"\bbeats\s+me\b",
    r"\byour\s+guess\s+is\s+as\s+good\s+as\s+mine\b",
    r"(?:^|[.!?]\s+)who\s+knows\b",
    rf"\bnot\s+{_QUAL}(?:sure|certain)\s+(?:what|which|who|whom|how|where|when|why|whether|if)\b",
    r"^\W*(?:unknown|unanswerable|n/?a|no\s+answer|not\s+sure|unsure|idk|dunno|pass|i\s+pass|no\s+comment|it\s+depends)\W*$",
)

SHIELD: tuple[str, ...] = (
    # negated hedges: boosters in disguise
    r"\b(?:no|without\s+(?:a|any)|beyond\s+(?:a|any|all|reasonable)|not\s+a|little|there's\s+no|there\s+is\s+no)\s+(?:shadow\s+of\s+(?:a\s+)?)?doubts?\b",
    r"\bi\s+(?:have|had)\s+no\s+doubts?\b",
    r"\bnot\s+(?:\w+\s+)?(?:unsure|uncertain|doubtful)\b",
    r"\bnot\s+(?:just\s+|merely\s+|simply\s+|even\s+)?(?:a|my|an)\s+(?:\w+\s+)?guess\b",
    r"\b(?:no|without)\s+guess(?:ing|work)\b",
    rf"\b{_FP}\s+not\s+(?:guessing|speculating|hedging)\b",
    r"\bno\s+(?:maybe|perhaps)s?\b",
    r"\bnot\s+(?:maybe|probably|possibly|perhaps|likely)\s*(?:,|-|—|;)",
    # probability as the subject matter
    rf"\b(?:the|a|an|this|that|these|those|which|whichever|each|every|any|its|their|our|your|his|her)\s+(?:(?:more|most|less|least|very|highly|quite)\s+)?{_LIKELY}\s+(?!{_ANSWER_NOUNS}\b)[a-z]+",
    rf"\b(?:more|less|equally|as|how|so|too|twice|times|least|not\s+as|not\s+equally)\s+{_LIKELY}\b",
    rf"\b{_LIKELY}\s+than\b",
    rf"\b(?:which|what|whichever)\s+(?:\w+\s+){{0,3}}?(?:is|are|was|were|seems?)\s+(?:(?:more|most|less|least)\s+)?{_LIKELY}\b",
    rf"\b(?:is|are)\s+(?:it|they)\s+(?:more\s+|less\s+)?{_LIKELY}\b",
    r"\bpossible\s+to\b",
    rf"\b(?:meaning|means|synonym\s+of|synonyms?\s+for)\s+{_LIKELY}\b",
    rf"\b{_LIKELY}\s+to\s+(?:happen|occur|rain|snow|win|lose|land|come\s+up|show|appear|be\s+(?:drawn|chosen|selected|picked|rolled|dealt))\b",
    r"\b(?:a|an|the|all|any|some|every)\s+possibly\b",
    # procedural or mathematical modality
    r"\b(?:maybe|perhaps)\s+(?:we|i|you)\s+(?:should|could|can|need|will|might|have\s+to|must|ought|want|would)\b",
    r"\b(?:maybe|perhaps)\s+(?:let's|let\s+us|try|trying|consider|check|we'll|start|first|instead|another\s+approach|a\s+better)\b",
    r"\bi\s+(?:think|suppose|expect|figure)\s+(?:that\s+)?(?:we|i|you)\s+(?:should|need|can|could|will|must|have\s+to|ought)\b",
    r"\bi\s+think\s+(?:about|of|through|step|carefully|it\s+through)\b",
    # a self-check that the text then carries out ("maybe I made a mistake. Let me recheck")
    r"\b(?:maybe|perhaps)\s+i\s+(?:made|miscalculated|misread|missed|messed|mixed)\b[^.!?\n]*[.!?\n]\s*"
    r"let\s+(?:me|us|'s)\s+(?:re|double-?)?(?:check|compute|calculate|verify|do|try|count|read)",
    r"\bthe\s+(?:odds|chances)\s+(?:are|were)\b",
    r"\b(?:might|may|could)\s+(?:also\s+)?be\s+(?:written|rewritten|expressed|represented|computed|calculated|found|obtained|seen|shown|simplified|solved|derived|evaluated|used|applied|factored|expanded|treated|viewed|thought|interpreted|defined|given|taken|any|either|negative|positive|zero|greater|less|larger|smaller|replaced|substituted|checked|verified)\b",
    r"\bwhat\s+(?:\w+\s+)?(?:might|may|could)\s+(?:happen|occur|go)\b",
    r"\bwhat\s+(?:might|may|could)\b",
    r"\b(?:perhaps|maybe|possibly)\s+(?:surprisingly|unsurprisingly|counterintuitively|interestingly|ironically|more\s+importantly|most\s+importantly|the\s+(?:most|best|easiest|simplest|fastest))\b",
    r"\bhow\s+(?:it|this|that)\s+(?:might|may|could)\b",
    r"\bmay\s+be\s+(?:assumed|considered)\b",
)

BOOSTER: tuple[str, ...] = (
    r"\b(?:definitely|certainly|absolutely|undoubtedly|doubtless|unquestionably|indisputably|surely|clearly|without\s+question)\b",
    r"\b(?:no|without\s+(?:a|any)|beyond\s+(?:a|any|all|reasonable))\s+doubts?\b",
    r"\bi\s+(?:have|had)\s+no\s+doubts?\b",
    rf"\b{_FP}\s+(?:absolutely\s+|completely\s+|totally\s+|entirely\s+|quite\s+|very\s+|100\s?%\s+|a\s+hundred\s+percent\s+)?(?:sure|certain|confident|positive)\b",
    r"\bi\s+(?:know|guarantee)\b",
    r"\bfor\s+(?:sure|certain)\b",
    rf"\bnot\s+(?:\w+\s+)?(?:unsure|uncertain|doubtful)\b",
    rf"\b{_FP}\s+not\s+(?:guessing|speculating|hedging)\b",
)
