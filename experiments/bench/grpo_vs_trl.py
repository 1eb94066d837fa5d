"""Benchmark: rlfb GRPO against TRL 1.16's GRPOTrainer, same work, side by side, in one run.

    .venv/bin/python experiments/bench/grpo_vs_trl.py                      # SmolLM2 and tiny
    .venv/bin/python experiments/bench/grpo_vs_trl.py --models tiny --steps 4

Both sides train the same model (SmolLM2-135M-Instruct and/or a tiny Qwen2) on the same prompts
(reasoning-gym two-term arithmetic, the quickstart's task, in the same order), with the same
group size, completion length, temperature, learning rate, clipping (0.2), loss aggregation
(token mean over the batch: TRL's ``dapo``, rlfb's ``token-mean``), group-normalised
advantages, no KL (TRL's default ``beta=0``; rlfb's ``kl_coef=0``), float32 throughout (TRL's
``bf16`` default is turned off: rlfb's learner is float32, and on a CPU without bfloat16
instructions, such as an AVX2-only one, torch runs bfloat16 matmuls on a slow generic kernel)
and the same reward: rlfb's
composite of the math verifier (weight 1) and the format verifier (weight 0.5), which TRL calls
as its reward function. TRL runs with ``use_vllm=False`` (transformers ``generate``), as the
issue asks; rlfb runs with its vLLM engine (its default for this task) and, as a second row,
with its ``hf`` engine, which separates the engine's share from the rest.

Each variant runs in its own Python process (threads, vLLM and RNG state never leak between
them). Per variant: samples/s (completions per second of step time, step 1 left out as
warm-up), seconds per step split by stage, and the reward per step. Stages: generation, scoring
(verifier execution), update (forward/backward and optimiser), and "other" = step time minus
those (for rlfb that includes the weight sync into the engine). rlfb's stages come from its
``metrics.jsonl``; TRL's from timers wrapped around its ``_generate``, ``_calculate_rewards``
and the training step. The target is >= 2x TRL's samples/s on SmolLM2 with a comparable reward
curve, and "other" under 5% of an rlfb step.

rlfb skips the forward/backward of rows whose advantage is exactly 0 (groups where every
sample got the same reward): with no KL or entropy term their gradient is exactly 0, so the
update is the same (`rlfb.learner.policy.learning_rows`). TRL runs them. The printed
``rows run`` column shows how much this saves on each run.
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

COMPONENTS = [{"name": "math", "kind": "verifier", "weight": 1.0},
              {"name": "format", "kind": "verifier", "weight": 0.5,
               "options": {"require_think": False}}]
TASK = {"task": "basic_arithmetic", "size": 2000, "seed": 0,
        "config": {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2,
                   "operators": ["+", "-"], "allow_parentheses": False,
                   "allow_negation": False},
        "instruction": "Give only the final number inside <answer></answer> tags."}


def model_folder(name: str, workdir: Path) -> str:
    """An HF folder for ``name`` ("smollm2" or "tiny")."""
    if name == "smollm2":
        from rlfb.models.smollm2 import ensure_smollm2

        return str(ensure_smollm2())
    from rlfb.models.tiny import make_tiny_model

    folder = workdir / "tiny-model"
    if not (folder / "config.json").exists():
        make_tiny_model(folder, seed=0)
    return str(folder)


def prompts_in_order(args: argparse.Namespace) -> list[Any]:
    """The prompts rlfb's sampler gives for steps 1..N (TRL gets the same list, in order)."""
    from rlfb.data.base import PromptSampler
    from rlfb.data.split import split_sources

    train, _ = split_sources("reasoning_gym", TASK, eval_prompts=0, eval_source=None,
                             eval_options={})
    sampler = PromptSampler(train, seed=args.seed, shuffle=True)
    return [p for _ in range(args.steps) for p in sampler.next_batch(args.prompts)]


