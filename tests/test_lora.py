"""LoRA end to end: a run through the whole loop, `rlfb export`, loading the export (transformers,
vLLM), `rlfb eval` on the LoRA checkpoint; the adapter-or-merged sync decision; the engine
options a config gives (LoRA and the GPU settings)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from rlfb.cli import main
from rlfb.config import load_config
from rlfb.errors import ConfigError
from rlfb.rollout import lora as lora_mod
from rlfb.rollout.lora import is_adapter, lora_sync_mode
from rlfb.rollout.settings import engine_options
from rlfb.run_log import read_jsonl
from rlfb.trainers import make_trainer

QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"
DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}
#: float32 engines and transformers on the same float32 weights, tiny model (measured ~1e-6).
ATOL = 1e-5


def lora_config(out: Path, *overrides: str):
    """The quickstart with LoRA on the tiny model, two steps in this process."""
    return load_config(QUICKSTART, [
        f"run.output_dir={out}", "run.executor=local", "run.steps=2", "run.save_every=2",
        "run.samples_every=1", "run.progress=false", "run.tracker=none", "model.path=tiny:0",
        "model.lora.enabled=true", "model.lora.rank=4", "model.lora.alpha=8",
        "model.lora.target_modules=[q_proj, v_proj, gate_proj]",
        "data.prompts_per_step=4", "data.eval_prompts=4", "data.options.size=200",
        "rollout.n=4", "rollout.max_new_tokens=12", "learner.lr=1e-2",
        "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "eval.every=2", "eval.verifier=format", f"eval.verifier_options={json.dumps(DIGIT)}",
        *overrides])


def train(cfg) -> Path:
    trainer = make_trainer(cfg)
    try:
        return Path(trainer.run())
    finally:
        trainer.close()


def token_logprobs(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().log_softmax(-1)


def check_export(run_dir: Path, tmp_path: Path) -> Path:
    """`rlfb export RUN --out DIR`, then DIR in transformers equals the adapter over its base."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rlfb.models.load import load_policy

    out = tmp_path / "export"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    adapter = run_dir / "checkpoints" / "step-000002" / "learner" / "model"
    assert (adapter / "adapter_config.json").is_file()
    exported = AutoModelForCausalLM.from_pretrained(str(out))
    assert not any("lora" in n for n, _ in exported.named_parameters())
    base, tokenizer = load_policy(run_dir / "tiny-model")
    reference = PeftModel.from_pretrained(base, str(adapter)).eval()
    ids = tokenizer("What is 12 + 7? The answer is 19.")["input_ids"]
    gap = (token_logprobs(exported, ids) - token_logprobs(reference, ids)).abs().max()
    assert float(gap) < ATOL
    with reference.disable_adapter():  # the adapter moved the model: the check can fail
        assert float((token_logprobs(exported, ids) - token_logprobs(reference, ids))
                     .abs().max()) > 100 * ATOL
    assert (out / "tokenizer_config.json").is_file()
    return out


def check_eval(run_dir: Path, tmp_path: Path, engine: str) -> None:
    """`rlfb eval` on the LoRA checkpoint samples from the merged policy."""
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"What is {i} + 2?", "reference": str(i + 2)})
                            + "\n" for i in range(3)))
    out = tmp_path / "eval"
    checkpoint = run_dir / "checkpoints" / "step-000002"
    assert main(["eval", str(checkpoint), "--data", str(data), "--verifier", "format",
                 "-V", "mode=regex", "-V", "pattern='[0-9]'", "-V", "match=search",
                 "--max-new-tokens", "8", "--engine", engine, "--out", str(out)]) == 0
    assert (out / "merged-model" / "config.json").is_file()
    assert len(read_jsonl(out / "eval_samples.jsonl")) == 3


def adapter_bytes(run_dir: Path) -> int:
    from safetensors.torch import load_file

    tensors = load_file(run_dir / "checkpoints" / "step-000002" / "learner" / "model" /
                        "adapter_model.safetensors")
    return sum(t.numel() * t.element_size() for t in tensors.values())


def test_lora_run_hf_engine_merged_sync_export_and_eval(tmp_path, caplog):
    cfg = lora_config(tmp_path / "run", "rollout.engine=hf", "rollout.engine_options={}")
    with caplog.at_level(logging.WARNING, logger="rlfb.lora"):
        run_dir = train(cfg)
    records = read_jsonl(run_dir / "metrics.jsonl")
    syncs = [r["sync/bytes"] for r in records if "sync/bytes" in r]
    assert syncs and all(b > 10 * adapter_bytes(run_dir) for b in syncs)  # full weights went
    check_eval(run_dir, tmp_path, "hf")
    check_export(run_dir, tmp_path)


