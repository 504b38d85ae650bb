"""The versioned workspace: <ws>/<stage>/vNNNN/{manifest.json, *.parquet}, published atomically."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from snapcli.errors import SnapError
from snapcli.store.artifact import Artifact, plain_artifact, read_table_file
from snapcli.store.atomic import write_text
from snapcli.store.hashing import file_sha256, json_sha256, tree_sha256
from snapcli.store.manifest import MANIFEST, base_manifest, now_iso, read_manifest, scrub
from snapcli.store.schema import validate_table
from snapcli.store.text import fix_value

_VERSION = re.compile(r"^v(\d{4,})$")
_STAGE = re.compile(r"^[a-z][a-z0-9_-]*$")
STAGING = ".staging"
LOCK = "snap.lock"
RUNS = "runs"


class StageWriter:
    """Collects a stage's outputs in a private staging dir until the stage succeeds."""

    def __init__(self, stage: str, staging: Path, manifest: dict[str, Any]):
        self.stage = stage
        self.dir = staging
        self.manifest = manifest
        self.extra: dict[str, Any] = manifest["extra"]

    def write_table(self, name: str, table: pa.Table | pd.DataFrame) -> Path:
        """Check `table` against the stage's schema (snapcli.store.schema) and write it as <name>.parquet."""
        if isinstance(table, pd.DataFrame):
            table = _frame_to_arrow(table)
        validate_table(self.stage, name, table, source=f"{self.stage} output")
        path = self.dir / f"{name}.parquet"
        pq.write_table(table, path)
        return path


def _frame_to_arrow(df: pd.DataFrame) -> pa.Table:
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except UnicodeEncodeError:  # lone surrogates in object columns: U+FFFD, as everywhere text is written
        fixed = df.copy()
        for c in fixed.columns:
            if fixed[c].dtype == object:
                fixed[c] = [fix_value(v)[0] for v in fixed[c]]
        return pa.Table.from_pandas(fixed, preserve_index=False)


