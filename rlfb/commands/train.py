"""`rlfb train CONFIG [key=value ...] [--resume RUN_DIR]`: run an RL job from a YAML config."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train", help="train a policy from a YAML config (GRPO, PPO, DPO, online DPO, SFT ...)",
        description="Train from a YAML config with dotted overrides, e.g. "
        "`rlfb train experiments/quickstart.yaml algo.kl_coef=0.01 run.steps=5` "
        "(`executor=local` runs every role in this process, for debugging). Writes the "
        "run directory (resolved config, metrics.jsonl, TensorBoard events, samples, "
        "checkpoints, report.md and PNG curves).")
    p.add_argument("config", help="YAML config file")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides, e.g. learner.lr=1e-5 run.steps=20")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its latest checkpoint")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="run on an existing Ray cluster: 'auto', 'HOST:PORT' or "
                   "'ray://HOST:10001' (sets run.executor=ray and ray.address=ADDR)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show library warnings, logs and output (vLLM, Ray, transformers) "
                   "on the console; they are always kept in RUN_DIR/logs/")
    p.set_defaults(func=run)


SHORTHANDS = {"executor": "run.executor"}


def shorthand(override: str) -> str:
    """``executor=local`` is short for ``run.executor=local``; other overrides are unchanged.

    >>> shorthand("executor=local"), shorthand("learner.lr=1e-5")
    ('run.executor=local', 'learner.lr=1e-5')
    """
    key, sep, value = override.partition("=")
    return f"{SHORTHANDS[key]}={value}" if sep and key in SHORTHANDS else override


def run(args: argparse.Namespace) -> int:
    """Load the config, train, write the report."""
    from pathlib import Path

    from rlfb.config import load_config
    from rlfb.console import Console, result_lines, say, start_line
    from rlfb.run_log import METRICS_FILE, read_jsonl
    from rlfb.trainers import train

    overrides = [shorthand(o) for o in args.overrides]
    if args.ray_address:
        overrides += ["run.executor=ray", f"ray.address={args.ray_address}"]
    if args.resume:
        overrides.append(f"run.resume={args.resume}")
        overrides.append(f"run.output_dir={args.resume}")
    cfg = load_config(args.config, overrides)
    # library output goes to RUN_DIR/logs/; the console shows a start line, one bar, results
    with Console(Path(cfg.run.output_dir) / "logs", verbose=args.verbose) as console:
        say(start_line("train", cfg))
        run_dir, report = train(cfg, on_built=console.after_build)
        console.finish(result_lines(read_jsonl(Path(run_dir) / METRICS_FILE)), report)
    return 0
