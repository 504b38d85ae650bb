"""Capability retention (paper section 4.4, Table 2): lm-evaluation-harness over an already-loaded model.

Three task sources, resolved by name:
- the embedded suite (`snapcli/data/capability/`, tasks `snap_*`): multiple-choice items written for snap, local
  files, always available -- the default when the Hugging Face hub is not reachable;
- user task YAMLs over local jsonl/parquet/csv files (`--tasks-dir DIR`);
- lm-eval's built-in tasks (the paper's nine), whose datasets come from the hub.

Local data files are read in memory (relative paths resolve against the YAML's folder), so local tasks need no
network, no `datasets` cache, and no working-directory conventions.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.models.hub import HubStatus, hub_status
from snapcli.store.hashing import file_sha256, tree_sha256

# The paper's Table 2, in its column order.
PAPER_TASKS = ["hellaswag", "lambada_openai", "winogrande", "piqa", "arc_challenge", "mmlu", "openbookqa", "boolq",
               "mathqa"]
EMBEDDED_TASKS = ["snap_knowledge", "snap_commonsense", "snap_arithmetic", "snap_reading"]
# Names that expand to a task list on the command line.
TASK_SETS = {"paper": PAPER_TASKS, "embedded": EMBEDDED_TASKS}
SUITE_EMBEDDED, SUITE_HUB, SUITE_LOCAL = "embedded", "hub", "local"
_LOCAL_BUILDERS = {"json": "json", "jsonl": "json", "parquet": "parquet", "csv": "csv"}


def embedded_suite_dir() -> Path:
    return Path(str(resources.files("snapcli") / "data" / "capability"))


# ----------------------------------------------------------------------------------------------- task planning
@dataclass(frozen=True)
class TaskSpec:
    name: str
    suite: str  # embedded | local | hub
    source: str  # folder of the YAML, or "lm-eval" for built-in tasks


@dataclass
class TaskPlan:
    tasks: list[TaskSpec]
    hub: HubStatus | None
    label: str  # one line for the output: which suite and why
    local_dirs: list[Path] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def needs_hub(self) -> bool:
        return any(t.suite == SUITE_HUB for t in self.tasks)

    def fingerprint(self) -> str:
        """Content hash of every local task file, so an edited suite is never served from cache."""
        files: dict[str, str] = {}
        dirs = {Path(t.source) for t in self.tasks if t.suite != SUITE_HUB}
        for d in sorted(dirs):
            for p in sorted(d.rglob("*")):
                if p.is_file() and p.suffix in (".yaml", ".yml", ".jsonl", ".json", ".parquet", ".csv", ".py"):
                    files[f"{d}/{p.relative_to(d)}"] = file_sha256(p)
        return tree_sha256(files)


def _index_dir(path: Path) -> dict[str, str]:
    """Task/group/tag names defined by the YAMLs under `path` -> their kind (fast: no built-in tasks)."""
    tm = _task_manager([path], include_defaults=False)
    return {name: entry.kind.name.lower() for name, entry in tm.task_index.items()}


def plan_tasks(
    requested: list[str] | None,
    tasks_dirs: list[Path] | None = None,
    hub: HubStatus | None = None,
    check_hub: Callable[[], HubStatus] = hub_status,
) -> TaskPlan:
    """Resolve task names to sources; pick the default list; refuse hub tasks offline (exit 2, no traceback)."""
    local_dirs = []
    local: dict[str, Path] = {}
    own: list[str] = []  # leaf tasks defined in the dirs: the default list when --tasks-dir is given
    for d in tasks_dirs or []:
        d = Path(d).expanduser().resolve()
        if not d.is_dir():
            raise SnapError(f"--tasks-dir {d} is not a directory")
        names = _index_dir(d)
        if not names:
            raise SnapError(f"--tasks-dir {d} holds no lm-eval task YAML (a .yaml with a 'task:' key)")
        local_dirs.append(d)
        for n, kind in names.items():
            local.setdefault(n, d)
            if kind in ("task", "py_task") and n not in own:
                own.append(n)
    emb_dir = embedded_suite_dir()
    expanded: list[str] = []
    for name in requested or []:
        for n in TASK_SETS.get(name, [name]):
            if n not in expanded:
                expanded.append(n)

    if not expanded:  # defaults: the user's own tasks, else the paper's nine online, else the embedded suite
        if local_dirs:
            return TaskPlan([TaskSpec(n, SUITE_LOCAL, str(local[n])) for n in own], hub,
                            f"local tasks from {', '.join(map(str, local_dirs))}", local_dirs)
        hub = hub or check_hub()
        if hub.online:
            return TaskPlan([TaskSpec(n, SUITE_HUB, "lm-eval") for n in PAPER_TASKS], hub,
                            "the paper's nine lm-eval tasks (Table 2)", local_dirs)
        return TaskPlan([TaskSpec(n, SUITE_EMBEDDED, str(emb_dir)) for n in EMBEDDED_TASKS], hub,
                        f"EMBEDDED capability suite (offline fallback: {hub.reason}; not comparable to the paper's "
                        "Table 2 numbers)", local_dirs)

    specs = []
    for n in expanded:
        if n in local:
            specs.append(TaskSpec(n, SUITE_LOCAL, str(local[n])))
        elif n in EMBEDDED_TASKS:
            specs.append(TaskSpec(n, SUITE_EMBEDDED, str(emb_dir)))
        else:
            specs.append(TaskSpec(n, SUITE_HUB, "lm-eval"))
    hub_names = [s.name for s in specs if s.suite == SUITE_HUB]
    if hub_names:
        hub = hub or check_hub()
        if not hub.online:
            raise SnapError(
                f"task(s) {', '.join(hub_names)} are not in the embedded suite or --tasks-dir, so they would be "
                f"lm-eval tasks whose data comes from the Hugging Face hub, which is not reachable ({hub.reason}); "
                "offline, use the embedded suite (--tasks embedded, the default offline) or task YAMLs over local "
                "files (--tasks-dir DIR, see docs/benchmark.md)"
            )
    suites = sorted({s.suite for s in specs})
    label = {
        SUITE_EMBEDDED: "EMBEDDED capability suite (snap's own items; not comparable to the paper's Table 2)",
        SUITE_HUB: "lm-eval tasks from the Hugging Face hub",
        SUITE_LOCAL: f"local tasks from {', '.join(map(str, local_dirs))}",
    }
    return TaskPlan(specs, hub, "; ".join(label[s] for s in suites), local_dirs)


# ----------------------------------------------------------------------------------------------- lm-eval plumbing
def _read_local_split(path: Path, builder: str):
    """One local file -> datasets.Dataset, values exactly as written (no dtype guessing for JSON)."""
    import datasets

    if builder == "json":
        text = path.read_text(encoding="utf-8")
        try:
            rows = json.loads(text) if text.lstrip().startswith("[") else [
                json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise SnapError(f"{path} is not JSON lines or a JSON array: {e}") from None
        return datasets.Dataset.from_list(rows)
    df = pd.read_parquet(path) if builder == "parquet" else pd.read_csv(path)
    return datasets.Dataset.from_pandas(df, preserve_index=False)


def _load_local_dataset(files: dict[str, list[Path]], builder: str, **_: Any):
    """lm-eval `custom_dataset` hook: the task's splits read in memory from local files."""
    import datasets

    return datasets.DatasetDict({
        split: datasets.concatenate_datasets([_read_local_split(p, builder) for p in paths])
        for split, paths in files.items()
    })


