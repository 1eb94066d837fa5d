"""Building a run: the run directory the roles write to."""

from __future__ import annotations

from rlfb.config import load_config
from rlfb.run import build_run


def test_a_relative_output_dir_becomes_absolute(tmp_path, monkeypatch):
    """Ray actors on another node resolve a relative path from their own working folder, so
    the driver hands every role an absolute run directory."""
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, ["run.output_dir=runs/rel", "model.path=tiny:0",
                             "data.options={task: basic_arithmetic, size: 20, seed: 0}",
                             "data.eval_prompts=4"])
    ctx = build_run(cfg, executor=object())  # no roles needed to check the directory
    assert ctx.run_dir.is_absolute() and ctx.run_dir == tmp_path / "runs" / "rel"
    assert (ctx.run_dir / "config.yaml").is_file()


def test_a_checkpoint_for_another_model_is_one_error_naming_the_keys(tmp_path):
    """Loading a policy checkpoint into a different architecture names the mismatched keys and
    the fix, instead of silently leaving weights at their initial values."""
    import pytest
    import torch.nn as nn

    from rlfb.checkpoint import check_loaded_keys
    from rlfb.errors import RlfbError

    model = nn.Linear(2, 2)
    model.config = type("C", (), {"tie_word_embeddings": True})()
    check_loaded_keys(model, ["lm_head.weight"], [], tmp_path)  # a tied head is saved once
    with pytest.raises(RlfbError, match=r"missing \['layer.0.w'\], unexpected \['x'\]; resume "
                                        r"with the model.path"):
        check_loaded_keys(model, ["layer.0.w"], ["x"], tmp_path)
    model.config.tie_word_embeddings = False
    with pytest.raises(RlfbError, match="critic weights"):
        check_loaded_keys(model, ["lm_head.weight"], [], tmp_path, "critic")
