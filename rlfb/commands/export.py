"""`rlfb export CHECKPOINT --out DIR`: write a trained policy as a plain Hugging Face folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from rlfb.errors import RlfbError

EPILOG = """\
examples:
  rlfb export runs/grpo-lora/checkpoints/step-000100 --out models/grpo-lora-100
  rlfb export runs/grpo-lora --out models/latest          # the run's newest checkpoint
  rlfb export adapter/ --base models/base --out merged/   # an adapter whose base moved

A LoRA checkpoint holds only the adapter; export loads it over its base model and merges it
(W + BA·alpha/r, peft's merge_and_unload). The folder (config, safetensors weights, tokenizer,
chat template) loads with transformers' from_pretrained, in vLLM, and in `rlfb eval`.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    p = subparsers.add_parser(
        "export", help="write a checkpoint's policy (LoRA merged) as a Hugging Face folder",
        description="Write the policy of a checkpoint (or of a run's newest checkpoint, or a "
        "model or adapter folder) as a Hugging Face model folder with its tokenizer; LoRA "
        "adapters are merged into their base model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="RUN/checkpoints/step-N, a run folder, a checkpoint's "
                   "learner/ folder, or a model or adapter folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    p.add_argument("--base", metavar="DIR", help="base model folder of a LoRA adapter "
                   "(default: the one its adapter_config.json records)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="dtype of the written weights (default float32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Merge (under LoRA) and write the folder; prints one line."""
    from rlfb.models.load import export_merged, is_adapter_folder, model_folder
    from rlfb.rollout.base import torch_dtype

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RlfbError(f"--out {out} exists and is not an empty folder; choose a new folder")
    folder = model_folder(args.checkpoint)
    kind = "LoRA adapter merged into its base" if is_adapter_folder(folder) else "full model"
    export_merged(folder, out, dtype=torch_dtype(args.dtype), base=args.base)
    print(f"rlfb export: wrote {out} ({kind}, {args.dtype}) from {folder}")
    return 0
