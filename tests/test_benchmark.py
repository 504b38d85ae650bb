"""`snap benchmark`: the embedded capability suite, local task YAMLs, hub detection, and the Table-2 comparison.

Chance-level tolerance (used for `tiny` and the suite's own answer-length check): under H0 "the scorer knows
nothing", item i is right with probability 1/k_i (k_i choices; answer positions are shuffled and answer
lengths balanced, see test_embedded_suite_is_well_formed), independently across items. The pooled number of
correct answers then has mean sum(1/k_i) and sd sqrt(sum p_i(1-p_i)) (~6.8 items, 3.0 points, for the 228
items). We accept |observed - chance| <= 4 sd: a false alarm under H0 has probability < 1e-4, while a
tokenizer/scoring bug that picks, e.g., always the first or the shortest choice moves the score by far more.
"Above chance" for smollm2 is the one-sided z > 2.33 (p < 0.01).
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import threading
import time

import pandas as pd
import pytest

from snapcli.errors import SnapError
from snapcli.evaluate.capability import (
    EMBEDDED_TASKS,
    PAPER_TASKS,
    HubStatus,
    comparison_table,
    embedded_suite_dir,
    format_rel_change,
    hub_status,
    plan_tasks,
)

OFFLINE = HubStatus(False, "test: offline")
ONLINE = HubStatus(True, "test: online")


def _suite_items() -> dict[str, list[dict]]:
    d = embedded_suite_dir()
    return {t: [json.loads(line) for line in open(d / f"{t.removeprefix('snap_')}.jsonl")] for t in EMBEDDED_TASKS}


def _chance_z(correct: float, n_choices: pd.Series) -> float:
    p = 1.0 / n_choices
    return (correct - p.sum()) / math.sqrt((p * (1 - p)).sum())


# ------------------------------------------------------------------------------------------ data and pure logic
def test_embedded_suite_is_well_formed(smollm2_dir):
    import yaml
    from transformers import AutoTokenizer

    d = embedded_suite_dir()
    declared = sorted(yaml.safe_load(open(p))["task"] for p in d.glob("*.yaml"))
    assert declared == sorted(EMBEDDED_TASKS)
    items = _suite_items()
    assert sum(len(v) for v in items.values()) >= 200
    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    shortest_hits, ks = 0.0, []
    for task, rows in items.items():
        assert len(rows) >= 40, task
        keys = [r.get("question", r.get("goal")) + r.get("passage", "") for r in rows]
        assert len(set(keys)) == len(keys), f"duplicate item in {task}"
        positions = [0] * len(rows[0]["choices"])
        for r in rows:
            ch = r["choices"]
            assert len(set(ch)) == len(ch) >= 2 and 0 <= r["answer"] < len(ch), r["id"]
            positions[r["answer"]] += 1
            n = [len(tok(" " + c)["input_ids"]) for c in ch]
            short = [i for i, x in enumerate(n) if x == min(n)]
            shortest_hits += (r["answer"] in short) / len(short)
            ks.append(len(ch))
        # answers are spread over the positions: none holds less than half its fair share
        assert min(positions) >= len(rows) / len(positions) / 2, (task, positions)
    # a random-weight model scores by length (uniform logits -> fewest tokens wins); the suite must not reward it
    assert abs(_chance_z(shortest_hits, pd.Series(ks, dtype=float))) <= 4


def test_comparison_table_relative_change():
    rows = []
    for model, vals in [("base", [0.60, 0.40]), ("unlearned", [0.57, 0.37])]:
        for task, v in zip(["a", "b"], vals, strict=True):
            rows += [{"model": model, "task": task, "metric": "acc", "value": v, "stderr": 0.01, "suite": "x"},
                     {"model": model, "task": task, "metric": "acc_norm", "value": v + 0.1, "stderr": 0.01,
                      "suite": "x"}]
    comp = comparison_table(pd.DataFrame(rows))
    assert list(comp["model"]) == ["base", "unlearned"]
    assert list(comp.columns[:3]) == ["model", "a", "b"]
    assert comp.loc[1, "average"] == pytest.approx(0.47)
    assert comp.loc[1, "rel_change"] == pytest.approx(0.47 / 0.50 - 1)
    assert math.isnan(comp.loc[0, "rel_change"])
    assert format_rel_change(comp.loc[1, "rel_change"]) == "-6.0%"
    norm = comparison_table(pd.DataFrame(rows), metric="acc_norm")
    assert norm.loc[0, "average"] == pytest.approx(0.60)


def test_plan_defaults_and_offline_refusal():
    online = plan_tasks(None, hub=ONLINE)
    assert online.names == PAPER_TASKS and {t.suite for t in online.tasks} == {"hub"}
    offline = plan_tasks(None, hub=OFFLINE)
    assert offline.names == EMBEDDED_TASKS and "EMBEDDED" in offline.label and "test: offline" in offline.label
    assert plan_tasks(["embedded"], hub=OFFLINE).names == EMBEDDED_TASKS
    with pytest.raises(SnapError, match="mmlu.*--tasks-dir"):
        plan_tasks(["snap_reading", "mmlu"], hub=OFFLINE)
    with pytest.raises(SnapError) as e:
        plan_tasks(["paper"], hub=OFFLINE)
    assert all(t in str(e.value) for t in PAPER_TASKS)


def test_hub_status_env_and_real_sockets(monkeypatch):
    assert hub_status().online is False  # conftest sets HF_HUB_OFFLINE=1
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: srv.accept()[0].close(), daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert hub_status(timeout=2).online is True
    srv.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{dead_port}")
    t0 = time.monotonic()
    st = hub_status(timeout=2)
    assert st.online is False and "not reachable" in st.reason
    assert time.monotonic() - t0 < 3


# ------------------------------------------------------------------------------------------ real models
def test_tiny_on_embedded_suite_is_near_chance(ws, tiny_model_dir):
    from snapcli.stages import get
    from snapcli.stages.base import run
    from snapcli.stages.benchmark import BenchmarkSpec

    spec = BenchmarkSpec.build({"model": ["tiny"]})
    plan = get("benchmark").plan(ws, spec).state["tasks"]
    (art,) = run(ws, get("benchmark"), spec)  # offline (conftest) -> embedded suite
    assert plan.names == EMBEDDED_TASKS and "EMBEDDED" in plan.label
    scores = art.read_df("scores")
    top = scores[scores["is_top"]]
    assert set(top["task"]) == set(EMBEDDED_TASKS) and set(top["suite"]) == {"embedded"}
    assert top["value"].between(0, 1).all() and top["stderr"].between(0, 0.2).all()
    items = _suite_items()
    for task, n in top.groupby("task")["n"].first().items():
        assert n == len(items[task])
    samples = art.read_df("samples")
    assert len(samples) == sum(len(v) for v in items.values())
    assert samples["pred"].notna().all() and samples["logliks"].map(len).eq(samples["choices"].map(len)).all()
    # the logged per-sample correctness is the argmax of the logged log-likelihoods
    assert (samples["acc"] == (samples["pred"].astype(int).astype(str) == samples["target"]).astype(float)).all()
    k = samples["choices"].map(len).astype(float)
    for metric in ("acc", "acc_norm"):
        z = _chance_z(samples[metric].sum(), k)
        assert abs(z) <= 4, (metric, z, samples.groupby("task")[metric].mean().to_dict())


def _fake_train_artifact(ws, model_dir):
    """A train artifact holding a copy of `model_dir` (what `snap train` publishes), for train@latest refs."""
    return ws.run_stage("train", params={"model": "tiny", "test": "benchmark"},
                        fn=lambda w: shutil.copytree(model_dir, w.dir / "model"))


def test_compare_base_unlearned_and_smollm2(cli, ws, smollm2_dir, tiny_model_dir):
    _fake_train_artifact(ws, tiny_model_dir)
    # the two short-prompt tasks keep smollm2 cheap on CPU; 32 items give z ~ 3.8 (smollm2 is at chance on
    # arithmetic, and reading passages cost ~4x the tokens)
    args = ["benchmark", "--tasks", "snap_knowledge,snap_commonsense", "--limit", "16", "--json"]
    first = cli(*args, "--model", "tiny")
    assert first.exit_code == 0, first.output
    res = cli(*args, "--model", "tiny", "--model", "train@latest", "--model", "smollm2")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [m["model"] for m in data["models"]] == ["tiny", "train@v0001", "smollm2"]
    assert "EMBEDDED" in data["suite"]
    base, same, smol = data["models"]
    assert base["rel_change"] is None
    assert same["scores"] == base["scores"] and same["rel_change"] == 0.0  # identical weights, identical scores
    assert smol["rel_change"] == pytest.approx(smol["average"] / base["average"] - 1)
    art = ws.resolve(data["ref"])
    assert art.manifest["extra"]["reused"] == {"tiny": "benchmark@v0001"}  # the base ran once
    samples = art.read_df("samples")
    s = samples[samples["model"] == "smollm2"]
    assert len(s) == 32 and s.groupby("task").size().eq(16).all()
    z = _chance_z(s["acc"].sum(), s["choices"].map(len).astype(float))
    assert z > 2.33, (z, s.groupby("task")["acc"].mean().to_dict())
    # the human table: same (cached) run, rendered
    shown = cli(*[a for a in args if a != "--json"], "--model", "tiny", "--model", "train@latest",
                "--model", "smollm2")
    assert shown.exit_code == 0
    assert "vs base" in shown.stdout and "+0.0%" in shown.stdout and "EMBEDDED" in shown.stdout


CUSTOM_YAML = """\
task: capitals_yesno
dataset_path: json
dataset_kwargs:
  data_files:
    test: data/capitals.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Q: Is {{city}} the capital of {{country}}?\\nA:"