def child_rlfb(args: argparse.Namespace, engine: str, workdir: Path) -> dict:
    """Train with rlfb's local executor; the figures come from its metrics.jsonl."""
    from rlfb.config import load_config
    from rlfb.trainers import make_trainer
    from rlfb.run_log import read_jsonl

    out = workdir / f"rlfb-{engine}"
    engine_options = ({"max_model_len": 512, "llm_options": {"max_num_batched_tokens": 32768}}
                      if engine == "vllm" else {})
    cfg = load_config(None, [
        f"model.path={model_folder(args.model, workdir)}", "data.source=reasoning_gym",
        f"data.options={json.dumps(TASK)}", f"data.prompts_per_step={args.prompts}",
        "data.eval_prompts=0", f"rollout.engine={engine}", f"rollout.n={args.gens}",
        f"rollout.max_new_tokens={args.max_new_tokens}",
        f"rollout.temperature={args.temperature}",
        f"rollout.engine_options={json.dumps(engine_options)}", "reward.name=composite",
        f"reward.options={json.dumps({'components': COMPONENTS})}", "algo.name=grpo",
        "algo.loss_agg=token-mean", "algo.kl_coef=0", f"learner.lr={args.lr}",
        f"learner.micro_batch_size={args.micro_batch}", f"run.steps={args.steps}",
        f"run.seed={args.seed}", f"run.output_dir={out}", "run.progress=false",
        "run.tracker=none", "eval.every=0", "run.save_every=0", "run.samples_every=0"])
    trainer = make_trainer(cfg)
    try:
        trainer.run()
    finally:
        trainer.close()
    rows = [r for r in read_jsonl(out / "metrics.jsonl") if "time/step" in r]
    steps = [{"step": r["step"], "total": r["time/step"], "generate": r["time/generate"],
              "score": r["time/score"], "update": r["time/update"],
              "reward": r["reward/mean"],
              "rows_run": args.prompts * args.gens - r.get("learner/rows_skipped", 0.0)}
             for r in rows]
    return {"variant": f"rlfb ({engine} engine)", "steps": steps}


