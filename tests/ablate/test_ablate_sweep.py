"""Sweep files: arms, names, overrides, and one-line errors before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rlfb.ablate.sweep import arm_config_data, arm_configs, load_sweep, parse_sweep
from rlfb.cli import main
from rlfb.errors import ConfigError

BASE = {"model": {"path": "tiny:0"}, "rollout": {"engine": "hf", "n": 2},
        "data": {"source": "reasoning_gym", "options": {"task": "basic_arithmetic"}}}
AXES = {"payoff": {"hedging": {"reward.name": "hedging", "reward.options": {"verifier": "math"}},
                   "binary": {"reward.name": "verifier", "reward.options": {"verifier": "math"}}},
        "norm": {"std": ["algo.normalize_std=true"], "nostd": ["algo.normalize_std=false"]}}


def sweep(**kw):
    data = {"name": "s", "base": BASE, "seeds": [3, 4], "axes": AXES, "output_dir": "out", **kw}
    return parse_sweep(data)


def test_arms_are_the_grid_times_seeds_with_stable_names():
    arms = sweep().arms()
    assert [a.name for a in arms] == [
        "payoff=hedging/norm=std/seed=3", "payoff=hedging/norm=std/seed=4",
        "payoff=hedging/norm=nostd/seed=3", "payoff=hedging/norm=nostd/seed=4",
        "payoff=binary/norm=std/seed=3", "payoff=binary/norm=std/seed=4",
        "payoff=binary/norm=nostd/seed=3", "payoff=binary/norm=nostd/seed=4"]
    assert sweep().groups()[0] == "payoff=hedging/norm=std"


def test_arms_may_request_gpus():
    assert (sweep().num_gpus_per_arm, sweep(num_gpus_per_arm=1).num_gpus_per_arm) == (0.0, 1.0)


def test_arm_config_applies_base_common_levels_and_run():
    s = sweep(overrides={"run.steps": 3, "reward.options": {"verifier": "format"}})
    configs = arm_configs(s)
    arm = next(a for a in configs if a.name == "payoff=binary/norm=nostd/seed=4")
    cfg = configs[arm]
    assert (cfg.run.steps, cfg.run.seed, cfg.run.output_dir) == (3, 4, str(
        Path("out") / "payoff=binary/norm=nostd/seed=4"))
    assert cfg.run.name == "s/payoff=binary/norm=nostd/seed=4"
    assert cfg.reward.name == "verifier" and cfg.reward.options == {"verifier": "math"}
    assert cfg.algo.normalize_std is False
    assert arm_config_data(s, arm)["model"] == {"path": "tiny:0"}  # base untouched
    assert BASE["rollout"] == {"engine": "hf", "n": 2}


def test_base_path_is_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "cfg" / "sw.yaml").write_text(yaml.safe_dump(
        {"base": "base.yaml", "seeds": 1, "axes": {"a": {"x": {"run.steps": 1}}}}))
    s = load_sweep(tmp_path / "cfg" / "sw.yaml")
    assert s.name == "sw" and s.base == BASE and s.seeds == [1]
    assert s.output_dir == Path("runs/ablations/sw")


@pytest.mark.parametrize("change,message", [
    ({"axes": {"payoff": {"x": {"algo.kl_cof": 0.1}}}}, "did you mean 'algo.kl_coef'"),
    ({"axes": {"payoff": {"x": {"rollout.n": 0}}}}, "rollout.n must be >= 1"),
    ({"axes": {"payoff": {"x": {"reward.name": "nope"}}}}, "reward.name='nope' is not registered"),
    ({"seeds": []}, "seeds must be a non-empty list"),
    ({"seeds": [1, 1]}, "duplicates"),
    ({"axes": {}}, "axes must map"),
    ({"axes": {"seed": {"a": {}}}}, "not 'seed'"),
    ({"axes": {"p": {"a/b": {}}}}, "level name 'a/b'"),
    ({"axes": {"p": {"a": ["run.steps"]}}}, "write key=value"),
    ({"colour": 1}, "unknown key(s) 'colour'"),
    ({"num_gpus_per_arm": -1}, "num_gpus_per_arm must be a number >= 0, got -1"),
    ({"overrides": {"run.executor": "ray"}}, "arms of a sweep run with the local executor"),
])
def test_bad_sweeps_fail_with_one_line(change, message):
    with pytest.raises(ConfigError) as err:
        arm_configs(sweep(**change))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_rejects_a_bad_arm_before_running_any(tmp_path, capsys):
    axes = {"payoff": {"good": {"run.steps": 1}, "bad": {"algo.kl_cof": 0.1}}}
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0], "axes": axes,
                                    "output_dir": str(tmp_path / "out")}, sort_keys=False))
    assert main(["ablate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arm payoff=bad/seed=0" in err and "kl_coef" in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_cli_dry_run_lists_arms(tmp_path, capsys):
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0, 1], "axes": AXES,
                                    "output_dir": str(tmp_path / "out")}, sort_keys=False))
    assert main(["ablate", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 arms, all configs valid" in out and "payoff=binary/norm=nostd/seed=1" in out
    assert not (tmp_path / "out").exists()


def test_report_only_without_runs_is_an_error(tmp_path, capsys):
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "seeds": [0], "axes": AXES,
                                    "output_dir": str(tmp_path / "out")}, sort_keys=False))
    assert main(["ablate", str(path), "--report-only"]) == 2
    assert "has logged metrics yet" in capsys.readouterr().err


def test_help_documents_the_sweep_format(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ablate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "Sweep file:" in out and "95% Student-t" in out and "--resume" in out