@pytest.mark.vllm
def test_lora_run_vllm_adapter_sync_export_and_eval(tmp_path):
    from rlfb.models.load import load_policy
    from rlfb.rollout import get_engine
    from rlfb.types import Prompt, SamplingParams

    run_dir = train(lora_config(tmp_path / "run", "rollout.engine=vllm"))
    records = read_jsonl(run_dir / "metrics.jsonl")
    syncs = [r["sync/bytes"] for r in records if "sync/bytes" in r]
    assert syncs and set(syncs) == {float(adapter_bytes(run_dir))}  # only the adapter went
    out = check_export(run_dir, tmp_path)
    engine = get_engine("vllm", out, max_model_len=256)
    try:
        rollouts = engine.generate([Prompt("p", ({"role": "user", "content": "What is 3+4?"},))],
                                   SamplingParams(n=1, max_new_tokens=8, temperature=0.0))
    finally:
        engine.close()
    model = load_policy(out)[0]
    r = rollouts[0]
    logp = token_logprobs(model, r.prompt_token_ids + r.completion_token_ids)
    start = len(r.prompt_token_ids)
    learner = [float(logp[start + i - 1, t]) for i, t in enumerate(r.completion_token_ids)]
    assert max(abs(a - b) for a, b in zip(learner, r.logprobs)) < ATOL
    check_eval(run_dir, tmp_path, "vllm")


def test_sync_mode_decision_and_fallback_logged_once(caplog):
    modules = ["q_proj", "v_proj"]
    assert lora_sync_mode("auto", "vllm", modules) == "adapter"
    assert lora_sync_mode("merged", "vllm", modules) == "merged"
    lora_mod._logged.clear()
    with caplog.at_level(logging.WARNING, logger="rlfb.lora"):
        assert lora_sync_mode("auto", "hf", modules) == "merged"
        assert lora_sync_mode("auto", "hf", modules) == "merged"
        assert lora_sync_mode("auto", "vllm", ["q_proj", "embed_tokens"]) == "merged"
    messages = [r.getMessage() for r in caplog.records if r.name == "rlfb.lora"]
    assert len(messages) == 2  # once per reason, not once per call
    assert "rollout.engine='hf' loads full weights only" in messages[0]
    assert "not to embed_tokens" in messages[1]
    with pytest.raises(ConfigError, match="model.lora.sync=adapter: rollout.engine='hf'"):
        lora_sync_mode("adapter", "hf", modules)


