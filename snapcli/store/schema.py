"""Required columns per (stage, table): what a hand-made Parquet must hold to stand in for a stage."""

from __future__ import annotations

import pyarrow as pa

from snapcli.errors import SnapError

_SCHEMAS: dict[tuple[str, str], list[str]] = {}


def register_table_schema(stage: str, table: str, columns: list[str]) -> None:
    _SCHEMAS[(stage, table)] = list(columns)


def required_columns(stage: str, table: str) -> list[str] | None:
    return _SCHEMAS.get((stage, table))


def stage_tables(stage: str) -> list[str]:
    return [t for (s, t) in _SCHEMAS if s == stage]


def known_stages() -> list[str]:
    return sorted({s for (s, _) in _SCHEMAS})


def validate_table(stage: str, table: str, tbl: pa.Table, source: str = "") -> None:
    """Raise a one-line SnapError naming the missing columns."""
    required = required_columns(stage, table)
    if not required:
        return
    missing = [c for c in required if c not in tbl.column_names]
    if missing:
        where = f" in {source}" if source else ""
        raise SnapError(
            f"table '{table}'{where} is missing column(s) {', '.join(missing)} required by stage '{stage}' "
            f"(has: {', '.join(tbl.column_names) or 'none'})"
        )
