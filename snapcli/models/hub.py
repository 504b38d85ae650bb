"""Is the Hugging Face hub reachable? The one probe snap uses (model loading, lm-eval tasks, datasets): env flags
first, then one TCP connect bounded by a timeout, so offline machines fail fast instead of retrying for a minute.

The connect runs in a daemon thread joined with a deadline because DNS resolution ignores socket timeouts: on a
machine with a black-holed resolver a plain create_connection can hang far longer than the timeout.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlparse

HUB_CHECK_TIMEOUT_S = 3.0
OFFLINE_ENV = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass(frozen=True)
class HubStatus:
    online: bool
    reason: str


def hub_status(timeout: float = HUB_CHECK_TIMEOUT_S) -> HubStatus:
    """Reachability of HF_ENDPOINT (default huggingface.co), with the reason shown to users."""
    for var in OFFLINE_ENV:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return HubStatus(False, f"{var} is set")
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    outcome: dict[str, str] = {}

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["ok"] = ""
        except OSError as e:
            outcome["error"] = type(e).__name__

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    if "ok" in outcome:
        return HubStatus(True, f"{host}:{port} reachable")
    why = outcome.get("error") or f"no answer within {timeout:g}s"
    return HubStatus(False, f"{host}:{port} not reachable ({why})")


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """hub_status().online, asked once per process."""
    return hub_status().online
