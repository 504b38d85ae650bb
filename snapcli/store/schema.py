"""Table schemas per (stage, table): required columns and, per column, type, nulls and allowed values.

What a table must hold to stand in for a stage's output. Checked where data enters or leaves a stage: `snap import`,
every table a stage reads (`Artifact.read_checked`, so also every `--from PATH`) and every table a stage writes
(`StageWriter.write_table`). A bad value is named where it enters (column, first bad row, rule), not where it
breaks training three stages later (issue 14: integer questions, all-null questions and split="bogus" were
published and trained on).

Each stage module registers its tables at import:

    register_table_schema("filter", "forget", [
        Column("question", "string", nullable=False, blank=False),
        Column("split", "string", nullable=False, allowed=("train", "eval")),
        "prompt_category",                      # a plain name: required, any type
    ], min_rows=1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from snapcli.errors import SnapError

TYPES = ("any", "string", "integer", "number", "boolean", "list")


@dataclass(frozen=True)
class Column:
    """One column's rule. `type`: any | string | integer | number (int or float) | boolean | list.

    nullable=False: no nulls; blank=False (strings): no "" or whitespace-only values; allowed: the values a
    string column may take; minimum/maximum: inclusive bounds of a numeric column.
    """

    name: str
    type: str = "any"
    nullable: bool = True
    blank: bool = True
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown column type {self.type!r} (choose from {', '.join(TYPES)})")
        if self.allowed is not None:
            object.__setattr__(self, "allowed", tuple(self.allowed))

    def describe(self) -> str:
        """The rule in words, e.g. 'a non-null, non-blank string' or 'an integer >= 0'."""
        noun = {"any": "value", "string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
                "list": "list"}[self.type]
        quals = (["non-null"] if not self.nullable else []) + (
            ["non-blank"] if not self.blank and self.type == "string" else [])
        phrase = f"{', '.join(quals)} {noun}" if quals else noun
        text = ("an " if phrase[0] in "aeiou" else "a ") + phrase
        if self.allowed is not None:
            text += f" in {{{', '.join(self.allowed)}}}"
        if self.minimum is not None and self.maximum is not None:
            text += f" in [{self.minimum:g}, {self.maximum:g}]"
        elif self.minimum is not None:
            text += f" >= {self.minimum:g}"
        elif self.maximum is not None:
            text += f" <= {self.maximum:g}"
        return text


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[Column, ...]
    min_rows: int = 0

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_SCHEMAS: dict[tuple[str, str], TableSchema] = {}
# Stage modules register their schemas when imported; a reader of another stage's table may not have imported
# it (filter reads generate's questions), so the stages package installs a loader that imports it on demand.
_LOADER: Callable[[str], None] | None = None


def set_schema_loader(loader: Callable[[str], None]) -> None:
    """`loader(stage)` imports the module that registers `stage`'s tables (installed by snapcli.stages)."""
    global _LOADER
    _LOADER = loader


def _lookup(stage: str, table: str) -> TableSchema | None:
    schema = _SCHEMAS.get((stage, table))
    if schema is None and _LOADER is not None:
        _LOADER(stage)
        schema = _SCHEMAS.get((stage, table))
    return schema


def register_table_schema(stage: str, table: str, columns: Sequence[str | Column], *, min_rows: int = 0) -> None:
    """Declare (stage, table)'s required columns; a plain name requires the column with any type and nulls."""
    cols = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
    _SCHEMAS[(stage, table)] = TableSchema(cols, min_rows)


def table_schema(stage: str, table: str) -> TableSchema | None:
    return _lookup(stage, table)


def required_columns(stage: str, table: str) -> list[str] | None:
    s = _lookup(stage, table)
    return s.names if s else None


def stage_tables(stage: str) -> list[str]:
    return [t for (s, t) in _SCHEMAS if s == stage]


def known_stages() -> list[str]:
    return sorted({s for (s, _) in _SCHEMAS})


def validate_table(
    stage: str, table: str, tbl: pa.Table, source: str = "", *, need: Sequence[str] | None = None,
) -> None:
    """Raise a one-line SnapError naming the table, the column, the first bad row (0-based) and the rule broken.

    Checks, in order: missing and duplicated columns, the minimum row count, then per registered column its
    Arrow type, nulls, blank strings, allowed values and numeric bounds. Columns not registered pass untouched.
    `need`: a reader that uses only some columns (train needs question and response) requires just those; the
    other registered columns are still checked when present.
    """
    schema = _lookup(stage, table)
    if schema is None:
        return
    where = f"table '{table}'" + (f" in {source}" if source else "")
    required = schema.names if need is None else list(need)
    missing = [c for c in required if c not in tbl.column_names]
    if missing:
        raise SnapError(
            f"{where} is missing column(s) {', '.join(missing)} required by stage '{stage}' "
            f"(has: {', '.join(tbl.column_names) or 'none'})"
        )
    dup = sorted({c for c in tbl.column_names if tbl.column_names.count(c) > 1})
    if dup:
        raise SnapError(f"{where} has column '{dup[0]}' {tbl.column_names.count(dup[0])} times; names must be unique")
    if tbl.num_rows < schema.min_rows:
        raise SnapError(f"{where} has {tbl.num_rows} row(s); stage '{stage}' needs at least {schema.min_rows}")
    for col in schema.columns:
        if col.name not in tbl.column_names:
            continue
        problem = _check_column(col, tbl.column(col.name))
        if problem:
            raise SnapError(f"{where}, column '{col.name}', {problem}: must be {col.describe()}")


def _type_ok(rule: str, t: pa.DataType) -> bool:
    if rule == "any" or pa.types.is_null(t):  # an all-null column has no type; the null rule decides
        return True
    if pa.types.is_dictionary(t):
        t = t.value_type
    if rule == "string":
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if rule == "integer":
        return pa.types.is_integer(t)
    if rule == "number":
        return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if rule == "boolean":
        return pa.types.is_boolean(t)
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _first(mask: pa.ChunkedArray) -> int | None:
    """Index of the first True in a boolean array (nulls count as False)."""
    idx = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if idx is None or idx < 0 else idx


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_column(col: Column, arr: pa.ChunkedArray) -> str | None:
    if not _type_ok(col.type, arr.type):
        i = _first(pc.is_valid(arr))
        value = f" is {_show(arr[i].as_py())}" if i is not None else ""
        return f"row {i if i is not None else 0}{value} (type {arr.type})"
    if not col.nullable and arr.null_count:
        return f"row {_first(pc.is_null(arr))} is null"
    if pa.types.is_null(arr.type) or col.type == "any":
        return None
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if col.type == "string" and not col.blank:
        i = _first(pc.equal(pc.utf8_trim_whitespace(arr), ""))
        if i is not None:
            return f"row {i} is {_show(arr[i].as_py())}"
    if col.allowed is not None:
        i = _first(pc.invert(pc.is_in(arr, value_set=pa.array(col.allowed, type=arr.type))))
        if i is not None:
            return f"row {i} is {_show(arr[i].as_py())}"
    if col.type in ("integer", "number"):
        if col.type == "number" and pa.types.is_floating(arr.type):
            i = _first(pc.is_nan(arr))
            if i is not None:
                return f"row {i} is NaN"
        for bound, op in ((col.minimum, pc.less), (col.maximum, pc.greater)):
            if bound is not None:
                i = _first(op(pc.cast(arr, pa.float64()), bound))
                if i is not None:
                    return f"row {i} is {_show(arr[i].as_py())}"
    return None
