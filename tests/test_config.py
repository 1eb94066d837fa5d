"""The train config: YAML + overrides, coercion, did-you-mean, resolution, round trip, docs."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from rlfb.config import (
    TrainConfig,
    config_fields,
    config_to_dict,
    describe_config,
    field_docs,
    load_config,
    save_config,
)
from rlfb.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path, text: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides_with_yaml_value_semantics(tmp_path):
    path = write(tmp_path, """
run: {name: arith, steps: 5}
algo: {kl_coef: 0.05}
model: {lora: {enabled: true}}
""")
    cfg = load_config(path, ["algo.kl_coef=0.01", "model.lora.target_modules=[q_proj, v_proj]",
                             "run.resume=null", "algo.tis_cap=2", "learner.betas=[0.8, 0.9]",
                             "buffer.drop_zero_variance=yes", "data.eval_source="])
    assert (cfg.run.name, cfg.run.steps, cfg.run.output_dir) == ("arith", 5, "runs/arith")
    assert cfg.algo.kl_coef == 0.01                          # the override wins over the file
    assert cfg.model.lora.enabled and cfg.model.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.model.lora.rank == 16                         # untouched fields keep defaults
    assert cfg.algo.tis_cap == 2.0 and isinstance(cfg.algo.tis_cap, float)
    assert cfg.learner.betas == (0.8, 0.9)
    assert cfg.buffer.drop_zero_variance is True and cfg.data.eval_source is None


def test_coercion_of_numbers_and_strings():
    cfg = load_config(None, ["learner.lr=1e-6", "rollout.n=4.0", "run.name=2024",
                             "rollout.max_new_tokens='128'"])
    assert cfg.learner.lr == 1e-6 and isinstance(cfg.learner.lr, float)  # YAML reads 1e-6 as str
    assert cfg.rollout.n == 4 and isinstance(cfg.rollout.n, int)
    assert cfg.run.name == "2024" and cfg.rollout.max_new_tokens == 128


@pytest.mark.parametrize("override, message", [
    ("rollout.n=2.5", r"rollout.n must be int, got float 2.5"),
    ("run.progress=1", r"run.progress must be bool, got int 1"),
    ("run.tracker=mlflow",
     r"run.tracker must be one of 'tensorboard', 'wandb', 'none'; got 'mlflow'"),
    ("learner.lr=fast", r"learner.lr must be float, got str 'fast'"),
    ("rollout.n=null", r"rollout.n cannot be null; expected int"),
    ("algo.kl_estimator=k4", r"algo.kl_estimator must be one of 'k1', 'k2', 'k3'; got 'k4'"),
    ("algo.loss_agg=token_mean", r"did you mean 'token-mean'"),
    ("learner.betas=[0.9]", r"learner.betas must have 2 items"),
    ("model.lora.target_modules=q_proj", r"model.lora.target_modules must be list\[str\]"),
    ("model.lora.target_modules=[q, [v]]", r"model.lora.target_modules\[1\] must be str"),
    ("data.options=[1]", r"data.options must be dict\[str, any\]"),
    ("run=5", r"run must be a mapping"),
])
def test_type_errors_name_the_dotted_path(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_unknown_keys_get_did_you_mean_at_every_level(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'model.lora.rnak'; did you mean "
                                          r"'model.lora.rank'\? \(model.lora has: enabled, rank"):
        load_config(None, ["model.lora.rnak=4"])
    with pytest.raises(ConfigError, match=r"unknown config key 'algo.kl_cof'; did you mean "
                                          r"'algo.kl_coef'"):
        load_config(write(tmp_path, "algo:\n  kl_cof: 0.1\n"))
    with pytest.raises(ConfigError, match=r"unknown config key 'rollot'; did you mean 'rollout'"):
        load_config(write(tmp_path, "rollot: {n: 2}\n"))
    with pytest.raises(ConfigError, match=r"unknown config key 'ray.learner.gpus'; did you mean "
                                          r"'ray.learner.num_gpus'"):
        load_config(None, ["ray.learner.gpus=1"])
    with pytest.raises(ConfigError, match=r"'run.steps' is int, not a section"):
        load_config(None, ["run.steps.x=1"])


def test_dict_fields_replace_defaults_from_yaml_but_overrides_edit_keys(tmp_path):
    path = write(tmp_path, "data:\n  source: hf_files\n  options: {files: a.jsonl}\n")
    cfg = load_config(path, ["data.options.prompt_field=question", "reward.options.verifier=format"])
    assert cfg.data.options == {"files": "a.jsonl", "prompt_field": "question"}
    assert cfg.reward.options == {"verifier": "format"}
    cfg = load_config(None, ["data.options.task=chain_sum", "rollout.engine_options.a.b=1"])
    assert cfg.data.options["task"] == "chain_sum" and cfg.data.options["size"] == 10000
    assert cfg.rollout.engine_options == {"a": {"b": 1}}


def test_resolution_of_derived_defaults():
    cfg = load_config(None, ["algo.name=rloo"])
    assert cfg.algo.advantage == "rloo" and cfg.algo.advantage_options == {}
    cfg = load_config(None, ["algo.normalize_std=false", "rollout.max_new_tokens=32"])
    assert cfg.algo.advantage_options == {"normalize_std": False}
    assert cfg.eval.max_new_tokens == 32
    assert load_config(None, ["run.output_dir=/tmp/x"]).run.output_dir == "/tmp/x"
    cfg = load_config(None, ["data.prompts_per_step=3", "rollout.n=5", "learner.micro_batch_size=4"])
    assert cfg.grad_accum == 4  # ceil(15 / 4)


@pytest.mark.parametrize("overrides, message", [
    (["rollout.n=1"], r"rollout.n must be >= 2"),
    (["rollout.top_p=0"], r"rollout.top_p must be in \(0, 1\]"),
    (["model.path=tiny:abc"], r"tiny:<seed> with an integer seed"),
    (["eval.greedy=true", "eval.k=4"], r"eval.k must be 1"),
    (["algo.advantage=rloo", "algo.normalize_std=false"], r"applies to the grpo estimator"),
    (["algo.normalize_std=false", "algo.advantage_options.normalize_std=true"], r"contradicts"),
    (["data.eval_options.size=3"], r"data.eval_source is not"),
    (["learner.lr=0"], r"learner.lr must be > 0"),
    (["buffer.max_staleness=-1"], r"buffer.max_staleness must be >= 0 or null"),
    (["ray.rollout.count=0"], r"ray.rollout: count must be >= 1"),
    (["algo.clip_low=1.5"], r"algo.clip_low must be < 1"),
])
def test_range_and_combination_checks(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_bad_override_syntax_and_files(tmp_path):
    with pytest.raises(ConfigError, match="write it as section.key=value"):
        load_config(None, ["algo.kl_coef"])
    with pytest.raises(ConfigError, match="write it as section.key=value"):
        load_config(None, ["algo..kl_coef=1"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "run: [unclosed\n"))
    with pytest.raises(ConfigError, match="must hold a mapping of sections"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    assert load_config(write(tmp_path, "")) == load_config(None)
    assert load_config(write(tmp_path, "model:\n")) == load_config(None)  # an empty section


def test_save_then_load_round_trips(tmp_path):
    cfg = load_config(None, ["run.name=rt", "learner.betas=[0.5, 0.75]", "algo.tis_cap=2.0",
                             "data.options.config={min_terms: 2}", "model.lora.enabled=true",
                             "buffer.max_staleness=null", "ray.learner.num_gpus=0.5"])
    path = save_config(cfg, tmp_path / "out" / "config.yaml")
    text = path.read_text()
    assert "!!python" not in text  # plain YAML, readable by any tool
    assert yaml.safe_load(text) == config_to_dict(cfg)
    again = load_config(path)
    assert again == cfg
    save_config(again, tmp_path / "second.yaml")
    assert (tmp_path / "second.yaml").read_text() == text


def _dataclasses_below(cls: type) -> list[type]:
    found = [cls]
    for tp in typing.get_type_hints(cls).values():
        if dataclasses.is_dataclass(tp) and tp not in found:
            found.extend(c for c in _dataclasses_below(tp) if c not in found)
    return found


def test_every_field_has_a_docstring():
    missing = [f"{cls.__name__}.{f.name}" for cls in _dataclasses_below(TrainConfig)
               for f in dataclasses.fields(cls) if not field_docs(cls).get(f.name, "").strip()]
    assert missing == []
    rows = config_fields(TrainConfig)
    assert len(rows) >= 70 and all(doc for _, _, _, doc in rows)
    text = describe_config()
    assert "algo.kl_coef: float = 0.0\n      Weight of the KL to the reference policy" in text
    assert "model.lora.rank: int = 16" in text


def test_literals_match_the_algo_and_learner_modules():
    from rlfb.algo.aggregation import AGG_MODES
    from rlfb.algo.kl import KL_ESTIMATORS
    from rlfb.config.schema import AlgoConfig, LearnerConfig
    from rlfb.learner.logprobs import METHODS

    hints = typing.get_type_hints(AlgoConfig)
    assert typing.get_args(hints["loss_agg"]) == AGG_MODES
    assert typing.get_args(hints["kl_estimator"]) == KL_ESTIMATORS
    assert typing.get_args(typing.get_type_hints(LearnerConfig)["packing"]) == METHODS


def test_default_names_are_registered():
    from rlfb.algo.registry import ADVANTAGES, LOSSES
    from rlfb.data import list_prompt_sources
    from rlfb.rewards import list_rewards
    from rlfb.verifiers import list_verifiers

    cfg = load_config(None)
    assert cfg.data.source in list_prompt_sources()
    assert cfg.reward.name in list_rewards()
    assert cfg.eval.verifier in list_verifiers()
    assert cfg.algo.advantage in ADVANTAGES and cfg.algo.policy_loss in LOSSES


def test_removed_algo_extra_is_refused_with_what_to_do(tmp_path):
    """algo.extra was documented but read nowhere: a config that still sets it fails at load
    with one line that says it was removed, rather than being accepted and ignored."""
    from rlfb.config import AlgoConfig, describe_config, load_config
    from rlfb.errors import ConfigError

    assert "extra" not in AlgoConfig.__dataclass_fields__
    assert "algo.extra" not in describe_config()
    for override in ("algo.extra={beta: 0.1}", "algo.extra={}"):
        with pytest.raises(ConfigError, match=r"^config key 'algo.extra' was removed: .*delete it$"):
            load_config(None, [override])
    path = tmp_path / "c.yaml"
    path.write_text("algo:\n  extra: {value_coef: 0.5}\n")
    with pytest.raises(ConfigError, match="'algo.extra' was removed"):
        load_config(path)


def test_removed_run_tensorboard_names_its_replacement():
    with pytest.raises(ConfigError, match=r"^config key 'run.tensorboard' was removed: "
                                          r"run.tracker replaces it"):
        load_config(None, ["run.tensorboard=false"])


def test_checked_in_run_configs_still_load():
    """rlfb rescore and --resume read a run's saved config.yaml; the shipped runs must load."""
    for path in sorted(REPO.glob("experiments/results/**/config.yaml")):
        load_config(path)
