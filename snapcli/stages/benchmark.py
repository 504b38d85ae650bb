"""Stage "benchmark": capability retention of one or more models (paper section 4.4, Table 2).

One artifact per invocation holds every model's scores, so `benchmark@latest` is the comparison a report shows.
A model already benchmarked on the same tasks (same weights, same task files, same limit) is not re-run: its rows
are copied from the earlier artifact -- re-benchmarking the base model next to each new unlearned one is free.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import pandas as pd

from snapcli.errors import SnapError
from snapcli.evaluate.capability import LoadedTasks, TaskPlan, evaluate_model, load_tasks, plan_tasks
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.spec import DTYPES, Device, Dtype, StageSpec, option
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.hashing import json_sha256
from snapcli.store.schema import register_table_schema

STAGE = "benchmark"
SCORE_COLUMNS = ["model", "task", "metric", "value", "stderr", "suite"]
SAMPLE_COLUMNS = ["model", "task", "suite", "doc_id", "prompt", "target"]
register_table_schema(STAGE, "scores", SCORE_COLUMNS)
register_table_schema(STAGE, "samples", SAMPLE_COLUMNS)


class BenchmarkSpec(StageSpec):
    """Zero-shot lm-eval scores per task, the average, and the relative change against the first model."""

    stage: ClassVar[str] = "benchmark"

    model: list[str] = option(..., "Model: alias (smollm2, tiny, llama2, mistral), train artifact ref "
                              "(train@latest), local dir or hub id. Repeat to compare; the first is the base of the "
                              "relative change.", short="-m", input=True, min_length=1)
    tasks: list[str] | None = option(None, "Comma-separated lm-eval task names, 'paper' (the paper's nine) or "
                                     "'embedded' (snap's offline suite). Default: the paper's nine if the hub is "
                                     "reachable, else the embedded suite; with --tasks-dir, the tasks defined there.",
                                     short="-t", csv=True)
    tasks_dir: list[Path] = option([], "Folder of lm-eval task YAMLs over local jsonl/parquet/csv files "
                                   "(repeatable).")
    limit: float | None = option(None, "Items per task (N), or a fraction if < 1.", gt=0)
    batch_size: int = option(8, "Requests per forward pass.", ge=1)
    metric: Literal["acc", "acc_norm"] = option("acc", "Headline metric of the comparison (a task without it shows "
                                                "acc, else its first metric).", key=False)
    device: Device = option(None, "cpu, cuda, cuda:N (default: cuda if present).")
    dtype: Dtype = option(None, "auto, float32, bfloat16, float16.", choices=DTYPES)
    seed: int = option(1234, "Seed for Python/NumPy/torch (log-likelihood scoring is deterministic; sampled "
                       "generation in custom tasks uses it).", ge=0)


@dataclass
class ModelRef:
    label: str  # what the tables call it: the name given, or the concrete train@vNNNN
    name: str  # what load_causal_lm gets
    path_or_id: str
    kind: str
    fingerprint: str
    artifact: Artifact | None = None


def _weights_fingerprint(path: Path) -> str:
    """Cheap identity of a model folder (names, sizes, mtimes): hashing 14 GB of weights per run would not be."""
    if path.is_file():
        st = path.stat()
        return json_sha256([path.name, st.st_size, st.st_mtime_ns])
    return json_sha256(sorted((p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                              for p in path.rglob("*") if p.is_file()))


def resolve_models(ws: Workspace, names: list[str]) -> list[ModelRef]:
    from snapcli.models import resolve_model

    if not names:
        raise SnapError("no model: pass --model (an alias, a train artifact ref, a local dir or a hub id)")
    out: list[ModelRef] = []
    for name in names:
        rm = resolve_model(name, ws)
        art = None
        if rm.kind == "artifact":
            art = ws.resolve(name)
            label, fp = art.ref, art.content_hash
        elif rm.kind == "hub":
            label, fp = name, rm.path_or_id
        else:
            label, fp = name, _weights_fingerprint(Path(rm.path_or_id))
        if any(m.label == label for m in out):
            raise SnapError(f"model '{label}' is given twice")
        out.append(ModelRef(label, name, rm.path_or_id, rm.kind, fp, art))
    return out


def _run_key(m: ModelRef, plan: TaskPlan, spec: BenchmarkSpec, suite_fp: str) -> str:
    import lm_eval

    return json_sha256({
        "model": m.fingerprint, "tasks": plan.names, "suite": suite_fp, "limit": spec.limit, "seed": spec.seed,
        "dtype": spec.dtype, "device": spec.device, "lm_eval": getattr(lm_eval, "__version__", "?"),
    })


def _find_previous(ws: Workspace, key: str) -> tuple[Artifact, str] | None:
    """An earlier benchmark artifact that already ran this exact (model, tasks, limit) -> (artifact, its label)."""
    for art in reversed(ws.artifacts(STAGE)):
        for label, k in (art.manifest.get("extra", {}).get("runs") or {}).items():
            if k == key and art.has_table("scores"):
                return art, label
    return None


def _free(model) -> None:
    import torch

    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def plan(ws: Workspace, spec: BenchmarkSpec) -> Plan:
    """Resolves the models (cheap fingerprints) and the task list; nothing is loaded."""
    models = resolve_models(ws, spec.model)
    tasks = plan_tasks(spec.tasks, list(spec.tasks_dir))
    suite_fp = tasks.fingerprint()
    keys = {m.label: _run_key(m, tasks, spec, suite_fp) for m in models}
    params = {
        "models": [{"label": m.label, "model": m.path_or_id if m.kind != "artifact" else m.label, "kind": m.kind,
                    "fingerprint": m.fingerprint} for m in models],
        "tasks": tasks.names, "suites": sorted({t.suite for t in tasks.tasks}), "suite_fingerprint": suite_fp,
        "limit": spec.limit, "seed": spec.seed, "dtype": spec.dtype, "device": spec.device, "num_fewshot": 0,
    }
    inputs = {f"model_{i}": m.artifact for i, m in enumerate(models) if m.artifact is not None}
    return Plan(params, inputs, spec.seed, {"models": models, "tasks": tasks, "keys": keys, "ws": ws})


def build(w: StageWriter, spec: BenchmarkSpec, plan: Plan, ctx: Context) -> None:
    """Benchmark every model on the planned tasks -> `scores` and `samples`. A model already benchmarked on the
    same tasks (same weights, task files, limit) is copied from that earlier artifact instead of re-run."""
    from snapcli.llm import release_models
    from snapcli.models import load_causal_lm

    release_models()  # a model an earlier stage of this process kept loaded
    ws, models, tasks, keys = plan.state["ws"], plan.state["models"], plan.state["tasks"], plan.state["keys"]
    force = plan.state.get("force", False)
    built: LoadedTasks | None = None
    score_frames, sample_frames, reused = [], [], {}
    for i, m in enumerate(models):
        prev = None if force else _find_previous(ws, keys[m.label])
        ctx.progress("models", i, len(models))
        ctx.note(f"benchmark {m.label}" + (" (reused)" if prev is not None else ""))
        if prev is not None:
            art, old = prev
            sc = art.read_df("scores")
            sm = art.read_df("samples") if art.has_table("samples") else pd.DataFrame()
            score_frames.append(sc[sc["model"] == old].assign(model=m.label))
            if len(sm):
                sample_frames.append(sm[sm["model"] == old].assign(model=m.label))
            reused[m.label] = art.ref
            continue
        if built is None:
            built = load_tasks(tasks)
        model, tok = load_causal_lm(m.name, ws, dtype=spec.dtype, device=spec.device)
        try:
            scores, samples = evaluate_model(
                model, tok, built, tasks, limit=spec.limit, batch_size=spec.batch_size, seed=spec.seed,
                on_task=lambda name, m=m: ctx.note(f"  {m.label}: {name}"),
                on_requests=lambda d, n: ctx.progress("requests", d, n),
            )
        finally:
            _free(model)
        score_frames.append(pd.DataFrame(scores).assign(model=m.label, model_path=m.path_or_id))
        sdf = pd.DataFrame(samples)
        if len(sdf):
            sdf["metrics"] = sdf["metrics"].map(json.dumps)
            sample_frames.append(sdf.assign(model=m.label))
    ctx.progress("models", len(models), len(models))
    scores_df = pd.concat(score_frames, ignore_index=True)
    front = [c for c in SCORE_COLUMNS if c in scores_df.columns]
    w.write_table("scores", scores_df[front + [c for c in scores_df.columns if c not in front]])
    samples_df = pd.concat(sample_frames, ignore_index=True) if sample_frames else pd.DataFrame(
        columns=SAMPLE_COLUMNS)
    front = [c for c in SAMPLE_COLUMNS if c in samples_df.columns]
    w.write_table("samples", samples_df[front + [c for c in samples_df.columns if c not in front]])
    w.extra.update({
        "runs": keys, "reused": reused, "model_order": [m.label for m in models], "label": tasks.label,
        "hub": None if tasks.hub is None else {"online": tasks.hub.online, "reason": tasks.hub.reason},
        "batch_size": spec.batch_size,
    })


def execute(ws: Workspace, spec: BenchmarkSpec, plan: Plan, force: bool, ctx: Context) -> Artifact:
    plan.state["force"] = force  # --force re-runs every model instead of copying earlier scores
    return ws.run_stage(STAGE, params=plan.params, inputs=plan.inputs, seed=spec.seed, force=force,
                        spec=spec.public(), fn=lambda w: build(w, spec, plan, ctx))


DEF = StageDef(STAGE, BenchmarkSpec, plan, build, execute=execute)
