"""The hf_files prompt source: field mapping, ids, slicing, held-out rows, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from rlfb.data import get_prompt_source
from rlfb.errors import ConfigError, RegistryError

ROWS = [
    {"question": "1+1?", "answer": "2", "uid": "a", "level": 1},
    {"question": "2+2?", "answer": {"value": 4, "alts": ["four"]}, "uid": "b", "level": 2},
    {"question": "3+3?", "answer": [6], "uid": "c", "level": 3},
]


def test_string_field_becomes_one_user_message_with_system_prompt(write_jsonl, cache_dir):
    path = write_jsonl("q.jsonl", ROWS)
    src = get_prompt_source("hf_files", files=path, prompt_field="question",
                            reference_field="answer", system_prompt="Be brief.",
                            meta_fields=["level"], cache_dir=cache_dir)
    assert len(src) == 3
    p = src.get(1)
    assert p.messages == ({"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "2+2?"})
    assert p.reference == {"value": 4, "alts": ["four"]}  # any JSON value passes through
    assert src.get(2).reference == [6]
    assert p.prompt_id == f"{path}:1"
    assert p.meta == {"source": "hf_files", "file": path, "row": 1, "level": 2}


def test_chat_message_lists_are_used_as_given(write_jsonl, cache_dir):
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    path = write_jsonl("chat.jsonl", [{"prompt": chat}])
    p = get_prompt_source("hf_files", files=path, cache_dir=cache_dir).get(0)  # default field
    assert p.messages == tuple(chat)
    assert p.reference is None


def test_template_fills_placeholders_from_columns(write_jsonl, cache_dir):
    path = write_jsonl("q.jsonl", ROWS)
    src = get_prompt_source("hf_files", files=path, template="Level {level}: {question}",
                            id_field="uid", cache_dir=cache_dir)
    p = src.get(0)
    assert p.messages == ({"role": "user", "content": "Level 1: 1+1?"},)
    assert [src.get(i).prompt_id for i in range(3)] == ["a", "b", "c"]


def test_parquet_and_glob_give_file_row_ids_in_order(tmp_path, cache_dir):
    pd.DataFrame({"prompt": ["x0", "x1"]}).to_parquet(tmp_path / "part-0.parquet")
    pd.DataFrame({"prompt": ["y0"]}).to_parquet(tmp_path / "part-1.parquet")
    src = get_prompt_source("hf_files", files=str(tmp_path / "part-*.parquet"),
                            cache_dir=cache_dir)
    got = [(src.get(i).prompt_id.rsplit("/", 1)[-1], src.get(i).messages[0]["content"])
           for i in range(len(src))]
    assert got == [("part-0.parquet:0", "x0"), ("part-0.parquet:1", "x1"),
                   ("part-1.parquet:0", "y0")]


def test_csv_and_save_to_disk_folder(tmp_path, cache_dir):
    import datasets

    pd.DataFrame({"prompt": ["c0", "c1"], "ref": [1, 2]}).to_csv(tmp_path / "d.csv", index=False)
    datasets.Dataset.from_dict({"prompt": ["d0"]}).save_to_disk(str(tmp_path / "saved"))
    csv = get_prompt_source("hf_files", files=str(tmp_path / "d.csv"), reference_field="ref",
                            cache_dir=cache_dir)
    assert (csv.get(1).messages[0]["content"], csv.get(1).reference) == ("c1", 2)
    disk = get_prompt_source("hf_files", files=str(tmp_path / "saved"))
    assert disk.get(0).messages[0]["content"] == "d0"


def test_rebuilt_source_gives_identical_prompts(write_jsonl, cache_dir):
    path = write_jsonl("q.jsonl", ROWS)
    options = dict(files=path, prompt_field="question", reference_field="answer",
                   holdout=1, cache_dir=cache_dir)
    a = get_prompt_source("hf_files", **options)
    b = get_prompt_source("hf_files", **options)
    assert [a.get(i) for i in range(len(a))] == [b.get(i) for i in range(len(b))]


def test_start_and_limit_slice_rows(write_jsonl, cache_dir):
    path = write_jsonl("q.jsonl", ROWS)
    src = get_prompt_source("hf_files", files=path, prompt_field="question", start=1, limit=1,
                            cache_dir=cache_dir)
    assert len(src) == 1
    assert src.get(0).prompt_id == f"{path}:1"
    with pytest.raises(IndexError, match="out of range"):
        src.get(1)


def test_holdout_parts_are_disjoint_and_cover_every_row(write_jsonl, cache_dir):
    rows = [{"prompt": f"q{i}"} for i in range(20)]
    path = write_jsonl("many.jsonl", rows)
    parts = {part: get_prompt_source("hf_files", files=path, part=part, holdout=0.25,
                                     cache_dir=cache_dir) for part in ("train", "holdout")}
    ids = {part: [s.get(i).prompt_id for i in range(len(s))] for part, s in parts.items()}
    assert len(ids["holdout"]) == 5 and len(ids["train"]) == 15
    assert set(ids["train"]).isdisjoint(ids["holdout"])
    assert set(ids["train"]) | set(ids["holdout"]) == {f"{path}:{i}" for i in range(20)}
    assert ids["train"] == sorted(ids["train"], key=lambda s: int(s.rsplit(":", 1)[1]))
    other_seed = get_prompt_source("hf_files", files=path, part="holdout", holdout=5,
                                   holdout_seed=1, cache_dir=cache_dir)
    assert {other_seed.get(i).prompt_id for i in range(5)} != set(ids["holdout"])


def test_missing_column_names_the_option_and_lists_columns(write_jsonl, cache_dir):
    path = write_jsonl("q.jsonl", ROWS)
    with pytest.raises(ConfigError, match=r"reference_field names column 'ans'.*"
                                          r"available columns: question, answer, uid, level"):
        get_prompt_source("hf_files", files=path, prompt_field="question",
                          reference_field="ans", cache_dir=cache_dir)
    with pytest.raises(ConfigError, match=r"prompt_field names column 'prompt'"):
        get_prompt_source("hf_files", files=path, cache_dir=cache_dir)
    with pytest.raises(ConfigError, match=r"template names column 'questoin'"):
        get_prompt_source("hf_files", files=path, template="{questoin}", cache_dir=cache_dir)


def test_bad_inputs_raise_config_errors(write_jsonl, tmp_path, cache_dir):
    path = write_jsonl("q.jsonl", ROWS)
    with pytest.raises(ConfigError, match="data file not found"):
        get_prompt_source("hf_files", files=str(tmp_path / "nope.jsonl"))
    with pytest.raises(ConfigError, match="no data file matches"):
        get_prompt_source("hf_files", files=str(tmp_path / "*.parquet"))
    with pytest.raises(ConfigError, match="either template or prompt_field"):
        get_prompt_source("hf_files", files=path, template="{question}", prompt_field="question")
    with pytest.raises(ConfigError, match="leaving none to train on"):
        get_prompt_source("hf_files", files=path, prompt_field="question", holdout=3,
                          cache_dir=cache_dir)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ConfigError, match="cannot tell the format"):
        get_prompt_source("hf_files", files=str(tmp_path / "x.txt"))
    with pytest.raises(RegistryError, match="did you mean 'prompt_field'"):
        get_prompt_source("hf_files", files=path, prompt_feild="question")


def test_duplicate_ids_and_bad_prompt_values_are_reported(write_jsonl, cache_dir):
    dup = write_jsonl("dup.jsonl", [{"prompt": "a", "uid": 1}, {"prompt": "b", "uid": 1}])
    with pytest.raises(ConfigError, match=r"id_field 'uid' is not unique: '1'"):
        get_prompt_source("hf_files", files=dup, id_field="uid", cache_dir=cache_dir)
    bad = write_jsonl("bad.jsonl", [{"prompt": 5}])
    with pytest.raises(ConfigError, match=r"bad.jsonl row 0: the prompt must be a string"):
        get_prompt_source("hf_files", files=bad, cache_dir=cache_dir).get(0)
    sysmsg = write_jsonl("sys.jsonl", [{"prompt": [{"role": "system", "content": "S"}]}])
    with pytest.raises(ConfigError, match="already starts with a system message"):
        get_prompt_source("hf_files", files=sysmsg, system_prompt="X",
                          cache_dir=cache_dir).get(0)