def _localize(cfg: dict[str, Any], base: Path, yaml_path: str) -> None:
    """Point a local-file task at absolute paths and load it in memory (no hub, no datasets cache)."""
    builder = _LOCAL_BUILDERS.get(str(cfg.get("dataset_path", "")).lower())
    if builder is None or callable(cfg.get("custom_dataset")):
        return
    kwargs = dict(cfg.get("dataset_kwargs") or {})
    data_files = kwargs.pop("data_files", None)
    if data_files is None:
        raise SnapError(f"{yaml_path}: dataset_path '{cfg['dataset_path']}' needs dataset_kwargs.data_files")
    if isinstance(data_files, (str, list)):
        data_files = {"test": data_files}
    flat = [f for v in data_files.values() for f in ([v] if isinstance(v, str) else v)]
    if any("://" in str(f) for f in flat):  # remote files (lm-eval's own tasks use hf://...): datasets' job
        return

    files: dict[str, list[Path]] = {}
    for split, value in data_files.items():
        paths = []
        for f in [value] if isinstance(value, str) else value:
            p = Path(f).expanduser()
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise SnapError(f"{yaml_path}: data file {p} (split '{split}') does not exist")
            paths.append(p)
        files[str(split)] = paths
    cfg["dataset_kwargs"] = kwargs
    cfg["custom_dataset"] = functools.partial(_load_local_dataset, files, builder)


