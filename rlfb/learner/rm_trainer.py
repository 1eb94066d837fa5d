"""Reward-model training: a scalar sequence classifier fitted to preference pairs.

The model is ``AutoModelForSequenceClassification`` with one label, started from any HF
checkpoint (a causal LM's body gets a fresh score head). Each step scores the chosen and the
rejected completion of every pair in one forward pass and minimises the Bradley-Terry loss
``−log σ(s_chosen − s_rejected − margin)`` (InstructGPT; the margin is Llama 2's, per pair from
``margin_field``), from `rlfb.algo.preference.bradley_terry_loss`. Held-out pairwise accuracy
(the fraction of eval pairs with ``s_chosen > s_rejected``) is measured before and after.

The result is saved in HF format (``save_pretrained`` for model and tokenizer) plus
``rlfb_reward_model.json`` (template, max_length), which the ``reward_model`` reward reads so
that it renders text exactly as in training, and ``metrics.json``.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from rlfb.errors import ConfigError
from rlfb.learner.policy import adamw
from rlfb.learner.rm_data import PreferencePair, load_pairs
from rlfb.models.reward_model import (
    DTYPES,
    META_FILE,
    encode,
    load_reward_model,
    render,
    resolve_device,
    resolve_template,
)



@dataclass
class RMTrainConfig:
    """Reward-model training settings (the keys of a `rlfb train-rm` YAML file).

    Attributes:
        model: HF model folder to start from (a causal LM or a sequence classifier).
        train_file: preference pairs, .jsonl/.json/.parquet.
        output_dir: where the trained model, tokenizer and metrics are written.
        eval_file: held-out pairs; when None, ``eval_fraction`` of the train file is held out.
        eval_fraction: share of train pairs held out when there is no eval_file.
        prompt_field, chosen_field, rejected_field: field names (prompt_field null = no prompt).
        margin_field: field with a per-pair margin (null = plain Bradley-Terry).
        template: "auto", "chat" or "concat" (see `rlfb.learner.rm_data`).
        max_length: tokens per rendered (prompt, completion); longer texts lose their start.
        lr, weight_decay, warmup_ratio, max_grad_norm: AdamW, linear warmup then linear decay
            to 0, gradient clipping.
        epochs: passes over the train pairs.
        batch_size: pairs per step (2 × batch_size sequences per forward pass).
        eval_batch_size: pairs per evaluation forward pass.
        seed: seeds torch (score head init) and the shuffling.
        dtype: "float32", "bfloat16" or "float16".
        device: "cpu", "cuda" or "auto" (cuda when available).
        log_every: print the running loss every this many steps (0 = never).
        num_threads: torch intra-op CPU threads while training (None = leave as is). One
            thread is fastest for tiny models and on a shared, oversubscribed CPU.
    """

    model: str
    train_file: str
    output_dir: str
    eval_file: str | None = None
    eval_fraction: float = 0.1
    prompt_field: str | None = "prompt"
    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    margin_field: str | None = None
    template: str = "auto"
    max_length: int = 512
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0
    epochs: int = 1
    batch_size: int = 8
    eval_batch_size: int = 32
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    log_every: int = 50
    num_threads: int | None = None

    def validate(self) -> None:
        """Raise `ConfigError` for values that cannot work."""
        if not (Path(self.model) / "config.json").is_file():
            raise ConfigError(f"model {self.model!r} is not a HF model folder (no config.json)")
        for name in ("train_file", "eval_file"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name} {path!r} does not exist")
        checks = [(self.lr > 0, "lr must be > 0"), (self.epochs >= 1, "epochs must be >= 1"),
                  (self.batch_size >= 1, "batch_size must be >= 1"),
                  (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
                  (self.max_length >= 2, "max_length must be >= 2"),
                  (0.0 <= self.warmup_ratio < 1.0, "warmup_ratio must be in [0, 1)"),
                  (0.0 < self.eval_fraction < 1.0, "eval_fraction must be in (0, 1)"),
                  (self.dtype in DTYPES, f"dtype must be one of {sorted(DTYPES)}"),
                  (self.device in ("cpu", "cuda", "auto"), "device must be cpu, cuda or auto"),
                  (self.num_threads is None or self.num_threads >= 1,
                   "num_threads must be >= 1 or null")]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.template not in ("auto", "chat", "concat"):
            raise ConfigError(f"template {self.template!r} must be auto, chat or concat")


def config_from_dict(raw: dict[str, Any], where: str = "config") -> RMTrainConfig:
    """An `RMTrainConfig` from a dict; unknown or missing keys get one-line errors."""
    import difflib

    known = [f.name for f in fields(RMTrainConfig)]
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}; {hint}(keys: {', '.join(known)})")
    missing = [k for k in ("model", "train_file", "output_dir") if k not in raw]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    try:
        return RMTrainConfig(**raw)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def pair_scores(model: Any, tokenizer: Any, pairs: Sequence[PreferencePair], template: str,
                max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[B]`` of the chosen and of the rejected completions, in one forward pass."""
    texts = [render(tokenizer, p.prompt, p.chosen, template) for p in pairs]
    texts += [render(tokenizer, p.prompt, p.rejected, template) for p in pairs]
    batch = encode(tokenizer, texts, template, max_length).to(next(model.parameters()).device)
    scores = model(**batch).logits.squeeze(-1).float()
    return scores[: len(pairs)], scores[len(pairs):]


