"""``hf_files``: prompts from local jsonl / json / parquet / csv / arrow files via HF `datasets`.

Files are read with ``datasets.load_dataset(<format>, data_files=...)`` (or ``load_from_disk``
for a folder written by ``Dataset.save_to_disk``); nothing is downloaded. Each row becomes one
`Prompt`:

- ``messages``: ``template.format(**row)`` as one user message when ``template`` is set, else the
  ``prompt_field`` column (a string → one user message; a list of chat messages → used as is);
  ``system_prompt`` goes first.
- ``reference``: the ``reference_field`` column (any JSON value), else None.
- ``prompt_id``: the ``id_field`` column (must be unique), else ``"<file>:<row>"`` with the file
  as given (after glob expansion) and the row within that file, stable across runs.
- ``meta``: ``{"source": "hf_files", "file", "row"}`` plus the ``meta_fields`` columns.

Rows are the files' rows in order, then ``start`` / ``limit``, then the held-out split: a seeded
permutation picks ``holdout`` rows (a count, or a fraction) as ``part="holdout"``; ``part="train"``
is every other row, in file order.
"""

from __future__ import annotations

import glob
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any


from rlfb.data.base import build_messages, check_index, check_part, split_holdout
from rlfb.errors import ConfigError
from rlfb.types import Prompt

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv",
           ".arrow": "arrow"}


def expand_files(files: str | Sequence[str]) -> list[str]:
    """Paths and glob patterns → existing paths (each pattern's matches sorted)."""
    patterns = [files] if isinstance(files, (str, Path)) else list(files)
    if not patterns:
        raise ConfigError("hf_files needs at least one file: set the files option")
    out: list[str] = []
    for pattern in map(str, patterns):
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise ConfigError(f"no data file matches {pattern!r}; check the files option")
            out.extend(matches)
        elif Path(pattern).exists():
            out.append(pattern)
        else:
            raise ConfigError(f"data file not found: {pattern!r}; check the files option "
                              f"(relative paths are resolved from {Path.cwd()})")
    return out


def file_format(path: str, fmt: str | None) -> str:
    """The `datasets` builder for ``path``: ``fmt`` if given, else from the suffix."""
    if Path(path).is_dir():
        return "disk"
    if fmt is not None:
        if fmt not in set(FORMATS.values()):
            raise ConfigError(f"unknown data format {fmt!r}; use one of "
                              f"{', '.join(sorted(set(FORMATS.values())))}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"cannot tell the format of {path!r} from its suffix; use one of "
                          f"{', '.join(FORMATS)} or set the format option")
    return FORMATS[suffix]


def load_table(path: str, fmt: str, cache_dir: str | None) -> Any:
    """One file (or a ``save_to_disk`` folder) as a `datasets.Dataset`."""
    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        if fmt == "disk":
            table = datasets.load_from_disk(path)
            if isinstance(table, datasets.DatasetDict):
                raise ConfigError(f"{path!r} holds several splits ({', '.join(table)}); "
                                  "point files at one split's folder")
            return table
        return datasets.load_dataset(fmt, data_files=[path], split="train", cache_dir=cache_dir)
    except ConfigError:
        raise
    except Exception as exc:  # datasets raises many types for unreadable files
        raise ConfigError(f"cannot read {path!r} as {fmt}: {type(exc).__name__}: {exc}") from exc
    finally:
        if bars:
            datasets.enable_progress_bars()


