"""Fixtures shared by the environment tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def stopping_model(tmp_path_factory) -> Path:
    """The tiny model with its eos logit raised, so that turns end within a few tokens."""
    from rlfb.models.load import load_policy
    from rlfb.models.tiny import eos_biased_state, make_tiny_model

    folder = make_tiny_model(tmp_path_factory.mktemp("mt") / "tiny", seed=0)
    model, tokenizer = load_policy(folder)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.load_state_dict(eos_biased_state(model, eos, strength=0.6))
    out = folder.parent / "stopping"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
