"""make_tiny_model writes a deterministic HF folder that every loader accepts."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from rlfb.errors import ConfigError, RlfbError
from rlfb.models.load import load_policy, load_tokenizer, render_prompt
from rlfb.models.tiny import CHAT_TEMPLATE, make_tiny_model
from rlfb.types import Prompt


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "qwen2", seed=0)


def test_same_seed_gives_byte_identical_files(tiny, tmp_path):
    again = make_tiny_model(tmp_path / "again", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes(), name


def test_other_seed_changes_weights_not_tokenizer(tiny, tmp_path):
    other = make_tiny_model(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (tiny / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (tiny / "tokenizer.json").read_bytes()


def test_loads_as_causal_lm_with_requested_shape(tiny):
    model = AutoModelForCausalLM.from_pretrained(tiny)
    tok = AutoTokenizer.from_pretrained(tiny)
    cfg = model.config
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (128, 2, 4)
    assert cfg.vocab_size == len(tok) == 512
    ids = torch.tensor([tok("What is 2+3?").input_ids])
    assert model(ids).logits.shape == (1, ids.shape[1], 512)


def test_llama_arch(tmp_path):
    path = make_tiny_model(tmp_path / "llama", arch="llama", hidden_size=64, num_heads=2)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.hidden_size == 64


def test_every_digit_and_operator_is_one_token(tiny):
    tok = AutoTokenizer.from_pretrained(tiny)
    for ch in "0123456789+-*/=()":
        ids = tok(ch, add_special_tokens=False).input_ids
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids)[0] == ch, ch
    # numbers split into single digits, so arithmetic is digit-by-digit
    assert tok.convert_ids_to_tokens(tok("1234", add_special_tokens=False).input_ids) == list("1234")


def test_special_tokens_and_roundtrip(tiny):
    tok = load_tokenizer(tiny)
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|endoftext|>", "<|im_end|>", "<|pad|>")
    assert len({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}) == 3
    assert len(tok("<|im_start|>", add_special_tokens=False).input_ids) == 1
    text = "Hello, world! 12*7=84 don't"
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text
    cfg = json.loads((tiny / "config.json").read_text())
    assert cfg["eos_token_id"] == tok.eos_token_id and cfg["pad_token_id"] == tok.pad_token_id


def test_chat_template_with_and_without_generation_prompt(tiny):
    tok = load_tokenizer(tiny)
    assert tok.chat_template == CHAT_TEMPLATE
    prompt = Prompt("p0", ({"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "What is 2+3?"}))
    ids = render_prompt(tok, prompt)
    assert tok.decode(ids) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"
    )
    closed = tok.apply_chat_template(list(prompt.messages), tokenize=False)
    assert closed.endswith("What is 2+3?<|im_end|>\n")


def test_loads_as_scalar_sequence_classifier(tiny):
    tok = load_tokenizer(tiny)
    model = AutoModelForSequenceClassification.from_pretrained(tiny, num_labels=1)
    batch = tok(["a short one", "a much longer text with more words in it"],
                padding=True, return_tensors="pt")
    scores = model(**batch).logits
    assert scores.shape == (2, 1)
    # the score of a padded row equals the score of the same row alone
    alone = model(**tok(["a short one"], return_tensors="pt")).logits
    torch.testing.assert_close(scores[:1], alone, atol=1e-5, rtol=1e-5)


def test_load_policy_sets_missing_pad_token(tmp_path):
    # llama: its tokenizer class has no default pad token (Qwen2Tokenizer defaults to <|endoftext|>)
    folder = make_tiny_model(tmp_path / "nopad", arch="llama", hidden_size=64, num_heads=2)
    tcfg = json.loads((folder / "tokenizer_config.json").read_text())
    del tcfg["pad_token"]
    (folder / "tokenizer_config.json").write_text(json.dumps(tcfg))
    cfg = json.loads((folder / "config.json").read_text())
    cfg["pad_token_id"] = None
    (folder / "config.json").write_text(json.dumps(cfg))
    model, tok = load_policy(folder)
    assert tok.pad_token == tok.eos_token == "<|im_end|>"
    assert model.config.pad_token_id == tok.eos_token_id
    assert not model.training and next(model.parameters()).dtype == torch.float32


def test_bad_inputs_raise_clear_errors(tiny, tmp_path):
    with pytest.raises(ConfigError, match="arch"):
        make_tiny_model(tmp_path / "x", arch="gpt9")
    with pytest.raises(ConfigError, match="divisible"):
        make_tiny_model(tmp_path / "y", hidden_size=130, num_heads=4)
    with pytest.raises(ConfigError, match="vocab_size"):
        make_tiny_model(tmp_path / "z", vocab_size=100)
    with pytest.raises(ConfigError, match="config.json"):
        load_policy(tmp_path)
    tok = load_tokenizer(tiny)
    with pytest.raises(RlfbError, match="no messages"):
        render_prompt(tok, Prompt("empty", ()))
    tok.chat_template = None
    with pytest.raises(RlfbError, match="chat template"):
        render_prompt(tok, Prompt("p", ({"role": "user", "content": "hi"},)))
