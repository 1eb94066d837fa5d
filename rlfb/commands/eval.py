"""`rlfb eval MODEL --data FILE --verifier NAME | --reward NAME_OR_YAML`: evaluate a model.

With ``--env NAME`` every sample is a multi-turn episode of that environment (its tools, system
prompt and budgets), scored on the final assistant message; prompts come from ``--data`` or, without
it, from the held-out part of the environment's own prompt source, and the reward from the
environment unless ``--verifier``/``--reward`` is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rlfb.commands._options import parse_options
from rlfb.errors import RlfbError

EPILOG = """\
examples:
  rlfb eval tiny --data qa.jsonl --verifier math --n 8 --temperature 1.0
  rlfb eval runs/grpo/checkpoints/step-000100 --data test.parquet \\
      --reward hedging -R verifier=math --prompt-field question --reference-field answer
  rlfb eval --completions outputs.jsonl --reward reward.yaml --verifier math
  rlfb eval smollm2-135m-instruct --env tool-arith --limit 100     # tools, its held-out set

Writes eval.json (settings and summary), eval_samples.jsonl (one scored record per sample),
eval.md (printed) and, when completions state a confidence, reliability.png into --out.
MODEL may be a checkpoint or a run folder (its newest checkpoint); a LoRA checkpoint is merged
into its base model first (OUT/merged-model, as `rlfb export` writes it).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `eval` subcommand."""
    p = subparsers.add_parser(
        "eval", help="evaluate a model (or saved completions) on a data file",
        description="Sample n completions per prompt of a local data file (greedy when n = 1 and "
        "temperature 0), score them with a verifier or reward, and report accuracy, unbiased "
        "pass@k, mean reward per component, verifier status counts (judge failures counted and "
        "excluded), hedging metrics, and calibration (ECE, reliability diagram) when "
        "completions state confidences.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="HF model folder, a checkpoint (full or LoRA), a "
                   "run folder, 'smollm2-135m-instruct' or 'tiny'")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="FILE", help="prompts: a local jsonl/json/parquet/csv file")
    src.add_argument("--completions", metavar="FILE",
                     help="score a jsonl of prompt/reference/completion rows (no MODEL)")
    p.add_argument("--verifier", metavar="NAME", help="verifier that decides accuracy; the "
                   "reward too when --reward is not given")
    p.add_argument("--verifier-option", "-V", action="append", metavar="KEY=VALUE",
                   help="a verifier option (repeatable)")
    p.add_argument("--reward", metavar="NAME_OR_YAML", help="reward registry name, or a YAML "
                   "file with name/options (or a training config's reward: section)")
    p.add_argument("--reward-option", "-R", action="append", metavar="KEY=VALUE",
                   help="a reward option (repeatable), e.g. -R verifier=math")
    e = p.add_argument_group("environment (multi-turn episodes with tools)")
    e.add_argument("--env", metavar="NAME", help="environment registry name (rlfb envs list); "
                   "without --data, its own held-out prompts (--limit of them, default 100)")
    e.add_argument("--env-option", action="append", metavar="KEY=VALUE",
                   help="an environment option (repeatable)")
    e.add_argument("--max-turns", type=int, help="assistant turns per episode (default: the "
                   "environment's)")
    e.add_argument("--max-tokens", type=int, help="token budget of an episode after the prompt "
                   "(default: the environment's)")
    e.add_argument("--tool-format", default="auto", choices=("auto", "template", "tags"),
                   help="how tools are shown and calls parsed (default auto)")
    g = p.add_argument_group("sampling")
    g.add_argument("--n", type=int, default=1, help="samples per prompt (default 1)")
    g.add_argument("--temperature", type=float, help="default: 0 (greedy) for n = 1, else 1.0")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus mass (default 1.0 = off)")
    g.add_argument("--max-new-tokens", type=int, default=256, help="length cap (default 256)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    g.add_argument("--engine", default="hf", help="rollout engine: hf or vllm (default hf)")
    g.add_argument("--engine-option", action="append", metavar="KEY=VALUE",
                   help="an engine option (repeatable), e.g. batch_size=16")
    f = p.add_argument_group("data fields")
    f.add_argument("--prompt-field", default="prompt", help="prompt column (default prompt)")
    f.add_argument("--reference-field", default="reference",
                   help="reference column (default reference)")
    f.add_argument("--completion-field", default="completion",
                   help="completion column of --completions (default completion)")
    f.add_argument("--id-field", help="unique prompt id column (default: file:row, or the "
                   "prompt text for --completions)")
    f.add_argument("--template", help="prompt format string over columns, e.g. 'Q: {question}'")
    f.add_argument("--system-prompt", help="a system message before every prompt")
    f.add_argument("--limit", type=int, help="evaluate only the first N rows")
    p.add_argument("--hedge-detector", default="phrases",
                   help="hedge detector for the hedging metrics (default phrases)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/eval/<file stem>)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show library warnings, logs and output on the console; they are "
                   "always kept in OUT/logs/")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> float:
    """Validate the combination of arguments; returns the temperature to sample at."""
    if args.completions and (args.model or args.env):
        raise RlfbError("give either MODEL with --data (or --env), or --completions without "
                        "MODEL")
    if not (args.data or args.completions or args.env):
        raise RlfbError("name the prompts: --data FILE, --env NAME (its held-out prompts) or "
                        "--completions FILE")
    if args.env and not args.model:
        raise RlfbError("--env needs a MODEL to run its episodes")
    for name in ("max_turns", "max_tokens"):
        value = getattr(args, name)
        if value is not None and (value < 1 or not args.env):
            raise RlfbError(f"--{name.replace('_', '-')} needs --env and a value >= 1, "
                            f"got {value}")
    if args.data and not args.model:
        raise RlfbError("--data needs a MODEL to sample (an HF folder, "
                        "'smollm2-135m-instruct' or 'tiny'); or score files with --completions")
    if not args.verifier and not args.reward and not args.env:
        raise RlfbError("name how to judge: --verifier NAME and/or --reward NAME_OR_YAML")
    if args.n < 1:
        raise RlfbError(f"--n must be >= 1, got {args.n}")
    temperature = args.temperature if args.temperature is not None else \
        (0.0 if args.n == 1 else 1.0)
    if temperature == 0 and args.n > 1:
        raise RlfbError(f"--temperature 0 decodes greedily, so the {args.n} samples would be "
                        "identical; use --n 1 or a temperature > 0")
    return temperature


def _judges(args: argparse.Namespace) -> tuple[Any, Any, Any, dict[str, Any]]:
    """``(reward, accuracy verifier or None, hedge detector, reward spec dict)``."""
    from rlfb.evaluation.reward_spec import RewardSpec, reward_spec
    from rlfb.rewards.hedging.detect import get_hedge_detector
    from rlfb.verifiers import get_verifier

    vopts = parse_options(args.verifier_option)
    accuracy = get_verifier(args.verifier, **vopts) if args.verifier else None
    env = _env(args)
    if not args.verifier and not args.reward and env is not None:
        environment = env.environment()
        if environment.reward is None:
            raise RlfbError(f"environment {args.env!r} names no reward; give --verifier or "
                            "--reward")
        spec = RewardSpec(environment.reward, dict(environment.reward_options))
        return spec.build(), None, get_hedge_detector(args.hedge_detector), spec.to_dict()
    if args.reward:
        spec = reward_spec(args.reward, parse_options(args.reward_option))
    else:
        spec, accuracy = RewardSpec("verifier", {"verifier": args.verifier, "options": vopts}), None
    return spec.build(), accuracy, get_hedge_detector(args.hedge_detector), spec.to_dict()


def run(args: argparse.Namespace) -> int:
    """Generate (or read) completions, score, write the report; the console shows a start
    line, the report (eval.md), the accuracy, the files and the wall time."""
    from rlfb.console import Console, say
    from rlfb.evaluation.sampling import score_items, summarise, write_eval

    temperature = _check_args(args)
    reward, accuracy, detector, spec = _judges(args)
    source = args.data or args.completions or args.env
    out = Path(args.out or Path("runs") / "eval" / Path(source).stem)
    items, prompts, settings = _inputs(args, spec)  # bad files fail here, in one line
    with Console(out / "logs", verbose=args.verbose) as console:
        if prompts is not None:  # sampling takes a while: say what runs first
            say(f"rlfb eval: model {args.model} · data {source} ({len(prompts)} prompts) · "
                f"{args.engine} engine · n {args.n} · out {out}")
            items = _generate(args, temperature, prompts, out, settings)
        records = score_items(items, reward, accuracy, detector)
        summary = summarise(records)
        paths = write_eval(out, summary, records, settings)
        say(paths["markdown"].read_text().rstrip())
        acc = summary["accuracy"]
        console.finish([f"accuracy: {'–' if acc is None else f'{acc:.3f}'} "
                        f"({summary['judged']} judged samples, {summary['judge_failed']} judge "
                        f"failures) · wrote {', '.join(str(p) for p in paths.values())}"],
                       report=paths["markdown"])
    return 0


def _inputs(args: argparse.Namespace, spec: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """``(completion items or None, prompts or None, settings)`` read from the input file."""
    from rlfb.evaluation.sampling import Fields, load_completions, load_prompts

    fields = Fields(args.prompt_field, args.reference_field, args.completion_field, args.id_field)
    settings: dict[str, Any] = {"reward": spec, "verifier": args.verifier,
                                "hedge_detector": args.hedge_detector}
    if args.completions:
        settings["completions"] = args.completions
        items = load_completions(args.completions, fields)
        return (items[: args.limit] if args.limit else items), None, settings
    env = _env(args)
    if env is not None:
        settings["env"] = env.__dict__
    if args.data is None:
        return None, _env_prompts(env, args.limit or 100), settings
    prompts = load_prompts(args.data, fields, template=args.template,
                           system_prompt=args.system_prompt, limit=args.limit)
    return None, prompts, settings


def _env(args: argparse.Namespace) -> Any:
    """The `EnvSettings` of ``--env`` and its options, or None."""
    from rlfb.environments.episodes import EnvSettings

    if not args.env:
        return None
    return EnvSettings(args.env, parse_options(args.env_option), args.max_turns,
                       args.max_tokens, args.tool_format)


def _env_prompts(env: Any, count: int) -> list[Any]:
    """The first ``count`` held-out prompts of the environment's own prompt source."""
    source = env.environment().prompt_source({"part": "holdout", "holdout": count})
    if source is None:
        raise RlfbError(f"environment {env.name!r} brings no prompts; give --data FILE")
    return [source.get(i) for i in range(min(count, len(source)))]


