"""Tiny random causal language models, built locally in well under a second.

Tests and CPU experiments need a model that loads like any Hugging Face checkpoint (with
`transformers` *and* with vLLM) but is small and needs no download. `make_tiny_model` writes one:

- a byte-level BPE tokenizer trained with the `tokenizers` library on a small built-in corpus
  (digits, arithmetic, English words, chat words). Digits are split one per token (as Qwen2 and
  Llama 3 do) and every digit and arithmetic operator is a token of its own;
- special tokens ``<|endoftext|>`` (bos), ``<|pad|>`` (pad), ``<|im_start|>`` and ``<|im_end|>``
  (ChatML; ``<|im_end|>`` is the eos token, so a chat turn ends generation);
- a ChatML chat template that honours ``add_generation_prompt``;
- random weights for a Qwen2 or Llama architecture, drawn from ``seed``: the same arguments give
  byte-identical files.

`eos_biased_state` changes such a model's weights so that its turns end early (engine and
multi-turn tests that need short, stopping completions).

The folder also loads as a scalar sequence classifier (``num_labels=1``; ``pad_token_id`` is set
in ``config.json``), which is how a reward model starts.

>>> from pathlib import Path; import tempfile
>>> path = make_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
>>> sorted(p.name for p in path.iterdir())[:3]
['config.json', 'generation_config.json', 'model.safetensors']
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from rlfb.errors import ConfigError

BOS, PAD, IM_START, IM_END = "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (BOS, PAD, IM_START, IM_END)
EOS = IM_END
ARCHITECTURES = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM"}

#: ChatML, as used by Qwen2 and SmolLM2. ``add_generation_prompt`` opens an assistant turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: Qwen2's pre-tokenizer split: one digit per chunk, words with an optional leading space. Using
#: the same pipeline as `transformers`' Qwen2Tokenizer (which rebuilds its pipeline on load) keeps
#: the raw `tokenizers` file and every loader in agreement.
PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_OPERATORS = "+-*/=()^%<>.,:;?!"
_WORDS = (
    "the a an is are was be to of and in on for with that this it as at by from or not what "
    "how many much why when where which who answer question number sum total plus minus times "
    "divided equals result first second then next so therefore because step think let us we "
    "you i me my your yes no true false correct wrong maybe sure not sure do don't know "
    "hello hi thanks thank please help assistant user system here there is the answer final "
    "one two three four five six seven eight nine ten hundred thousand half double twice "
    "apple apples orange oranges cat cats dog dogs book books car cars day days hour hours "
    "has have had gets get got buys buy bought gives give gave left each more less than "
    "compute calculate solve find write code function return def print if else while list"
).split()


def default_corpus(seed: int = 0, n_lines: int = 400) -> list[str]:
    """The built-in tokenizer training text: arithmetic, word problems and chat phrases."""
    rng = random.Random(seed)
    lines = [" ".join(_WORDS), "0 1 2 3 4 5 6 7 8 9", " ".join(_OPERATORS)]
    ops = "+-*"
    for _ in range(n_lines):
        a, b, op = rng.randint(0, 999), rng.randint(0, 99), rng.choice(ops)
        result = eval(f"{a}{op}{b}")  # noqa: S307 - literal integers and one operator
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        lines.append(f"What is {a} {op} {b}? The answer is {result}.")
        lines.append(f"{a}{op}{b}={result}")
        lines.append(words.capitalize() + rng.choice(".?!"))
    return lines


def _train_tokenizer(corpus: Iterable[str], vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    return tok


def _save_tokenizer(tok, path: Path, max_len: int) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=[IM_START, IM_END], model_max_length=max_len,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))
    # Name the generic fast-tokenizer class so no loader rebuilds the pipeline per model type.
    cfg_file = path / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    (path / "chat_template.jinja").unlink(missing_ok=True)


def _config(arch: str, tok, hidden_size: int, num_layers: int, num_heads: int, max_len: int,
            tie: bool):
    from transformers import LlamaConfig, Qwen2Config

    if hidden_size % num_heads:
        raise ConfigError(
            f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}; pick sizes "
            "where hidden_size % num_heads == 0"
        )
    kv_heads = num_heads // 2 if num_heads % 2 == 0 else num_heads
    common = dict(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden_size,
        intermediate_size=2 * hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_len, tie_word_embeddings=tie,
        bos_token_id=tok.token_to_id(BOS), eos_token_id=tok.token_to_id(EOS),
        pad_token_id=tok.token_to_id(PAD), rms_norm_eps=1e-6, initializer_range=0.02,
        torch_dtype="float32",
    )
    cls = Qwen2Config if arch == "qwen2" else LlamaConfig
    config = cls(**common)
    config.architectures = [ARCHITECTURES[arch]]
    return config


def make_tiny_model(
    path: str | Path,
    *,
    arch: str = "qwen2",
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    vocab_size: int = 512,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    max_position_embeddings: int = 2048,
    tie_word_embeddings: bool = False,
) -> Path:
    """Write a tiny random causal LM (config, safetensors weights, tokenizer) to ``path``.

    Args:
        path: output folder (created; existing files in it are overwritten).
        arch: ``"qwen2"`` or ``"llama"``.
        hidden_size, num_layers, num_heads: model shape (``num_heads`` must divide
            ``hidden_size``; key/value heads are half the query heads when that is whole).
        vocab_size: target BPE vocabulary size, 276..4096 (256 byte tokens + 4 special tokens +
            merges); the built-in corpus yields fewer merges than a large target asks for.
        seed: weight seed; equal arguments give byte-identical weight files.
        corpus: tokenizer training text, one string per document; the built-in corpus if None.
        max_position_embeddings: longest sequence the model accepts.
        tie_word_embeddings: share one tensor between the input embedding and the output head,
            as SmolLM2 and many small models do (the weight-sync tests need both kinds).

    Returns:
        The folder, loadable with ``AutoModelForCausalLM``, ``AutoTokenizer``,
        ``AutoModelForSequenceClassification(num_labels=1)`` and ``vllm.LLM``.
    """
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown tiny-model arch {arch!r}; use one of {sorted(ARCHITECTURES)}")
    if not 276 <= vocab_size <= 4096:
        raise ConfigError(f"vocab_size {vocab_size} out of range; pick 276..4096 (e.g. 512)")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = _train_tokenizer(default_corpus() if corpus is None else corpus, vocab_size)
    config = _config(arch, tok, hidden_size, num_layers, num_heads, max_position_embeddings,
                     tie_word_embeddings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    model.save_pretrained(str(path))
    _save_tokenizer(tok, path, max_position_embeddings)
    return path


def eos_biased_state(model, eos_id: int, strength: float) -> dict:
    """A copy of ``model``'s state dict changed so that eos gets a large, input-independent
    logit (a tiny Qwen2/Llama model from `make_tiny_model`).

    Hidden dimension 0 is made constant along the residual stream (every embedding has 1.0
    there and no layer writes to it), so after the final RMSNorm it is a positive number h0
    (about 9 for the tiny model); the eos row of ``lm_head`` reads it with weight ``strength``
    and every other row ignores it. Eos logit = ``strength * h0`` + noise: strength 1 gives
    P(eos) ~ 0.9.
    """
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    state["model.embed_tokens.weight"][:, 0] = 1.0
    for i in range(model.config.num_hidden_layers):
        state[f"model.layers.{i}.self_attn.o_proj.weight"][0, :] = 0.0
        state[f"model.layers.{i}.mlp.down_proj.weight"][0, :] = 0.0
    state["lm_head.weight"][:, 0] = 0.0
    state["lm_head.weight"][eos_id, 0] = strength
    return state