def template_fields(template: str) -> list[str]:
    """The ``{field}`` names a format string uses."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"bad template {template!r}: {exc}") from exc
    names = []
    for _, name, _, _ in parsed:
        if name is not None:
            if not name or not name.isidentifier():
                raise ConfigError(f"template placeholders must name a column, like {{question}}; "
                                  f"got {{{name}}} in {template!r}")
            names.append(name)
    return names


class HFFilesSource:
    """Prompts from local data files; see the module docstring for the field mapping.

    Args:
        files: a path, a glob pattern, or a list of them (jsonl, json, parquet, csv, arrow, or a
            ``save_to_disk`` folder).
        prompt_field: column holding the prompt (default "prompt" when no template is given).
        template: format string with ``{column}`` placeholders, used instead of prompt_field.
        system_prompt: a system message put before every prompt.
        reference_field: column passed to verifiers as the reference.
        id_field: column with unique prompt ids (default: "<file>:<row>").
        meta_fields: columns copied into ``Prompt.meta``.
        start, limit: keep rows ``start .. start+limit`` (before the held-out split).
        part: "train" (rows not held out) or "holdout".
        holdout: rows held out: a count, or a fraction in (0, 1); 0 = none.
        holdout_seed: seed of the held-out choice.
        format: the `datasets` builder ("json", "parquet", "csv", "arrow"); default by suffix.
        cache_dir: `datasets` cache folder (default: the HF default).
    """

    def __init__(self, files: str | Sequence[str], *, prompt_field: str | None = None,
                 template: str | None = None, system_prompt: str | None = None,
                 reference_field: str | None = None, id_field: str | None = None,
                 meta_fields: Sequence[str] = (), start: int = 0, limit: int | None = None,
                 part: str = "train", holdout: float | int = 0, holdout_seed: int = 0,
                 format: str | None = None, cache_dir: str | None = None) -> None:
        check_part(part, holdout)
        if template is not None and prompt_field is not None:
            raise ConfigError("set either template or prompt_field, not both")
        self.template = template
        self.prompt_field = prompt_field or "prompt"
        self.system_prompt = system_prompt
        self.reference_field = reference_field
        self.id_field = id_field
        self.meta_fields = list(meta_fields)
        self.files = expand_files(files)
        self._tables = [load_table(f, file_format(f, format), cache_dir) for f in self.files]
        self._check_columns()
        rows = self._select(start, limit)
        self._rows = self._split(rows, part, holdout, holdout_seed)
        self._check_ids()

    # -- construction helpers -----------------------------------------------------------
    def _check_columns(self) -> None:
        wanted = {"reference_field": [self.reference_field], "id_field": [self.id_field],
                  "meta_fields": self.meta_fields}
        if self.template is None:
            wanted["prompt_field"] = [self.prompt_field]
        else:
            wanted["template"] = template_fields(self.template)
        for path, table in zip(self.files, self._tables):
            columns = list(table.column_names)
            for option, names in wanted.items():
                for name in names:
                    if name is not None and name not in columns:
                        raise ConfigError(
                            f"{option} names column {name!r}, which {path!r} does not have; "
                            f"available columns: {', '.join(columns)}")

    def _select(self, start: int, limit: int | None) -> list[tuple[int, int]]:
        rows = [(f, r) for f, table in enumerate(self._tables) for r in range(len(table))]
        if start < 0 or (limit is not None and limit < 1):
            raise ConfigError(f"start must be >= 0 and limit >= 1, got start={start}, "
                              f"limit={limit}")
        rows = rows[start : None if limit is None else start + limit]
        if not rows:
            raise ConfigError(f"no rows left in {', '.join(self.files)} after start={start}, "
                              f"limit={limit}")
        return rows

    @staticmethod
    def _split(rows: list[tuple[int, int]], part: str, holdout: float | int, seed: int
               ) -> list[tuple[int, int]]:
        train, held = split_holdout(rows, holdout, seed, "the data files")
        return held if part == "holdout" else train

    def _check_ids(self) -> None:
        if self.id_field is None:
            return
        seen: dict[str, tuple[int, int]] = {}
        columns = [table[self.id_field] for table in self._tables]
        for f, r in self._rows:
            key = str(columns[f][r])
            if key in seen:
                first = seen[key]
                raise ConfigError(
                    f"id_field {self.id_field!r} is not unique: {key!r} appears in "
                    f"{self.files[first[0]]!r} row {first[1]} and {self.files[f]!r} row {r}; "
                    "fix the data or drop id_field to use file:row ids")
            seen[key] = (f, r)

    # -- the source protocol ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def get(self, index: int) -> Prompt:
        """The prompt of row ``index`` (after slicing and the held-out split)."""
        f, r = self._rows[check_index(self, index)]
        row = self._tables[f][r]
        where = f"{self.files[f]} row {r}"
        if self.template is not None:
            content: Any = self.template.format(**row)
        else:
            content = row[self.prompt_field]
        messages = build_messages(content, self.system_prompt, where)
        prompt_id = str(row[self.id_field]) if self.id_field else f"{self.files[f]}:{r}"
        reference = row[self.reference_field] if self.reference_field else None
        meta = {"source": "hf_files", "file": self.files[f], "row": r}
        meta.update({name: row[name] for name in self.meta_fields})
        return Prompt(prompt_id, messages, reference, meta)
