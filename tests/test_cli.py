"""The CLI frame: commands, --json purity, exit codes, completions; in-process and as a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from snapcli.cli.completions_cmd import SHELLS, completion_script
from snapcli.store.schema import register_table_schema

REPO = Path(__file__).resolve().parents[1]

register_table_schema("toy", "items", ["question", "answer"])


def test_help_lists_the_commands(cli):
    out = cli("--help").output
    for cmd in ("import", "ls", "show", "diff", "gc", "models", "completions"):
        assert cmd in out


def test_ls_json_on_new_workspace_is_empty_list(cli):
    r = cli("ls", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []


def test_import_show_diff_gc_roundtrip(cli, tmp_path):
    p1 = tmp_path / "a.parquet"
    pd.DataFrame({"question": ["q1?", "q2?"], "answer": ["a", "b"]}).to_parquet(p1)
    p2 = tmp_path / "b.jsonl"
    p2.write_text('{"question": "q1?", "answer": "a"}\n')
    r = cli("--json", "import", str(p1), "--as", "toy")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ref"] == "toy@v0001"
    assert json.loads(cli("import", str(p2), "--as", "toy", "--json").stdout)["ref"] == "toy@v0002"
    shown = json.loads(cli("show", "toy@v1", "--json", "--columns", "question", "--limit", "1").stdout)
    assert shown["total_rows"] == 2 and shown["rows"] == [{"question": "q1?"}]
    diff = json.loads(cli("diff", "toy@v1", "toy@latest", "--json").stdout)
    assert diff["rows"] == {"items": {"a": 2, "b": 1}} and "imported_from" in diff["params"]
    listing = json.loads(cli("ls", "toy", "--json").stdout)
    assert [x["ref"] for x in listing] == ["toy@v0001", "toy@v0002"] and listing[1]["latest"]
    assert "toy@v0001" in cli("ls").stdout
    plan = json.loads(cli("gc", "--json").stdout)
    assert plan == {"applied": False, "remove": ["toy@v0001"], "stale_staging": []}
    assert json.loads(cli("gc", "--yes", "--json").stdout)["applied"]
    assert [x["ref"] for x in json.loads(cli("ls", "--json").stdout)] == ["toy@v0002"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["show", "nope@latest"], "unknown ref"),
        (["show", "/no/such/file.parquet"], "unknown ref"),
        (["import", "/no/such.parquet", "--as", "toy"], "no such file"),
        (["models", "prepare", "llama2"], "hub model"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, needle):
    r = cli(*args)
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.stderr


def test_import_missing_columns_exit_2(cli, tmp_path):
    p = tmp_path / "bad.parquet"
    pd.DataFrame({"question": ["q?"]}).to_parquet(p)
    r = cli("import", str(p), "--as", "toy")
    assert r.exit_code == 2 and "missing column(s) answer" in r.stderr


def test_subprocess_exit_codes_and_streams(run_snap, tmp_path):
    r = run_snap("--version")
    assert r.returncode == 0 and r.stdout.startswith("snap ")
    r = run_snap("show", "filter@latest", "--json")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_snap("ls", "--no-such-flag")
    assert r.returncode == 2
    r = run_snap("ls", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = run_snap("-v", "show", "nope@v1")
    assert r.returncode == 2 and "Traceback" in r.stderr  # --verbose shows it


def test_workspace_env_var_and_flag_position(snap_bin, tmp_path):
    import os
    import subprocess

    from snapcli.store import Workspace

    other = tmp_path / "other-ws"
    Workspace(other).run_stage("toy", params={}, fn=lambda w: w.write_table(
        "items", pd.DataFrame({"question": ["q?"], "answer": ["a"]})))
    env = {**os.environ, "SNAP_WORKSPACE": str(other)}
    r = subprocess.run([snap_bin, "ls", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert [x["ref"] for x in json.loads(r.stdout)] == ["toy@v0001"]
    r = subprocess.run([snap_bin, "ls", "-w", str(tmp_path / "empty"), "--json"], capture_output=True, text=True,
                       env=env, cwd=tmp_path)
    assert json.loads(r.stdout) == []


@pytest.mark.parametrize("shell", SHELLS)
def test_checked_in_completions_match_the_app(shell):
    checked_in = (REPO / "completions" / f"snap.{shell}").read_text()
    assert checked_in.strip() == completion_script(shell).strip(), f"run `make completions` ({shell})"


def test_ctrl_c_exits_130_and_publishes_nothing(snap_bin, tmp_path):
    """SIGINT during a long conversion: exit 130, and no half-written model directory is left published."""
    import os
    import signal
    import subprocess
    import time

    home = tmp_path / "home"
    env = {**os.environ, "SNAP_HOME": str(home)}
    p = subprocess.Popen([snap_bin, "models", "prepare", "smollm2"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    first = p.stderr.readline()  # "preparing smollm2 ...": imports are done, the conversion has begun
    assert "preparing smollm2" in first, first
    time.sleep(1)  # mid-conversion: GGUF being read
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-500:]
    assert "Traceback" not in err
    assert not (home / "models" / "smollm2").exists()
    assert not list((home / "models").glob(".smollm2.*"))
