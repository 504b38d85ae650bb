"""An artifact: one published stage version, or a plain Parquet file/dir standing in for one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from snapcli.errors import SnapError
from snapcli.store.hashing import file_sha256, tree_sha256
from snapcli.store.schema import validate_table
from snapcli.store.text import fix_value


@dataclass
class Artifact:
    path: Path
    stage: str | None = None
    version: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""
    cached: bool = False

    @property
    def ref(self) -> str:
        """A ref that names this artifact again later (stage@vNNNN, or the path)."""
        if self.stage and self.version:
            return f"{self.stage}@{self.version}"
        return str(self.path)

    @property
    def is_plain(self) -> bool:
        return not self.manifest

    def tables(self) -> list[str]:
        if self.path.is_file():
            return [self.path.stem]
        return sorted(p.stem for p in self.path.glob("*.parquet"))

    def table_path(self, name: str) -> Path:
        if self.path.is_file():
            return self.path
        p = self.path / f"{name}.parquet"
        if not p.exists():
            raise SnapError(
                f"{self.ref} has no table '{name}' (tables: {', '.join(self.tables()) or 'none'})"
            )
        return p

    def has_table(self, name: str) -> bool:
        return self.path.is_file() or (self.path / f"{name}.parquet").exists()

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        p = self.table_path(name)
        try:
            tbl = pq.read_table(p, columns=columns)
        except (pa.ArrowException, OSError) as e:
            raise SnapError(f"cannot read Parquet {p}: {_one_line(e)}") from None
        except KeyError as e:
            raise SnapError(f"{p} has no column {e}") from None
        return tbl

    def read_df(self, name: str, columns: list[str] | None = None):
        return self.read_table(name, columns).to_pandas()

    def read_checked(self, stage: str, name: str, need: Sequence[str] | None = None) -> pa.Table:
        """Read a table and check it against `stage`'s schema for it (columns, types, nulls, allowed values).

        `need`: only these columns are required (the rest of the schema is checked where present). Raises
        SnapError naming the column, the first bad row and the rule (see snapcli.store.schema.validate_table).
        """
        tbl = self.read_table(name)
        validate_table(stage, name, tbl, source=self.ref, need=need)
        return tbl

    def require_stage(self, *stages: str) -> Artifact:
        if self.stage and self.stage not in stages:
            raise SnapError(
                f"{self.ref} is a '{self.stage}' artifact; expected {' or '.join(repr(s) for s in stages)}"
            )
        return self

    @property
    def rows(self) -> dict[str, int]:
        if self.manifest:
            return {o["path"].removesuffix(".parquet"): o["rows"] for o in self.manifest["outputs"] if "rows" in o}
        return {t: pq.ParquetFile(self.table_path(t)).metadata.num_rows for t in self.tables()}


def read_table_file(path: Path) -> pa.Table:
    """A Parquet, JSONL/JSON or CSV file as an Arrow table (what users hand-edit); SnapError for anything unreadable.

    Text is checked on the way in: a CSV that is not UTF-8 is refused (pyarrow would make the column binary),
    and lone UTF-16 surrogates in JSON ("\\ud83d") become U+FFFD (src: snapcli.store.text). JSON is parsed by
    the standard library so a bad line is named by its number.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".jsonl", ".ndjson", ".json", ".csv"):
        raise SnapError(f"{path}: unsupported file type '{suffix}' (use .parquet, .jsonl or .csv)")
    if path.is_dir() or (path.exists() and not path.is_file()):
        raise SnapError(f"{path} is not a regular file")
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix == ".csv":
            return _read_csv(path)
        return _read_json(path, lines=suffix != ".json")
    except (pa.ArrowException, ValueError, OSError) as e:
        raise SnapError(f"cannot read {path}: {_one_line(e)[:200]}") from None


def _read_csv(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    tbl = pacsv.read_csv(path)
    for name, col in zip(tbl.column_names, tbl.columns, strict=True):
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):  # pyarrow's answer to bad UTF-8
            for i, v in enumerate(col.to_pylist()):
                if v is not None:
                    try:
                        v.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise SnapError(f"{path} is not valid UTF-8 text: column '{name}' row {i} has byte "
                                        f"0x{v[e.start]:02x} at offset {e.start}; re-save it as UTF-8") from None
    return tbl


def _read_json(path: Path, lines: bool) -> pa.Table:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SnapError(f"{path} is not valid UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") \
            from None
    if lines:
        rows = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SnapError(f"{path} line {n} is not valid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(rows[-1], dict):
                raise SnapError(f"{path} line {n} is not a JSON object")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SnapError(f"{path} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
        if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
            n_rows = {len(v) for v in data.values()}
            if len(n_rows) > 1:
                raise SnapError(f"{path}: the column lists have different lengths {sorted(n_rows)}")
            rows = [dict(zip(data, vals, strict=True)) for vals in zip(*data.values(), strict=True)]
        elif isinstance(data, list) and all(isinstance(r, dict) for r in data):
            rows = data
        else:
            raise SnapError(f"{path} must hold a list of objects (records) or an object of column lists")
    if not rows:
        raise SnapError(f"{path} holds no rows")
    rows = [fix_value(r)[0] for r in rows]
    names = list(dict.fromkeys(k for r in rows for k in r))
    arrays = []
    for name in names:
        values = [r.get(name) for r in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowException, OverflowError, TypeError) as e:
            kinds = sorted({type(v).__name__ for v in values if v is not None})
            raise SnapError(f"{path}: column '{name}' cannot be one Arrow column (values of type "
                            f"{', '.join(kinds)}: {_one_line(e)[:120]})") from None
    return pa.Table.from_arrays(arrays, names=names)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def plain_artifact(path: Path) -> Artifact:
    """A Parquet file, or a dir of Parquet files, that was not written by snap."""
    try:
        if path.is_file():
            if path.suffix != ".parquet":
                raise SnapError(f"{path} is not a .parquet file")
            return Artifact(path=path, content_hash=file_sha256(path))
        if not path.is_dir():
            raise SnapError(f"{path} is neither a Parquet file nor a directory")
        files = {p.name: file_sha256(p) for p in sorted(path.glob("*.parquet"))}
    except OSError as e:
        raise SnapError(f"cannot read {path}: {e.strerror or _one_line(e)}") from None
    if not files:
        raise SnapError(f"{path} holds no .parquet files and no manifest.json")
    return Artifact(path=path, content_hash=tree_sha256(files))
