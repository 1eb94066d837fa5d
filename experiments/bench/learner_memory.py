"""Benchmark: the quickstart learner's peak memory and update time, with logprobs computed
directly, chunked over positions (`rlfb.learner.logprobs`, ``learner.logits_chunk``), chunked
with gradient checkpointing (``model.gradient_checkpointing``), and that with micro-batches of
4 rows (``chunked+gc+mb4``: one packed forward pass per micro-batch, so the backward pass holds
no per-micro-batch sum of its packs' gradients; equal to the others to float rounding only,
the gradient being summed in another order).

    .venv/bin/python experiments/bench/learner_memory.py              # 3 updates per variant
    .venv/bin/python experiments/bench/learner_memory.py --steps 1    # a smoke run

The learner is the one `experiments/quickstart.yaml` builds (SmolLM2-135M-Instruct, 49k-token
vocabulary, GRPO, micro-batches of 16 rows, packed forward passes) through the same factory the
trainer uses, in a process set up like the quickstart's learner actor: one malloc arena and
`rlfb.memory.keep_freed_memory`, torch threads = ``ray.learner.num_cpus``. Each variant runs in
a fresh process, so its peak RSS (the kernel's ``VmHWM``) is its own.

The batch has the quickstart's shape at its largest: 8 prompts x 8 completions, each prompt a
real training prompt of the quickstart's source rendered with the chat template, each
completion ``rollout.max_new_tokens`` (64) random tokens, and a nonzero advantage on every row
(no group is skipped). Every variant updates from the same initial weights on the same
batches, so their metrics must agree to float rounding (all but ``chunked+gc+mb4`` exactly,
so far): the largest differences from the direct computation are printed under the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "experiments" / "quickstart.yaml"
#: variant → its overrides of the quickstart config (chunked: learner.logits_chunk's default)
VARIANTS = {"direct": ["learner.logits_chunk=0"], "chunked": [],
            "chunked+gc": ["model.gradient_checkpointing=true"],
            "chunked+gc+mb4": ["model.gradient_checkpointing=true", "learner.micro_batch_size=4"]}
COMPARED = ("learner/loss", "learner/entropy", "learner/grad_norm", "learner/clip_frac",
            "learner/tokens")


def vm_kib(field: str) -> int:
    """A ``/proc/self/status`` figure (VmHWM: peak RSS, VmRSS: now) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def build_batch(cfg, tokenizer, seed: int):
    """The quickstart's largest batch (module docstring), right-padded."""
    import torch

    from rlfb.data import get_prompt_source
    from rlfb.models.load import render_prompt
    from rlfb.types import ExperienceBatch

    source = get_prompt_source(cfg.data.source, **cfg.data.options)
    n, groups = cfg.rollout.n, cfg.data.prompts_per_step
    completion = cfg.rollout.max_new_tokens
    prompts = [render_prompt(tokenizer, source.get(seed * groups + g)) for g in range(groups)]
    width = max(len(p) for p in prompts) + completion
    gen = torch.Generator().manual_seed(seed)
    rows = groups * n
    ids = torch.full((rows, width), int(tokenizer.pad_token_id), dtype=torch.long)
    attn = torch.zeros(rows, width, dtype=torch.long)
    loss_mask = torch.zeros(rows, width)
    for r in range(rows):
        prompt = prompts[r // n]
        end = len(prompt) + completion
        ids[r, :len(prompt)] = torch.tensor(prompt)
        ids[r, len(prompt):end] = torch.randint(100, len(tokenizer) - 100, (completion,),
                                                generator=gen)
        attn[r, :end] = 1
        loss_mask[r, len(prompt):end] = 1
    adv = (torch.randn(rows, 1, generator=gen) + 0.1) * loss_mask
    behaviour = -3 * torch.rand(rows, width, generator=gen) * loss_mask
    return ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=loss_mask,
                           old_logprobs=behaviour, advantages=adv)


def child(variant: str, steps: int, threads: int) -> dict:
    """Build the quickstart learner with ``variant``'s logits chunk, run ``steps`` updates."""
    import torch

    from rlfb.memory import keep_freed_memory

    keep_freed_memory()
    from rlfb.algorithms.base import policy_learner_factory
    from rlfb.config import load_config
    from rlfb.models.smollm2 import ensure_smollm2

    cfg = load_config(CONFIG, ["learner.device=cpu", *VARIANTS[variant]])
    torch.set_num_threads(threads or max(1, int(cfg.ray.learner.num_cpus)))
    learner = policy_learner_factory(cfg, str(ensure_smollm2()))()
    loaded_kib = vm_kib("VmHWM")
    times, metrics = [], []
    for step in range(steps):
        batch = build_batch(cfg, learner.tokenizer, seed=step)
        start = time.perf_counter()
        stats = learner.update(batch)
        times.append(time.perf_counter() - start)
        metrics.append({k: stats[k] for k in COMPARED if k in stats})
    return {"variant": variant, "logits_chunk": cfg.learner.logits_chunk,
            "checkpointing": cfg.model.gradient_checkpointing,
            "loaded_gib": loaded_kib / 2**20, "peak_gib": vm_kib("VmHWM") / 2**20,
            "update_s": times, "metrics": metrics, "threads": torch.get_num_threads()}


def run_variant(variant: str, steps: int, threads: int) -> dict:
    """`child` in a fresh process (its own peak RSS), as the learner actor is set up."""
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--steps", str(steps),
                          "--threads", str(threads)], env=env, capture_output=True, text=True,
                         cwd=REPO)
    if out.returncode != 0:
        sys.exit(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="learner updates per variant")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}; the first is the "
                             "one the others are compared with")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: ray.learner.num_cpus of the quickstart)")
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    variants = args.variants.split(",")
    if unknown := [v for v in variants if v not in VARIANTS]:
        parser.error(f"unknown variant(s) {unknown}; use {', '.join(VARIANTS)}")
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.threads)))
        return
    results = [run_variant(v, args.steps, args.threads) for v in variants]
    print(f"quickstart learner (experiments/quickstart.yaml), {args.steps} update(s) each, "
          f"{results[0]['threads']} torch threads, load average {os.getloadavg()[0]:.1f}")
    print(f"{'variant':<12}{'logits_chunk':>13}{'checkpointing':>14}{'after load GiB':>16}"
          f"{'peak RSS GiB':>14}{'update s (median)':>19}")
    for r in results:
        print(f"{r['variant']:<12}{r['logits_chunk']:>13}{str(r['checkpointing']):>14}"
              f"{r['loaded_gib']:>16.2f}{r['peak_gib']:>14.2f}"
              f"{statistics.median(r['update_s']):>19.1f}")
    first = results[0]  # "direct" by default
    for other in results[1:]:
        for key in COMPARED:
            diffs = [abs(a[key] - b[key]) for a, b in zip(first["metrics"], other["metrics"])
                     if key in a and key in b]
            if diffs:
                print(f"max |{first['variant']} - {other['variant']}| {key}: {max(diffs):.3g} "
                      f"({first['variant']}, update 1: {first['metrics'][0][key]:.6g})")


if __name__ == "__main__":
    main()
