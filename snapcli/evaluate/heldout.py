"""Held-out evaluation sets: questions written independently of everything snap generates (issue 11, item 6).

snap's quality claims are measured on questions its training data never saw. A held-out set is either

- a YAML file in the format of `benchmarks/heldout/*.yaml`: `target: {name, kind, aliases}`, `forget: [{question,
  category, variant, facts}]`, `retain: [{question, answer, subject, why, variant}]`, `general: [{question,
  answer, category, variant}]` (variant: plain, the default, or translate-de|fr|es|zh); or
- the name of a curated set shipped with snap (`bill-gates`), whose forget and retain rows are all used (their
  train/eval split is ignored: the pipeline never trains on a held-out set).

`import_heldout` publishes it as a `heldout` artifact with the tables eval reads: `forget` (entity, question,
category, prompt_category, variant, facts, split=eval), `retain` (entity, subject, question, response = the gold
answer, category, variant, split=eval) and `general` (question, response, category, variant, split=eval) when the
set has one. The variant column lets a report split RA and TA by language: a model that learned "refuse anything
in Spanish" would pass an English-only retain set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.store.hashing import file_sha256, json_sha256
from snapcli.store.schema import register_table_schema

STAGE = "heldout"
FORGET_CATEGORIES = {"factual", "relational", "open-ended", "implicit", "multi-hop"}
register_table_schema(STAGE, "forget", ["entity", "question", "category", "split"])
register_table_schema(STAGE, "retain", ["entity", "question", "response", "category", "split"])
register_table_schema(STAGE, "general", ["question", "response", "category", "split"])


@dataclass
class HeldOut:
    name: str  # what reports call it ("marie-curie", "bill-gates")
    target: str
    kind: str | None
    aliases: list[str]
    tables: dict[str, pd.DataFrame]
    fingerprint: str


def load_heldout(source: str) -> HeldOut:
    """A held-out YAML file or a curated set name -> its tables (SnapError naming the problem otherwise)."""
    p = Path(source).expanduser()
    if p.suffix.lower() in (".yaml", ".yml"):
        if not p.is_file():
            raise SnapError(f"held-out set {p} does not exist")
        return _from_yaml(p)
    from snapcli.curated import example_fingerprint, list_examples, load_example

    if source not in list_examples():
        raise SnapError(f"held-out set '{source}' is neither a .yaml file nor a curated set "
                        f"({', '.join(list_examples()) or 'none shipped'})")
    tabs = load_example(source)
    forget = tabs["forget"].assign(split="eval")
    target = str(forget["entity"].iloc[0])
    tables = {"forget": forget.assign(variant="plain")[["entity", "question", "category", "prompt_category",
                                                        "variant", "split"]]}
    if "retain" in tabs:
        tables["retain"] = tabs["retain"].assign(split="eval")[["entity", "subject", "question", "response",
                                                                 "category", "split"]]
    return HeldOut(source, target, "person", [], tables, "curated:" + example_fingerprint(source))


def _from_yaml(p: Path) -> HeldOut:
    import yaml

    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SnapError(f"{p} is not valid YAML: {' '.join(str(e).split())[:160]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("target"), dict) or not doc["target"].get("name"):
        raise SnapError(f"{p}: expected `target: {{name, kind, aliases}}` and forget/retain/general lists")
    t = doc["target"]
    name = str(t["name"]).strip()
    rows = _rows(doc, "forget", p, ["question", "category"])
    bad = sorted({r["category"] for r in rows} - FORGET_CATEGORIES)
    if bad:
        raise SnapError(f"{p}: forget has unknown categories {', '.join(bad)}")
    forget = pd.DataFrame({
        "entity": name, "question": [str(r["question"]) for r in rows],
        "category": [r["category"] for r in rows],
        "prompt_category": ["multi-hop" if r["category"] == "multi-hop" else "general" for r in rows],
        "variant": [str(r.get("variant") or "plain") for r in rows],
        "facts": [[str(f) for f in (r.get("facts") or [])] for r in rows], "split": "eval"})
    tables = {"forget": forget}
    if doc.get("retain"):
        rr = _rows(doc, "retain", p, ["question", "answer"])
        tables["retain"] = pd.DataFrame({
            "entity": name, "subject": [str(r.get("subject") or "") for r in rr],
            "question": [str(r["question"]) for r in rr], "response": [str(r["answer"]) for r in rr],
            "category": "factual", "variant": [str(r.get("variant") or "plain") for r in rr], "split": "eval"})
    if doc.get("general"):
        gr = _rows(doc, "general", p, ["question", "answer"])
        tables["general"] = pd.DataFrame({
            "question": [str(r["question"]) for r in gr], "response": [str(r["answer"]) for r in gr],
            "category": [str(r.get("category") or "general") for r in gr],
            "variant": [str(r.get("variant") or "plain") for r in gr], "split": "eval"})
    aliases = [str(a) for a in (t.get("aliases") or [])]
    return HeldOut(p.stem, name, t.get("kind"), aliases, tables, "file:" + file_sha256(p))


def _rows(doc: dict[str, Any], key: str, p: Path, need: list[str]) -> list[dict[str, Any]]:
    rows = doc.get(key) or []
    if not isinstance(rows, list) or not rows:
        raise SnapError(f"{p}: `{key}` must be a non-empty list")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or any(not str(r.get(k) or "").strip() for k in need):
            raise SnapError(f"{p}: {key} item {i + 1} needs {', '.join(need)}")
    return rows


def heldout_params(h: HeldOut) -> dict[str, Any]:
    return {"heldout": h.name, "fingerprint": h.fingerprint}


def cached_heldout(ws, source: str):
    """The heldout artifact an earlier import of `source` published, else None (what --dry-run asks)."""
    h = load_heldout(source)
    return ws.find_cached(STAGE, ws.cache_key(STAGE, heldout_params(h), {}))


def import_heldout(ws, source: str):
    """Publish a held-out set as a `heldout` artifact (cached on its content)."""
    h = load_heldout(source)

    def write(w) -> None:
        for name, df in h.tables.items():
            w.write_table(name, df)
        w.extra["heldout"] = {"name": h.name, "target": h.target, "kind": h.kind, "aliases": h.aliases,
                              "rows": {k: len(v) for k, v in h.tables.items()},
                              "fingerprint": json_sha256(h.fingerprint)}

    return ws.run_stage(STAGE, params=heldout_params(h), fn=write)
