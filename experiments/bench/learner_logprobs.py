"""Benchmark: learner-side logprobs, packed vs length-bucketed vs one padded forward.

    .venv/bin/python experiments/bench/learner_logprobs.py
    .venv/bin/python experiments/bench/learner_logprobs.py --model tiny --rows 64

The padded forward is the peer: it is what TRL's and most trainers' ``get_per_token_logps`` do
(one forward over the right-padded batch, logits at every position). The batch looks like a GRPO
batch: ``--rows`` sequences, a prompt of ``--prompt-len`` tokens and a completion length drawn
uniformly from 8..``--max-completion``, so a third of the padded tensor is padding. Each method
runs forward (no grad) and forward+backward (of the summed logprobs); methods take turns within
each of ``--repeats`` rounds, so load from other processes hits them alike, and the best time is
printed with the largest difference from the padded logprobs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def build_batch(rows: int, prompt_len: int, max_completion: int, vocab: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    comp_lens = torch.randint(8, max_completion + 1, (rows,), generator=gen).tolist()
    width = prompt_len + max(comp_lens)
    ids = torch.zeros(rows, width, dtype=torch.long)
    attn = torch.zeros_like(ids)
    comp = torch.zeros_like(ids)
    for b, c in enumerate(comp_lens):
        n = prompt_len + c
        ids[b, :n] = torch.randint(5, vocab, (n,), generator=gen)
        attn[b, :n] = 1
        comp[b, prompt_len:n] = 1
    return ids, attn, comp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2", choices=["tiny", "smollm2"])
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--prompt-len", type=int, default=48)
    parser.add_argument("--max-completion", type=int, default=192)
    parser.add_argument("--max-tokens", type=int, default=4096,
                        help="token budget per forward for bucketed")
    parser.add_argument("--pack-budgets", default="512,1024,2048",
                        help="token budgets per forward for packed, one row each")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-backward", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = torch's default); 1 avoids OpenMP barrier "
                             "stalls on a machine shared with other busy processes")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from rlfb.models.load import load_policy

    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "tiny":
            from rlfb.models.tiny import make_tiny_model

            path = make_tiny_model(Path(tmp) / "tiny")
        else:
            from rlfb.models.smollm2 import ensure_smollm2

            path = ensure_smollm2()
        model = load_policy(path)[0]
    ids, attn, comp = build_batch(args.rows, args.prompt_len, args.max_completion,
                                  model.config.vocab_size)
    real = int(attn.sum())
    print(f"model={args.model} rows={args.rows} padded tensor {ids.numel()} tokens, real {real} "
          f"({real / ids.numel():.0%}), threads="
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    variants = [("padded", args.max_tokens), ("bucketed", args.max_tokens)]
    variants += [("packed", int(b)) for b in args.pack_budgets.split(",")]
    phases = ["forward"] + ([] if args.no_backward else ["fwd+bwd"])
    best = {(v, ph): float("inf") for v in variants for ph in phases}
    outputs: dict = {}
    for _ in range(args.repeats):  # round-robin, so load drift hits every method alike
        for (method, budget) in variants:
            for phase in phases:
                seconds, lp = run(model, ids, attn, comp, method, budget, phase == "fwd+bwd")
                best[(method, budget), phase] = min(best[(method, budget), phase], seconds)
                outputs[method, budget] = lp
    reference = outputs[variants[0]]
    print(f"{'method':<16}" + "".join(f"{ph + ' s':>12}" for ph in phases)
          + f"{'max |diff| vs padded':>22}")
    for variant in variants:
        name = variant[0] if variant[0] != "packed" else f"packed@{variant[1]}"
        diff = float((outputs[variant] - reference).abs().max())
        print(f"{name:<16}" + "".join(f"{best[variant, ph]:>12.2f}" for ph in phases)
              + f"{diff:>22.1e}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


def run(model, ids, attn, comp, method: str, budget: int, backward: bool):
    """One timed call; returns (seconds, logprobs)."""
    from rlfb.learner.logprobs import logprobs_and_entropy

    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    with torch.set_grad_enabled(backward):
        lp, _ = logprobs_and_entropy(model, ids, attn, comp, method=method, max_tokens=budget)
        if backward:
            lp.sum().backward()
    return time.perf_counter() - start, lp.detach()

if __name__ == "__main__":
    main()