@torch.no_grad()
def evaluate_pairs(model: Any, tokenizer: Any, pairs: Sequence[PreferencePair], template: str,
                   max_length: int, batch_size: int = 32) -> dict[str, float]:
    """Held-out pairwise accuracy (ties count as wrong), mean loss and mean margin."""
    from rlfb.algo.preference import bradley_terry_loss

    was_training = model.training
    model.eval()
    wins, loss, margin = 0.0, 0.0, 0.0
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        chosen, rejected = pair_scores(model, tokenizer, chunk, template, max_length)
        margins = torch.tensor([p.margin for p in chunk], dtype=chosen.dtype, device=chosen.device)
        wins += (chosen > rejected).sum().item()
        loss += bradley_terry_loss(chosen, rejected, margin=margins).losses.sum().item()
        margin += (chosen - rejected).sum().item()
    model.train(was_training)
    n = len(pairs)
    return {"accuracy": wins / n, "loss": loss / n, "margin": margin / n}


def _split(cfg: RMTrainConfig, pairs: list[PreferencePair]) -> tuple[list, list]:
    if cfg.eval_file is not None:
        return pairs, _load(cfg, cfg.eval_file)
    shuffled = pairs[:]
    random.Random(cfg.seed).shuffle(shuffled)
    n_eval = max(1, round(len(shuffled) * cfg.eval_fraction))
    if n_eval >= len(shuffled):
        raise ConfigError(f"{len(pairs)} pairs are too few to hold out {cfg.eval_fraction:.0%}; "
                          "give an eval_file or more pairs")
    return shuffled[n_eval:], shuffled[:n_eval]


def _load(cfg: RMTrainConfig, path: str) -> list[PreferencePair]:
    return load_pairs(path, prompt_field=cfg.prompt_field, chosen_field=cfg.chosen_field,
                      rejected_field=cfg.rejected_field, margin_field=cfg.margin_field)


def _schedule(total: int, warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def train_reward_model(cfg: RMTrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train, evaluate and save a reward model; returns the metrics (also in metrics.json)."""
    cfg.validate()
    threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        return _train(cfg, log)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: RMTrainConfig, log: Callable[[str], None]) -> dict[str, Any]:
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    train, held_out = _split(cfg, _load(cfg, cfg.train_file))
    model, tokenizer = load_reward_model(cfg.model, DTYPES[cfg.dtype])
    model.to(resolve_device(cfg.device))
    template = resolve_template(cfg.template, tokenizer)
    before = evaluate_pairs(model, tokenizer, held_out, template, cfg.max_length,
                            cfg.eval_batch_size)
    log(f"train-rm: {len(train)} train / {len(held_out)} held-out pairs, template {template}; "
        f"held-out accuracy before training {before['accuracy']:.3f}")
    losses = _fit(cfg, model, tokenizer, train, template, log)
    after = evaluate_pairs(model, tokenizer, held_out, template, cfg.max_length,
                           cfg.eval_batch_size)
    metrics = {
        "eval_accuracy": after["accuracy"], "eval_loss": after["loss"],
        "eval_margin": after["margin"], "eval_accuracy_before": before["accuracy"],
        "train_loss_first": losses[0], "train_loss_last": losses[-1], "steps": len(losses),
        "n_train": len(train), "n_eval": len(held_out), "template": template,
        "seconds": time.perf_counter() - start, "output_dir": str(cfg.output_dir),
    }
    _save(cfg, model, tokenizer, template, metrics)
    log(f"train-rm: held-out pairwise accuracy {after['accuracy']:.3f} (was "
        f"{before['accuracy']:.3f}), {len(losses)} steps in {metrics['seconds']:.1f}s; "
        f"saved to {cfg.output_dir}")
    return metrics


def _fit(cfg: RMTrainConfig, model: Any, tokenizer: Any, train: list[PreferencePair],
         template: str, log: Callable[[str], None]) -> list[float]:
    from rlfb.algo.preference import bradley_terry_loss

    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    optimizer = adamw(list(model.parameters()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(total, int(cfg.warmup_ratio * total)))
    rng = random.Random(cfg.seed)
    model.train()
    losses: list[float] = []
    for _ in range(cfg.epochs):
        order = train[:]
        rng.shuffle(order)
        for i in range(0, len(order), cfg.batch_size):
            chunk = order[i:i + cfg.batch_size]
            chosen, rejected = pair_scores(model, tokenizer, chunk, template, cfg.max_length)
            margins = torch.tensor([p.margin for p in chunk], dtype=chosen.dtype,
                                   device=chosen.device)
            loss = bradley_terry_loss(chosen, rejected, margin=margins).losses.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if cfg.log_every and len(losses) % cfg.log_every == 0:
                recent = losses[-cfg.log_every:]
                log(f"train-rm: step {len(losses)}/{total} loss {sum(recent) / len(recent):.4f}")
    return losses


def _save(cfg: RMTrainConfig, model: Any, tokenizer: Any, template: str,
          metrics: dict[str, Any]) -> None:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    meta = {"template": template, "max_length": cfg.max_length, "trained_by": "rlfb train-rm",
            "config": asdict(cfg)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