doc_to_choice: ["no", "yes"]
doc_to_target: label
metric_list:
  - metric: acc
"""


def test_custom_tasks_dir_is_picked_up_and_scored(cli, ws, tmp_path, monkeypatch, tiny_model_dir):
    tdir = tmp_path / "mytasks"
    (tdir / "data").mkdir(parents=True)
    (tdir / "capitals.yaml").write_text(CUSTOM_YAML)
    rows = [("Paris", "France", 1), ("Lyon", "France", 0), ("Tokyo", "Japan", 1), ("Osaka", "Japan", 0),
            ("Ottawa", "Canada", 1)]
    with open(tdir / "data" / "capitals.jsonl", "w") as f:
        for city, country, label in rows:
            f.write(json.dumps({"city": city, "country": country, "label": label}) + "\n")
    # a second task over a Parquet file, in the same folder
    pd.DataFrame({"q": ["2 + 2 =", "3 + 4 ="], "a": [1, 0], "opts": [["3", "4"], ["7", "8"]]}).to_parquet(
        tdir / "data" / "sums.parquet")
    (tdir / "sums.yaml").write_text(
        "task: sums\ndataset_path: parquet\ndataset_kwargs:\n  data_files: data/sums.parquet\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: '{{q}}'\ndoc_to_choice: '{{opts}}'\n"
        "doc_to_target: a\nmetric_list:\n  - metric: acc\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative data paths resolve against the YAML, not the working directory
    res = cli("benchmark", "--model", "tiny", "--tasks-dir", str(tdir), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert sorted(data["tasks"]) == ["capitals_yesno", "sums"] and data["suite"].startswith("local tasks")
    assert 0 <= data["models"][0]["scores"]["capitals_yesno"] <= 1
    samples = ws.resolve(data["ref"]).read_df("samples")
    cap = samples[samples["task"] == "capitals_yesno"].sort_values("doc_id")
    assert len(cap) == len(rows) and cap["prompt"].iloc[0] == "Q: Is Paris the capital of France?\nA:"
    assert list(cap["choices"].iloc[0]) == [" no", " yes"] and list(cap["target"]) == ["1", "0", "1", "0", "1"]
    assert len(samples[samples["task"] == "sums"]) == 2
    bad = cli("benchmark", "--model", "tiny", "--tasks-dir", str(tdir), "--tasks", "nope_task")
    assert bad.exit_code == 2 and "nope_task" in bad.output


def test_hub_task_offline_exits_2_without_traceback(run_snap):
    t0 = time.monotonic()
    proc = run_snap("benchmark", "--model", "tiny", "--tasks", "hellaswag,snap_reading",
                    env={"HF_HUB_OFFLINE": "1"}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    err = " ".join(proc.stderr.split())
    assert "hellaswag" in err and "--tasks-dir" in err and "embedded" in err and "snap_reading" not in err
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert time.monotonic() - t0 < 60
