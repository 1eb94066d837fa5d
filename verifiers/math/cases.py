"""Golden cases for the math verifier, run by `rlfb verifiers check math`.

Adversarial cases include the known false positives of math-verify 0.9.0 (1 − 1/e vs 1 + 1/e,
1/2004! vs 1/2006!, two different equations that both reduce to 0) and hedged answers.
"""

from __future__ import annotations

from rlfb.verifiers.base import GoldenCase, VerifyStatus

C, W, U = VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.UNPARSEABLE


def _pos(completion: str, reference: str, note: str = "", **options) -> GoldenCase:
    return GoldenCase(completion, reference, C, "positive", options, note)


def _neg(completion: str, reference: str, note: str = "", expected=W, **options) -> GoldenCase:
    return GoldenCase(completion, reference, expected, "negative", options, note)


def _adv(completion: str, reference: str, note: str, expected=W, **options) -> GoldenCase:
    return GoldenCase(completion, reference, expected, "adversarial", options, note)


GOLDEN_CASES: tuple[GoldenCase, ...] = (
    # extraction
    _pos("So the answer is $\\boxed{\\frac{1}{2}}$.", "0.5", "boxed fraction vs decimal"),
    _pos("We get \\boxed{\\frac{\\sqrt{3}}{2}} in the end", "\\frac{\\sqrt3}{2}", "nested braces"),
    _pos("The result is \\fbox{42}.", "42", "\\fbox"),
    _pos("Final Answer: The final answer is $14{,}916$. I hope it is correct.", "14916",
         "Minerva final answer"),
    _pos("<think>6*7</think><answer>42</answer>", "42", "answer tag"),
    _pos("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72", "GSM8K ####"),
    _pos("The answer is 3.5 meters.", "7/2", "the answer is ..."),
    _pos("First $\\boxed{255}$ dollars of interest. Final Answer: The final answer is $10,455$.",
         "10455", "a later final answer overrides an intermediate box"),
    _pos("\\boxed{3}", "$3$", "reference wrapped in $...$"),
    _pos("0.5", "\\frac12", "bare prediction, LaTeX reference"),
    _pos("$\\boxed{(1, 2)}, \\boxed{(2, 1)}$", "(2,1),(1,2)", "several boxes form one list"),
    # numbers
    _pos("\\boxed{7,425,000}", "7425000", "thousands separators"),
    _pos("\\boxed{1 000}", "1000", "space thousands"),
    _pos("\\boxed{2,74}", "2.74", "decimal comma"),
    _pos("\\boxed{.4}", "0.4", "leading point"),
    _pos("\\boxed{1.5 \\times 10^{3}}", "1500", "scientific notation"),
    _pos("\\boxed{918\\frac{1}{2}}", "918.5", "mixed number"),
    _pos("\\boxed{\\$1,000.99}", "1000.99", "currency sign"),
    _pos("\\boxed{125 \\text{ miles}}", "125", "unit"),
    _pos("\\boxed{90^\\circ}", "90", "degrees"),
    _pos("\\boxed{28\\%}", "28", "percent (either policy)"),
    _pos("\\boxed{10\\%}", "0.1", "percent as a fraction (either policy)"),
    _pos("\\boxed{0.3333}", "\\frac{1}{3}", "decimal rounding with 4 significant digits"),
    _pos("\\boxed{4.1231}", "\\sqrt{17}", "decimal rounding of an irrational"),
    # expressions
    _pos("\\boxed{x^2+2x+1}", "(x+1)^2", "polynomial identity"),
    _pos("\\boxed{\\sec^2 y}", "\\tan^2(y)+1", "trigonometric identity"),
    _pos("\\boxed{3\\sqrt{13}}", "\\sqrt{117}", "radicals"),
    _pos("\\boxed{\\frac{10\\sqrt{10.5}}{27}}", "\\frac{5\\sqrt{42}}{27}", "radical of a decimal"),
    _pos("\\boxed{\\frac{3}{4}i}", "\\frac34 i", "complex number"),
    _pos("\\boxed{e^{i\\pi}}", "-1", "Euler's identity"),
    # structure
    _pos("\\boxed{x = 3}", "3", "assignment vs value"),
    _pos("\\boxed{(p, q) = (3, 2)}", "(3,2)", "tuple assignment"),
    _pos("\\boxed{y = -\\frac{1}{2}x + \\frac{3}{4}}", "2x + 4y - 3 = 0", "equivalent equations"),
    _pos("\\boxed{\\{2, 1\\}}", "\\{1, 2\\}", "sets are unordered"),
    _pos("\\boxed{3, 1, 2}", "1, 2, 3", "solution lists are unordered"),
    _pos("\\boxed{1 \\pm \\sqrt{19}}", "1+\\sqrt{19}, 1-\\sqrt{19}", "plus-minus"),
    _pos("\\boxed{[-1, 0) \\cup (0, 1]}", "[-1,0)\\cup(0,1]", "union of intervals"),
    _pos("\\boxed{5 \\geq x}", "x \\leq 5", "flipped inequality"),
    _pos("\\boxed{x \\in [-2, 7]}", "-2 \\leq x \\leq 7", "interval for an inequality reference"),
    _pos("\\boxed{\\begin{bmatrix}1 & 2 \\\\ 3 & 4\\end{bmatrix}}",
         "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "matrices"),
    _pos("\\boxed{\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}}", "(1, 2)", "column vector vs tuple"),
    _pos("\\boxed{0.\\overline{3}}", "\\frac13", "repeating decimal"),
    _pos("\\boxed{\\varnothing}", "\\emptyset", "empty set spellings"),
    _pos("The answer is (C).", "C", "multiple choice"),
    _pos("\\boxed{\\text{Evelyn}}", "Evelyn", "text answer"),
    # options
    _pos("\\boxed{-2 \\leq x \\leq 7}", "[-2, 7]", "inequality for an interval, when allowed",
         inequality_for_interval=True),
    _pos("\\boxed{5.001}", "5", "relative tolerance", rel_tol=1e-3),
    _pos("<answer>7</answer> and \\boxed{8}", "7", "strict priority list",
         extraction=["answer_tag", "boxed"]),
    # negative
    _neg("\\boxed{3}", "4", "different integer"),
    _neg("\\boxed{0.28}", "28", "a fraction is not the percent number"),
    _neg("\\boxed{10\\%}", "10", "percent policy 'fraction'", percent="fraction"),
    _neg("\\boxed{0.33}", "\\frac{1}{3}", "two significant digits are not enough"),
    _neg("\\boxed{5.001}", "5", "no tolerance by default"),
    _neg("\\boxed{(3, 1)}", "(1,3)", "tuples are ordered"),
    _neg("\\boxed{x < 5}", "x > 5", "opposite inequality"),
    _neg("\\boxed{-2 \\leq x \\leq 7}", "[-2, 7]", "inequality for an interval reference"),
    _neg("\\boxed{(0, 1)}", "[0, 1)", "open vs half-open interval"),
    _neg("\\boxed{11a+c}", "7 = 11a+c", "an equation is not one of its sides"),
    _neg("\\boxed{x+1}", "x+2n+1", "missing term"),
    _neg("The answer is (B).", "C", "wrong option"),
    _neg("\\boxed{32, 349}", "32349", "a list is not a number"),
    _neg("\\boxed{1112122_3}", "1112112_3", "base-3 digits"),
    _neg("no number here", "5", "a few words are a text answer"),
    _neg("I am not sure what the answer could possibly be here.", "5", "prose, nothing to extract",
         expected=U),
    _neg("", "5", "empty completion", expected=U),
    # adversarial: known false positives of other graders
    _adv("\\boxed{1 + \\frac{1}{e}}", "1 - \\frac{1}{e}", "1-1/e vs 1+1/e"),
    _adv("\\boxed{\\frac{1}{2006!}}", "\\frac{1}{2004!}", "1/2004! vs 1/2006! (both tiny)"),
    _adv("\\boxed{x - y = 0}", "x + y = 0", "two equations that both reduce to 0"),
    _adv("\\boxed{0}", "a + 3z = 0", "a value is not an equation whose side is 0"),
    _adv("\\boxed{3x + 3y = 3}", "x + y = 2", "same left side, different equation"),
    _adv("\\boxed{\\sqrt{2} + 10^{-60}}", "\\sqrt{2}", "a difference below float precision"),
    _adv("\\boxed{e^{-1000}}", "0", "a tiny non-zero constant is not 0"),
    _adv("\\boxed{(1+\\sqrt{2})^2 + 10^{-60}}", "3+2\\sqrt{2}",
         "a tiny rational hidden in radicals"),
    # adversarial: hedges and tricks
    _adv("\\boxed{2 \\text{ or } 3}", "2", "two candidate answers"),
    _adv("\\boxed{2}, \\boxed{3}", "2", "two boxes"),
    _adv("\\boxed{\\pm 2}", "2", "plus-minus when one value is asked"),
    _adv("It is either 2 or 3.", "3", "hedge in plain text"),
    _adv("\\boxed{1, 2, 3, 4}", "1, 2, 3", "an extra solution"),
    _adv("\\boxed{x = 2, y = 1}", "x = 1, y = 2", "values swapped between named variables"),
    _adv("\\boxed{2, 2}", "2", "a repeated value is still one value", expected=C),
    _adv("AZYUK2A", "2", "a digit inside a word is not an answer", expected=U),
    _adv("\\boxed{10^{10^{10}}}", "5", "a power tower is refused, not evaluated", expected=U),
    _adv("\\boxed{" + "(" * 400 + "1" + ")" * 400 + "}", "1", "400-deep parentheses",
         expected=U),
    _adv("\\boxed{x}", "\\text{x}", "a symbol against text of the same letter", expected=C),
)
