"""`snap audit` as a user runs it (issue 12): on a model trained one step from the curated set, the audit stage
writes its tables and certificate, exits 3 when a requirement fails and 0 when all pass, is cached like every
stage, and `--verify` catches a changed model file. `tiny` for speed; the probes and attacks themselves are tested
in tests/test_audit.py."""

from __future__ import annotations

import json
import subprocess

import pytest

FAST = ["--limit", "4", "--max-new-tokens", "4", "--probes", "prefix,cloze", "--attacks", "int8",
        "--mia-methods", "loss", "--judge", "rules"]


@pytest.fixture
def trained(ws, cli, tiny_model_dir):
    r = cli("examples", "import", "bill-gates", "--general-size", "10")
    assert r.exit_code == 0, r.output
    r = cli("--json", "train", "--model", "tiny", "--max-steps", "1", "--batch-size", "2", "--grad-accum", "1",
            "--max-length", "48", "--projections", "4")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["ref"]


def test_audit_certificate_requirements_cache_and_verify(trained, ws, ws_path, snap_bin):
    def audit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([snap_bin, "-w", str(ws_path), "--json", "audit", "--model", trained, *FAST, *args],
                              capture_output=True, text=True, timeout=600)

    r = audit("--require", "degenerate<=100,UA>=0")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    art = ws.resolve(doc["ref"])
    assert art.stage == "audit" and not doc["cached"]
    scopes = set(art.read_df("metrics")["scope"])
    assert {"plain", "prefix", "cloze", "int8"} <= scopes
    gens = art.read_df("generations")
    assert set(gens["label"]) <= {"refusal", "answer", "degenerate"}
    cert = json.loads((art.path / "certificate.json").read_text())
    roles = {s["role"] for s in cert["subjects"]}
    assert {"base_model", "unlearned_model", "data:forget"} <= roles
    assert cert["requirements"]["passed"] is True and len(cert["requirements"]["results"]) == 2
    assert "<table" in (art.path / "certificate.html").read_text()

    # the same audit again is the cached artifact; an unmeetable requirement is a new run that exits 3
    again = audit("--require", "degenerate<=100,UA>=0")
    assert again.returncode == 0 and json.loads(again.stdout)["ref"] == doc["ref"]
    failed = audit("--require", "UA>101")
    assert failed.returncode == 3, failed.stderr[-2000:]
    assert json.loads(failed.stdout)["requirements"]["passed"] is False

    # --verify: intact -> 0; a changed weight file of the certified model -> 3, naming it
    cert_path = art.path / "certificate.json"
    ok = subprocess.run([snap_bin, "-w", str(ws_path), "audit", "--verify", str(cert_path)], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    weights = ws.resolve(trained).path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    bad = subprocess.run([snap_bin, "-w", str(ws_path), "audit", "--verify", str(cert_path)], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 3 and "unlearned_model" in bad.stdout and "content changed" in bad.stdout


def test_audit_bad_input(cli, ws_path, tiny_model_dir):
    for args, needle in ((["--model", "tiny", "--probes", "nope"], "--probes"),
                         (["--model", "tiny", "--require", "UA>>9"], "--require"),
                         (["--model", "tiny"], "--base is required"),
                         (["--verify", str(ws_path / "missing.json")], "no such file")):
        r = cli("audit", *args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output, (args, r.output)
