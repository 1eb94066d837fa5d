"""`rlfb ablate SWEEP.yaml`: run a grid of reward settings × seeds and report them side by side."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any, Mapping

from rlfb.errors import ConfigError

DESCRIPTION = """\
Run an ablation: every combination of the sweep's axes, times every seed, is one arm, trained
as a normal run directory <output_dir>/<axis>=<level>/.../seed=<seed>. Every arm's config is
built and validated before anything runs. Then report.md (final and best metrics per arm as
mean ± 95% Student-t CI across seeds, paired differences to the first arm) and PNG curves
(reward, held-out accuracy, hedge rate, wrong-unhedged rate) are written to <output_dir>, from
the arms' metrics.jsonl only.

Sweep file:
  name: hedging-vs-binary
  base: ../hedging-smollm2.yaml     # config path (relative to the sweep file) or a mapping
  output_dir: runs/ablations/hedging-vs-binary
  overrides: {run.steps: 8}         # applied to every arm
  seeds: [0, 1]
  num_cpus_per_arm: 2               # Ray CPUs per arm
  num_gpus_per_arm: 0               # Ray GPUs per arm (learner.device=auto uses the arm's GPU)
  axes:                             # axis -> level -> dotted overrides
    payoff:
      hedging: {reward.name: hedging, reward.options: {verifier: math}}
      binary:  {reward.name: verifier, reward.options: {verifier: math}}

Overrides: `rlfb ablate SWEEP.yaml run.steps=2 --max-parallel 2 model.path=tiny` applies
key=value words (before or after the options) to every arm, after the sweep's `overrides:`.

