"""Small data files for the prompt-source tests, written into tmp_path."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def write_jsonl(tmp_path):
    """``write_jsonl(name, rows) -> str path`` of a jsonl file under tmp_path."""

    def write(name: str, rows: list[dict]) -> str:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    return write


@pytest.fixture
def cache_dir(tmp_path):
    """A private `datasets` cache so tests leave the user's cache alone."""
    return str(tmp_path / "hf-cache")
