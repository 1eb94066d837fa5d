"""`rlfb eval`: a tiny model sampled on a jsonl file, and saved completions scored by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rlfb.cli import main
from rlfb.run_log import read_jsonl
from rlfb.verifiers import Verdict, Verifier, VerifyStatus, register_verifier

DIGIT = ["-V", "mode=regex", "-V", "pattern='[0-9]'", "-V", "match=search"]


@register_verifier("eval_cmd_flaky")
class FlakyVerifier(Verifier):
    """Exact match, except that a completion containing SLOW times out (a judge failure)."""

    version = "1"

    def judge(self, completion, reference):
        if "SLOW" in completion:
            return Verdict(VerifyStatus.TIMEOUT)
        ok = completion.strip() == str(reference)
        return Verdict(VerifyStatus.CORRECT if ok else VerifyStatus.WRONG, extracted=completion)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from rlfb.models.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny", seed=0)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def hand_pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k), written out as a product (Chen et al.'s numerically stable form)."""
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def test_eval_tiny_model_figures_match_the_sample_records(tiny, tmp_path):
    data = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": f"What is {a} + {b}?", "answer": str(a + b)} for a, b in
        [(1, 2), (3, 4), (5, 6)]])
    out = tmp_path / "out"
    rc = main(["eval", str(tiny), "--data", str(data), "--verifier", "format", *DIGIT,
               "--n", "4", "--temperature", "1.0", "--max-new-tokens", "12",
               "--prompt-field", "question", "--reference-field", "answer", "--out", str(out)])
    assert rc == 0
    summary = json.loads((out / "eval.json").read_text())
    records = read_jsonl(out / "eval_samples.jsonl")
    assert len(records) == 12 and summary["samples"] == 12 and summary["prompts"] == 3
    assert {r["reference"] for r in records} == {"3", "7", "11"}
    correct = [r["correct"] for r in records]
    assert None not in correct  # the format verifier never fails to judge
    assert summary["accuracy"] == sum(correct) / 12
    assert summary["judge_failed"] == 0
    assert 0 < summary["accuracy"] < 1  # seeded: some samples hold a digit, so pass@k varies
    counts = {}
    for r in records:
        counts.setdefault(r["prompt_id"], []).append(r["correct"])
    assert sorted(len(v) for v in counts.values()) == [4, 4, 4]
    assert set(summary["pass_at_k"]) == {"1", "2", "4"}
    for k in (1, 2, 4):
        expected = sum(hand_pass_at_k(4, sum(v), k) for v in counts.values()) / 3
        assert summary["pass_at_k"][str(k)]["value"] == pytest.approx(expected, rel=1e-12)
    rewards = [r["reward"] for r in records]
    assert summary["reward"]["mean"] == pytest.approx(sum(rewards) / 12, rel=1e-12)
    assert summary["components"]["format"]["mean"] == pytest.approx(sum(rewards) / 12, rel=1e-12)
    assert sum(summary["accuracy_statuses"].values()) == 12
    assert summary["accuracy_statuses"].get("correct", 0) == sum(correct)
    assert summary["hedging"]["n"] == 12
    md = (out / "eval.md").read_text()
    assert f"| accuracy | {summary['accuracy']:.4g} |" in md


def test_eval_greedy_single_sample_is_deterministic(tiny, tmp_path):
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "What is 2 + 2?", "reference": "4"}])
    texts = []
    for name, seed in (("a", "5"), ("b", "6")):
        assert main(["eval", str(tiny), "--data", str(data), "--verifier", "format", *DIGIT,
                     "--max-new-tokens", "8", "--seed", seed,
                     "--out", str(tmp_path / name)]) == 0
        summary = json.loads((tmp_path / name / "eval.json").read_text())
        assert summary["settings"]["sampling"]["temperature"] == 0.0
        assert summary["samples_per_prompt"] == 1 and set(summary["pass_at_k"]) == {"1"}
        texts.append(read_jsonl(tmp_path / name / "eval_samples.jsonl")[0]["completion"])
    assert texts[0] == texts[1]  # greedy: the seed plays no part


