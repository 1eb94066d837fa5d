"""Load a policy from a Hugging Face causal-LM folder and render prompts for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlfb.errors import ConfigError, RlfbError
from rlfb.types import Prompt


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of the model folder at ``path``, with a pad token guaranteed.

    A tokenizer without a pad token gets its eos token as pad (the usual choice for decoder-only
    models); one without either is an error, since batches cannot be padded.
    """
    from transformers import AutoTokenizer

    _check_folder(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(
                f"tokenizer at {path} has neither a pad nor an eos token; add a pad_token to its "
                "tokenizer_config.json"
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a Hugging Face causal-LM folder.

    Args:
        path: a folder holding ``config.json``, weights and tokenizer files.
        dtype: parameter dtype.

    Returns:
        The model in eval mode on CPU, with ``config.pad_token_id`` set, and its tokenizer (with a
        pad token, see `load_tokenizer`).
    """
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def _check_folder(path: str | Path) -> None:
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(
            f"{path} is not a Hugging Face model folder (no config.json); pass a folder written "
            "by save_pretrained, make_tiny_model or ensure_smollm2"
        )


def render_prompt(tokenizer: Any, prompt: Prompt) -> list[int]:
    """Token ids of ``prompt.messages`` under the tokenizer's chat template, ending with the
    opening of an assistant turn (``add_generation_prompt=True``).

    The template is rendered to text and then encoded without adding special tokens, exactly as
    `apply_chat_template(tokenize=True)` does, so a template that writes a bos token gets one bos.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise RlfbError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template; use a "
            "chat (instruct) model or set tokenizer.chat_template"
        )
    if not prompt.messages:
        raise RlfbError(f"prompt {prompt.prompt_id!r} has no messages; give at least one")
    text = tokenizer.apply_chat_template(
        [dict(m) for m in prompt.messages], add_generation_prompt=True, tokenize=False
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
