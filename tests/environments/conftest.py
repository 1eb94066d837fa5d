"""Fixtures shared by the environment tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def stopping_model(tmp_path_factory) -> Path:
    """The tiny model with its eos logit raised, so that turns end within a few tokens."""
    import torch

    from rlfb.models.load import load_policy
    from rlfb.models.tiny import make_tiny_model

    folder = make_tiny_model(tmp_path_factory.mktemp("mt") / "tiny", seed=0)
    model, tokenizer = load_policy(folder)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():  # hidden dim 0 constant along the residual stream; eos reads it
        model.model.embed_tokens.weight[:, 0] = 1.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[eos, 0] = 0.6
    out = folder.parent / "stopping"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
