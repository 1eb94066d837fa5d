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
