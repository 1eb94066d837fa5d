"""`key=value` overrides before and after the options of `rlfb train` and `rlfb ablate`."""

from __future__ import annotations

import pytest
import yaml

from rlfb.cli import build_parser, main, parse

BASE = {"model": {"path": "tiny:0"}, "rollout": {"engine": "hf", "n": 2},
        "data": {"source": "reasoning_gym", "options": {"task": "basic_arithmetic"}}}
AXES = {"payoff": {"hedging": {"reward.name": "hedging", "reward.options": {"verifier": "math"}},
                   "binary": {"reward.name": "verifier", "reward.options": {"verifier": "math"}}}}


@pytest.mark.parametrize("argv, overrides, address", [
    (["c.yaml", "--ray-address", "auto", "run.output_dir=x"], ["run.output_dir=x"], "auto"),
    (["c.yaml", "a=1", "--ray-address", "h:1", "b=2", "c=3"], ["a=1", "b=2", "c=3"], "h:1"),
    (["--ray-address", "auto", "c.yaml", "a=1", "--resume", "r", "b=2"], ["a=1", "b=2"], "auto"),
    (["c.yaml", "a=1", "b=2"], ["a=1", "b=2"], None),
])
def test_train_takes_overrides_before_and_after_options(argv, overrides, address):
    args = parse(build_parser(), ["train", *argv])
    assert (args.config, args.overrides, args.ray_address) == ("c.yaml", overrides, address)


def test_ablate_takes_overrides_before_and_after_options():
    args = parse(build_parser(), ["ablate", "s.yaml", "a=1", "--max-parallel", "2", "b=2"])
    assert (args.sweep, args.overrides, args.max_parallel) == ("s.yaml", ["a=1", "b=2"], 2)


@pytest.mark.parametrize("argv, needle", [
    (["train", "c.yaml", "--ray-adress", "auto", "a=1"], "unrecognized arguments: --ray-adress"),
    (["train", "c.yaml", "--resume", "r", "a=1", "stray"], "unrecognized arguments: a=1 stray"),
    (["verifiers", "list", "a=1"], "unrecognized arguments: a=1"),  # a command without overrides
])
def test_other_leftover_words_are_still_refused_in_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_an_override_after_an_option_reaches_the_train_config(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"path": "tiny:0"}}))
    # the config refuses the value: the override was read (before the fix: "unrecognized")
    assert main(["train", str(cfg), "--resume", str(tmp_path / "r"), "rollout.n=0"]) == 2
    assert "rollout.n must be >= 1" in capsys.readouterr().err


def test_ablate_overrides_apply_to_every_arm_after_the_sweeps_own(tmp_path, capsys):
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0], "axes": AXES,
                                    "overrides": {"run.steps": 8},
                                    "output_dir": str(tmp_path / "out")}, sort_keys=False))
    assert main(["ablate", str(path), "--dry-run", "run.steps=3", "executor=local"]) == 0
    assert "every arm: run.steps=3 run.executor=local" in capsys.readouterr().out
    assert main(["ablate", str(path), "--dry-run", "rollout.n=0"]) == 2
    err = capsys.readouterr().err
    assert "arm payoff=hedging/seed=0" in err and "rollout.n must be >= 1" in err
