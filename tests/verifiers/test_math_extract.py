"""Finding the final answer in a completion (rlfb.verifiers.math.extract)."""

from __future__ import annotations

import pytest

from rlfb.verifiers.math.extract import extract, is_answer_like


def answer(text: str, order="auto") -> tuple[str, str] | None:
    found = extract(text, order)
    return (found.method, found.answer) if found else None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so $\\boxed{\\frac{1}{2}}$.", ("boxed", "\\frac{1}{2}")),
        ("\\boxed{\\{1, 2\\}}", ("boxed", "\\{1, 2\\}")),
        ("first \\boxed{1} then \\boxed{2}", ("boxed", "2")),
        ("\\boxed{1} no no no no no \\boxed{2}", ("boxed", "2")),
        ("\\boxed{1}, \\boxed{2} and \\boxed{3}", ("boxed", "1 , 2 , 3")),
        ("\\boxed{1} papers and \\boxed{2} bins", ("boxed", "1 , 2")),
        ("\\fbox{7}", ("boxed", "7")),
        ("\\boxed 5.", ("boxed", "5")),
        ("\\boxed{W(n) = 1", ("boxed", "W(n) = 1")),
        ("Final Answer: The final answer is $28\\%$. I hope it is correct.",
         ("final_answer", "$28\\%$")),
        ("Final Answer: The volume of $ABC$ is 120. I hope it is correct.",
         ("final_answer", "120")),
        ("**Final Answer**\n\\boxed{840}", ("boxed", "840")),
        ("<answer> 42 </answer>", ("answer_tag", "42")),
        ("<answer>\\boxed{7}</answer>", ("boxed", "7")),
        ("blah\n#### 1,234", ("gsm8k", "1,234")),
        ("Thus the answer is $x = 3$. Done.", ("answer_is", "$x = 3$")),
        ("Answer: 12", ("answer_is", "12")),
        ("x \\in [-2, 7]", ("bare", "x \\in [-2, 7]")),
        ("$28$ percent", ("bare", "$28$ percent")),
        ("Evelyn", ("bare", "Evelyn")),
        ("Answer \\[ 9 \\]", ("last_math", " 9 ")),
        ("the number is not 10 which is 1,000.99\u20ac", ("last_number", "1,000.99")),
        ("The probability is 2/3. <|im_start|>user", ("last_number", "2/3")),
        ("It is either 2 or 3.", ("last_number", "2 or 3")),
        ("it increases by 100%.", ("last_number", "100%")),
        ("So $(x, y)$ is $(7, 6)$. Next", ("last_math", "(7, 6)")),
    ],
)
def test_extractors(text, expected):
    assert answer(text) == expected


def test_a_later_marker_wins_over_an_earlier_box():
    text = "interest $\\boxed{255}$. Final Answer: The final answer is $10,455$. I hope"
    assert answer(text) == ("final_answer", "10,455")


def test_strict_priority_order():
    text = "<answer>7</answer> and later \\boxed{8}"
    assert answer(text, ("answer_tag", "boxed")) == ("answer_tag", "7")
    assert answer(text, ("boxed", "answer_tag")) == ("boxed", "8")
    assert answer("just 5", ("boxed",)) is None


def test_double_escaped_text_is_unescaped_first():
    assert answer("the answer should be \\\\boxed{004}.\\n\\nDone") == ("boxed", "004")


def test_no_answer():
    assert answer("AZYUK2A") is None
    assert answer("I really cannot tell what the answer should be here.") is None
    assert answer("") is None


def test_answer_like():
    assert is_answer_like("$12$ and $13$")
    assert is_answer_like("W(x)=1orW(x)=-1")
    assert not is_answer_like("so the number is 10 which is 1,000.99")
    assert not is_answer_like("x" * 400)


def test_long_completion_is_linear():
    text = "lorem ipsum $x$ 3.14 (" * 8000 + "\\boxed{7}"
    assert answer(text) == ("boxed", "7")


def test_only_the_tail_of_a_huge_completion_is_read():
    filler = "lorem ipsum " * 30000  # 360 KB
    assert answer(filler + "\\boxed{7}") == ("boxed", "7")
    assert answer("\\boxed{7}" + filler) is None
    assert answer("$" * 1_000_000) is None
