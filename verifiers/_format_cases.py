"""Golden cases for the format verifier, run by `rlfb verifiers check format`."""

from __future__ import annotations

from rlfb.verifiers.base import GoldenCase, VerifyStatus

C, W = VerifyStatus.CORRECT, VerifyStatus.WRONG
STRICT = {"whitespace": "strict"}
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}

GOLDEN_CASES: tuple[GoldenCase, ...] = (
    # tags: positive
    GoldenCase("<think>2+2 is 4</think><answer>4</answer>", None, C),
    GoldenCase("<think>\nsteps\n</think>\n<answer>\n4\n</answer>\n", None, C,
               note="newlines around tags and one trailing newline"),
    GoldenCase("  <think>a</think>  \n\n <answer>4</answer>\n\n", None, C,
               note="lenient whitespace (the default)"),
    GoldenCase("<think>\nsteps\n</think>\n<answer>\n4\n</answer>\n", None, C, options=STRICT),
    GoldenCase("<answer>4</answer>", None, C, options={"require_think": False}),
    GoldenCase("<reasoning>r</reasoning><final>7</final>", None, C,
               options={"think_tag": "reasoning", "answer_tag": "final"}),
    # tags: negative
    GoldenCase("<answer>4</answer>", None, W, kind="negative", note="missing think block"),
    GoldenCase("<think>only thinking</think>", None, W, kind="negative", note="missing answer"),
    GoldenCase("The answer: <think>a</think><answer>4</answer>", None, W, kind="negative",
               note="text before the first tag"),
    GoldenCase("<think>a</think><answer>4</answer> Hope this helps!", None, W, kind="negative",
               note="text after the closing answer tag"),
    GoldenCase("<answer>4</answer><think>a</think>", None, W, kind="negative", note="wrong order"),
    GoldenCase("<think>a<answer>4</answer></think>", None, W, kind="negative", note="nested"),
    GoldenCase("<think>a</think><answer>4", None, W, kind="negative", note="unclosed answer"),
    GoldenCase("<think>a<answer>4</answer>", None, W, kind="negative", note="unclosed think"),
    GoldenCase("<think>a</think><answer>  </answer>", None, W, kind="negative",
               note="empty answer"),
    GoldenCase(" <think>a</think><answer>4</answer>", None, W, kind="negative", options=STRICT,
               note="leading space under strict whitespace"),
    GoldenCase("<think>a</think>\n\n<answer>4</answer>", None, W, kind="negative", options=STRICT,
               note="two newlines between blocks under strict whitespace"),
    # tags: adversarial
    GoldenCase("<think>a</think><answer>4</answer><answer>5</answer>", None, W,
               kind="adversarial", note="second answer block hedges between answers"),
    GoldenCase("<think>a</think><think>b</think><answer>4</answer>", None, W,
               kind="adversarial", note="second think block"),
    GoldenCase("<THINK>a</THINK><ANSWER>4</ANSWER>", None, W, kind="adversarial",
               note="tags are case-sensitive"),
    GoldenCase("<think>a</think><answer x='1'>4</answer>", None, W, kind="adversarial",
               note="attributes make it another tag"),
    # regex
    GoldenCase("Answer: 42", None, C, options={"mode": "regex", "pattern": r"Answer: (\d+)"}),
    GoldenCase("I think Answer: 42", None, C,
               options={"mode": "regex", "pattern": r"Answer: (\d+)", "match": "search"}),
    GoldenCase("I think Answer: 42", None, W, kind="negative",
               options={"mode": "regex", "pattern": r"Answer: (\d+)"}),
    GoldenCase("color: RED", r"color: (?P<answer>red|blue)", C,
               options={"mode": "regex", "flags": ["IGNORECASE"]}, note="pattern from reference"),
    # json
    GoldenCase('{"answer": 3}', None, C, options={"mode": "json", "schema": SCHEMA}),
    GoldenCase('```json\n{"answer": 3}\n```', None, C, options={"mode": "json", "schema": SCHEMA}),
    GoldenCase('{"answer": "3"}', None, W, kind="negative",
               options={"mode": "json", "schema": SCHEMA}, note="wrong type"),
    GoldenCase('{"answer": 3,}', None, W, kind="negative", options={"mode": "json"},
               note="trailing comma is not JSON"),
    GoldenCase('Sure! {"answer": 3}', None, W, kind="adversarial",
               options={"mode": "json", "schema": SCHEMA}, note="prose around the JSON"),
    GoldenCase('{"answer": 3, "extra": true}', None, W, kind="adversarial",
               options={"mode": "json", "schema": SCHEMA}, note="additional property"),
)