def test_is_adapter_names():
    assert is_adapter(["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                       "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"])
    assert not is_adapter(["model.layers.0.self_attn.q_proj.weight"])
    assert not is_adapter([])


def test_engine_options_from_the_config(tmp_path):
    cfg = lora_config(tmp_path, "rollout.engine=vllm", "rollout.tensor_parallel_size=2",
                      "rollout.gpu_memory_utilization=0.3", "rollout.colocate=true")
    options = engine_options(cfg)
    assert options["lora"] == {"rank": 4, "alpha": 8.0,
                               "target_modules": ["q_proj", "v_proj", "gate_proj"]}
    assert (options["tensor_parallel_size"], options["gpu_memory_utilization"],
            options["sleep_mode"]) == (2, 0.3, True)
    assert options["max_model_len"] == 512  # the quickstart's own engine options are kept
    merged = engine_options(lora_config(tmp_path, "rollout.engine=vllm", "model.lora.sync=merged"))
    assert "lora" not in merged
    with pytest.raises(ConfigError, match="apply to the vllm engine"):
        engine_options(lora_config(tmp_path, "rollout.engine=hf", "rollout.colocate=true"))
    with pytest.raises(ConfigError, match="gpu_memory_utilization must be in"):
        lora_config(tmp_path, "rollout.gpu_memory_utilization=1.5")


def test_learner_sends_adapter_or_merged_weights(tmp_path):
    from rlfb.algorithms.base import policy_settings
    from rlfb.learner.objective import LossSettings
    from rlfb.learner.policy import PolicyLearner
    from rlfb.models.tiny import make_tiny_model

    _, kwargs = policy_settings(lora_config(tmp_path, "rollout.engine=vllm"))
    assert kwargs["lora"]["sync"] == "adapter"
    path = make_tiny_model(tmp_path / "tiny")
    learner = PolicyLearner(str(path), LossSettings(), lora=kwargs["lora"])
    adapter = dict(learner.named_weights())
    assert is_adapter(adapter) and len(adapter) == 2 * 3 * learner.model.config.num_hidden_layers
    learner.lora["sync"] = "merged"
    merged = dict(learner.named_weights())
    assert not is_adapter(merged) and "model.layers.0.self_attn.q_proj.weight" in merged


def test_export_bad_input_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "holds no model" in err and err.count("\n") == 1
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": str(tmp_path / "gone"), "r": 4}))
    assert main(["export", str(adapter), "--out", str(tmp_path / "o")]) == 2
    assert "--base DIR" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["export", str(adapter), "--out", str(tmp_path / "full")]) == 2
    assert "not an empty folder" in capsys.readouterr().err


@pytest.mark.slow  # about 1.5 min: a Ray run on top of the vllm loop test above
@pytest.mark.ray
@pytest.mark.vllm
def test_lora_adapter_sync_through_ray_object_store(ray_local, tmp_path):
    """The adapter tensors travel through the object-store payload to a vLLM actor, and the
    actor samples from the adapter: its greedy completions equal the exported model's."""
    from rlfb.rollout import get_engine
    from rlfb.types import Prompt, SamplingParams

    run_dir = train(lora_config(
        tmp_path / "run", "rollout.engine=vllm", "run.executor=ray", "ray.learner.num_cpus=0.5",
        "ray.rollout.num_cpus=0.5", "ray.reward.num_cpus=0.25", "ray.startup_timeout_s=300",
        "ray.weight_sync=object_store"))
    records = read_jsonl(run_dir / "metrics.jsonl")
    syncs = [r["sync/bytes"] for r in records if "sync/bytes" in r]
    assert syncs and set(syncs) == {float(adapter_bytes(run_dir))}
    out = check_export(run_dir, tmp_path)
    # The held-out evaluation after the last sync ran greedy in the vLLM actor (adapter 2);
    # the exported merged model, sampled greedily here, writes the same completions.
    final = [r for r in read_jsonl(run_dir / "eval_samples.jsonl") if r["step"] == 2]
    prompts = [Prompt(f"e{i}", tuple(r["prompt"])) for i, r in enumerate(final)]
    greedy = SamplingParams(n=1, max_new_tokens=12, temperature=0.0)

    def completions(model_path) -> list[str]:
        engine = get_engine("hf", model_path)
        try:
            return [r.text for r in engine.generate(prompts, greedy)]
        finally:
            engine.close()

    assert final and completions(out) == [r["completion"] for r in final]
    # and the check can fail: the base model writes something else
    assert completions(run_dir / "tiny-model") != [r["completion"] for r in final]


def test_export_full_checkpoint_and_adapter_with_moved_base(tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM

    from rlfb.learner.objective import LossSettings
    from rlfb.learner.policy import PolicyLearner
    from rlfb.models.tiny import make_tiny_model

    base = make_tiny_model(tmp_path / "base")
    full = PolicyLearner(str(base), LossSettings(), seed=1)
    with torch.no_grad():
        next(full.model.parameters()).add_(0.5)  # differs from the base
    full.save(tmp_path / "full" / "learner")
    assert main(["export", str(tmp_path / "full"), "--out", str(tmp_path / "e1")]) == 0
    exported = AutoModelForCausalLM.from_pretrained(str(tmp_path / "e1")).state_dict()
    assert all(torch.equal(exported[n], t) for n, t in full.model.state_dict().items())

    lora = PolicyLearner(str(base), LossSettings(), lora={"rank": 4, "alpha": 8,
                                                          "target_modules": ["q_proj"]})
    with torch.no_grad():
        for name, p in lora.model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.1)
    lora.save(tmp_path / "lora" / "learner")
    expected = dict(lora.named_weights())  # merged: lora["sync"] is not "adapter"
    moved = tmp_path / "moved"
    shutil.move(str(base), moved)
    assert main(["export", str(tmp_path / "lora"), "--out", str(tmp_path / "e2")]) == 2
    assert main(["export", str(tmp_path / "lora" / "learner" / "model"), "--base", str(moved),
                 "--out", str(tmp_path / "e2"), "--dtype", "bfloat16"]) == 0
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "e2"), dtype="auto")
    state = merged.state_dict()
    assert next(iter(state.values())).dtype == torch.bfloat16
    q = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(state[q], expected[q].to(torch.bfloat16))
    assert not torch.equal(expected[q], load_file_tensor(moved, q))


def load_file_tensor(folder: Path, name: str) -> torch.Tensor:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")[name]
