"""`rlfb train-rm CONFIG`: the subcommand module on its own parser."""

from __future__ import annotations

import argparse
import json

import pytest

from rlfb.commands import train_rm
from rlfb.errors import ConfigError
from rlfb.learner.rm_data import arith_pairs, write_jsonl
from rlfb.models.tiny import make_tiny_model


def _parse(argv):
    parser = argparse.ArgumentParser(prog="rlfb")
    train_rm.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_help_names_the_loss_and_an_example(capsys):
    with pytest.raises(SystemExit) as exc:
        _parse(["train-rm", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Bradley-Terry" in out and "train_file:" in out and "CONFIG" in out


def test_train_rm_runs_a_config(tmp_path, capsys):
    base = make_tiny_model(tmp_path / "base", hidden_size=32, num_layers=1, num_heads=2)
    write_jsonl(arith_pairs(40, seed=0), tmp_path / "train.jsonl")
    config = tmp_path / "rm.yaml"
    config.write_text(f"model: {base}\ntrain_file: {tmp_path / 'train.jsonl'}\n"
                      f"output_dir: {tmp_path / 'rm'}\ntemplate: concat\nbatch_size: 8\n"
                      "lr: 1.0e-3\ndevice: cpu\nlog_every: 0\nnum_threads: 1\n",
                      encoding="utf-8")
    args = _parse(["train-rm", str(config)])
    assert args.func(args) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["n_train"] == 36 and metrics["n_eval"] == 4 and metrics["steps"] == 5
    assert (tmp_path / "rm" / "model.safetensors").is_file()


@pytest.mark.parametrize("text, message", [
    ("model: m\ntrain_file: t\noutput_dir: o\nlearning_rate: 1\n", "unknown key 'learning_rate'"),
    ("- just\n- a list\n", "must be a mapping"),
    ("model: [unclosed\n", "not valid YAML"),
    ("model: nowhere\ntrain_file: t.jsonl\noutput_dir: o\n", "not a HF model folder"),
])
def test_bad_configs_raise_config_error(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text, encoding="utf-8")
    args = _parse(["train-rm", str(config)])
    with pytest.raises(ConfigError, match=message):
        args.func(args)


def test_missing_config_file(tmp_path):
    args = _parse(["train-rm", str(tmp_path / "none.yaml")])
    with pytest.raises(ConfigError, match="does not exist"):
        args.func(args)


def test_example_config_has_only_known_keys(repo_root):
    from rlfb.learner.rm_trainer import config_from_dict

    raw = train_rm.read_config(str(repo_root / "experiments" / "rm-tiny-arith.yaml"))
    cfg = config_from_dict(raw)
    assert cfg.template == "concat" and cfg.epochs == 10