def _task_manager(include_path: list[Path], include_defaults: bool):
    """An lm-eval TaskManager whose local-file tasks resolve their data next to their YAML."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    try:  # the factory hook (and TaskManager.task_index) are lm-eval >= 0.4.13 internals
        from lm_eval.tasks._factory import TaskFactory
    except ImportError:
        raise SnapError(f"snap benchmark needs lm-eval >= 0.4.13 (installed: {getattr(lm_eval, '__version__', '?')}); "
                        "pip install -U lm-eval") from None

    builtin = Path(lm_eval.tasks.__file__).resolve().parent

    class LocalFilesFactory(TaskFactory):
        def _load_full_config(self, entry, overrides=None):
            cfg = super()._load_full_config(entry, overrides)
            if entry.yaml_path and builtin not in Path(entry.yaml_path).resolve().parents:
                _localize(cfg, Path(entry.yaml_path).parent, str(entry.yaml_path))
            return cfg

    with quiet_lm_eval():
        tm = TaskManager(include_path=[str(p) for p in include_path] or None, include_defaults=include_defaults)
    tm._factory = LocalFilesFactory(meta=tm._factory._meta)
    return tm


@contextlib.contextmanager
def quiet_lm_eval() -> Iterator[None]:
    """lm-eval and datasets log and draw tqdm bars on stderr; snap shows its own progress there instead."""
    if os.environ.get("SNAP_VERBOSE"):
        yield
        return
    import datasets
    import lm_eval.api.task as lm_task
    from tqdm import tqdm

    loggers = [logging.getLogger(n) for n in ("lm_eval", "lm-eval", "datasets")]
    levels = [lg.level for lg in loggers]
    was_enabled = datasets.is_progress_bar_enabled()
    saved_tqdm = lm_task.tqdm
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        datasets.disable_progress_bar()
        lm_task.tqdm = functools.partial(tqdm, disable=True)
        yield
    finally:
        for lg, lvl in zip(loggers, levels, strict=True):
            lg.setLevel(lvl)
        if was_enabled:
            datasets.enable_progress_bar()
        lm_task.tqdm = saved_tqdm


@dataclass
class LoadedTasks:
    """Built lm-eval tasks (datasets read once, reused for every model): name -> TaskManager.load() result."""

    manager: Any
    tasks: dict[str, dict[str, Any]]


def load_tasks(plan: TaskPlan) -> LoadedTasks:
    dirs = sorted({Path(t.source) for t in plan.tasks if t.suite != SUITE_HUB})
    tm = _task_manager(dirs, include_defaults=plan.needs_hub)
    built: dict[str, Any] = {}
    with quiet_lm_eval():
        for spec in plan.tasks:
            try:
                loaded = tm.load([spec.name])
            except KeyError:
                raise SnapError(f"unknown task '{spec.name}' (not an lm-eval task, not in the embedded suite "
                                f"({', '.join(EMBEDDED_TASKS)}) nor in --tasks-dir)") from None
            except SnapError:
                raise
            except Exception as e:  # noqa: BLE001 - a broken YAML or dataset is bad input, not a crash
                raise SnapError(f"cannot load task '{spec.name}' from {spec.source}: {type(e).__name__}: "
                                f"{' '.join(str(e).split())[:300]}") from None
            built[spec.name] = loaded
    return LoadedTasks(tm, built)


class _ProgressHFLM:
    """Factory for an HFLM subclass that reports request progress to a callback (lm-eval's tqdm stays off)."""

    @staticmethod
    def make(model, tokenizer, batch_size: int, on_requests: Callable[[int, int], None] | None):
        from lm_eval.models.huggingface import HFLM

        class ProgressHFLM(HFLM):
            def _report(self, done: int, total: int) -> None:
                if on_requests is not None:
                    on_requests(done, total)

            def _run(self, fn, requests, disable_tqdm):
                self._snap_total, self._snap_done = len(requests), 0
                self._report(0, self._snap_total)
                out = fn(requests, disable_tqdm=True)
                self._report(self._snap_total, self._snap_total)
                return out

            def loglikelihood(self, requests, disable_tqdm: bool = False):
                return self._run(super().loglikelihood, requests, disable_tqdm)

            def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
                return self._run(super().loglikelihood_rolling, requests, disable_tqdm)

            def generate_until(self, requests, disable_tqdm: bool = False):
                return self._run(super().generate_until, requests, disable_tqdm)

            def _model_call(self, inps, *args, **kwargs):
                out = super()._model_call(inps, *args, **kwargs)
                total = getattr(self, "_snap_total", 0)
                self._snap_done = min(total, getattr(self, "_snap_done", 0) + int(inps.shape[0]))
                self._report(self._snap_done, total)
                return out

        with quiet_lm_eval():
            return ProgressHFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _score_rows(results: dict[str, Any], spec: TaskSpec, top: str) -> list[dict[str, Any]]:
    rows = []
    for task, res in results.get("results", {}).items():
        n = (results.get("n-samples", {}).get(task) or {}).get("effective")
        for key, value in res.items():
            if "," not in key or "_stderr," in key:
                continue
            metric, filt = key.split(",", 1)
            if (val := _num(value)) is None:
                continue
            rows.append({
                "task": task, "metric": metric, "value": val,
                "stderr": _num(res.get(f"{metric}_stderr,{filt}")), "suite": spec.suite, "parent": top,
                "is_top": task == top, "n": n, "filter": filt,
            })
    return rows


def _sample_rows(results: dict[str, Any], spec: TaskSpec) -> list[dict[str, Any]]:
    rows = []
    for task, samples in (results.get("samples") or {}).items():
        for s in samples:
            args = s.get("arguments") or []
            prompt = args[0][0] if args and isinstance(args[0], (list, tuple)) else str(args[:1])
            fr = s.get("filtered_resps") or []
            mc = bool(fr) and all(isinstance(r, (list, tuple)) and len(r) == 2 for r in fr)
            logliks = [float(r[0]) for r in fr] if mc else None
            metrics = {m: _num(s.get(m)) for m in s.get("metrics") or [] if _num(s.get(m)) is not None}
            rows.append({
                "task": task, "suite": spec.suite, "doc_id": int(s.get("doc_id", -1)), "prompt": str(prompt),
                "choices": [str(a[1]) for a in args] if mc else None,
                "target": str(s.get("target")),
                "logliks": logliks,
                "pred": int(max(range(len(logliks)), key=logliks.__getitem__)) if logliks else None,
                "response": None if mc else str(fr[0] if fr else ""),
                "acc": metrics.get("acc"), "acc_norm": metrics.get("acc_norm"),
                "metrics": metrics,
            })
    return rows


def evaluate_model(
    model,
    tokenizer,
    tasks: LoadedTasks,
    plan: TaskPlan,
    *,
    limit: float | None = None,
    batch_size: int = 8,
    seed: int = 1234,
    on_task: Callable[[str], None] | None = None,
    on_requests: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Zero-shot lm-eval on an already-loaded model -> (score rows, per-sample rows), model column not set.

    Calls `lm_eval.evaluate` once per task (so progress can name the task) after the setup `simple_evaluate`
    would do (seeds, zero-shot, fewshot seed). `simple_evaluate` itself is avoided on purpose: per call it
    re-indexes lm-eval's ~14k task YAMLs unless handed a manager, runs torch's collect_env (2-7 s of
    subprocesses) and shells out to `git describe`, which prints "fatal: not a git repository" on stderr.
    """
    import random

    import numpy as np
    import torch
    from lm_eval import evaluate

    lm = _ProgressHFLM.make(model, tokenizer, batch_size, on_requests)
    scores: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    lim: float | int | None = None if limit is None else (int(limit) if float(limit).is_integer() else float(limit))
    for spec in plan.tasks:
        if on_task:
            on_task(spec.name)
        task_dict = tasks.tasks[spec.name]
        for task_obj in task_dict["tasks"].values():
            task_obj.set_config(key="num_fewshot", value=0)
            task_obj.set_fewshot_seed(seed=seed)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        with quiet_lm_eval():
            res = evaluate(lm=lm, task_dict=task_dict, limit=lim, log_samples=True, bootstrap_iters=1000)
        if res is None:
            raise RuntimeError(f"lm-eval returned no results for {spec.name}")
        scores.extend(_score_rows(res, spec, spec.name))
        samples.extend(_sample_rows(res, spec))
    return scores, samples


# ----------------------------------------------------------------------------------------------- comparison
def headline_scores(scores: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """One number per (model, requested task): `metric` if the task reports it, else acc, else its first metric."""
    df = scores
    if "is_top" in df.columns:
        df = df[df["is_top"].astype(bool)]
    if "filter" in df.columns:
        df = df.sort_values("filter", key=lambda s: s != "none", kind="stable")
    rows = []
    for (model, task), g in df.groupby(["model", "task"], sort=False):
        pick = None
        for m in (metric, "acc"):
            hit = g[g["metric"] == m]
            if len(hit):
                pick = hit.iloc[0]
                break
        if pick is None:
            pick = g.iloc[0]
        rows.append({"model": model, "task": task, "metric": pick["metric"], "value": float(pick["value"]),
                     "stderr": _num(pick.get("stderr"))})
    return pd.DataFrame(rows, columns=["model", "task", "metric", "value", "stderr"])


def comparison_table(scores: pd.DataFrame, metric: str = "acc", base: str | None = None) -> pd.DataFrame:
    """Table 2: one row per model (input order), one column per task, `average` (unweighted mean over tasks, as
    the paper) and `rel_change` = average / base average - 1 (base = `base` or the first model; NaN for it).

    Values stay fractions in [0, 1]; render them as percentages. Tasks missing for a model count as NaN and
    the average is then taken over that model's available tasks (flagged by `n_tasks`).
    """
    head = headline_scores(scores, metric)
    if head.empty:
        return pd.DataFrame(columns=["model", "average", "rel_change", "n_tasks"])
    models = list(dict.fromkeys(head["model"]))
    tasks = list(dict.fromkeys(head["task"]))
    wide = head.pivot(index="model", columns="task", values="value").reindex(index=models, columns=tasks)
    wide["average"] = wide[tasks].mean(axis=1)
    wide["n_tasks"] = wide[tasks].notna().sum(axis=1)
    base = base if base is not None else models[0]
    if base not in wide.index:
        raise SnapError(f"base model '{base}' has no scores (models: {', '.join(models)})")
    base_avg = wide.loc[base, "average"]
    wide["rel_change"] = wide["average"] / base_avg - 1.0 if base_avg else float("nan")
    wide.loc[base, "rel_change"] = float("nan")
    out = wide.reset_index()
    out.columns.name = None
    return out[["model", *tasks, "average", "rel_change", "n_tasks"]]


def format_rel_change(x: float | None) -> str:
    """-0.042 -> '-4.2%' (the paper's notation); base/NaN -> ''."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x * 100:+.1f}%"
