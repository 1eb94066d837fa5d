"""Benchmark: rollout throughput of the ``hf`` and ``vllm`` engines, side by side.

    .venv/bin/python experiments/bench/engines.py
    .venv/bin/python experiments/bench/engines.py --models tiny --prompts 16 --n 8

Both engines get the same prompts (arithmetic questions in chat form), the same
``SamplingParams`` (n, max_new_tokens, temperature 1, seed) and float32 weights. Each
(model, engine) pair runs in its own Python process, because vLLM lowers torch's thread count
for the whole process it lives in; within a process the engine is built (timed as start-up),
warmed up with one small call, then timed over ``--repeats`` calls of the full batch. The
``threads`` column is torch's thread count during generation, as the engine left it.
Throughput is completion tokens (EOS included) per second of ``generate``. On the random tiny
model nearly every sample runs to ``max_new_tokens``; SmolLM2 stops when it has answered, so
its token count varies between engines (they draw different random streams).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = [f"What is {a} + {b}? Answer with the number." for a, b in
             [(2, 3), (17, 25), (40, 2), (9, 9), (123, 77), (6, 15), (31, 11), (58, 4),
              (13, 29), (70, 30), (8, 47), (99, 1), (21, 21), (64, 36), (5, 250), (18, 3)]]


def model_path(name: str, workdir: Path) -> Path:
    if name == "tiny":
        from rlfb.models.tiny import make_tiny_model

        return make_tiny_model(workdir / "tiny", seed=0)
    if name == "smollm2":
        from rlfb.models.smollm2 import ensure_smollm2

        return ensure_smollm2()
    raise SystemExit(f"unknown model {name!r}; use tiny or smollm2")


def run_one(engine_name: str, path: str, args: argparse.Namespace) -> dict:
    """Build one engine and time it; the result is printed as JSON for the parent process."""
    import torch

    from rlfb.rollout import get_engine
    from rlfb.types import Prompt, SamplingParams

    if args.threads:
        torch.set_num_threads(args.threads)

    prompts = [Prompt(f"q{i}", ({"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},))
               for i in range(args.prompts)]
    options = {"max_model_len": 1024} if engine_name == "vllm" else {"batch_size": args.batch_size}
    start = time.perf_counter()
    engine = get_engine(engine_name, path, **options)
    startup = time.perf_counter() - start
    engine.generate(prompts[:1], SamplingParams(n=1, max_new_tokens=4, seed=0))
    tokens, seconds, stops = 0, 0.0, 0
    for rep in range(args.repeats):
        sampling = SamplingParams(n=args.n, max_new_tokens=args.max_new_tokens, seed=rep)
        start = time.perf_counter()
        rollouts = engine.generate(prompts, sampling)
        seconds += time.perf_counter() - start
        tokens += sum(len(r.completion_token_ids) for r in rollouts)
        stops += sum(r.finish_reason == "stop" for r in rollouts)
    engine.close()
    return {"threads": torch.get_num_threads(), "startup_s": startup, "tokens": tokens, "seconds": seconds,
            "tokens_per_s": tokens / seconds, "stop_fraction": stops / (args.repeats * len(rollouts))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="tiny,smollm2")
    parser.add_argument("--engines", default="hf,vllm")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="hf engine rows per generate")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0 = torch's default). vLLM on CPU sets its own: "
                             "it went down to 1 on a 2-core machine, so 1 keeps hf level with it")
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one[0], args.one[1], args)))
        return
    passthrough = ["--prompts", str(args.prompts), "--n", str(args.n), "--max-new-tokens",
                   str(args.max_new_tokens), "--repeats", str(args.repeats),
                   "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    print(f"prompts={args.prompts} n={args.n} max_new_tokens={args.max_new_tokens} "
          f"repeats={args.repeats} float32, cpus={os.cpu_count()}, "
          f"load average at start {os.getloadavg()[0]:.2f}")
    print(f"{'model':<9}{'engine':<7}{'threads':>8}{'start-up s':>11}{'tokens':>8}{'gen s':>8}"
          f"{'tokens/s':>10}{'stopped':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            path = str(model_path(model, Path(tmp)))
            for engine in args.engines.split(","):
                proc = subprocess.run([sys.executable, __file__, "--one", engine, path, *passthrough],
                                      capture_output=True, text=True)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode or not lines:
                    print(f"{model:<9}{engine:<7} failed:\n{proc.stderr[-2000:]}")
                    continue
                r = json.loads(lines[-1][len("RESULT "):])
                print(f"{model:<9}{engine:<7}{r['threads']:>8}{r['startup_s']:>11.1f}{r['tokens']:>8}"
                      f"{r['seconds']:>8.2f}{r['tokens_per_s']:>10.1f}{r['stop_fraction']:>9.0%}")
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
