"""Benchmark: the Ray executor against its peers, side by side, in one run.

    .venv/bin/python experiments/bench/distributed.py                       # every part
    .venv/bin/python experiments/bench/distributed.py --parts step,async --steps 5
    .venv/bin/python experiments/bench/distributed.py --config experiments/quickstart.yaml \\
        rollout.max_new_tokens=64

Parts (each variant runs in its own Python process, so one variant's threads, vLLM settings or
Ray instance never leak into the next):

- ``step``: mean step time of the config on the local executor vs the Ray executor (sync mode).
  The local executor runs with ``--local-threads`` torch threads (default: as many as the
  learner actor gets, ``max(1, int(ray.learner.num_cpus))``), so both do the same work on the
  same number of threads.
- ``async``: Ray sync vs Ray async on the config. For sync it prints each stage's mean time
  (generate, score, update, sync), their sum and the slowest; the target is an async step
  within 15% of the slowest stage rather than near the sum.
- ``scorers``: a code-verifier-bound workload (each sample's code runs ~``--code-ms`` ms in the
  sandbox; one judge worker per scorer actor) scored by 1 and by 2 scorer actors.
- ``sync``: weight sync (learner actor → object store → engine actor, waiting for the load) for
  the ``vllm`` and ``hf`` engines, against copying the same tensors once in memory
  (``dst.copy_(src)``, same shapes and dtypes, one thread); the target is sync ≤ 3x the copy.

Step times are means over steps 2..N (step 1 pays warm-up); Ray start-up (actors loading their
models) is printed separately. Sync times are medians after three warm-up syncs (the first puts
into a fresh object store pay its page faults: ~1 s instead of ~0.07 s for 538 MB here). The machine's core count is printed: on a small machine the
roles compete for the same cores, which caps what overlap and extra actors can gain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUICKSTART = Path("experiments/quickstart.yaml")
# Used when experiments/quickstart.yaml does not exist: GRPO on SmolLM2 over arithmetic.
FALLBACK = ["model.path=smollm2-135m-instruct", "data.source=reasoning_gym",
            "data.prompts_per_step=4", "rollout.n=4", "rollout.max_new_tokens=64",
            "rollout.engine=hf", "learner.micro_batch_size=8"]
QUIET = ["run.progress=false", "run.tracker=none", "eval.every=0", "run.save_every=0",
         "run.samples_every=0"]
VLLM_OPTIONS = '{"max_model_len": 1024, "llm_options": {"max_num_batched_tokens": 16384}}'


def load(args: argparse.Namespace, out: Path, *extra: str) -> Any:
    from rlfb.config import load_config

    path = args.config or (QUICKSTART if QUICKSTART.exists() else None)
    base = [] if path else FALLBACK
    return load_config(path, [*base, *args.overrides, *QUIET, f"run.steps={args.steps}",
                              f"run.output_dir={out}", *extra])


def mean_after_first(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if r.get("step", 0) >= 2 and r.get(key) is not None]
    return statistics.fmean(values) if values else None


def child_train(args: argparse.Namespace, variant: str) -> dict:
    """One training variant (local / ray / ray-async): start-up, wall and stage times."""
    from rlfb.trainers import make_trainer
    from rlfb.run_log import read_jsonl

    extra = {"local": ["run.executor=local"], "ray": ["run.executor=ray"],
             "ray-async": ["run.executor=ray", "ray.mode=async", "buffer.max_staleness=1"]}
    out = Path(args.workdir) / variant
    cfg = load(args, out, *extra[variant])
    if variant == "local":
        import torch

        torch.set_num_threads(args.local_threads or max(1, int(cfg.ray.learner.num_cpus)))
    start = time.perf_counter()
    trainer = make_trainer(cfg)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    try:
        trainer.run()
    finally:
        trainer.close()
    wall = time.perf_counter() - start
    records = [r for r in read_jsonl(out / "metrics.jsonl") if r["step"] >= 1]
    keys = ["time/step", "time/generate", "time/score", "time/update", "time/sync",
            "time/wait_rollouts", "ray/rollout/utilization", "ray/learner/utilization"]
    return {"variant": variant, "startup_s": startup, "wall_per_step_s": wall / cfg.run.steps,
            **{k: mean_after_first(records, k) for k in keys}}


def child_scorers(args: argparse.Namespace, count: int) -> dict:
    """Score a code-verifier-bound batch with ``count`` scorer actors."""
    from rlfb.config import load_config
    from rlfb.exec.ray_executor import ray_executor
    from rlfb.models.tiny import make_tiny_model
    from rlfb.types import Prompt, Rollout

    work = Path(args.workdir) / f"scorers-{count}"
    model = make_tiny_model(work / "tiny", seed=0)
    reward = {"verifier": "code", "options": {"concurrency": 1, "timeout_s": 10}}
    cfg = load_config(None, [f"run.output_dir={work}", "run.executor=ray",
                             f"reward.options={json.dumps(reward)}", f"ray.reward.count={count}",
                             "ray.reward.num_cpus=1", "ray.learner.num_cpus=0.1",
                             "ray.rollout.num_cpus=0.1"])
    ex = ray_executor(cfg, str(model))
    start = time.perf_counter()
    total = 0
    for i in range(10**6):  # calibrate: the sandbox runs the same CPython loop
        total += i
    loops = max(1, int(args.code_ms / 1000 / ((time.perf_counter() - start) / 10**6)))
    code = f"```python\ndef f(x):\n    s = 0\n    for i in range({loops}):\n        s += i\n    return x\n```"
    ref = {"entry_point": "f", "test": "def check(candidate):\n    assert candidate(3) == 3\n"}
    prompts = [Prompt(f"p{i}", ({"role": "user", "content": "write f"},), reference=ref)
               for i in range(args.code_prompts)]
    rollouts = [Rollout(p.prompt_id, j, [1], [2], code, [0.0], "stop", 0)
                for p in prompts for j in range(4)]
    ex.score(prompts[:2], [r for r in rollouts if r.prompt_id in ("p0", "p1")])  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scored = ex.score(prompts, rollouts)
        times.append(time.perf_counter() - start)
    correct = sum(s.reward == 1.0 for s in scored)
    ex.close()
    return {"scorers": count, "samples": len(rollouts), "correct": correct,
            "seconds": statistics.median(times), "samples_per_s": len(rollouts) /
            statistics.median(times)}


def memcpy_seconds(model: str, dtype: str, repeats: int) -> tuple[list[float], int]:
    """Times of copying every tensor of the model folder once into preallocated memory, on one
    thread (as in the actors, which get ``max(1, int(num_cpus))`` threads; several threads per
    copy are erratic on a loaded machine)."""
    import torch
    from safetensors.torch import load_file

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    state: dict[str, Any] = {}
    for f in sorted(Path(model).glob("*.safetensors")):
        state.update(load_file(f))
    src = [t.to(getattr(torch, dtype)).clone() for t in state.values()]
    dst = [torch.empty_like(t) for t in src]
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for d, s in zip(dst, src):
            d.copy_(s)
        times.append(time.perf_counter() - start)
    torch.set_num_threads(threads)
    return times[1:], sum(t.numel() * t.element_size() for t in src)


def child_sync(args: argparse.Namespace, engine: str) -> dict:
    """Weight sync of the config's model into a ``engine`` actor vs one in-memory copy (timed
    before Ray starts and after it stops, in this process)."""
    from rlfb.exec.ray_executor import ray_executor
    from rlfb.run import resolve_model

    out = Path(args.workdir) / f"sync-{engine}"
    options = VLLM_OPTIONS if engine == "vllm" else "{}"
    cfg = load(args, out, "run.executor=ray", f"rollout.engine={engine}",
               f"rollout.engine_options={options}")
    model = resolve_model(cfg.model.path, out)
    copies, copy_bytes = memcpy_seconds(model, cfg.model.dtype, args.repeats)
    start = time.perf_counter()
    ex = ray_executor(cfg, model)
    startup = time.perf_counter() - start
    syncs = [ex.sync_weights() for _ in range(args.repeats + 3)][3:]  # 3 warm the store
    ex.close()
    copies += memcpy_seconds(model, cfg.model.dtype, args.repeats)[0]
    med = lambda key: statistics.median(s[key] for s in syncs)  # noqa: E731
    return {"engine": engine, "startup_s": startup, "bytes": syncs[0]["sync/bytes"],
            "copy_bytes": copy_bytes, "sync_s": med("sync/seconds"),
            "publish_s": med("sync/publish_s"), "load_s": med("sync/load_s"),
            "memcpy_s": statistics.median(copies)}


def spawn(args: argparse.Namespace, kind: str, variant: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, variant, "--workdir", args.workdir,
           "--steps", str(args.steps), "--repeats", str(args.repeats),
           "--code-ms", str(args.code_ms), "--code-prompts", str(args.code_prompts)]
    if args.local_threads:
        cmd += ["--local-threads", str(args.local_threads)]
    if args.config:
        cmd += ["--config", args.config]
    done = subprocess.run([*cmd, *args.overrides], capture_output=True, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{kind} {variant} failed (exit {done.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def fmt(x: Any, unit: str = "s") -> str:
    return "-" if x is None else f"{x:.3f}{unit}" if isinstance(x, float) else str(x)


def report_step(rows: list[dict]) -> None:
    print("\n## step time, local vs Ray (sync)\n")
    stages = ("generate", "score", "update", "sync")
    print("| executor | start-up | step (mean, steps 2..N) | " + " | ".join(stages)
          + " | wall / step |")
    print("|---|---|---|" + "---|" * len(stages) + "---|")
    for r in rows:
        print(f"| {r['variant']} | {fmt(r['startup_s'])} | {fmt(r['time/step'])} | "
              + " | ".join(fmt(r[f"time/{k}"]) for k in stages)
              + f" | {fmt(r['wall_per_step_s'])} |")


def report_async(sync: dict, asyn: dict) -> None:
    stages = {k: sync[f"time/{k}"] or 0.0 for k in ("generate", "score", "update", "sync")}
    total, slowest = sum(stages.values()), max(stages.values())
    print("\n## async vs sync (Ray)\n")
    print("| | " + " | ".join(stages) + " | sum | slowest | step | wall / step |")
    print("|---|" + "---|" * (len(stages) + 4))
    print("| sync | " + " | ".join(fmt(v) for v in stages.values())
          + f" | {fmt(total)} | {fmt(slowest)} | {fmt(sync['time/step'])} | "
          f"{fmt(sync['wall_per_step_s'])} |")
    print("| async | " + " | ".join(fmt(asyn.get(f"time/{k}")) for k in stages)
          + f" | | | {fmt(asyn['time/step'])} | {fmt(asyn['wall_per_step_s'])} |")
    print(f"\nasync: waiting for rollouts {fmt(asyn.get('time/wait_rollouts'))} per step; "
          f"utilization rollout {fmt(asyn.get('ray/rollout/utilization'), '')}, learner "
          f"{fmt(asyn.get('ray/learner/utilization'), '')} (sync: "
          f"{fmt(sync.get('ray/rollout/utilization'), '')}, "
          f"{fmt(sync.get('ray/learner/utilization'), '')}). An async stage that takes longer "
          "than the same stage in sync mode is slowed by the other roles running beside it.")
    if asyn["time/step"] and slowest:
        print(f"\nasync step / slowest sync stage = {asyn['time/step'] / slowest:.2f} "
              f"(target <= 1.15); async / sync step = {asyn['time/step'] / sync['time/step']:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", help="YAML config (default: experiments/quickstart.yaml if it "
                   "exists, else SmolLM2 GRPO on arithmetic)")
    p.add_argument("--parts", default="step,async,scorers,sync")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--code-ms", type=float, default=50.0, help="sandbox run time per sample")
    p.add_argument("--code-prompts", type=int, default=16, help="(x4 samples) for scorers")
    p.add_argument("--local-threads", type=int, default=None,
                   help="torch threads of the local executor (default: the learner actor's, "
                   "max(1, int(ray.learner.num_cpus)), so both do the same work on as many "
                   "threads)")
    p.add_argument("--workdir", default=None)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help="dotted config overrides")
    args = p.parse_args()
    if args.child:
        kind, variant = args.child
        fn = {"train": child_train, "scorers": lambda a, v: child_scorers(a, int(v)),
              "sync": child_sync}[kind]
        print("RESULT " + json.dumps(fn(args, variant)), flush=True)
        return
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="rlfb-bench-dist-")
    parts = args.parts.split(",")
    print(f"# distributed benchmark: {os.cpu_count()} CPU cores (load average "
          f"{os.getloadavg()[0]:.1f}), config "
          f"{args.config or (QUICKSTART if QUICKSTART.exists() else 'fallback SmolLM2 GRPO')}, "
          f"overrides {args.overrides}, {args.steps} steps")
    if "step" in parts or "async" in parts:
        ray_sync = spawn(args, "train", "ray")
    if "step" in parts:
        report_step([spawn(args, "train", "local"), ray_sync])
    if "async" in parts:
        report_async(ray_sync, spawn(args, "train", "ray-async"))
    if "scorers" in parts:
        rows = [spawn(args, "scorers", str(n)) for n in (1, 2)]
        print("\n## scorer scaling (code verifier, one judge worker per actor)\n")
        print("| scorer actors | samples | correct | seconds | samples/s |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['scorers']} | {r['samples']} | {r['correct']} | {fmt(r['seconds'])} | "
                  f"{r['samples_per_s']:.1f} |")
        print(f"\nspeed-up with 2 actors: {rows[1]['samples_per_s'] / rows[0]['samples_per_s']:.2f}x")
    if "sync" in parts:
        print("\n## weight sync vs one in-memory copy of the same tensors\n")
        print("| engine | MB sent | sync (wait for load) | learner publish | engine load | "
              "memcpy (MB) | sync / memcpy | transport / memcpy |")
        print("|---|---|---|---|---|---|---|---|")
        for engine in ("vllm", "hf"):
            r = spawn(args, "sync", engine)
            print(f"| {engine} | {r['bytes'] / 1e6:.0f} | {fmt(r['sync_s'])} | "
                  f"{fmt(r['publish_s'])} | {fmt(r['load_s'])} | {fmt(r['memcpy_s'])} "
                  f"({r['copy_bytes'] / 1e6:.0f}) | "
                  f"{r['sync_s'] / r['memcpy_s'] * r['copy_bytes'] / r['bytes']:.2f}x | "
                  f"{(r['sync_s'] - r['load_s']) / r['memcpy_s'] * r['copy_bytes'] / r['bytes']:.2f}x |")
        print("\n(ratios compare seconds per byte: the memcpy copies every tensor of the model "
              "folder, the sync sends tied weights once. transport = sync - engine load: the "
              "learner's pack and put and the controller's round trips, without the engine's own "
              "update_weights)")


if __name__ == "__main__":
    main()
