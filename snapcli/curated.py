"""Curated example sets shipped inside the package (snapcli/data/curated/<name>/).

Why they exist: the embedded 135M model is too weak a question writer to build a usable forget/retain set on its
own, so the offline demo starts from a set the snap authors wrote by hand (clearly labelled `source="curated"`).
Each set is JSONL whose rows have exactly the columns of the stage tables they stand in for (filter `forget`,
augment `retain`), so `import_example` can publish them as ordinary stage artifacts that train/eval consume.
The files live in the package (found with importlib.resources) so this works from a checkout and from a wheel.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import TYPE_CHECKING, Any

import pandas as pd

from snapcli.errors import SnapError

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; the annotation only
    from importlib.abc import Traversable

# example table -> (stage it stands in for, table name in that stage, exact columns, allowed categories)
EXAMPLE_TABLES: dict[str, tuple[str, str, list[str], set[str]]] = {
    "forget": (
        "filter", "forget",
        ["entity", "question", "response", "prompt_category", "category", "split", "source"],
        {"factual", "relational", "open-ended", "implicit", "multi-hop"},
    ),
    "retain": (
        "augment", "retain",
        ["entity", "subject", "question", "response", "category", "split", "source"],
        {"factual", "relational", "open-ended", "implicit"},
    ),
}
SPLITS = {"train", "eval"}
PROMPT_CATEGORIES = {"general", "5w1h", "relational", "open-ended", "implicit", "multi-hop"}


def examples_root() -> Traversable:
    return resources.files("snapcli").joinpath("data", "curated")


def list_examples() -> list[str]:
    """Names of the shipped example sets (directories holding at least one example table)."""
    root = examples_root()
    if not root.is_dir():
        return []
    return sorted(
        d.name for d in root.iterdir()
        if d.is_dir() and any(d.joinpath(f"{t}.jsonl").is_file() for t in EXAMPLE_TABLES)
    )


def _example_dir(name: str) -> Traversable:
    names = list_examples()
    if name not in names:
        raise SnapError(f"unknown example set '{name}' (available: {', '.join(names) or 'none'})")
    return examples_root().joinpath(name)


def _read_jsonl(f: Traversable, where: str) -> pd.DataFrame:
    import json

    rows = []
    for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SnapError(f"{where} line {i} is not valid JSON: {e.msg}") from None
        if not isinstance(row, dict):
            raise SnapError(f"{where} line {i} is not a JSON object")
        rows.append(row)
    return pd.DataFrame(rows)


def validate_example_table(table: str, df: pd.DataFrame, where: str = "") -> None:
    """Exact columns, known categories and splits, no empty text: a set that passes can stand in for the stage."""
    where = where or table
    _, _, columns, categories = EXAMPLE_TABLES[table]
    if list(df.columns) != columns:
        missing = [c for c in columns if c not in df.columns]
        extra = [c for c in df.columns if c not in columns]
        raise SnapError(
            f"{where} has columns {', '.join(map(str, df.columns))}; expected exactly {', '.join(columns)}"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + (f" (unexpected: {', '.join(map(str, extra))})" if extra else "")
        )
    for col in ("entity", "question", "response"):
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            raise SnapError(f"{where} row {int(empty.idxmax())} has an empty '{col}'")
    bad_cat = sorted(set(df["category"]) - categories)
    if bad_cat:
        raise SnapError(f"{where} has unknown category {', '.join(bad_cat)} (allowed: {', '.join(sorted(categories))})")
    bad_split = sorted(set(df["split"]) - SPLITS)
    if bad_split:
        raise SnapError(f"{where} has unknown split {', '.join(bad_split)} (allowed: eval, train)")
    if "prompt_category" in df.columns:
        bad_pc = sorted(set(df["prompt_category"]) - PROMPT_CATEGORIES)
        if bad_pc:
            raise SnapError(f"{where} has unknown prompt_category {', '.join(bad_pc)}")
    if "multi-hop" in categories and ((df["category"] == "multi-hop") & (df["split"] == "train")).any():
        raise SnapError(f"{where} puts multi-hop questions in train; they are evaluation-only (paper, section 4.1)")
    dup = df["question"].duplicated()
    if dup.any():
        raise SnapError(f"{where} repeats the question {df['question'][dup].iloc[0]!r}")


def load_example(name: str) -> dict[str, pd.DataFrame]:
    """{"forget": DataFrame, "retain": DataFrame} for a shipped example set, validated."""
    d = _example_dir(name)
    out: dict[str, pd.DataFrame] = {}
    for table in EXAMPLE_TABLES:
        f = d.joinpath(f"{table}.jsonl")
        if f.is_file():
            df = _read_jsonl(f, f"example '{name}' {table}.jsonl")
            validate_example_table(table, df, f"example '{name}' {table}.jsonl")
            out[table] = df
    return out


def example_fingerprint(name: str) -> str:
    """sha256 over the set's files: enters the cache key so an edited set is re-imported, an unchanged one reused."""
    d = _example_dir(name)
    h = hashlib.sha256()
    for table in EXAMPLE_TABLES:
        f = d.joinpath(f"{table}.jsonl")
        if f.is_file():
            h.update(table.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def example_summary(name: str) -> dict[str, Any]:
    """Rows per table, split and category, and the entity: what `snap examples list` shows."""
    tables = load_example(name)
    info: dict[str, Any] = {"name": name, "fingerprint": example_fingerprint(name)[:12], "tables": {}}
    for t, df in tables.items():
        info["entity"] = sorted(df["entity"].unique().tolist())
        info["tables"][t] = {
            "stage": EXAMPLE_TABLES[t][0],
            "rows": len(df),
            "splits": {s: int(n) for s, n in df["split"].value_counts().sort_index().items()},
            "categories": {c: int(n) for c, n in df["category"].value_counts().sort_index().items()},
        }
    return info


def _forget_params(name: str) -> dict[str, Any]:
    return {"example": name, "example_sha256": example_fingerprint(name)}


def _retain_params(name: str, general: str | None, general_size: int, general_train: int) -> dict[str, Any]:
    params: dict[str, Any] = {"example": name, "example_sha256": example_fingerprint(name), "general": None}
    if general is not None:
        from snapcli.stages.augment import general_id

        params.update(general=general_id(general), general_size=general_size)
        if general_train:
            params["general_train"] = general_train
    return params


def cached_example(
    ws, name: str, *, general: str | None = "builtin", general_size: int = 300, general_train: int = 0,
    seed: int = 0,
) -> list[Any] | None:
    """[forget, retain] artifacts an earlier `import_example` with these arguments published, else None (the same
    cache keys import_example uses: what `snap run --dry-run` asks)."""
    forget = ws.find_cached("filter", ws.cache_key("filter", _forget_params(name), {}))
    if forget is None:
        return None
    key = ws.cache_key("augment", _retain_params(name, general, general_size, general_train), {"from": forget})
    retain = ws.find_cached("augment", key)
    return None if retain is None else [forget, retain]


def import_example(
    ws, name: str, *, general: str | None = "builtin", general_size: int = 300, general_train: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Publish an example set as stage artifacts: forget -> a `filter` version; retain (+ the general set D_g) ->
    an `augment` version whose `from` input is that filter version, exactly as `snap augment` would link them,
    so `snap train --from filter@latest` finds its retain data by itself.

    Returns {"forget": Artifact, "retain": Artifact}. Cached like any stage: importing an unchanged set twice
    reuses the first versions. `general=None` leaves the general table out (e.g. to add your own later).
    """
    tables = load_example(name)
    tag = {"name": name, "fingerprint": example_fingerprint(name), "source": "curated"}
    forget_df = tables["forget"]

    def write_forget(w) -> None:
        w.write_table("forget", forget_df)
        w.extra["example"] = tag

    forget = ws.run_stage("filter", params=_forget_params(name), fn=write_forget, seed=seed)
    arts: dict[str, Any] = {"forget": forget}
    if "retain" not in tables:
        return arts
    gen_df = None
    if general is not None:
        from snapcli.stages.augment import general_table

        gen_df, gen_info = general_table(general, general_size, seed, general_train)
        tag = {**tag, "general": gen_info}
    retain_df = tables["retain"]

    def write_retain(w) -> None:
        w.write_table("retain", retain_df)
        if gen_df is not None:
            w.write_table("general", gen_df)
        w.extra["example"] = tag

    arts["retain"] = ws.run_stage("augment", params=_retain_params(name, general, general_size, general_train),
                                  inputs={"from": forget}, fn=write_retain, seed=seed)
    return arts
