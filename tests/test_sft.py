"""SFT: prompt tokens get no gradient, held-out loss falls on a tiny model, data layouts, resume,
and `rlfb train` with algo sft."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlfb.config import load_config
from rlfb.config.schema import RecordFields
from rlfb.data.records import Encoder, load_examples, token_batch
from rlfb.errors import ConfigError
from rlfb.learner.sft import SFTLearner
from rlfb.run_log import read_jsonl
from rlfb.models.load import load_tokenizer
from rlfb.models.tiny import make_tiny_model
from rlfb.trainers.offline import OfflineTrainer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=1)


def arithmetic_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        rows.append({"prompt": f"What is {a} + {b}?", "completion": f"The answer is {a + b}."})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prompt_tokens_get_no_gradient_and_the_loss_is_the_completion_nll(tiny, tmp_path):
    tok = load_tokenizer(tiny)
    enc = Encoder(tok, RecordFields())
    examples = load_examples(write_jsonl(tmp_path / "d.jsonl", arithmetic_rows(3)), enc)
    batch = token_batch(examples, tok.pad_token_id)
    # logits_chunk=0: the output layer runs once over every position, so the hook sees all
    # logits (chunked, it runs only at target positions: tests/learner/test_chunked_logprobs.py)
    learner = SFTLearner(str(tiny), lr=1e-3, packing="padded", micro_batch_size=8,
                         logits_chunk=0)
    captured = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["logits"] = output

    learner.model.lm_head.register_forward_hook(keep)
    stats = learner.update(batch)
    # the learner runs rows sorted by length: map them back to batch order
    order = torch.argsort(batch.attention_mask.sum(1), stable=True)
    back = torch.argsort(order)
    logits, grad = captured["logits"][back], captured["logits"].grad[back]
    # by hand: the NLL of each completion token under the logits one position earlier
    logp = torch.log_softmax(logits.detach().float(), -1)
    nll, count = 0.0, 0
    for b, e in enumerate(examples):
        p, c = len(e.prompt_ids), len(e.target_ids)
        for t in range(p, p + c):
            nll -= float(logp[b, t - 1, batch.input_ids[b, t]])
            count += 1
        # logits at 0..p-2 predict prompt tokens; from p-1 they predict the completion
        assert float(grad[b, : p - 1].abs().max()) == 0.0
        assert float(grad[b, p - 1 : p + c - 1].abs().amin(-1).min()) > 0.0
        assert float(grad[b, p + c - 1 :].abs().max()) == 0.0  # eos predicts nothing; padding
    assert stats["learner/loss"] == pytest.approx(nll / count, rel=1e-5)
    assert stats["learner/tokens"] == count


def test_sft_layouts_messages_and_text(tiny, tmp_path):
    tok = load_tokenizer(tiny)
    enc = Encoder(tok, RecordFields(), max_length=40)
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    [chat] = load_examples(write_jsonl(tmp_path / "m.jsonl", [{"messages": msgs}]), enc)
    full = tok.apply_chat_template(msgs, tokenize=False)
    text = tok.decode([*chat.prompt_ids, *chat.target_ids])
    assert full.startswith(text) and text.endswith("hello<|im_end|>")  # template minus "\n"
    assert tok.decode(list(chat.target_ids)) == "hello<|im_end|>"
    long = {"text": " ".join(["one two three"] * 30)}
    [plain] = load_examples(write_jsonl(tmp_path / "t.jsonl", [long]), enc)
    assert plain.prompt_ids == (tok.bos_token_id,) and plain.truncated
    assert len(plain.prompt_ids) + len(plain.target_ids) == 40
    with pytest.raises(ConfigError, match="none of the SFT layouts"):
        load_examples(write_jsonl(tmp_path / "x.jsonl", [{"question": "q"}]), enc)
    bad = [{"messages": [msgs[0], {"role": "user", "content": "again"}]}]
    with pytest.raises(ConfigError, match="ending with the assistant's reply"):
        load_examples(write_jsonl(tmp_path / "b.jsonl", bad), enc)
    with pytest.raises(ConfigError, match="raise max_length"):
        load_examples(write_jsonl(tmp_path / "p.jsonl", [{"prompt": "w " * 60,
                                                          "completion": "x"}]), enc)


def sft_config(tmp_path: Path, out: Path, *overrides: str):
    train = write_jsonl(tmp_path / "train.jsonl", arithmetic_rows(64))
    held = write_jsonl(tmp_path / "held.jsonl", arithmetic_rows(16, seed=1))
    base = [f"run.output_dir={out}", "run.name=sft", "run.steps=12", "run.seed=0",
            "run.save_every=0", "run.progress=false", "run.tracker=none",
            "model.path=tiny:0", "algo.name=sft", f"offline.files=[{train}]",
            f"offline.eval_files=[{held}]", "offline.batch_size=8", "learner.lr=3e-3",
            "learner.micro_batch_size=8", "eval.every=6"]
    return load_config(None, [*base, *overrides])


def run_offline(cfg) -> list[dict]:
    trainer = OfflineTrainer(cfg)
    try:
        run_dir = trainer.run()
    finally:
        trainer.close()
    return read_jsonl(Path(run_dir) / "metrics.jsonl")


def test_sft_lowers_the_held_out_loss(tmp_path):
    records = run_offline(sft_config(tmp_path, tmp_path / "run", "offline.limit=48"))
    evals = [r["eval/loss"] for r in records if "eval/loss" in r]
    assert [r["step"] for r in records if "eval/loss" in r] == [0, 6, 12]
    assert evals[-1] < 0.6 * evals[0], evals
    assert records[-1]["data/epoch"] == pytest.approx(12 * 8 / 48)  # 48 of the 64 rows


def test_sft_resume_matches_uninterrupted_and_epochs_set_the_length(tmp_path):
    skip = ("time/", "perf/", "learner/update_s")

    def clean(rs):
        return [{k: v for k, v in r.items() if not k.startswith(skip)} for r in rs]

    over = ("run.save_every=2", "offline.epochs=1", "offline.batch_size=16", "eval.every=2")
    full = run_offline(sft_config(tmp_path, tmp_path / "full", *over))
    assert [r["step"] for r in full] == [0, 1, 2, 3, 4]  # 64 rows / 16 = 4 steps
    run_offline(sft_config(tmp_path, tmp_path / "part", *over, "offline.epochs=null",
                           "run.steps=2"))
    part = tmp_path / "part"
    resumed = run_offline(sft_config(tmp_path, part, *over, f"run.resume={part}"))
    assert clean(resumed) == clean(full)


def test_cli_runs_sft_and_writes_the_offline_report(tmp_path):
    rlfb = str(Path(sys.executable).parent / "rlfb")
    cfg = sft_config(tmp_path, tmp_path / "cli")
    from rlfb.config import save_config

    path = save_config(cfg, tmp_path / "sft.yaml")
    out = subprocess.run([rlfb, "train", str(path), "run.steps=2", "eval.every=2"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = (tmp_path / "cli" / "report.md").read_text()
    assert "| eval/loss | " in report and "offline_loss.png" in report
    assert (tmp_path / "cli" / "offline_loss.png").exists()
    out = subprocess.run([rlfb, "train", str(path), "offline.files=[]"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and "set offline.files" in out.stderr
