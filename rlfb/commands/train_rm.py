"""`rlfb train-rm CONFIG`: train a reward model on preference pairs (Bradley-Terry loss)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rlfb.errors import ConfigError

EXAMPLE = """\
example CONFIG (YAML; keys are the fields of rlfb.learner.rm_trainer.RMTrainConfig):

  model: runs/rm-tiny-arith/base        # HF folder to start from
  train_file: runs/rm-tiny-arith/train.jsonl   # .jsonl/.json/.parquet: prompt, chosen, rejected
  eval_file: runs/rm-tiny-arith/eval.jsonl     # optional; else eval_fraction is held out
  output_dir: runs/rm-tiny-arith/rm
  template: concat                      # auto | chat | concat
  lr: 1.0e-3
  epochs: 10
  batch_size: 32

Paths are relative to the working directory. Prints progress and the held-out pairwise accuracy,
saves the model with save_pretrained, and prints the metrics as one JSON line at the end.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train-rm` subcommand."""
    p = subparsers.add_parser(
        "train-rm",
        help="train a reward model on preference pairs",
        description="Train a reward model (AutoModelForSequenceClassification, one label) on "
        "(prompt, chosen, rejected) pairs with the Bradley-Terry loss -log sigmoid(s_chosen - "
        "s_rejected - margin); report held-out pairwise accuracy; save in HF format for the "
        "'reward_model' reward.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", metavar="CONFIG", help="YAML file with the training settings")
    p.set_defaults(func=run)


def read_config(path: str) -> dict[str, Any]:
    """The YAML mapping in ``path``; a missing file or non-mapping is a `ConfigError`."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} does not exist")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path!r} is not valid YAML: "
                          f"{str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path!r} must be a mapping of settings, e.g. model: ...")
    return raw


def run(args: argparse.Namespace) -> int:
    """Load the config, train, print the metrics as JSON."""
    from rlfb.learner.rm_trainer import config_from_dict, train_reward_model

    cfg = config_from_dict(read_config(args.config), where=args.config)
    cfg.validate()
    metrics = train_reward_model(cfg)
    print(json.dumps(metrics))
    return 0
