"""`rlfb rescore RUN_DIR --reward CONFIG.yaml`: a run's saved rollouts under another reward."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TYPE_CHECKING

from rlfb.commands._options import parse_options

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig

EPILOG = """\
example CONFIG.yaml (a reward section; a whole training config works too, its reward: is used):

  name: hedging
  options: {verifier: math, payoffs: {unhedged: {wrong: -8.0}}}

The rollouts are the run's samples.jsonl (every sample of every run.samples_every-th step).
Writes rescore.json, rescore_samples.jsonl (old/new reward and advantage per sample),
rescore_hist.png and rescore.md (printed) into --out.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `rescore` subcommand."""
    p = subparsers.add_parser(
        "rescore", help="re-score a run's saved rollouts under another reward",
        description="Score the rollouts a run saved (samples.jsonl) with another reward "
        "configuration, without generating again, and report how rewards and group advantages "
        "change: distributions, per-component means, Spearman rank correlation (overall and "
        "within groups), advantage changes under the run's estimator, the fraction of groups "
        "whose best sample changes and of groups that become or stop being zero-variance.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by rlfb train")
    p.add_argument("--reward", required=True, metavar="CONFIG",
                   help="YAML file with name/options (or a reward registry name)")
    p.add_argument("--reward-option", "-R", action="append", metavar="KEY=VALUE",
                   help="a reward option (repeatable), merged over the file's options")
    p.add_argument("--advantage", metavar="NAME", help="advantage estimator to compare with "
                   "(default: the run's algo.advantage)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/rescore/<name>)")
    p.set_defaults(func=run)


def _estimator(cfg: TrainConfig, override: str | None) -> tuple[str | None, Any, dict[str, Any]]:
    """``(name, estimator or None, options)``: the run's advantage estimator, or ``override``."""
    from rlfb.algo.registry import get_advantage_estimator

    if override:
        options = dict(cfg.algo.advantage_options) if override == cfg.algo.advantage else {}
        return override, get_advantage_estimator(override), options
    if not cfg.algo.advantage:
        return None, None, {}
    return (cfg.algo.advantage, get_advantage_estimator(cfg.algo.advantage),
            dict(cfg.algo.advantage_options))


def run(args: argparse.Namespace) -> int:
    """Load the rollouts, re-score, write and print the report."""
    from rlfb.evaluation.rescore import (
        load_rollouts, rescore_metrics, rescore_records, write_rescore)
    from rlfb.evaluation.reward_spec import reward_spec

    spec = reward_spec(args.reward, parse_options(args.reward_option))
    reward = spec.build()
    cfg, records = load_rollouts(args.run_dir)
    name, estimator, options = _estimator(cfg, args.advantage)
    results = rescore_records(records, reward)
    summary, rows = rescore_metrics(records, results, estimator, options)
    settings = {"run_dir": args.run_dir, "reward_old": {"name": cfg.reward.name,
                                                        "options": dict(cfg.reward.options)},
                "reward_new": spec.to_dict(), "advantage": name, "advantage_options": options}
    out = Path(args.out or Path(args.run_dir) / "rescore" / Path(args.reward).stem)
    paths = write_rescore(out, summary, rows, settings)
    print(paths["markdown"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