class Workspace:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    # ----------------------------------------------------------------- path checks (issue 14)
    def check_readable(self) -> bool:
        """True if the workspace exists; False if it does not yet (readers see it as empty and create nothing).

        SnapError when the path exists but cannot be a workspace: a regular file, a broken symlink or loop.
        """
        if self.root.is_dir():
            return True
        if os.path.lexists(self.root):
            what = "a broken symlink or a symlink loop" if self.root.is_symlink() else "not a directory"
            raise SnapError(f"workspace {self.root} is not a writable directory ({what})")
        return False

    def ensure_writable(self) -> None:
        """Create the workspace if needed and prove a file can be made in it; else SnapError naming the path.

        A regular file, a read-only mount or a pseudo-filesystem (/proc) all fail here, before any work starts.
        """
        self.check_readable()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise SnapError(f"workspace {self.root} is not a writable directory ({e.strerror or e})") from None

    # ----------------------------------------------------------------- listing
    def stages(self) -> list[str]:
        if not self.check_readable():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and _STAGE.match(p.name) and p.name not in ("cache", RUNS))

    def versions(self, stage: str) -> list[str]:
        d = self.root / stage
        if not self.check_readable() or not d.is_dir():
            return []
        return sorted((p.name for p in d.iterdir() if p.is_dir() and _VERSION.match(p.name)), key=lambda v: int(v[1:]))

    def artifacts(self, stage: str | None = None) -> list[Artifact]:
        stages = [stage] if stage else self.stages()
        return [self.load(s, v) for s in stages for v in self.versions(s)]

    def latest(self, stage: str) -> str | None:
        pointer = self.root / stage / "latest"
        if pointer.is_file():
            v = pointer.read_text().strip()
            if (self.root / stage / v).is_dir():
                return v
        vs = self.versions(stage)
        return vs[-1] if vs else None

    def load(self, stage: str, version: str) -> Artifact:
        path = self.root / stage / version
        mf = read_manifest(path)
        return Artifact(path=path, stage=stage, version=version, manifest=mf, content_hash=mf.get("content_hash", ""))

    def find_derived(self, stage: str, input_name: str, source: Artifact) -> Artifact | None:
        """Latest `stage` artifact whose input `input_name` had `source`'s content (e.g. the augment of a filter)."""
        for art in reversed(self.artifacts(stage)):
            inp = art.manifest.get("inputs", {}).get(input_name) or {}
            if inp.get("content_hash") == source.content_hash:
                return art
        return None

    # ---------------------------------------------------------------- refs
    def resolve(self, ref: str | Path | Artifact) -> Artifact:
        """stage@latest | stage@vN | stage@<hash-prefix> | stage | path to Parquet file/dir/version dir."""
        if isinstance(ref, Artifact):
            return ref
        text = str(ref).strip()
        if not text:
            raise SnapError("empty artifact ref")
        if "@" in text and not os.path.exists(text):
            stage, _, sel = text.partition("@")
            return self._resolve_in_stage(stage, sel, text)
        path = Path(text).expanduser()
        if path.exists():
            if path.is_dir() and (path / MANIFEST).exists():
                mf = read_manifest(path)
                return Artifact(path=path, stage=mf["stage"], version=mf["version"], manifest=mf,
                                content_hash=mf.get("content_hash", ""))
            return plain_artifact(path)
        if _STAGE.match(text) and text in self.stages():
            return self._resolve_in_stage(text, "latest", text)
        raise SnapError(f"unknown ref '{text}': no such file, and not of the form stage@latest|stage@vN|stage@<hash>")

    def _resolve_in_stage(self, stage: str, sel: str, text: str) -> Artifact:
        versions = self.versions(stage)
        if not versions:
            raise SnapError(f"unknown ref '{text}': workspace {self.root} has no '{stage}' artifacts")
        if sel in ("", "latest"):
            return self.load(stage, self.latest(stage))  # type: ignore[arg-type]
        m = re.fullmatch(r"v?(\d+)", sel)
        if m:
            v = f"v{int(m.group(1)):04d}"
            if v not in versions:
                raise SnapError(f"unknown ref '{text}': '{stage}' has versions {versions[0]}..{versions[-1]}")
            return self.load(stage, v)
        if re.fullmatch(r"[0-9a-f]{4,64}", sel):
            hits = [a for a in self.artifacts(stage) if a.content_hash.startswith(sel)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise SnapError(f"ambiguous ref '{text}': matches {', '.join(a.ref for a in hits)}")
        raise SnapError(f"unknown ref '{text}': no '{stage}' version or hash prefix '{sel}'")

    # ---------------------------------------------------------------- writing
    @contextlib.contextmanager
    def lock(self, timeout: float = 600.0) -> Iterator[None]:
        """Advisory writer lock (filelock), held only while a version number is claimed and published."""
        from filelock import FileLock, Timeout

        self.ensure_writable()
        try:
            with FileLock(str(self.root / LOCK), timeout=timeout):
                yield
        except Timeout:
            raise SnapError(f"workspace {self.root} is locked by another snap process") from None

    @staticmethod
    def cache_key(stage: str, params: dict[str, Any], inputs: dict[str, Artifact]) -> str:
        return json_sha256(
            {"stage": stage, "params": scrub(params), "inputs": {k: a.content_hash for k, a in sorted(inputs.items())}}
        )

    def find_cached(self, stage: str, key: str) -> Artifact | None:
        for art in reversed(self.artifacts(stage)):
            if art.manifest.get("cache_key") == key:
                art.cached = True
                return art
        return None

    def run_stage(
        self,
        stage: str,
        *,
        params: dict[str, Any],
        inputs: dict[str, Artifact] | None = None,
        fn: Callable[[StageWriter], Any],
        force: bool = False,
        seed: int | None = None,
        spec: dict[str, Any] | None = None,
    ) -> Artifact:
        """Reuse a cached version, or run `fn` in a staging dir and publish its outputs atomically.

        `spec` (the stage spec's public options) is recorded in the manifest so `snap <stage> -c REF` can replay
        the run; it is not part of the cache key (`params` is)."""
        if not _STAGE.match(stage):
            raise SnapError(f"invalid stage name '{stage}'")
        inputs = inputs or {}
        key = self.cache_key(stage, params, inputs)
        if not force and (hit := self.find_cached(stage, key)):
            return hit
        manifest = base_manifest(stage, params, seed)
        manifest["cache_key"] = key
        if spec is not None:
            manifest["spec"] = scrub(spec)
        manifest["inputs"] = {
            name: {"ref": a.ref, "stage": a.stage, "version": a.version, "content_hash": a.content_hash,
                   "path": str(a.path) if a.is_plain else None}
            for name, a in inputs.items()
        }
        created = [d for d in (self.root, *self.root.parents) if not os.path.lexists(d)]  # deepest first
        self.ensure_writable()
        parent = self.root / STAGING
        made_parent = not parent.exists()
        staging = parent / f"{stage}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        t0 = time.monotonic()
        published = False
        try:
            writer = StageWriter(stage, staging, manifest)
            fn(writer)
            manifest["finished_at"] = now_iso()
            manifest["duration_s"] = round(time.monotonic() - t0, 3)
            art = self._publish(stage, staging, manifest)
            published = True
            return art
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
            # a failed run leaves nothing behind that it created (finished LLM replies in cache/ stay)
            for d in ([parent] if made_parent else []) + ([] if published else created):
                with contextlib.suppress(OSError):
                    d.rmdir()  # only if empty

    def _publish(self, stage: str, staging: Path, manifest: dict[str, Any]) -> Artifact:
        outputs, hashes = [], {}
        for p in sorted(staging.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(staging).as_posix()
            digest = file_sha256(p)
            hashes[rel] = digest
            entry: dict[str, Any] = {"path": rel, "sha256": digest, "bytes": p.stat().st_size}
            if p.suffix == ".parquet" and "/" not in rel:
                meta = pq.ParquetFile(p)
                entry["rows"] = meta.metadata.num_rows
                entry["schema"] = [{"name": f.name, "type": str(f.type)} for f in meta.schema_arrow]
            outputs.append(entry)
        manifest["outputs"] = outputs
        manifest["content_hash"] = tree_sha256(hashes)
        manifest["extra"] = scrub(manifest["extra"])
        with self.lock():
            versions = self.versions(stage)
            n = int(versions[-1][1:]) + 1 if versions else 1
            version = f"v{n:04d}"
            manifest["version"] = version
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
            dest = self.root / stage / version
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, dest)
            write_text(self.root / stage / "latest", version)
        return Artifact(path=dest, stage=stage, version=version, manifest=manifest,
                        content_hash=manifest["content_hash"])

    def import_table(self, path: Path, stage: str, table: str) -> Artifact:
        """Register a hand-made Parquet (or JSONL/CSV) file as a new version of `stage` (schema checked)."""
        path = Path(path)
        if path.is_file() and path.suffix != ".parquet":
            tbl = read_table_file(path)
            src = Artifact(path=path, content_hash=file_sha256(path))
        else:
            src = plain_artifact(path)
            tbl = src.read_table(table)
        validate_table(stage, table, tbl, source=str(path))

        def write(w: StageWriter) -> None:
            w.write_table(table, tbl)

        return self.run_stage(
            stage, params={"imported_from": Path(path).name, "table": table}, inputs={"source": src}, fn=write
        )

    # ---------------------------------------------------------------- run log
    def write_run_log(self, record: dict[str, Any]) -> Path:
        """`snap run` keeps one JSON file per run under <ws>/runs/ (what ran, what was reused, the config): the
        run log, not an artifact (nothing is cached on it). Returns its path."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        path = self.root / RUNS / f"{stamp}-{os.getpid()}.json"
        write_text(path, json.dumps(scrub(record), indent=2, default=str))
        return path

    def run_logs(self) -> list[Path]:
        """Run log files, oldest first."""
        d = self.root / RUNS
        return sorted(d.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name)) if d.is_dir() else []

    def last_run_log(self) -> dict[str, Any] | None:
        for p in reversed(self.run_logs()):
            try:
                return json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
        return None

    def scratch_dir(self, stage: str, key: str) -> Path:
        """Per-run working files that must survive a killed run (e.g. training checkpoints); not an artifact."""
        return self.root / ".scratch" / stage / key

    # ---------------------------------------------------------------- gc
    def gc_plan(self) -> tuple[list[Artifact], list[Path]]:
        """Versions nothing points at (not latest, not an input of a kept one), and stale staging dirs."""
        all_arts = self.artifacts()
        by_ref = {a.ref: a for a in all_arts}
        keep: set[str] = set()
        stack = [f"{s}@{self.latest(s)}" for s in self.stages() if self.latest(s)]
        # everything that is an input of any artifact is kept too: removing it would orphan lineage
        for a in all_arts:
            for inp in a.manifest.get("inputs", {}).values():
                if inp.get("stage") and inp.get("version"):
                    stack.append(f"{inp['stage']}@{inp['version']}")
        while stack:
            ref = stack.pop()
            if ref in keep or ref not in by_ref:
                continue
            keep.add(ref)
            for inp in by_ref[ref].manifest.get("inputs", {}).values():
                if inp.get("stage") and inp.get("version"):
                    stack.append(f"{inp['stage']}@{inp['version']}")
        remove = [a for a in all_arts if a.ref not in keep]
        stale = []
        staging = self.root / STAGING
        if staging.is_dir():
            for d in staging.iterdir():
                pid = d.name.split("-")[-2] if d.name.count("-") >= 2 else ""
                if not (pid.isdigit() and _alive(int(pid))):
                    stale.append(d)
        return remove, stale

    def gc(self, apply: bool = False) -> tuple[list[Artifact], list[Path]]:
        remove, stale = self.gc_plan()
        if apply and (remove or stale):  # nothing to delete: take no lock, create nothing
            with self.lock():
                for a in remove:
                    shutil.rmtree(a.path)
                for d in stale:
                    shutil.rmtree(d, ignore_errors=True)
        return remove, stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