Execution: with --max-parallel > 1 or --ray-address, arms are Ray tasks (a fresh worker per
arm, num_cpus_per_arm each, at most --max-parallel at once; output in <arm>/ablate.log);
otherwise they run one after another in this process. --mode forces either. The local Ray
that rlfb ablate starts runs its workers at niceness 0 (Ray's default is 15).
Resuming: --resume skips arms that finished (ablate_done.json in their folder) and resumes an
interrupted arm from its latest checkpoint (run.save_every); without it an output_dir that
already holds arms is an error. Exit status: 0 all arms finished, 1 some failed, 2 bad input."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `ablate` subcommand."""
    p = subparsers.add_parser(
        "ablate", help="run a reward-shaping ablation (grid × seeds) and write its report",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep", help="sweep YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="dotted overrides for every arm, after the sweep's own overrides "
                        "(an axis level still sets its keys), e.g. run.steps=2 model.path=tiny")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep in its output_dir: skip finished arms, resume "
                        "interrupted ones from their checkpoints")
    p.add_argument("--max-parallel", type=int, metavar="N",
                   help="arms running at once (default: CPUs // num_cpus_per_arm, at least 1)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="Ray cluster to run the arms on (e.g. auto, ray://host:10001); "
                        "default: a local Ray started for the sweep")
    p.add_argument("--mode", choices=("auto", "ray", "sequential"), default="auto",
                   help="auto (default): Ray when more than one arm runs at once or "
                        "--ray-address is given, else sequential in this process")
    p.add_argument("--output-dir", metavar="DIR", help="override the sweep's output_dir")
    p.add_argument("--dry-run", action="store_true",
                   help="validate every arm's config and list the arms; run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="only (re)write report.md and the PNGs from the arms' metrics")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show library warnings and logs on the console; they are always "
                   "kept in OUTPUT_DIR/logs/")
    p.set_defaults(func=run)


def choose_mode(mode: str, max_parallel: int, address: str | None) -> str:
    """"ray" or "sequential" (see --mode)."""
    if mode != "auto":
        return mode
    return "ray" if max_parallel > 1 or address else "sequential"


def run(args: argparse.Namespace) -> int:
    """Validate every arm, run the unfinished ones, write the report."""
    from pathlib import Path

    from rlfb.ablate.report import collect, write_sweep_report
    from rlfb.ablate.runner import is_done
    from rlfb.ablate.sweep import arm_configs, load_sweep
    from rlfb.commands._options import parse_options
    from rlfb.commands.train import shorthand

    sweep = load_sweep(args.sweep)
    for key, value in parse_options([shorthand(o) for o in args.overrides]).items():
        sweep.overrides.pop(key, None)  # applied after every override of the sweep file
        sweep.overrides[key] = value
    if args.output_dir:
        sweep.output_dir = Path(args.output_dir)
    if args.max_parallel is not None and args.max_parallel < 1:
        raise ConfigError(f"--max-parallel must be >= 1, got {args.max_parallel}")
    configs = arm_configs(sweep)  # every arm validated before anything runs
    arms = list(configs)
    if args.dry_run:
        for arm in arms:
            print(f"{arm.name}\t{configs[arm].run.output_dir}\t"
                  f"{' '.join(f'{k}={v}' for k, v in arm.overrides)}")
        if sweep.overrides:
            print("every arm: " + " ".join(f"{k}={v}" for k, v in sweep.overrides.items()))
        print(f"{len(arms)} arms, all configs valid")
        return 0
    if args.report_only:
        if not collect(sweep, arms):
            raise ConfigError(f"no arm under {sweep.output_dir} has logged metrics yet; run "
                              f"the sweep first (rlfb ablate {args.sweep})")
        failures: dict[str, str] = {}
    else:  # library logs and warnings of in-process arms go to OUTPUT_DIR/logs/
        from rlfb.console import Console

        with Console(sweep.output_dir / "logs", verbose=args.verbose,
                     capture_streams=False) as console:
            failures = _run_arms(args, sweep, configs)
    command = "rlfb ablate " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if sys.argv[1:2] == ["ablate"] else f"rlfb ablate {args.sweep}"
    missing = [a.name for a in arms if not is_done(sweep.output_dir / a.name)]
    report = write_sweep_report(sweep, arms, command=command, missing=missing)
    print(f"report: {report}")
    if not args.report_only:
        console.finish([])  # the warning summary and the wall time
    if failures:
        print(f"{len(failures)} arm(s) failed: {', '.join(failures)}; fix and rerun with "
              "--resume", file=sys.stderr)
        return 1
    return 0


def _run_arms(args: argparse.Namespace, sweep: Any, configs: Mapping[Any, Any]) -> dict[str, str]:
    """Run the sweep's unfinished arms in the chosen mode; returns ``{arm: error}``."""
    from pathlib import Path

    from rlfb.ablate.runner import Job, Progress, is_done, run_ray, run_sequential
    from rlfb.ablate.sweep import arm_config_data

    _check_output(sweep.output_dir, configs, args.resume)
    max_parallel = args.max_parallel or max(1, int((os.cpu_count() or 1)
                                                   // sweep.num_cpus_per_arm))
    mode = choose_mode(args.mode, max_parallel, args.ray_address)
    jobs = [Job(arm.name, arm_config_data(sweep, arm), sweep.output_dir / arm.name,
                cfg.run.steps) for arm, cfg in configs.items()]
    done = sum(is_done(j.run_dir) for j in jobs)
    how = "sequential, in this process" if mode == "sequential" else \
        (f"Ray tasks, {max_parallel} at a time, {sweep.num_cpus_per_arm:g} CPUs"
         + (f" and {sweep.num_gpus_per_arm:g} GPUs" if sweep.num_gpus_per_arm else "")
         + f" each ({args.ray_address or 'local Ray'})")
    print(f"ablation {sweep.name}: {len(jobs)} arms ({len(sweep.groups())} settings × "
          f"{len(sweep.seeds)} seeds), {done} already finished; mode: {how}; "
          f"output: {sweep.output_dir}", flush=True)
    sweep.output_dir.mkdir(parents=True, exist_ok=True)
    (sweep.output_dir / "sweep.yaml").write_text(Path(args.sweep).read_text())
    progress = Progress(total=len(jobs), parallel=1 if mode == "sequential" else max_parallel)
    if mode == "sequential":
        return run_sequential(jobs, progress)
    return run_ray(jobs, progress, max_parallel, sweep.num_cpus_per_arm, args.ray_address,
                   num_gpus=sweep.num_gpus_per_arm)


def _check_output(output_dir: Any, configs: Mapping[Any, Any], resume: bool) -> None:
    """Without --resume, refuse an output folder that already holds arm runs; with it, refuse
    an arm whose saved config differs from the one the sweep now gives it."""
    from rlfb.config import config_to_dict
    from rlfb.config.load import read_yaml

    existing = [a for a in configs if (output_dir / a.name / "config.yaml").exists()]
    if existing and not resume:
        raise ConfigError(f"{output_dir} already holds arm runs ({existing[0].name} ...); pass "
                          "--resume to continue the sweep, or remove the folder / set "
                          "--output-dir")
    for arm in existing:
        saved = read_yaml(output_dir / arm.name / "config.yaml")
        now = config_to_dict(configs[arm])
        for data in (saved, now):
            data["run"].pop("resume", None)
        if saved != now:
            key = _first_difference(saved, now)
            raise ConfigError(f"arm {arm.name} ran with another config ({key} differs); "
                              "restore the sweep file, or remove that arm's folder to rerun it")


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """The dotted key of the first difference between two nested mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}".lstrip("."))
    return path or "<root>"
