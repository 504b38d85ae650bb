"""`snap run` end to end on the tiny random model: the curated example import -> train -> eval -> benchmark ->
report, the cache across runs (a second run reuses everything; a changed train parameter reruns train and what
follows, never what precedes), --dry-run agreeing with what the run then does, --until, --from-stage, and
config errors."""

from __future__ import annotations

import json

import pytest

# Small enough for CI on 2 cores: one optimizer step of 2 + 2 short examples, 3 questions per eval set.
FAST = ["model=tiny", "augment.general_size=12", "train.max_steps=1", "train.batch_size=2", "train.grad_accum=1",
        "train.max_length=48", "train.reg=wasserstein", "train.projections=4", "eval.limit=3",
        "eval.max_new_tokens=4", "eval.judge=rules", "benchmark.tasks=embedded", "benchmark.limit=2",
        "benchmark.batch_size=4", "audit.limit=3", "audit.max_new_tokens=4", "audit.probes=prefix,cloze",
        "audit.attacks=int8", "audit.mia_methods=loss", "audit.judge=rules"]


def sets(*extra: str) -> list[str]:
    return [a for kv in [*FAST, *extra] for a in ("--set", kv)]


def statuses(doc: dict) -> dict[str, str]:
    return {s["unit"]: s["status"] for s in doc["stages"]}


@pytest.fixture
def snap_run(cli, tiny_model_dir):
    def run(*args: str, code: int = 0) -> dict:
        res = cli("--json", "run", "--example", "bill-gates", *args)
        assert res.exit_code == code, res.output[-3000:]
        return json.loads(res.stdout) if code == 0 else {"output": res.output}

    return run


def test_pipeline_end_to_end_cache_dry_run_until(snap_run, cli, ws, tmp_path):
    # --- first run: every stage runs and leaves its artifact
    first = snap_run(*sets())
    st = statuses(first)
    assert st == {"generate": "skipped", "import": "new", "train": "new", "eval[base|Bill Gates]": "new",
                  "eval[train|Bill Gates]": "new", "benchmark": "new", "audit": "new", "report": "new"}
    for stage in ("filter", "augment", "train", "eval", "benchmark", "audit", "report"):
        assert ws.versions(stage), f"no {stage} artifact"
    assert first["log"] and json.loads(open(first["log"]).read())["nodes"][1]["unit"] == "import"  # the run log
    assert (ws.resolve("train@latest").path / "model" / "config.json").is_file()
    assert len(ws.versions("eval")) == 2
    report = first["report"]
    assert report["html"].endswith("report.html")
    from pathlib import Path

    assert Path(report["html"]).is_file() and Path(report["markdown"]).read_text().strip()
    roles = {(r["role"], r["model"]) for r in first["summary"]}
    assert roles == {("before", "tiny"), ("after", "train@v0001")}
    for r in first["summary"]:
        for m in ("UA", "RA", "TA"):
            assert 0.0 <= r[m] <= 100.0
        assert r["capability"] is not None  # the benchmark ran both models

    # --- second run, same config: every stage is reused, nothing new is written
    counts = {s: len(ws.versions(s)) for s in ("filter", "augment", "train", "eval", "benchmark", "audit", "report")}
    second = snap_run(*sets())
    assert set(statuses(second).values()) == {"skipped", "cached"}
    assert {s: len(ws.versions(s)) for s in counts} == counts

    # --- a changed train parameter: the dry run says train and everything after it, not the import before it
    changed = sets("train.lr=0.0005")
    plan = snap_run(*changed, "--dry-run")
    assert statuses(plan) == {"generate": "skipped", "import": "cached", "train": "new",
                              "eval[base|Bill Gates]": "cached", "eval[train|Bill Gates]": "new",
                              "benchmark": "new", "audit": "new", "report": "new"}
    assert {s: len(ws.versions(s)) for s in counts} == counts  # a dry run writes nothing

    # --- --until train: train reruns, nothing after it
    until = snap_run(*changed, "--until", "train")
    st = statuses(until)
    assert st["import"] == "cached" and st["train"] == "new"
    assert {st[k] for k in ("eval[base|Bill Gates]", "eval[train|Bill Gates]", "benchmark", "audit", "report")} == {
        "skipped"}
    assert len(ws.versions("train")) == counts["train"] + 1
    assert len(ws.versions("eval")) == counts["eval"]

    # --- the plan now knows that train is cached (from the --until run) and what still has to run
    plan = snap_run(*changed, "--dry-run")
    expected = {"generate": "skipped", "import": "cached", "train": "cached", "eval[base|Bill Gates]": "cached",
                "eval[train|Bill Gates]": "new", "benchmark": "new", "audit": "new", "report": "new"}
    assert statuses(plan) == expected
    done = snap_run(*changed)
    assert statuses(done) == expected  # the run did exactly what the dry run said
    assert len(ws.versions("train")) == counts["train"] + 1
    assert len(ws.versions("filter")) == counts["filter"] and len(ws.versions("augment")) == counts["augment"]
    assert len(ws.versions("eval")) == counts["eval"] + 1

    # --- --from-stage eval takes the earlier stages from the last run, and --force reruns the rest
    plan = snap_run(*changed, "--from-stage", "eval", "--force", "--dry-run")
    st = statuses(plan)
    assert st["import"] == "from-run" and st["train"] == "from-run"
    assert {st[k] for k in ("eval[base|Bill Gates]", "eval[train|Bill Gates]", "benchmark", "audit", "report")} == {
        "new"}
    last_train = ws.resolve("train@latest").ref
    assert next(s for s in plan["stages"] if s["unit"] == "train")["refs"] == [last_train]

    # --- config errors: one line, exit 2, before anything runs
    bad = tmp_path / "bad.yaml"
    bad.write_text("example: bill-gates\ntrian:\n  lr: 0.1\n")
    res = cli("run", "--config", str(bad))
    assert res.exit_code == 2
    assert "unknown key 'trian'" in res.output and "did you mean 'train'" in res.output
    res = cli("run", "--example", "bill-gates", "--set", "train.from=filter@v1")
    assert res.exit_code == 2 and "train.from is set by snap run" in res.output
    res = cli("run", "--example", "bill-gates", "--until", "deploy")
    assert res.exit_code == 2 and "not a stage" in res.output

    # --- --print-config: the effective config, round-tripping through the loader
    res = cli("run", "--example", "bill-gates", "--set", "train.lr=0.001", "--print-config")
    assert res.exit_code == 0
    import yaml

    from snapcli.config import validate_config

    printed = validate_config(yaml.safe_load(res.stdout))
    assert printed["train"]["lr"] == 0.001 and printed["entity"] == ["Bill Gates"]


def test_pipeline_runs_from_python_without_typer(tmp_path, tiny_model_dir):
    """snap run's engine is plain Python: config + pipeline + stages, no CLI layer (issue 10)."""
    import subprocess
    import sys

    code = f"""
import sys
from snapcli.config import effective_config, parse_overrides, validate_config
from snapcli.pipeline import Pipeline
from snapcli.store import Workspace
cfg = effective_config(validate_config({{"example": "bill-gates"}}), parse_overrides({FAST!r}))
plan = Pipeline(Workspace({str(tmp_path / "ws")!r}), cfg, until="train").plan()
assert [n.status for n in plan][:3] == ["skipped", "new", "new"], plan
assert "typer" not in sys.modules and "click" not in sys.modules, "the pipeline imported the CLI layer"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
