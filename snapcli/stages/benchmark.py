"""Stage "benchmark": capability retention of one or more models (paper section 4.4, Table 2).

One artifact per invocation holds every model's scores, so `benchmark@latest` is the comparison a report shows.
A model already benchmarked on the same tasks (same weights, same task files, same limit) is not re-run: its rows
are copied from the earlier artifact -- re-benchmarking the base model next to each new unlearned one is free.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from snapcli.errors import SnapError
from snapcli.evaluate.capability import LoadedTasks, TaskPlan, evaluate_model, load_tasks, plan_tasks
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.hashing import json_sha256
from snapcli.store.schema import register_table_schema

STAGE = "benchmark"
SCORE_COLUMNS = ["model", "task", "metric", "value", "stderr", "suite"]
SAMPLE_COLUMNS = ["model", "task", "suite", "doc_id", "prompt", "target"]
register_table_schema(STAGE, "scores", SCORE_COLUMNS)
register_table_schema(STAGE, "samples", SAMPLE_COLUMNS)


@dataclass
class BenchmarkSpec:
    models: list[str]
    tasks: list[str] | None = None  # None: the default list (see capability.plan_tasks)
    tasks_dirs: list[Path] = field(default_factory=list)
    limit: float | None = None
    batch_size: int = 8
    device: str | None = None
    dtype: str | None = None
    seed: int = 1234


@dataclass
class Callbacks:
    """Progress hooks for the CLI; the stage itself never prints."""

    on_model: Callable[[str, int, int, bool], None] | None = None  # label, index, count, reused
    on_task: Callable[[str], None] | None = None
    on_requests: Callable[[int, int], None] | None = None


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


def run_benchmark(
    ws: Workspace,
    spec: BenchmarkSpec,
    *,
    plan: TaskPlan | None = None,
    models: list[ModelRef] | None = None,
    force: bool = False,
    callbacks: Callbacks | None = None,
) -> tuple[Artifact, TaskPlan]:
    """Benchmark every model on the planned tasks -> (benchmark artifact with `scores` and `samples`, plan).

    `plan` and `models` may be resolved by the caller first (the CLI does, so bad input fails before any
    progress display); otherwise they are resolved here from `spec`.
    """
    from snapcli.models import load_causal_lm

    cb = callbacks or Callbacks()
    if spec.batch_size < 1:
        raise SnapError(f"--batch-size must be >= 1 (got {spec.batch_size})")
    if spec.limit is not None and spec.limit <= 0:
        raise SnapError(f"--limit must be > 0 (got {spec.limit})")
    models = models or resolve_models(ws, spec.models)
    plan = plan or plan_tasks(spec.tasks, spec.tasks_dirs)
    suite_fp = plan.fingerprint()
    keys = {m.label: _run_key(m, plan, spec, suite_fp) for m in models}
    params = {
        "models": [{"label": m.label, "model": m.path_or_id if m.kind != "artifact" else m.label, "kind": m.kind,
                    "fingerprint": m.fingerprint} for m in models],
        "tasks": plan.names, "suites": sorted({t.suite for t in plan.tasks}), "suite_fingerprint": suite_fp,
        "limit": spec.limit, "seed": spec.seed, "dtype": spec.dtype, "device": spec.device, "num_fewshot": 0,
    }
    inputs = {f"model_{i}": m.artifact for i, m in enumerate(models) if m.artifact is not None}

    def fn(w: StageWriter) -> None:
        built: LoadedTasks | None = None
        score_frames, sample_frames, reused = [], [], {}
        for i, m in enumerate(models):
            prev = None if force else _find_previous(ws, keys[m.label])
            if cb.on_model:
                cb.on_model(m.label, i, len(models), prev is not None)
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
                built = load_tasks(plan)
            model, tok = load_causal_lm(m.name, ws, dtype=spec.dtype, device=spec.device)
            try:
                scores, samples = evaluate_model(
                    model, tok, built, plan, limit=spec.limit, batch_size=spec.batch_size, seed=spec.seed,
                    on_task=cb.on_task, on_requests=cb.on_requests,
                )
            finally:
                _free(model)
            score_frames.append(pd.DataFrame(scores).assign(model=m.label, model_path=m.path_or_id))
            sdf = pd.DataFrame(samples)
            if len(sdf):
                sdf["metrics"] = sdf["metrics"].map(json.dumps)
                sample_frames.append(sdf.assign(model=m.label))
        scores_df = pd.concat(score_frames, ignore_index=True)
        front = [c for c in SCORE_COLUMNS if c in scores_df.columns]
        w.write_table("scores", scores_df[front + [c for c in scores_df.columns if c not in front]])
        samples_df = pd.concat(sample_frames, ignore_index=True) if sample_frames else pd.DataFrame(
            columns=SAMPLE_COLUMNS)
        front = [c for c in SAMPLE_COLUMNS if c in samples_df.columns]
        w.write_table("samples", samples_df[front + [c for c in samples_df.columns if c not in front]])
        w.extra.update({
            "runs": keys, "reused": reused, "model_order": [m.label for m in models], "label": plan.label,
            "hub": None if plan.hub is None else {"online": plan.hub.online, "reason": plan.hub.reason},
            "batch_size": spec.batch_size,
        })

    art = ws.run_stage(STAGE, params=params, inputs=inputs, fn=fn, force=force, seed=spec.seed)
    return art, plan