def child_trl(args: argparse.Namespace, workdir: Path) -> dict:
    """Train with TRL's GRPOTrainer on the same prompts and reward; timers around its stages."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rlfb.rewards import get_reward

    prompts = prompts_in_order(args)
    data = Dataset.from_list([{"prompt": list(p.messages), "reference": str(p.reference)}
                              for p in prompts])
    reward = get_reward("composite", components=COMPONENTS)

    def composite(completions: list, reference: list, **_: Any) -> list[float | None]:
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return [reward.score(t, r).value for t, r in zip(texts, reference)]

    timers: dict[str, float] = {"generate": 0.0, "score": 0.0}
    steps: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            timers.update(generate=0.0, score=0.0, start=time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            total = time.perf_counter() - timers["start"]
            steps.append({"step": len(steps) + 1, "total": total,
                          "generate": timers["generate"], "score": timers["score"],
                          "rows_run": args.prompts * args.gens})

        def on_log(self, _a: Any, _s: Any, _c: Any, logs: dict | None = None, **k: Any) -> None:
            if logs and "reward" in logs and steps:
                steps[-1]["reward"] = logs["reward"]

    batch = args.prompts * args.gens
    config = GRPOConfig(
        output_dir=str(workdir / "trl"), per_device_train_batch_size=batch,
        gradient_accumulation_steps=1, num_generations=args.gens,
        max_completion_length=args.max_new_tokens, temperature=args.temperature, top_p=1.0,
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, beta=0.0,
        epsilon=0.2, loss_type="dapo", scale_rewards="group", num_iterations=1,
        max_steps=args.steps, logging_steps=1, save_strategy="no", report_to=[],
        use_cpu=True, use_vllm=False, bf16=False, seed=args.seed, shuffle_dataset=False,
        disable_tqdm=True, max_grad_norm=1.0, weight_decay=0.0)
    trainer = GRPOTrainer(model=model_folder(args.model, workdir), reward_funcs=[composite],
                          args=config, train_dataset=data, callbacks=[StepTimer()])
    wrap(trainer, "_generate", timers, "generate")
    wrap(trainer, "_calculate_rewards", timers, "score")
    torch.manual_seed(args.seed)
    trainer.train()
    for s in steps:  # a step whose log carried no reward (TRL logs it every logging step)
        s.setdefault("reward", float("nan"))
    return {"variant": "TRL 1.16 GRPOTrainer (generate)", "steps": steps}


def wrap(obj: Any, name: str, timers: dict[str, float], key: str) -> None:
    """Add the wall time of each ``obj.name(...)`` call to ``timers[key]``."""
    inner = getattr(obj, name)

    def timed(*a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            timers[key] += time.perf_counter() - start

    setattr(obj, name, timed)


def summarise(result: dict) -> dict:
    """Means over steps 2..N of each stage; 'update' for TRL = total - generate - score."""
    rest = result["steps"][1:] or result["steps"]
    mean = {k: statistics.fmean(s[k] for s in rest) for k in ("total", "generate", "score")}
    if all("update" in s for s in rest):
        mean["update"] = statistics.fmean(s["update"] for s in rest)
        mean["other"] = mean["total"] - mean["generate"] - mean["score"] - mean["update"]
    else:
        mean["update"] = mean["total"] - mean["generate"] - mean["score"]
        mean["other"] = float("nan")
    mean["rows_run"] = statistics.fmean(s["rows_run"] for s in rest)
    return mean


def spawn(args: argparse.Namespace, variant: str, workdir: Path) -> dict:
    """Run one variant in a fresh interpreter; its result comes back as JSON."""
    result = workdir / f"{variant}.json"
    cmd = [sys.executable, __file__, "--child", variant, "--result", str(result),
           "--workdir", str(workdir), *child_args(args)]
    env = dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="0", TQDM_DISABLE="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(result.read_text())


def child_args(args: argparse.Namespace) -> list[str]:
    return ["--model", args.model, "--steps", str(args.steps), "--prompts", str(args.prompts),
            "--gens", str(args.gens), "--max-new-tokens", str(args.max_new_tokens),
            "--lr", str(args.lr), "--temperature", str(args.temperature),
            "--seed", str(args.seed), "--micro-batch", str(args.micro_batch)]


def report(model: str, args: argparse.Namespace, results: list[dict]) -> None:
    samples = args.prompts * args.gens
    print(f"\n{model}: {args.prompts} prompts x {args.gens} generations x "
          f"{args.max_new_tokens} tokens, lr {args.lr}, {args.steps} steps "
          "(means over steps 2..N)")
    print(f"{'variant':36} {'samples/s':>9} {'step s':>7} {'generate':>8} {'score':>6} "
          f"{'update':>7} {'other':>6} {'other %':>7} {'rows run':>8}")
    rates = {r["variant"]: samples / summarise(r)["total"] for r in results}
    base = next((rate for name, rate in rates.items() if name.startswith("TRL")), None)
    for r in results:
        m = summarise(r)
        rate = rates[r["variant"]]
        pct = 100 * m["other"] / m["total"] if m["other"] == m["other"] else float("nan")
        print(f"{r['variant']:36} {rate:9.2f} {m['total']:7.2f} {m['generate']:8.2f} "
              f"{m['score']:6.2f} {m['update']:7.2f} {m['other']:6.2f} {pct:7.1f} "
              f"{m['rows_run']:8.1f}")
    if base:
        for name, rate in rates.items():
            if not name.startswith("TRL"):
                print(f"  {name}: {rate / base:.2f}x TRL")
    print("reward per step: " + " | ".join(r["variant"] for r in results))
    for i in range(args.steps):
        cells = [f"{r['steps'][i]['reward']:.3f}" if i < len(r["steps"]) else "-"
                 for r in results]
        print(f"  step {i + 1:2d}: " + "  ".join(f"{c:>8}" for c in cells))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="smollm2,tiny")
    p.add_argument("--variants", default="trl,rlfb-vllm,rlfb-hf")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--gens", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-6)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--micro-batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="tiny", help=argparse.SUPPRESS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        workdir = Path(args.workdir)
        result = (child_trl(args, workdir) if args.child == "trl"
                  else child_rlfb(args, args.child.split("-", 1)[1], workdir))
        Path(args.result).write_text(json.dumps(result))
        return
    print(f"cpus: {os.cpu_count()}; load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for model in args.models.split(","):
        args.model = model
        with tempfile.TemporaryDirectory(prefix="rlfb-grpo-trl-") as tmp:
            results = [spawn(args, v, Path(tmp)) for v in args.variants.split(",")]
        report(model, args, results)
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