def _generate(args: argparse.Namespace, temperature: float, prompts: Any, out: Path,
              settings: dict[str, Any]) -> Any:
    """Sample ``args.n`` completions per prompt with the model; records the sampling settings."""
    from rlfb.evaluation.sampling import generate_items
    from rlfb.types import SamplingParams

    sampling = SamplingParams(n=args.n, max_new_tokens=args.max_new_tokens,
                              temperature=temperature, top_p=args.top_p, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    items = generate_items(policy_folder(args.model, out), prompts, sampling, args.engine,
                           parse_options(args.engine_option), env=_env(args))
    settings.update(model=args.model, data=args.data, engine=args.engine,
                    sampling=sampling.__dict__)
    return items


def policy_folder(model: str, out: Path) -> str:
    """The Hugging Face folder to sample from: a named model as `rlfb.run.resolve_model` builds
    it, else the policy of a model, checkpoint or run folder (`rlfb.models.load.model_folder`),
    a LoRA adapter merged into its base under ``out/merged-model``."""
    from rlfb.models.load import export_merged, is_adapter_folder, model_folder
    from rlfb.run import resolve_model

    if model in ("smollm2-135m-instruct", "tiny") or model.startswith("tiny:"):
        return resolve_model(model, out)
    folder = model_folder(model)
    if is_adapter_folder(folder):
        return str(export_merged(folder, out / "merged-model"))
    return str(folder)
