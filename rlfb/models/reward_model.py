"""A reward model as a file on disk: how it is loaded and how it reads text.

Shared by the learner that trains one (`rlfb.learner.reward_model`) and the ``reward_model``
reward that scores with one (`rlfb.rewards.reward_model`), so that a model scores text in
exactly the form it was trained on. A reward model is an HF folder holding a one-label
``AutoModelForSequenceClassification``, its tokenizer and ``rlfb_reward_model.json`` (the
template and max_length used in training).

Rendering (``template``):

- ``"chat"``: the tokenizer's chat template over ``[user: prompt] + [assistant: completion]``
  (message lists are used as given), no generation prompt;
- ``"concat"``: ``prompt + completion`` as plain strings (separator ``""``: put a space or
  newline in the data if you want one);
- ``"auto"``: "chat" when the tokenizer has a chat template, else "concat".
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from rlfb.errors import ConfigError

#: The metadata file beside a trained reward model's weights.
META_FILE = "rlfb_reward_model.json"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TEMPLATES = ("auto", "chat", "concat")
Text = str | list[dict[str, str]]


def load_reward_model(path: str, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a one-label sequence classifier and its (padded) tokenizer."""
    from transformers import AutoModelForSequenceClassification

    from rlfb.models.load import load_tokenizer

    tokenizer = load_tokenizer(path)
    model = AutoModelForSequenceClassification.from_pretrained(str(path), num_labels=1,
                                                               dtype=dtype)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def resolve_template(template: str, tokenizer: Any) -> str:
    """"chat" or "concat" for ``template`` ("auto" picks by the tokenizer)."""
    if template not in TEMPLATES:
        raise ConfigError(f"template {template!r} must be one of {list(TEMPLATES)}")
    if template == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "concat"
    if template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise ConfigError("template 'chat' needs a tokenizer with a chat template; use 'concat'")
    return template


def _messages(text: Text, role: str) -> list[dict[str, str]]:
    if isinstance(text, str):
        return [{"role": role, "content": text}] if text else []
    return [dict(m) for m in text]


def render(tokenizer: Any, prompt: Text, completion: Text, template: str) -> str:
    """The text the reward model reads for ``completion`` after ``prompt``.

    Under ``concat`` (no roles) a prompt given as chat messages is read as their contents
    joined by newlines, e.g. a one-question prompt is its question.
    """
    if template == "chat":
        messages = _messages(prompt, "user") + _messages(completion, "assistant")
        return tokenizer.apply_chat_template(messages, tokenize=False)
    if not isinstance(prompt, str):
        prompt = "\n".join(str(m["content"]) for m in prompt)
    if not isinstance(completion, str):
        raise ConfigError("template 'concat' needs string completions; use 'chat' for message "
                          "lists")
    return prompt + completion


def encode(tokenizer: Any, texts: Sequence[str], template: str, max_length: int) -> dict[str, Any]:
    """Right-padded tensors; long texts lose their *start* (the completion's end is what the
    score is read from). Chat-rendered text carries its own special tokens."""
    tokenizer.truncation_side = "left"
    tokenizer.padding_side = "right"
    return tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                     return_tensors="pt", add_special_tokens=template == "concat")
