"""`snap train --accelerate-config PRESET --num-processes N`: re-run the same command under `accelerate launch`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

from snapcli.errors import SnapError

LAUNCHED_ENV = "SNAP_ACCELERATE_LAUNCHED"
PRESETS = ("single", "ddp", "zero2", "zero3")
_OWN_FLAGS = {"--accelerate-config", "--num-processes"}
_GLOBAL_VALUED = {"--workspace", "-w"}


def preset_path(name: str) -> Path:
    """A shipped preset (single, ddp, zero2, zero3) or the user's own accelerate config file."""
    if name in PRESETS:
        return Path(str(resources.files("snapcli") / "presets" / "accelerate" / f"{name}.yaml"))
    p = Path(name).expanduser()
    if p.is_file():
        return p
    raise SnapError(f"unknown --accelerate-config '{name}' (presets: {', '.join(PRESETS)}, or a path to a yaml)")


def preset_zero_stage(path: Path) -> int | None:
    import yaml

    cfg = yaml.safe_load(path.read_text()) or {}
    if cfg.get("distributed_type") != "DEEPSPEED":
        return None
    return int((cfg.get("deepspeed_config") or {}).get("zero_stage", 2))


def child_args(argv: list[str], workspace: Path, json_: bool, quiet: bool) -> list[str]:
    """The user's `snap ...` arguments minus the launch flags and global flags, with the global state re-added."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        name = a.split("=", 1)[0]
        if name in _OWN_FLAGS or name in _GLOBAL_VALUED:
            i += 1 if "=" in a else 2
            continue
        if a in ("--json", "--quiet", "-q"):
            i += 1
            continue
        out.append(a)
        i += 1
    front = ["--workspace", str(workspace.resolve())]
    if json_:
        front.append("--json")
    if quiet:
        front.append("--quiet")
    return front + out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def relaunch(config: Path, num_processes: int, args: list[str]) -> int:
    """Run `accelerate launch ... -m snapcli ARGS`; its output goes straight to ours. Returns its exit code."""
    if num_processes < 1:
        raise SnapError(f"--num-processes must be >= 1 (got {num_processes})")
    env = {**os.environ, LAUNCHED_ENV: "1"}
    import torch

    if not torch.cuda.is_available():
        env.setdefault("DS_ACCELERATOR", "cpu")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
           "--num_processes", str(num_processes), "--main_process_port", str(_free_port()),
           "-m", "snapcli", *args]
    return subprocess.call(cmd, env=env)


def launched() -> bool:
    return os.environ.get(LAUNCHED_ENV) == "1"
