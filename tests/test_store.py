"""The versioned artifact store on real tmp dirs and real Parquet files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snapcli.errors import SnapError
from snapcli.store.schema import register_table_schema

register_table_schema("toy", "items", ["question", "answer"])


def _write(w, n=3, tag="a"):
    w.write_table("items", pd.DataFrame({"question": [f"{tag}{i}?" for i in range(n)], "answer": ["x"] * n}))


def test_publish_layout_manifest_and_refs(ws):
    art = ws.run_stage("toy", params={"n": 3, "api_key": "sk-should-not-appear"}, fn=_write, seed=7)
    assert art.ref == "toy@v0001" and (ws.root / "toy" / "v0001" / "items.parquet").exists()
    mf = json.loads((art.path / "manifest.json").read_text())
    for key in ("stage", "params", "inputs", "outputs", "snap_version", "seed", "started_at", "finished_at",
                "duration_s", "host", "content_hash", "cache_key"):
        assert key in mf, key
    assert "api_key" not in mf["params"] and mf["seed"] == 7
    assert mf["outputs"][0]["rows"] == 3 and mf["outputs"][0]["schema"][0]["name"] == "question"
    for ref in ("toy@latest", "toy@v1", "toy@v0001", f"toy@{art.content_hash[:8]}", "toy", str(art.path)):
        assert ws.resolve(ref).ref == "toy@v0001", ref
    assert ws.resolve("toy@latest").read_df("items")["question"].tolist() == ["a0?", "a1?", "a2?"]


def test_cache_reuse_and_force(ws):
    a = ws.run_stage("toy", params={"n": 3}, fn=_write)
    b = ws.run_stage("toy", params={"n": 3}, fn=_write)
    assert b.cached and b.ref == a.ref
    c = ws.run_stage("toy", params={"n": 3}, fn=_write, force=True)
    assert not c.cached and c.ref == "toy@v0002"
    d = ws.run_stage("toy", params={"n": 4}, fn=lambda w: _write(w, 4))
    assert d.ref == "toy@v0003"
    # a downstream stage is cached on its input's content, not its name
    e1 = ws.run_stage("toy2", params={}, inputs={"from": a}, fn=lambda w: _write(w, 1))
    e2 = ws.run_stage("toy2", params={}, inputs={"from": c}, fn=lambda w: _write(w, 1))
    assert e2.cached and e2.ref == e1.ref  # a and c hold identical content
    e3 = ws.run_stage("toy2", params={}, inputs={"from": d}, fn=lambda w: _write(w, 1))
    assert not e3.cached


def test_failed_stage_publishes_nothing(ws):
    def boom(w):
        _write(w)
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        ws.run_stage("toy", params={}, fn=boom)
    assert ws.versions("toy") == []
    assert not (ws.root / ".staging").exists()  # a failed run leaves nothing it created (issue 14)


def test_bad_refs(ws, tmp_path):
    ws.run_stage("toy", params={}, fn=_write)
    for ref, needle in [("toy@v9", "versions"), ("nope@latest", "no 'nope'"), ("toy@zzzz", "no 'toy' version"),
                        (str(tmp_path / "missing.parquet"), "unknown ref")]:
        with pytest.raises(SnapError, match=needle):
            ws.resolve(ref)
    bad = ws.root / "toy" / "v0001" / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(SnapError, match="corrupted manifest"):
        ws.resolve("toy@v1")


def test_plain_parquet_refs_and_schema_check(ws, tmp_path):
    p = tmp_path / "hand.parquet"
    pq.write_table(pa.table({"question": ["q?"], "answer": ["a"]}), p)
    art = ws.resolve(str(p))
    assert art.is_plain and art.read_df("anything")["question"].tolist() == ["q?"]
    imported = ws.import_table(p, "toy", "items")
    assert imported.ref == "toy@v0001" and ws.resolve("toy@latest").rows == {"items": 1}
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"question": ["q?"]}), bad)
    with pytest.raises(SnapError, match="missing column"):
        ws.import_table(bad, "toy", "items")


def test_gc_keeps_latest_and_lineage(ws):
    a = ws.run_stage("toy", params={"n": 1}, fn=lambda w: _write(w, 1))
    ws.run_stage("toy", params={"n": 2}, fn=lambda w: _write(w, 2))
    ws.run_stage("toy", params={"n": 3}, fn=lambda w: _write(w, 3))
    ws.run_stage("toy2", params={}, inputs={"from": a}, fn=lambda w: _write(w, 1))
    remove, _ = ws.gc(apply=False)
    assert [r.ref for r in remove] == ["toy@v0002"]
    assert ws.versions("toy") == ["v0001", "v0002", "v0003"]  # dry run deleted nothing
    ws.gc(apply=True)
    assert ws.versions("toy") == ["v0001", "v0003"]


_WRITER = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from snapcli.store import Workspace
    from snapcli.store.schema import register_table_schema
    register_table_schema("toy", "items", ["question", "answer"])
    ws = Workspace(sys.argv[1])
    def fn(w):
        w.write_table("items", pd.DataFrame({"question": [sys.argv[2]] * 1000, "answer": ["x"] * 1000}))
        time.sleep(float(sys.argv[3]))
    art = ws.run_stage("toy", params={"who": sys.argv[2]}, fn=fn)
    print(art.ref)
""")


def test_two_processes_never_collide(ws, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    procs = [subprocess.Popen([sys.executable, str(script), str(ws.root), f"p{i}", "0.5"], stdout=subprocess.PIPE,
                              text=True) for i in range(3)]
    refs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert refs == ["toy@v0001", "toy@v0002", "toy@v0003"]
    whos = sorted(ws.resolve(r).manifest["params"]["who"] for r in refs)
    assert whos == ["p0", "p1", "p2"]


def test_killed_writer_publishes_nothing(ws, tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    p = subprocess.Popen([sys.executable, str(script), str(ws.root), "killed", "60"])
    deadline = time.time() + 60
    while time.time() < deadline and not list((ws.root / ".staging").glob("toy-*/items.parquet")):
        time.sleep(0.1)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert ws.versions("toy") == []
    _, stale = ws.gc(apply=True)
    assert len(stale) == 1 and not any((ws.root / ".staging").iterdir())


def test_no_secret_in_any_written_file(ws, monkeypatch):
    secret = "sk-test-NEVER-WRITE-THIS-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    ws.run_stage("toy", params={"base_url": "http://127.0.0.1:1/v1", "note": f"key={secret}"}, fn=_write)
    for f in Path(ws.root).rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
