"""Shared fixtures: a private SNAP_HOME with the embedded models prepared once per session, tmp workspaces,
and helpers to run the CLI in-process (CliRunner) or as a real subprocess of the installed `snap`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never touch the user's cache or the hub.
_SESSION_HOME = Path(os.environ.get("SNAP_TEST_HOME", "/tmp/snap-test-home"))
os.environ["SNAP_HOME"] = str(_SESSION_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DS_ACCELERATOR", "cpu")

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def snap_home() -> Path:
    return _SESSION_HOME


@pytest.fixture(scope="session")
def smollm2_dir(snap_home) -> Path:
    """The embedded SmolLM2 converted once into the test SNAP_HOME (~30 s the first time)."""
    from snapcli.models import ensure_smollm2

    return ensure_smollm2()


@pytest.fixture(scope="session")
def smollm2_lm(smollm2_dir):
    """(model, tokenizer) of the embedded SmolLM2, loaded once."""
    from snapcli.models import load_causal_lm

    return load_causal_lm("smollm2")


@pytest.fixture(scope="session")
def smollm2_chat(smollm2_lm):
    """A greedy chat callable over the embedded SmolLM2 (snapcli.datagen.chatfn.local_chat), loaded once."""
    from snapcli.datagen.chatfn import local_chat

    model, tok = smollm2_lm
    return local_chat(model, tok, batch_size=8)


@pytest.fixture(scope="session")
def tiny_model_dir(smollm2_dir) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer and chat template (fast; knows nothing)."""
    from snapcli.models import ensure_tiny

    return ensure_tiny()


@pytest.fixture
def ws_path(tmp_path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def ws(ws_path):
    from snapcli.store import Workspace

    return Workspace(ws_path)


@pytest.fixture
def cli(ws_path):
    """Run `snap ARGS` in-process against the tmp workspace; returns the click Result."""
    from typer.testing import CliRunner

    from snapcli.cli.app import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, ["--workspace", str(ws_path), *args], input=input, catch_exceptions=False)

    return run


@pytest.fixture
def snap_bin():
    """The installed console script (a real subprocess, as a user runs it)."""
    exe = shutil.which("snap", path=str(Path(sys.executable).parent)) or shutil.which("snap")
    assert exe, "the snap console script is not installed"
    return exe


@pytest.fixture
def run_snap(snap_bin, ws_path):
    def run(*args: str, env: dict | None = None, timeout: float = 600, check: bool = False):
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run(
            [snap_bin, "--workspace", str(ws_path), *args], capture_output=True, text=True, env=full_env,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"snap {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc

    return run
