"""`rlfb eval MODEL --data FILE --verifier NAME | --reward NAME_OR_YAML`: evaluate a model."""

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
    src = p.add_mutually_exclusive_group(required=True)
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
    if args.completions and args.model:
        raise RlfbError("give either MODEL with --data, or --completions without MODEL")
    if args.data and not args.model:
        raise RlfbError("--data needs a MODEL to sample (an HF folder, "
                        "'smollm2-135m-instruct' or 'tiny'); or score files with --completions")
    if not args.verifier and not args.reward:
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
    source = args.data or args.completions
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
    prompts = load_prompts(args.data, fields, template=args.template,
                           system_prompt=args.system_prompt, limit=args.limit)
    return None, prompts, settings


def _generate(args: argparse.Namespace, temperature: float, prompts: Any, out: Path,
              settings: dict[str, Any]) -> Any:
    """Sample ``args.n`` completions per prompt with the model; records the sampling settings."""
    from rlfb.evaluation.sampling import generate_items
    from rlfb.types import SamplingParams

    sampling = SamplingParams(n=args.n, max_new_tokens=args.max_new_tokens,
                              temperature=temperature, top_p=args.top_p, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    items = generate_items(policy_folder(args.model, out), prompts, sampling, args.engine,
                           parse_options(args.engine_option))
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
