"""Benchmark: one learner process against a data-parallel group of two ranks, on this CPU.

    .venv/bin/python experiments/bench/learner_scale.py                  # tiny and SmolLM2
    .venv/bin/python experiments/bench/learner_scale.py --models smollm2 --steps 4
    .venv/bin/python experiments/bench/learner_scale.py --tiny           # smoke: tiny, 1 step

For each model (the tiny random Qwen2 of `rlfb.models.tiny`, SmolLM2-135M-Instruct) it runs the
quickstart's learner settings (`experiments/quickstart.yaml`: GRPO, token-mean, lr, micro-batch
size) on the same synthetic batch of ``--rows`` rows (a ``--prompt-len``-token prompt and a
completion of 16..``--max-completion`` tokens each; advantages normalised in groups of 8) as:

- ``1 rank x 2 threads``: one `PolicyLearner` process with 2 torch threads;
- ``2 ranks x 1 thread, ddp`` and ``... fsdp``: a `DataParallelLearner` group (gloo), each rank
  a process with 1 torch thread (`rlfb.learner.distributed`).

Each variant runs in processes of its own (spawned) and reports, as medians over steps 2..N
(step 1 pays warm-up; with one step, that step):

- ``update_s``: one learner update (`update`, rank 0's wall time);
- ``sync_s``: the learner side of a weight sync: every full weight gathered (FSDP: one tensor at
  a time) and copied into a reused payload buffer, as the Ray learner actor does before
  ``ray.put`` (`rlfb.sync.payload.pack`);
- ``step_s``: update + sync (the learner's part of a training step; rollout and scoring are
  the same for every variant and are left out);
- ``peak_rss_gb``: each rank's peak resident memory (``ru_maxrss``: loading included);
- ``equal``: the final weights against the one-process run's, as the tests check: the
  difference's norm over the update's norm, per tensor, at most 1e-3 (its largest value is
  printed).

Prints a Markdown table; ``--out FILE`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUICKSTART = Path("experiments/quickstart.yaml")
VARIANTS = [("1 rank x 2 threads", 1, 2, None), ("2 ranks x 1 thread, ddp", 2, 1, "ddp"),
            ("2 ranks x 1 thread, fsdp", 2, 1, "fsdp")]


def model_path(name: str, scratch: Path) -> str:
    if name == "tiny":
        from rlfb.models.tiny import make_tiny_model

        return str(make_tiny_model(scratch / "tiny", seed=0))
    from rlfb.models.smollm2 import ensure_smollm2

    return str(ensure_smollm2())


def learner_settings(path: str, steps: int) -> tuple[Any, dict[str, Any]]:
    """The quickstart's policy-learner settings (`policy_settings`) for ``path``."""
    from rlfb.algorithms.base import policy_settings
    from rlfb.config import load_config

    cfg = load_config(QUICKSTART if QUICKSTART.exists() else None,
                      [f"model.path={path}", f"run.steps={steps}"])
    return policy_settings(cfg)


def make_batch(vocab: int, rows: int, prompt_len: int, max_completion: int, seed: int = 0
               ) -> Any:
    import torch

    from rlfb.types import ExperienceBatch

    g = torch.Generator().manual_seed(seed)
    completion = torch.randint(16, max_completion + 1, (rows,), generator=g)
    lengths = prompt_len + completion
    width = int(lengths.max())
    attn = (torch.arange(width)[None, :] < lengths[:, None]).long()
    ids = torch.randint(10, vocab - 1, (rows, width), generator=g) * attn
    loss_mask = attn.clone()
    loss_mask[:, :prompt_len] = 0
    rewards = torch.rand(rows, generator=g).round().view(-1, 8)
    adv = (rewards - rewards.mean(-1, keepdim=True)) / (rewards.std(-1, keepdim=True) + 1e-6)
    adv = adv.reshape(-1, 1).expand(rows, width) * loss_mask
    behaviour = -torch.rand(rows, width, generator=g) * loss_mask
    return ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=loss_mask,
                           old_logprobs=behaviour, advantages=adv.contiguous())


