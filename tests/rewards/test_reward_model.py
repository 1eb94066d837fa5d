"""Reward-model training (``algo.name: reward_model``) on generated arithmetic preferences, and
the `reward_model` reward."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rlfb.config import load_config
from rlfb.config.sections import RecordFields
from rlfb.data.arith_pairs import arith_pairs, write_jsonl
from rlfb.data.records import PreferencePair, load_text_pairs
from rlfb.errors import ConfigError, RlfbError
from rlfb.learner.reward_model import RewardModelLearner, pair_scores
from rlfb.models.reward_model import encode, load_reward_model, render
from rlfb.run_log import read_jsonl
from rlfb.trainers import train
from rlfb.models.tiny import make_tiny_model
from rlfb.rewards import get_reward
from rlfb.rewards.reward_model import prompt_of


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("rm") / "base", hidden_size=64, num_layers=2,
                           num_heads=4, seed=0)


@pytest.fixture(scope="module")
def arith_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("arith")
    train = write_jsonl(arith_pairs(800, seed=0), d / "train.jsonl")
    # held-out pairs: wrong answers off by 3 or 4, while training only saw 1 or 2
    held_out = write_jsonl(arith_pairs(200, seed=1, deltas=(-4, -3, 3, 4)), d / "eval.jsonl")
    return train, held_out


def rm_config(out: Path, base: Path, *overrides: str):
    return load_config(None, [
        f"run.output_dir={out}", "run.seed=0", "run.save_every=0", "run.samples_every=0",
        "run.progress=false", "run.tracker=none", f"model.path={base}",
        "algo.name=reward_model", "algo.options={template: concat}", "offline.max_length=64",
        "learner.lr=1e-3", "learner.lr_schedule=linear", *overrides])


@pytest.fixture(scope="module")
def trained(base, arith_files, tmp_path_factory):
    train_file, held_out = arith_files
    cfg = rm_config(tmp_path_factory.mktemp("rm-out") / "rm", base,
                    f"offline.files=[{train_file}]", f"offline.eval_files=[{held_out}]",
                    "offline.epochs=10", "offline.batch_size=32", "learner.micro_batch_size=32",
                    "eval.every=250")
    run_dir, _ = train(cfg)
    records = read_jsonl(Path(run_dir) / "metrics.jsonl")
    evals = [r for r in records if "eval/pair_accuracy" in r]
    losses = [r["learner/loss"] for r in records if "learner/loss" in r]
    metrics = {"eval_accuracy": evals[-1]["eval/pair_accuracy"],
               "eval_accuracy_before": evals[0]["eval/pair_accuracy"],
               "n_eval": evals[-1]["eval/pairs"], "steps": len(losses),
               "train_loss_first": losses[0], "train_loss_last": losses[-1]}
    print(f"\nreward model: held-out pairwise accuracy {metrics['eval_accuracy']:.3f} "
          f"(before {metrics['eval_accuracy_before']:.3f}), {metrics['steps']} steps")
    return Path(run_dir) / "reward_model", metrics


def test_reward_model_learns_arithmetic_preferences(trained):
    _, metrics = trained
    assert metrics["eval_accuracy"] >= 0.90
    assert metrics["eval_accuracy_before"] < 0.75  # a random head is not already right
    assert metrics["train_loss_last"] < metrics["train_loss_first"]
    assert metrics["n_eval"] == 200
    assert metrics["steps"] == 10 * 25  # 800 pairs / 32 per step, 10 epochs


def test_saved_folder_is_hf_format_with_metadata(trained):
    out, _ = trained
    for name in ("config.json", "model.safetensors", "tokenizer.json", "rlfb_reward_model.json"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "rlfb_reward_model.json").read_text())
    assert meta["template"] == "concat" and meta["max_length"] == 64
    model, _ = load_reward_model(str(out))
    assert model.config.num_labels == 1


def test_reward_reproduces_held_out_accuracy(trained, arith_files):
    out, metrics = trained
    pairs = load_text_pairs([str(arith_files[1])], RecordFields())
    reward = get_reward("reward_model", path=str(out), batch_size=64)
    refs = [{"prompt": p.prompt} for p in pairs]
    chosen = reward.score_batch([p.chosen for p in pairs], refs)
    rejected = reward.score_batch([p.rejected for p in pairs], refs)
    wins = sum(c.value > r.value for c, r in zip(chosen, rejected))
    assert wins / len(pairs) == metrics["eval_accuracy"]


def test_reward_prefers_the_correct_sum(trained):
    reward = get_reward("reward_model", path=str(trained[0]))
    right = reward.score("7", "What is 3 + 4? ")  # a string reference is the prompt
    wrong = reward.score("9", {"prompt": "What is 3 + 4? "})
    assert right.value > wrong.value
    assert right.components == {"reward_model": right.value}
    assert right.info["raw_score"] == right.value


def test_batch_size_scale_shift_and_explicit_prompts(trained):
    path = str(trained[0])
    completions = ["7", "8", "12", "3"]
    prompts = ["What is 3 + 4? ", "What is 3 + 4? ", "What is 4 + 4? ", "What is 1 + 2? "]
    one = get_reward("reward_model", path=path, batch_size=1).score_batch(completions, prompts)
    many = get_reward("reward_model", path=path, batch_size=4).score_batch(completions, prompts)
    assert [r.value for r in one] == pytest.approx([r.value for r in many], abs=1e-5)
    shifted = get_reward("reward_model", path=path, scale=2.0, shift=1.0)
    explicit = shifted.score_batch(completions, [None] * 4, prompts=prompts)
    assert [r.value for r in explicit] == pytest.approx(
        [2.0 * (r.value - 1.0) for r in many], abs=1e-5)


def test_prompt_of_reference_forms():
    messages = [{"role": "user", "content": "hi"}]
    assert prompt_of("What?") == "What?"
    assert prompt_of(messages) == messages
    assert prompt_of({"question": "Q", "answer": 4}, prompt_field="question") == "Q"
    with pytest.raises(RlfbError, match="no 'prompt' key"):
        prompt_of({"answer": 4})
    with pytest.raises(RlfbError, match="type int"):
        prompt_of(4)


def test_bradley_terry_loss_with_margins_by_hand(base):
    learner = RewardModelLearner(str(base), template="concat", max_length=64)
    pairs = [PreferencePair("What is 1 + 1? ", "2", "3", margin=0.5),
             PreferencePair("What is 2 + 2? ", "4", "1", margin=2.0)]
    chosen, rejected = pair_scores(learner.model.eval(), learner.tokenizer, pairs, "concat", 64)
    expected_loss = -(F.logsigmoid(chosen - rejected - torch.tensor([0.5, 2.0]))).sum().item()
    got = learner.evaluate(pairs)
    assert got["pairs"] == 2.0
    assert got["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert got["reward_accuracy"] == float((chosen > rejected).sum())
    assert got["reward_margin"] == pytest.approx((chosen - rejected).sum().item(), rel=1e-5)


def test_render_chat_and_concat(base):
    _, tok = load_reward_model(str(base))
    assert render(tok, "What is 1+1?", "2", "chat") == (
        "<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n")
    system = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}]
    assert render(tok, system, "2", "chat").startswith("<|im_start|>system\nBe brief.")
    assert render(tok, "Q: ", "A", "concat") == "Q: A"
    assert render(tok, system, "2", "concat") == "Be brief.\n1+1?2"  # contents, no roles
    with pytest.raises(ConfigError, match="string completions"):
        render(tok, "Q: ", [{"role": "assistant", "content": "A"}], "concat")


def test_truncation_keeps_the_end(base):
    _, tok = load_reward_model(str(base))
    text = "What is 1 + 1? " * 20 + "2"
    batch = encode(tok, [text, "2"], "concat", max_length=8)
    assert batch["input_ids"].shape[1] == 8
    last = tok.convert_ids_to_tokens(int(batch["input_ids"][0, -1]))
    assert last == "2"


def test_chat_template_training_runs(base, tmp_path):
    """The default template for a chat tokenizer is "chat"; one short epoch trains, holds out
    a quarter of the pairs, and exports."""
    small = write_jsonl(arith_pairs(24, seed=3), tmp_path / "small.jsonl")
    cfg = rm_config(tmp_path / "o", base, "algo.options={}", f"offline.files=[{small}]",
                    "offline.holdout=0.25", "offline.epochs=1", "offline.batch_size=8",
                    "learner.lr=1e-4", "eval.every=3")
    run_dir, report = train(cfg)
    records = read_jsonl(Path(run_dir) / "metrics.jsonl")
    assert [r["step"] for r in records] == [0, 1, 2, 3]  # 18 pairs / 8 per step
    assert records[-1]["eval/pairs"] == 6 and math.isfinite(records[-1]["eval/loss"])
    meta = json.loads((Path(run_dir) / "reward_model" / "rlfb_reward_model.json").read_text())
    assert meta["template"] == "chat" and report.name == "report.md"


def test_resumed_training_matches_an_uninterrupted_run(base, tmp_path):
    small = write_jsonl(arith_pairs(32, seed=4), tmp_path / "small.jsonl")
    # a constant schedule: a decaying one depends on run.steps, which the first part shortens
    common = [f"offline.files=[{small}]", "offline.batch_size=8", "run.steps=4",
              "run.save_every=2", "eval.every=0", "learner.lr_schedule=constant"]
    full, _ = train(rm_config(tmp_path / "full", base, *common))
    train(rm_config(tmp_path / "part", base, *common, "run.steps=2"))
    part, _ = train(rm_config(tmp_path / "part", base, *common, f"run.resume={tmp_path / 'part'}"))
    losses = [[r["learner/loss"] for r in read_jsonl(Path(d) / "metrics.jsonl")]
              for d in (full, part)]
    assert losses[0] == losses[1] and len(losses[0]) == 4


def test_config_errors(base, arith_files, tmp_path):
    with pytest.raises(ConfigError, match="algo.options.template='jinja' must be one of"):
        rm_config(tmp_path, base, "algo.options={template: jinja}", "offline.files=[x.jsonl]")
    with pytest.raises(ConfigError, match="trains on data files: set offline.files"):
        rm_config(tmp_path, base)
    with pytest.raises(ConfigError, match="leave algo.advantage unset"):
        rm_config(tmp_path, base, "offline.files=[x.jsonl]", "algo.kl_coef=0.1")
    with pytest.raises(ConfigError, match="lacks the preference column"):
        load_text_pairs([str(arith_files[0])], RecordFields(chosen="preferred"))


def test_reward_model_errors(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        get_reward("reward_model", path=str(tmp_path))


def test_reward_model_inside_a_composite(trained):
    path = str(trained[0])
    composite = get_reward("composite", components=[
        {"name": "correct", "kind": "verifier", "verifier": "math", "reference_key": "answer",
         "weight": 1.0},
        {"name": "rm", "kind": "reward", "reward": "reward_model", "weight": 0.5,
         "options": {"path": path}}])
    ref = {"prompt": "What is 3 + 4? ", "answer": "7"}
    result = composite.score("7", ref)
    rm_value = get_reward("reward_model", path=path).score("7", ref).value
    assert result.components["correct"] == 1.0
    assert result.value == pytest.approx(1.0 + 0.5 * rm_value, abs=1e-6)


def test_scorer_gives_the_reward_model_each_prompt(trained):
    """In training the reference is often a bare answer (reasoning-gym): the scorer passes the
    prompt's messages, through a composite too, so the model judges (prompt, completion)."""
    from rlfb.scoring import Scorer
    from rlfb.types import Prompt, Rollout

    path = str(trained[0])
    prompts = [Prompt("a", ({"role": "user", "content": "What is 3 + 4? "},), reference="7"),
               Prompt("b", ({"role": "user", "content": "What is 1 + 2? "},), reference="3")]
    rollouts = [Rollout(prompt_id=p.prompt_id, sample_index=0, prompt_token_ids=[1],
                        completion_token_ids=[2], text=text, logprobs=[-1.0],
                        finish_reason="stop", weight_version=0)
                for p, text in zip(prompts, ["7", "5"])]
    rm = get_reward("reward_model", path=path)
    expected = [r.value for r in rm.score_batch(["7", "5"], [None, None],
                                                prompts=[list(p.messages) for p in prompts])]
    scored = Scorer("reward_model", {"path": path}).score(prompts, rollouts)
    assert [s.reward for s in scored] == pytest.approx(expected, abs=1e-6)
    as_prompt = [r.value for r in rm.score_batch(["7", "5"], ["7", "3"])]  # the old mistake
    assert [s.reward for s in scored] != pytest.approx(as_prompt, abs=1e-3)
    composite = Scorer("composite", {"components": [
        {"name": "correct", "kind": "verifier", "verifier": "math", "weight": 1.0},
        {"name": "rm", "kind": "reward", "reward": "reward_model", "weight": 0.5,
         "options": {"path": path}}]}).score(prompts, rollouts)
    assert [s.components["rm"] for s in composite] == pytest.approx(expected, abs=1e-6)
    assert [s.components["correct"] for s in composite] == [1.0, 0.0]
