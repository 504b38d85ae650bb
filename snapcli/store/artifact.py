"""An artifact: one published stage version, or a plain Parquet file/dir standing in for one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from snapcli.errors import SnapError
from snapcli.store.hashing import file_sha256, tree_sha256
from snapcli.store.schema import validate_table


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
        except (pa.ArrowInvalid, OSError) as e:
            raise SnapError(f"cannot read Parquet {p}: {e}") from None
        except KeyError as e:
            raise SnapError(f"{p} has no column {e}") from None
        return tbl

    def read_df(self, name: str, columns: list[str] | None = None):
        return self.read_table(name, columns).to_pandas()

    def read_checked(self, stage: str, name: str) -> pa.Table:
        """Read a table and check it has the columns `stage` requires of it."""
        tbl = self.read_table(name)
        validate_table(stage, name, tbl, source=self.ref)
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
    """A Parquet, JSONL or CSV file as an Arrow table (what users hand-edit)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            import pandas as pd

            return pa.Table.from_pandas(pd.read_json(path, lines=suffix != ".json"), preserve_index=False)
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(path)
    except (pa.ArrowInvalid, ValueError, OSError) as e:
        raise SnapError(f"cannot read {path}: {' '.join(str(e).split())[:200]}") from None
    raise SnapError(f"{path}: unsupported file type '{suffix}' (use .parquet, .jsonl or .csv)")


def plain_artifact(path: Path) -> Artifact:
    """A Parquet file, or a dir of Parquet files, that was not written by snap."""
    if path.is_file():
        if path.suffix != ".parquet":
            raise SnapError(f"{path} is not a .parquet file")
        return Artifact(path=path, content_hash=file_sha256(path))
    files = {p.name: file_sha256(p) for p in sorted(path.glob("*.parquet"))}
    if not files:
        raise SnapError(f"{path} holds no .parquet files and no manifest.json")
    return Artifact(path=path, content_hash=tree_sha256(files))
