"""Request/response cache under the workspace: one small JSON file per request, written atomically.

One file per entry (not one big file) means a run killed mid-way keeps every reply that finished, and two
processes never corrupt each other's entries. The key covers backend identity, model, messages and sampling.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from snapcli.store.hashing import json_sha256
from snapcli.store.text import fix_value


class LLMCache:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    @staticmethod
    def key(identity: dict[str, Any], model: str, messages: list[dict[str, str]], sampling: Any) -> str:
        params = asdict(sampling) if is_dataclass(sampling) else dict(sampling)
        return json_sha256({"identity": identity, "model": model, "messages": messages, "sampling": params})

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached entry, or None when absent, unreadable or without a text."""
        p = self._path(key)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("text"), str) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Write one entry atomically; lone surrogates in any string become U+FFFD (JSON in UTF-8 cannot hold them)."""
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
        tmp.write_text(json.dumps(fix_value(value)[0], ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, p)

    def __bool__(self) -> bool:
        return True  # an empty cache is still a cache; and `if cache:` must not count the files (a glob)

    def __len__(self) -> int:
        """Number of entries (globs the directory: for tests and stats, not for hot paths)."""
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
