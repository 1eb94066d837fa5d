"""LoRA weight sync: bytes sent as an adapter against merged full weights, and whether the vllm
engine gives the same behaviour logprobs either way (docs/lora.md).

    .venv/bin/python experiments/bench/lora_sync.py                   # tiny model
    .venv/bin/python experiments/bench/lora_sync.py --models tiny smollm2

For each model: a `PolicyLearner` with LoRA (rank 16 on q/k/v/o, as ``model.lora``'s defaults)
and the byte sum of what `LearnerHost.publish_weights` packs (``skip_aliases(named_weights())``)
under ``model.lora.sync`` adapter and merged. For the tiny model also: every adapter's B set to
random non-zero values (training would move them off peft's zero start), one vllm engine started
with ``lora=`` given the adapter, one plain engine given the merged weights, both sampling the
same prompts (greedy and T = 1, seeded); prints the largest |Δ| between their behaviour logprobs
and against the learner's (transformers + peft) logprobs of the same tokens.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

LORA = {"rank": 16, "alpha": 32.0, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
QUESTIONS = ["What is 2+3?", "How many apples do you have left?", "hi", "What is 17 + 25?"]


def model_path(name: str, workdir: Path) -> Path:
    if name == "tiny":
        from rlfb.models.tiny import make_tiny_model

        return make_tiny_model(workdir / "tiny", seed=0)
    if name == "smollm2":
        from rlfb.models.smollm2 import ensure_smollm2

        return ensure_smollm2()
    raise SystemExit(f"unknown model {name!r}; use tiny or smollm2")


def sync_bytes(learner, mode: str) -> tuple[int, int]:
    """(tensors, bytes) one sync sends under ``model.lora.sync=mode``."""
    from rlfb.sync.payload import skip_aliases

    learner.lora["sync"] = mode
    weights = list(skip_aliases(learner.named_weights()))
    return len(weights), sum(t.numel() * t.element_size() for _, t in weights)


def engine_gaps(learner, path: Path) -> None:
    """Adapter engine vs merged engine vs learner, greedy and T = 1."""
    from rlfb.learner.logprobs import rollout_logprobs
    from rlfb.rollout import get_engine
    from rlfb.types import Prompt, SamplingParams

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in learner.model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    adapter = get_engine("vllm", path, max_model_len=512, lora=LORA)
    merged = get_engine("vllm", path, max_model_len=512)
    try:
        learner.lora["sync"] = "adapter"
        adapter.update_weights(list(learner.named_weights()), 1)
        learner.lora["sync"] = "merged"
        merged.update_weights(list(learner.named_weights()), 1)
        prompts = [Prompt(f"p{i}", ({"role": "user", "content": q},))
                   for i, q in enumerate(QUESTIONS)]
        for temperature in (0.0, 1.0):
            sampling = SamplingParams(n=1 if temperature == 0 else 4, max_new_tokens=32,
                                      temperature=temperature, seed=3)
            a, m = adapter.generate(prompts, sampling), merged.generate(prompts, sampling)
            same = [x.completion_token_ids for x in a] == [y.completion_token_ids for y in m]
            gap = max(float((torch.tensor(x.logprobs) - torch.tensor(y.logprobs)).abs().max())
                      for x, y in zip(a, m))
            ref = rollout_logprobs(learner.model, a, temperature or 1.0)
            to_learner = max(float((torch.tensor(x.logprobs) - lp).abs().max())
                             for x, lp in zip(a, ref))
            tokens = sum(len(x.completion_token_ids) for x in a)
            print(f"  T={temperature}: {tokens} tokens, same tokens {same}, max |adapter - "
                  f"merged| {gap:.2e}, max |adapter - learner| {to_learner:.2e}", flush=True)
    finally:
        adapter.close()
        merged.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny"], choices=["tiny", "smollm2"])
    args = parser.parse_args(argv)
    from rlfb.learner.objective import LossSettings
    from rlfb.learner.policy import PolicyLearner

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = model_path(name, Path(tmp))
            learner = PolicyLearner(str(path), LossSettings(), lora=dict(LORA))
            (na, ba), (nm, bm) = sync_bytes(learner, "adapter"), sync_bytes(learner, "merged")
            print(f"{name}: adapter sync {ba:,} bytes ({na} tensors), merged sync {bm:,} bytes "
                  f"({nm} tensors), {bm / ba:.0f}x", flush=True)
            if name == "tiny":
                engine_gaps(learner, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