def _run_rank(rank: int, spec: dict[str, Any]) -> None:
    """One process of a variant: build, run the updates and syncs, write the figures."""
    import torch

    from rlfb.learner.policy import PolicyLearner
    from rlfb.sync.payload import layout, pack, skip_aliases, unpack

    torch.set_num_threads(spec["threads"])
    loss, kwargs = spec["settings"]
    build = lambda: PolicyLearner(spec["path"], loss, **kwargs)  # noqa: E731
    if spec["strategy"] is None:
        learner: Any = build()
        weights = lambda: skip_aliases(learner.named_weights())  # noqa: E731
        entries = layout(weights())[0]
    else:
        from rlfb.learner.distributed import DataParallelLearner

        learner = DataParallelLearner.build(build, rank=rank, world_size=spec["world"],
                                            init_method=spec["init"], strategy=spec["strategy"])
        weights = learner.named_weights
        entries = learner.weight_entries()
    inner = getattr(learner, "learner", learner)
    vocab = int(inner.model.config.vocab_size)
    batch = make_batch(vocab, spec["rows"], spec["prompt_len"], spec["max_completion"])
    buffer = None
    updates, syncs = [], []
    for _ in range(spec["steps"]):
        start = time.perf_counter()
        learner.update(batch)
        updates.append(time.perf_counter() - start)
        start = time.perf_counter()
        payload = pack(weights(), 0, out=buffer, entries=entries)
        buffer = payload.buffer
        syncs.append(time.perf_counter() - start)
    final = {name: t.clone() for name, t in unpack(payload)}
    out = {"rank": rank, "update_s": updates, "sync_s": syncs, "sync_bytes": payload.nbytes,
           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if rank == 0:
        torch.save(final, Path(spec["dir"]) / "weights.pt")
    Path(spec["dir"], f"rank{rank}.json").write_text(json.dumps(out))
    if spec["strategy"] is not None:
        learner.close()


def run_variant(spec: dict[str, Any]) -> list[dict[str, Any]]:
    import torch.multiprocessing as mp

    mp.start_processes(_run_rank, args=(spec,), nprocs=spec["world"], start_method="spawn")
    return [json.loads(Path(spec["dir"], f"rank{r}.json").read_text())
            for r in range(spec["world"])]


def update_error(got: dict[str, Any], want: dict[str, Any], initial: dict[str, Any]) -> float:
    """Largest per-tensor ||got - want|| / ||want - initial||."""
    worst = 0.0
    for name, w in want.items():
        step = float((w.float() - initial[name].float()).norm())
        diff = float((got[name].float() - w.float()).norm())
        worst = max(worst, diff / step if step else (0.0 if diff == 0 else float("inf")))
    return worst


def initial_weights(path: str, entries_like: dict[str, Any]) -> dict[str, Any]:
    from rlfb.models.load import load_policy

    model, _ = load_policy(path)
    state = model.state_dict()
    return {name: state[name] for name in entries_like}


def median_after_warmup(values: list[float]) -> float:
    return statistics.median(values[1:] if len(values) > 1 else values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny,smollm2")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--prompt-len", type=int, default=48)
    parser.add_argument("--max-completion", type=int, default=64)
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny model, one step")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.tiny:
        args.models, args.steps = "tiny", 1
    import torch

    print(f"# learner_scale: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.rows} rows, steps {args.steps}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for model in args.models.split(","):
            path = model_path(model, scratch)
            settings = learner_settings(path, args.steps)
            reference = None
            for label, world, threads, strategy in VARIANTS:
                folder = scratch / f"{model}-{world}-{strategy}"
                folder.mkdir()
                spec = {"path": path, "settings": settings, "threads": threads, "world": world,
                        "strategy": strategy, "steps": args.steps, "rows": args.rows,
                        "prompt_len": args.prompt_len, "max_completion": args.max_completion,
                        "dir": str(folder), "init": f"file://{folder}/rendezvous"}
                ranks = run_variant(spec)
                weights = torch.load(folder / "weights.pt")
                if reference is None:
                    reference = weights
                    initial = initial_weights(path, weights)
                update = median_after_warmup(ranks[0]["update_s"])
                sync = median_after_warmup(ranks[0]["sync_s"])
                row = {"model": model, "variant": label, "update_s": update, "sync_s": sync,
                       "step_s": update + sync, "sync_mb": ranks[0]["sync_bytes"] / 2**20,
                       "peak_rss_gb": [r["peak_rss_gb"] for r in ranks],
                       "update_error": update_error(weights, reference, initial)}
                results.append(row)
                print(json.dumps(row), file=sys.stderr)
    print("\n| model | variant | step s | update s | sync s | peak RSS per rank (GB) | "
          "equal to 1 rank (max rel. error) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        rss = ", ".join(f"{x:.2f}" for x in r["peak_rss_gb"])
        equal = "yes" if r["update_error"] <= 1e-3 else "NO"
        print(f"| {r['model']} | {r['variant']} | {r['step_s']:.2f} | {r['update_s']:.2f} | "
              f"{r['sync_s']:.3f} | {rss} | {equal} ({r['update_error']:.1e}) |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
