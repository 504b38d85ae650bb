"""Content hashes of model weights, so a LoRA adapter knows whether its base model is still the one it was
trained on, and a training run's cache key covers the weights it started from (not only their name).

The hash is sha256 over (relative file name -> file sha256) of the weight files plus config.json /
adapter_config.json (snapcli.store.hashing.tree_sha256). Each file is read once: its sha256 is cached in
SNAP_HOME/cache/weights/, keyed by the file's absolute path, size and mtime, so later calls only stat the files
(a 14 GB 7B model is hashed once, ~1 min, then answers in milliseconds).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from snapcli.store.hashing import file_sha256, json_sha256, tree_sha256

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
CONFIG_FILES = ("config.json", "adapter_config.json")


def local_model_dir(path_or_id: str) -> Path | None:
    """The directory holding a model's files: a local dir as is, a hub id's snapshot in the local Hugging Face
    cache (no network), or None when neither exists."""
    p = Path(path_or_id).expanduser()
    if p.is_dir():
        return p.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=path_or_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not a cached hub repo (or not a valid id): nothing local to hash
        return None


def weight_files(model_dir: Path) -> list[Path]:
    """The files whose content defines the model: weights (any depth) and its config."""
    out = [p for p in model_dir.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES]
    out += [model_dir / c for c in CONFIG_FILES if (model_dir / c).is_file()]
    return sorted(set(out))


def _cache_path(path: Path) -> Path:
    from snapcli.models.registry import snap_home

    return snap_home() / "cache" / "weights" / f"{json_sha256(str(path))[:32]}.json"


def cached_file_sha256(path: Path) -> str:
    """file_sha256, cached per (absolute path, size, mtime)."""
    path = path.resolve()
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns]
    cache = _cache_path(path)
    try:
        rec = json.loads(cache.read_text())
        if rec.get("stamp") == stamp and rec.get("path") == str(path):
            return rec["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = file_sha256(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"path": str(path), "stamp": stamp, "sha256": digest}))
        os.replace(tmp, cache)
    except OSError:  # a read-only SNAP_HOME only costs a re-hash next time
        pass
    return digest


def weights_sha256(path_or_id: str) -> str | None:
    """Content hash of a model's weights (see the module doc); None when its files are not on this machine."""
    d = local_model_dir(path_or_id)
    if d is None:
        return None
    files = weight_files(d)
    if not files:
        return None
    return tree_sha256({p.relative_to(d).as_posix(): cached_file_sha256(p) for p in files})