def test_eval_completions_hedging_calibration_and_judge_failures(tmp_path):
    comps = write_jsonl(tmp_path / "c.jsonl", [
        {"prompt": "3+4?", "reference": "7", "completion": "The answer is \\boxed{7}. Confidence: 90%"},
        {"prompt": "3+4?", "reference": "7", "completion": "Probably \\boxed{8}. Confidence: 60%"},
        {"prompt": "2+2?", "reference": "4", "completion": "I don't know."},
        {"prompt": "2+2?", "reference": "4", "completion": "\\boxed{4}"},
    ])
    out = tmp_path / "out"
    assert main(["eval", "--completions", str(comps), "--reward", "hedging", "-R",
                 "verifier=math", "--out", str(out)]) == 0
    s = json.loads((out / "eval.json").read_text())
    # math verifier: correct, wrong, unparseable, correct
    assert s["accuracy"] == 0.5 and s["accuracy_statuses"] == {
        "correct": 2, "unparseable": 1, "wrong": 1}
    # pass@1: (1/2 + 1/2) / 2; pass@2: each prompt has one correct of two -> 1
    assert s["pass_at_k"]["1"]["value"] == 0.5 and s["pass_at_k"]["2"]["value"] == 1.0
    # phrases: a stated confidence below 1 is a hedge, so the classes are hedged, hedged,
    # uninformative, unhedged; Schulman's table pays +0.5, -2, 0, +1
    assert s["reward"]["mean"] == pytest.approx((0.5 - 2 + 0 + 1) / 4, rel=1e-12)
    assert s["components"]["payoff"]["mean"] == pytest.approx((0.5 - 2 + 0 + 1) / 4, rel=1e-12)
    h = s["hedging"]
    assert (h["hedge_rate"], h["abstention_rate"], h["wrong_unhedged_rate"]) == (0.5, 0.25, 0.0)
    assert h["accuracy_hedged"] == 0.5 and h["accuracy_unhedged"] == 1.0
    assert h["n_confidence"] == 2 and h["mean_confidence"] == pytest.approx(0.75)
    # ECE, bins of width 0.1: p=0.9 right -> |1 - 0.9|, p=0.6 wrong -> |0 - 0.6|, half each
    assert s["calibration"]["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.6)
    assert [b["count"] for b in s["calibration"]["bins"]] == [0] * 6 + [1, 0, 0, 1]
    assert (out / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![reliability diagram](reliability.png)" in (out / "eval.md").read_text()


def test_eval_judge_failures_are_counted_and_excluded(tmp_path):
    comps = write_jsonl(tmp_path / "c.jsonl", [
        {"q": "a", "ref": "x", "out": "x"}, {"q": "a", "ref": "x", "out": "SLOW x"},
        {"q": "a", "ref": "x", "out": "y"}, {"q": "b", "ref": "z", "out": "SLOW"},
    ])
    out = tmp_path / "out"
    assert main(["eval", "--completions", str(comps), "--verifier", "eval_cmd_flaky",
                 "--prompt-field", "q", "--reference-field", "ref", "--completion-field", "out",
                 "--out", str(out)]) == 0
    s = json.loads((out / "eval.json").read_text())
    assert s["judge_failed"] == 2 and s["judged"] == 2
    assert s["accuracy"] == 0.5  # 1 of the 2 judged, not 1 of 4
    assert s["accuracy_statuses"] == {"correct": 1, "timeout": 2, "wrong": 1}
    assert s["reward"]["masked"] == 2 and s["reward"]["mean"] == 0.5
    assert s["reward_statuses"]["eval_cmd_flaky/timeout"] == 2
    # prompt a: 2 judged (1 correct) of 3; prompt b: none judged -> left out of pass@1
    assert s["pass_at_k"]["1"] == {"value": 0.5, "prompts": 1, "excluded": 1}
    assert s["pass_at_k"]["2"] == {"value": 1.0, "prompts": 1, "excluded": 1}
    assert s["hedging"]["n_masked"] == 2


@pytest.mark.parametrize("argv, message", [
    (["tiny", "--data", "missing.jsonl", "--verifier", "math"], "data file not found"),
    (["--completions", "missing.jsonl", "--verifier", "math"], "does not exist"),
    (["--completions", "c.jsonl", "--verifier", "mathh"], "did you mean 'math'"),
    (["--completions", "c.jsonl"], "--verifier NAME and/or --reward"),
    (["tiny", "--completions", "c.jsonl", "--verifier", "math"], "either MODEL"),
    (["tiny", "--data", "c.jsonl", "--verifier", "math", "--n", "4", "--temperature", "0"],
     "greedily"),
    (["--completions", "c.jsonl", "--reward", "composite", "-R",
      "components=[{name: a, kind: verifier, verifier: math}, "
      "{name: b, kind: verifier, verifier: math}]"], "pass --verifier"),
])
def test_eval_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "reference": "1", "completion": "1"}])
    assert main(["eval", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.vllm
def test_eval_vllm_engine_greedy_matches_hf_engine(tiny, tmp_path):
    data = write_jsonl(tmp_path / "qa.jsonl", [
        {"prompt": f"What is {a} + {b}?", "reference": str(a + b)} for a, b in [(1, 2), (3, 4)]])
    summaries, texts = [], []
    for engine, extra in (("hf", []), ("vllm", ["--engine-option", "max_model_len=512"])):
        out = tmp_path / engine
        assert main(["eval", str(tiny), "--data", str(data), "--verifier", "format", *DIGIT,
                     "--max-new-tokens", "8", "--engine", engine, *extra, "--out", str(out)]) == 0
        summaries.append(json.loads((out / "eval.json").read_text()))
        texts.append([r["completion"] for r in read_jsonl(out / "eval_samples.jsonl")])
    assert texts[0] == texts[1]  # greedy decoding: the same completions from either engine
    assert summaries[0]["accuracy"] == summaries[1]["accuracy"]
