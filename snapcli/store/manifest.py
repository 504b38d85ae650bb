"""Manifest contents: enough to reproduce and audit a run, and never a secret."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from snapcli import __version__
from snapcli.errors import SnapError

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1
_SECRET_KEY = re.compile(r"(api[_-]?key|token(?!s|izer)|secret|password|passwd|authorization|credential)", re.I)
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,})")


def scrub(obj: Any) -> Any:
    """Drop secret-looking keys and mask secret-looking values, recursively."""
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(obj, (list, tuple)):
        return [scrub(v) for v in obj]
    if isinstance(obj, str):
        obj = _SECRET_VALUE.sub("***", obj)
        for name, value in os.environ.items():
            if _SECRET_KEY.search(name) and value and len(value) >= 6 and value in obj:
                obj = obj.replace(value, "***")
        return obj
    return obj


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so manifests and --json output stay valid JSON."""
    import math

    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    """The commit of snap's own checkout, if it runs from one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


_HOST: dict[str, Any] | None = None


def host_summary() -> dict[str, Any]:
    global _HOST
    if _HOST is None:
        info: dict[str, Any] = {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
        try:
            import torch

            info["torch"] = torch.__version__
            if torch.cuda.is_available():
                info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        _HOST = info
    return dict(_HOST)


def read_manifest(path: Path) -> dict[str, Any]:
    """Load and sanity-check a manifest; a broken one is a clear exit-2 error."""
    mf = path / MANIFEST
    try:
        data = json.loads(mf.read_text())
    except FileNotFoundError:
        raise SnapError(f"artifact {path} has no {MANIFEST}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SnapError(f"corrupted manifest {mf}: {e}") from None
    if not isinstance(data, dict) or not {"stage", "version", "outputs"} <= data.keys():
        raise SnapError(f"corrupted manifest {mf}: missing stage/version/outputs")
    return data


def base_manifest(stage: str, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    return {
        "manifest_schema": MANIFEST_SCHEMA,
        "stage": stage,
        "version": None,
        "params": scrub(params),
        "inputs": {},
        "outputs": [],
        "snap_version": __version__,
        "git_commit": git_commit(),
        "seed": seed,
        "started_at": now_iso(),
        "host": host_summary(),
        "extra": {},
    }
