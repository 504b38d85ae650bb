"""`snap run`: generate -> filter -> augment -> train -> eval -> benchmark -> report as one cached pipeline.

The pipeline is a list of *units*, each one call of a stage function (one generate per target, one train per
sequential step, one eval per (model, target), ...). Every unit runs through the store's `run_stage`, so a unit
whose parameters and input artifacts are unchanged is reused and only what changed reruns.

Why a pipeline record: `--dry-run` must say which units are cached *without running anything*, but a stage's
real cache key is computed inside the stage function from resolved inputs (backend identity, model files, ...).
Instead of duplicating every stage's key, each run publishes a `pipeline` artifact (one per run, the run log)
that maps each unit's *fingerprint* -- its effective config slice plus the content hashes of the artifacts it
consumed -- to the artifacts it produced. A dry run recomputes the fingerprints and looks them up: a unit is
"cached" when an earlier run produced an artifact for exactly that fingerprint and the artifact is still there;
a unit whose upstream is new is new (its inputs are not known yet). `--from-stage` takes the units before that
stage from the last run's record.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from snapcli import __version__
from snapcli.config import SECTIONS, section_kwargs
from snapcli.errors import SnapError
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.hashing import json_sha256
from snapcli.store.schema import register_table_schema

STAGES = list(SECTIONS)  # generate filter augment train eval benchmark report
RECORD_STAGE = "pipeline"
RECORD_COLUMNS = ["unit", "stage", "status", "refs", "content_hashes", "fingerprint", "seconds", "cpu_seconds"]
register_table_schema(RECORD_STAGE, "units", RECORD_COLUMNS)
DEFAULT_MODEL = "smollm2"

# Keys snap run sets itself from the previous stages' artifacts; a config that sets them would be ignored.
WIRED: dict[str, list[str]] = {
    "generate": ["entity"], "filter": ["from"], "augment": ["from"], "train": ["from", "retain", "base"],
    "eval": ["model", "forget", "retain", "general"], "benchmark": ["model"], "report": ["evals", "benchmarks"],
}
METRICS = ["UA", "UA-multihop", "RA", "TA", "Avg"]
Progress = Callable[[str, int, int], None]


# ------------------------------------------------------------------------------------------------ units
@dataclass
class Unit:
    """One stage call. `deps` are earlier units whose artifacts this one consumes (its fingerprint covers them)."""

    key: str  # unique in a run, e.g. "generate[Bill Gates]", "train[1]", "eval[base|Bill Gates]"
    stage: str  # the stage it counts as for --until / --from-stage
    produces: list[str]  # stages of the artifacts it writes (an example import writes filter + augment)
    config: dict[str, Any]  # everything of the effective config that determines its output
    deps: list[str]
    run: Callable[[Workspace, dict[str, list[Artifact]], bool], list[Artifact]]  # (ws, deps' artifacts, force)
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return "+".join(self.produces)


@dataclass
class UnitResult:
    key: str
    stage: str
    label: str
    status: str  # cached | new | from-run | skipped  (a dry run says what a run would do)
    reason: str = ""
    refs: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    seconds: float | None = None
    cpu_seconds: float | None = None  # this process's CPU time (all threads): wall time on a shared machine lies

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.key, "stage": self.stage, "label": self.label, "status": self.status,
                "reason": self.reason, "refs": self.refs, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}


@dataclass
class Callbacks:
    """Hooks for the CLI (the pipeline itself never prints)."""

    on_unit_start: Callable[[Unit], None] | None = None
    on_unit_done: Callable[[UnitResult], None] | None = None
    on_progress: Progress | None = None  # (phase, done, total) of the running stage
    on_train_step: Callable[[Any], None] | None = None


def _fingerprint(unit: Unit, dep_hashes: dict[str, list[str]]) -> str:
    return json_sha256({"unit": unit.key, "stage": unit.stage, "config": unit.config,
                        "inputs": {d: dep_hashes[d] for d in unit.deps}, "snap": __version__})


# ------------------------------------------------------------------------------------------------ config checks
def check_config(cfg: dict[str, Any]) -> None:
    """Refuse what snap run cannot honour, before anything runs (exit 2)."""
    from snapcli.config import command_specs

    for section, keys in WIRED.items():
        specs = command_specs(section)
        for k in keys:
            if k == "entity" and section == "generate":
                continue  # filled from the top-level `entity`
            if k in cfg[section] and cfg[section][k] != specs[k].default:
                raise SnapError(f"{section}.{k} is set by snap run from the previous stage's artifacts; remove it "
                                f"from the config (or run `snap {section}` by hand)")
    t = cfg["train"]
    if t.get("accelerate_config") or int(t.get("num_processes") or 1) != 1:
        raise SnapError("snap run trains in-process: train.accelerate_config / num_processes need "
                        "`snap train --accelerate-config ...` (run the stages one by one)")
    if t.get("resume") not in (None, "auto", "none"):
        raise SnapError("train.resume must be auto or none in snap run (a checkpoint dir belongs to one snap train)")
    if not cfg.get("example") and not cfg.get("entity"):
        raise SnapError("nothing to unlearn: pass --entity NAME, or a --config with `entity:` or `example:`")
    if cfg.get("sequential") and len(cfg.get("entity") or []) < 2:
        raise SnapError("sequential: true needs at least two entities")
    if cfg.get("example") and cfg.get("sequential"):
        raise SnapError("an example set is one import; sequential unlearning needs generated data per entity")


def _strip(section: dict[str, Any], drop: list[str]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k not in drop and k != "force"}


def base_model(cfg: dict[str, Any]) -> str:
    return cfg["train"].get("model") or DEFAULT_MODEL


# ------------------------------------------------------------------------------------------------ the graph
def build_units(cfg: dict[str, Any], cb: Callbacks) -> list[Unit]:
    """The pipeline of this config as units in execution order."""
    from snapcli.cli.common import parse_csv

    units: list[Unit] = []
    entities: list[str] = list(cfg.get("entity") or [])
    model = base_model(cfg)
    data_units: list[tuple[str, str, str, str]] = []  # (target label, filter unit, augment unit, index in unit)

    if cfg.get("example"):
        units.append(_import_unit(cfg))
        data_units.append((", ".join(entities), "import", "import", "example"))
    else:
        from snapcli.cli.generate import parse_aliases

        aliases = parse_aliases(list(cfg["generate"].get("alias") or []), entities)
        for e in entities:
            g, f, a = f"generate[{e}]", f"filter[{e}]", f"augment[{e}]"
            units.append(_generate_unit(g, e, aliases.get(e, []), cfg, cb))
            units.append(_filter_unit(f, g, cfg, cb))
            units.append(_augment_unit(a, f, cfg, cb))
            data_units.append((e, f, a, "data"))

    prompting = bool(cfg["eval"].get("prompting"))
    after_models: list[tuple[str, list[int]]] = []  # (train unit, indices into data_units it is evaluated on)
    if not prompting:
        if cfg.get("sequential"):
            prev = None
            for i, (_e, f, a, _) in enumerate(data_units):
                t = f"train[{i + 1}]"
                units.append(_train_unit(t, [(f, a)], prev, model, cfg, cb))
                after_models.append((t, list(range(i + 1))))
                prev = t
        else:
            units.append(_train_unit("train", [(f, a) for _e, f, a, _ in data_units], None, model, cfg, cb))
            after_models.append(("train", list(range(len(data_units)))))

    evals: list[str] = []
    sets = parse_csv(cfg["eval"].get("sets")) or ["forget", "retain", "general"]
    for e, f, a, _ in data_units:
        k = f"eval[base|{e}]"
        units.append(_eval_unit(k, None, (f, a), model, sets, False, cfg, cb))
        evals.append(k)
        if prompting:
            k2 = f"eval[prompting|{e}]"
            units.append(_eval_unit(k2, None, (f, a), model, sets, True, cfg, cb))
            evals.append(k2)
    for t, idx in after_models:
        for i in idx:
            e, f, a, _ = data_units[i]
            k = f"eval[{t}|{e}]"
            units.append(_eval_unit(k, t, (f, a), model, sets, False, cfg, cb))
            evals.append(k)

    final_trains = [after_models[-1][0]] if after_models else []
    units.append(_benchmark_unit(final_trains, model, cfg, cb))
    units.append(_report_unit(evals, cfg))
    return units


def _backend(cfg_section: dict[str, Any], ws: Workspace):
    from snapcli.llm import make_backend

    b, _why = make_backend(cfg_section.get("backend"), ws, base_url=cfg_section.get("base_url"),
                           concurrency=cfg_section.get("concurrency") or 8, device=cfg_section.get("device"),
                           batch_size=cfg_section.get("batch_size") or 8)
    return b


def _backend_identity(section: dict[str, Any]) -> str:
    """Which backend the section runs on here (the default depends on OPENAI_API_KEY / --base-url)."""
    from snapcli.llm import choose_backend

    return choose_backend(section.get("backend"), section.get("base_url"))[0]


def _import_unit(cfg: dict[str, Any]) -> Unit:
    from snapcli.examples import example_fingerprint, import_example

    name = cfg["example"]
    aug = cfg["augment"]
    seed = cfg["augment"].get("seed", 0)
    conf = {"example": name, "sha256": example_fingerprint(name), "general": aug.get("general"),
            "general_size": aug.get("general_size"), "general_train": aug.get("general_train") or 0, "seed": seed}

    def run(ws: Workspace, deps: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        arts = import_example(ws, name, general=aug.get("general"), general_size=aug.get("general_size"),
                              general_train=aug.get("general_train") or 0, seed=seed)
        return [arts["forget"], arts["retain"]]

    return Unit("import", "filter", ["filter", "augment"], conf, [], run, label=f"example {name} (curated)")


def _generate_unit(key: str, entity: str, aliases: list[str], cfg: dict[str, Any], cb: Callbacks) -> Unit:
    from snapcli.cli.common import parse_csv

    sec = cfg["generate"]
    conf = {**_strip(sec, ["entity", "alias"]), "entity": entity, "aliases": aliases,
            "backend_chosen": _backend_identity(sec)}

    def run(ws: Workspace, deps: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from snapcli.stages.generate import run_generate

        kw = section_kwargs(cfg, "generate")
        art = run_generate(
            ws, entities=[entity], backend=_backend(sec, ws), question_model=kw["question_model"],
            response_model=kw["response_model"], categories=parse_csv(kw["categories"]) or None,
            calls=kw["calls"], per_call=kw["per_call"], k=kw["k"], universe=kw["universe"],
            aliases={entity: aliases} if aliases else {}, responder=kw["responder"], temperature=kw["temperature"],
            seed=kw["seed"], prompts_path=str(kw["prompts"]) if kw["prompts"] else None, force=force,
            on_progress=cb.on_progress,
        )
        return [art]

    return Unit(key, "generate", ["generate"], conf, [], run, label=entity)


def _filter_unit(key: str, gen: str, cfg: dict[str, Any], cb: Callbacks) -> Unit:
    sec = cfg["filter"]
    conf = {**_strip(sec, ["from"]), "backend_chosen": _backend_identity(sec)}

    def run(ws: Workspace, deps: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from snapcli.llm import choose_backend
        from snapcli.stages.filter import run_filter

        kw = section_kwargs(cfg, "filter")
        categorizer = kw["categorizer"]
        if categorizer == "auto":
            categorizer = "llm" if choose_backend(kw["backend"], kw["base_url"])[0] == "openai" else "rules"
        b = _backend(sec, ws) if categorizer == "llm" else None
        art = run_filter(
            ws, deps[gen][0], threshold=kw["threshold"], mask_entity=kw["mask_entity"], embedder=kw["embedder"],
            relevance_check=kw["relevance"], categorizer=categorizer, backend=b, model=kw["model"],
            train_size=kw["train_size"], seed=kw["seed"], force=force, on_progress=cb.on_progress,
        )
        return [art]

    return Unit(key, "filter", ["filter"], conf, [gen], run, label=key[len("filter["):-1])


def _augment_unit(key: str, flt: str, cfg: dict[str, Any], cb: Callbacks) -> Unit:
    from snapcli.cli.common import parse_csv

    sec = cfg["augment"]
    conf = {**_strip(sec, ["from"]), "backend_chosen": _backend_identity(sec)}

    def run(ws: Workspace, deps: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from snapcli.stages.augment import load_general, run_augment

        kw = section_kwargs(cfg, "augment")
        load_general(kw["general"])
        art = run_augment(
            ws, deps[flt][0], backend=_backend(sec, ws), question_model=kw["question_model"],
            response_model=kw["response_model"], universe=kw["universe"], subjects=list(kw["subject"] or []),
            categories=parse_csv(kw["categories"]) or None, calls=kw["calls"], per_call=kw["per_call"],
            general=kw["general"], general_size=kw["general_size"], general_train=kw["general_train"],
            threshold=kw["threshold"],
            mask_entity=kw["mask_entity"], embedder=kw["embedder"], train_size=kw["train_size"],
            answer_tokens=kw["answer_tokens"], temperature=kw["temperature"], seed=kw["seed"],
            prompts_path=str(kw["prompts"]) if kw["prompts"] else None, force=force, on_progress=cb.on_progress,
        )
        return [art]

    return Unit(key, "augment", ["augment"], conf, [flt], run, label=key[len("augment["):-1])


def _data_arts(deps: dict[str, list[Artifact]], f: str, a: str) -> tuple[Artifact, Artifact]:
    """The forget (filter) and retain (augment) artifacts of a data unit pair (an import unit holds both)."""
    if f == a:
        return deps[f][0], deps[f][1]
    return deps[f][0], deps[a][0]


def _train_unit(key: str, data: list[tuple[str, str]], base: str | None, model: str, cfg: dict[str, Any],
                cb: Callbacks) -> Unit:
    from snapcli.cli.common import parse_csv

    sec = cfg["train"]
    conf = {**_strip(sec, ["from", "retain", "base", "resume", "accelerate_config", "num_processes"]),
            "model": model}
    deps = list(dict.fromkeys([*(x for pair in data for x in pair), *([base] if base else [])]))

    def run(ws: Workspace, arts: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from dataclasses import replace

        from snapcli.models import model_defaults
        from snapcli.stages.train import TrainInputs, run_train
        from snapcli.train.loop import LoraSpec, TrainConfig
        from snapcli.train.regularizers import RegSpec, get_regularizer

        kw = section_kwargs(cfg, "train")
        get_regularizer(kw["reg"])
        pairs = [_data_arts(arts, f, a) for f, a in data]
        retain = [] if kw["no_retain"] else [p[1].ref for p in pairs]
        spec = TrainInputs(forget=[p[0].ref for p in pairs], retain=retain, retain_from=kw["retain_from"],
                           no_retain=kw["no_retain"], base=arts[base][-1].ref if base else None)
        tcfg = TrainConfig(
            model=model, model_path="", epochs=kw["epochs"], max_steps=kw["max_steps"],
            lr=kw["lr"] if kw["lr"] is not None else float(model_defaults(model)["lr"]),
            batch_size=kw["batch_size"], grad_accum=kw["grad_accum"], weight_decay=kw["weight_decay"],
            warmup_ratio=kw["warmup_ratio"], scheduler=kw["scheduler"], max_grad_norm=kw["max_grad_norm"],
            max_length=kw["max_length"], loss_on=kw["loss_on"], seed=kw["seed"], bf16=kw["bf16"],
            gradient_checkpointing=kw["gradient_checkpointing"], fisher_samples=kw["fisher_samples"],
            reg=RegSpec(name=kw["reg"], lam=kw["lam"], projections=kw["projections"], p=kw["p"],
                        params=kw["reg_params"], init_dtype=kw["init_dtype"]),
            lora=LoraSpec(r=kw["lora_r"], alpha=kw["lora_alpha"], targets=parse_csv(kw["lora_targets"]),
                          merge=kw["merge_lora"]) if kw["lora"] else None,
        )
        tcfg.check()
        seeds = [int(s) for s in parse_csv(kw["seeds"])] if kw["seeds"] else [kw["seed"]]
        out = []
        for s in seeds:
            art = run_train(ws, spec, replace(tcfg, seed=s), force=force, resume=kw["resume"] or "auto",
                            save_every=kw["save_every"], on_step=cb.on_train_step)
            assert art is not None  # single process: always the main one
            out.append(art)
        return out

    return Unit(key, "train", ["train"], conf, deps, run, label=key, meta={"base": base})


def _eval_unit(key: str, trained: str | None, data: tuple[str, str], model: str, sets: list[str], prompting: bool,
               cfg: dict[str, Any], cb: Callbacks) -> Unit:
    from snapcli.cli.common import parse_csv

    conf = {**_strip(cfg["eval"], ["model", "forget", "retain", "general", "prompting"]), "prompting": prompting,
            "model": "trained" if trained else model}
    f, a = data
    deps = list(dict.fromkeys([f, a, *([trained] if trained else [])]))

    def run(ws: Workspace, arts: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from snapcli.stages.evaluate import EvalSpec, run_eval

        kw = section_kwargs(cfg, "eval")
        forget, retain = _data_arts(arts, f, a)
        models = [x.ref for x in arts[trained]] if trained else [model]
        spec = EvalSpec(
            models=models, sets=parse_csv(kw["sets"], allowed=["forget", "retain", "general"], what="set"),
            forget=forget.ref, retain=retain.ref, general=retain.ref, limit=kw["limit"],
            max_new_tokens=kw["max_new_tokens"], batch_size=kw["batch_size"], prompting=prompting, judge=kw["judge"],
            temperature=kw["temperature"], seed=kw["seed"], backend=kw["backend"], device=kw["device"],
            dtype=kw["dtype"], group_seeds=kw["group"] == "seeds",
        )
        return [run_eval(ws, spec, force=force, on_progress=cb.on_progress)]

    role = "after" if (trained or prompting) else "before"
    return Unit(key, "eval", ["eval"], conf, deps, run, label=key[5:-1],
                meta={"role": role, "target": key.split("|", 1)[1][:-1], "trained": trained, "prompting": prompting})


def _benchmark_unit(trains: list[str], model: str, cfg: dict[str, Any], cb: Callbacks) -> Unit:
    from snapcli.cli.common import parse_csv

    conf = {**_strip(cfg["benchmark"], ["model", "metric"]), "model": model}

    def run(ws: Workspace, arts: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from snapcli.stages.benchmark import BenchmarkSpec, run_benchmark
        from snapcli.stages.benchmark import Callbacks as BCallbacks

        kw = section_kwargs(cfg, "benchmark")
        models = [model, *(a.ref for t in trains for a in arts[t])]
        spec = BenchmarkSpec(models=models, tasks=parse_csv(kw["tasks"]) or None,
                             tasks_dirs=[Path(p) for p in kw["tasks_dir"] or []], limit=kw["limit"],
                             batch_size=kw["batch_size"], device=kw["device"], dtype=kw["dtype"], seed=kw["seed"])
        on_req = (lambda d, n: cb.on_progress("benchmark requests", d, n)) if cb.on_progress else None
        art, _plan = run_benchmark(ws, spec, force=force, callbacks=BCallbacks(on_requests=on_req))
        return [art]

    return Unit("benchmark", "benchmark", ["benchmark"], conf, list(trains), run, label="base"
                + "".join(f" + {t}" for t in trains))


def _report_unit(evals: list[str], cfg: dict[str, Any]) -> Unit:
    from snapcli.config import command_specs

    sec = cfg["report"]
    title = sec.get("title")
    if title == command_specs("report")["title"].default and cfg.get("name"):
        title = f"snap report: {cfg['name']}"
    conf = {**_strip(sec, ["evals", "benchmarks"]), "title": title}

    def run(ws: Workspace, arts: dict[str, list[Artifact]], force: bool) -> list[Artifact]:
        from snapcli.stages.report import run_report

        eval_refs = [a.ref for e in evals for a in arts[e]]
        bench = [a.ref for a in arts.get("benchmark", [])]
        art, _data = run_report(ws, evals=eval_refs, benchmarks=bench or None, title=title, force=force)
        out = sec.get("out")
        if out:
            copy_report(art, Path(out))
        return [art]

    return Unit("report", "report", ["report"], conf, [*evals, "benchmark"], run, label=f"{len(evals)} evals")


def copy_report(art: Artifact, out: Path) -> None:
    """report.out: also copy report.html, report.md and figures/ to a convenient place (as snap report --out)."""
    if out.exists() and not out.is_dir():
        raise SnapError(f"report.out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(art.path / "report.html", out / "report.html")
    shutil.copy2(art.path / "report.md", out / "report.md")
    if (art.path / "figures").is_dir():
        shutil.copytree(art.path / "figures", out / "figures", dirs_exist_ok=True)


# ------------------------------------------------------------------------------------------------ records
def _records(ws: Workspace) -> list[Artifact]:
    return ws.artifacts(RECORD_STAGE)


def _record_rows(rec: Artifact) -> list[dict[str, Any]]:
    return rec.read_df("units").to_dict("records")


def _load_arts(ws: Workspace, refs: list[str], hashes: list[str]) -> list[Artifact] | None:
    """The recorded artifacts if every one still exists with the recorded content; else None."""
    out = []
    for ref, h in zip(refs, hashes, strict=True):
        stage, _, version = ref.partition("@")
        try:
            art = ws.load(stage, version)
        except (OSError, ValueError, KeyError, SnapError):
            return None
        if art.content_hash != h:
            return None
        out.append(art)
    return out


def fingerprint_index(ws: Workspace) -> dict[str, tuple[list[str], list[str]]]:
    """fingerprint -> (refs, content hashes) over every recorded run (newest wins)."""
    index: dict[str, tuple[list[str], list[str]]] = {}
    for rec in _records(ws):
        for row in _record_rows(rec):
            if row["fingerprint"] and row["status"] in ("cached", "new"):
                index[row["fingerprint"]] = (list(row["refs"]), list(row["content_hashes"]))
    return index


def last_run_units(ws: Workspace) -> dict[str, tuple[list[str], list[str]]]:
    """unit key -> (refs, hashes) of the most recent run record that has the unit."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for rec in _records(ws):  # oldest first: later runs overwrite
        for row in _record_rows(rec):
            if row["refs"] is not None and len(row["refs"]):
                out[row["unit"]] = (list(row["refs"]), list(row["content_hashes"]))
    return out


# ------------------------------------------------------------------------------------------------ running
@dataclass
class RunOutcome:
    units: list[UnitResult]
    artifacts: dict[str, list[Artifact]]
    record: Artifact | None
    summary: list[dict[str, Any]]
    report: dict[str, Any] | None
    dry_run: bool


class Pipeline:
    def __init__(self, ws: Workspace, cfg: dict[str, Any], *, force: bool = False, until: str | None = None,
                 from_stage: str | None = None, callbacks: Callbacks | None = None):
        for name, v in (("--until", until), ("--from-stage", from_stage)):
            if v is not None and v not in STAGES:
                raise SnapError(f"{name} {v!r} is not a stage (choose from {', '.join(STAGES)})")
        if until and from_stage and STAGES.index(from_stage) > STAGES.index(until):
            raise SnapError(f"--from-stage {from_stage} comes after --until {until}")
        check_config(cfg)
        self.ws, self.cfg, self.force = ws, copy.deepcopy(cfg), force
        self.until, self.from_stage = until, from_stage
        self.cb = callbacks or Callbacks()
        self.units = build_units(self.cfg, self.cb)

    def _selected(self, unit: Unit) -> str:
        """'run' | 'before' (taken from the last run) | 'after' (beyond --until)."""
        i = STAGES.index(unit.stage)
        if self.from_stage and i < STAGES.index(self.from_stage):
            return "before"
        if self.until and i > STAGES.index(self.until):
            return "after"
        return "run"

    def _force_of(self, unit: Unit) -> bool:
        return self.force or any(bool(self.cfg[s].get("force")) for s in unit.produces)

    def _taken_from_last_run(self, unit: Unit, last: dict) -> list[Artifact]:
        if unit.key in last:
            arts = _load_arts(self.ws, *last[unit.key])
            if arts is not None:
                return arts
        if len([u for u in self.units if u.stage == unit.stage]) == 1 and all(
                self.ws.latest(s) for s in unit.produces):
            return [self.ws.resolve(f"{s}@latest") for s in unit.produces]
        raise SnapError(f"--from-stage {self.from_stage}: no earlier run recorded {unit.key} in {self.ws.root}; "
                        "run without --from-stage first")

    def _skipped_by_example(self) -> list[UnitResult]:
        if not self.cfg.get("example"):
            return []
        return [UnitResult("generate", "generate", "-", "skipped",
                           f"the curated example set '{self.cfg['example']}' replaces generate/filter/augment")]

    def plan(self) -> list[UnitResult]:
        """What a run would do, per unit, without running anything."""
        index = fingerprint_index(self.ws)
        last = last_run_units(self.ws) if self.from_stage else {}
        known: dict[str, list[str] | None] = {}  # unit -> content hashes when known without running
        out = self._skipped_by_example()
        for u in self.units:
            sel = self._selected(u)
            if sel == "before":
                arts = self._taken_from_last_run(u, last)
                known[u.key] = [a.content_hash for a in arts]
                out.append(UnitResult(u.key, u.shown, u.label, "from-run", "taken from the last run",
                                      [a.ref for a in arts], known[u.key]))
                continue
            if sel == "after":
                known[u.key] = None
                out.append(UnitResult(u.key, u.shown, u.label, "skipped", f"after --until {self.until}"))
                continue
            missing = [d for d in u.deps if known.get(d) is None]
            if missing:
                known[u.key] = None
                out.append(UnitResult(u.key, u.shown, u.label, "new", f"upstream {missing[0]} is new"))
                continue
            fp = _fingerprint(u, {d: known[d] for d in u.deps})  # type: ignore[misc]
            hit = index.get(fp)
            arts = _load_arts(self.ws, *hit) if hit else None
            if self._force_of(u):
                known[u.key] = None
                out.append(UnitResult(u.key, u.shown, u.label, "new", "--force", fingerprint=fp))
            elif arts is None:
                known[u.key] = None
                reason = "artifact was removed" if hit else "parameters or inputs changed" if index else "first run"
                out.append(UnitResult(u.key, u.shown, u.label, "new", reason, fingerprint=fp))
            else:
                known[u.key] = [a.content_hash for a in arts]
                out.append(UnitResult(u.key, u.shown, u.label, "cached", "same parameters and inputs",
                                      [a.ref for a in arts], known[u.key], fp))
        return out

    def run(self) -> RunOutcome:
        last = last_run_units(self.ws) if self.from_stage else {}
        arts: dict[str, list[Artifact]] = {}
        results: list[UnitResult] = self._skipped_by_example()
        for u in self.units:
            sel = self._selected(u)
            if sel == "before":
                arts[u.key] = self._taken_from_last_run(u, last)
                results.append(UnitResult(u.key, u.shown, u.label, "from-run", "taken from the last run",
                                          [a.ref for a in arts[u.key]], [a.content_hash for a in arts[u.key]]))
                continue
            if sel == "after":
                results.append(UnitResult(u.key, u.shown, u.label, "skipped", f"after --until {self.until}"))
                continue
            fp = _fingerprint(u, {d: [a.content_hash for a in arts[d]] for d in u.deps})
            if self.cb.on_unit_start:
                self.cb.on_unit_start(u)
            t0, c0 = time.monotonic(), time.process_time()
            produced = u.run(self.ws, {d: arts[d] for d in u.deps}, self._force_of(u))
            arts[u.key] = produced
            cached = all(a.cached for a in produced)
            res = UnitResult(u.key, u.shown, u.label, "cached" if cached else "new",
                             "reused" if cached else "ran", [a.ref for a in produced],
                             [a.content_hash for a in produced], fp, round(time.monotonic() - t0, 1),
                             round(time.process_time() - c0, 1))
            results.append(res)
            if self.cb.on_unit_done:
                self.cb.on_unit_done(res)
        record = self._write_record(results)
        return RunOutcome(results, arts, record, self.summary(arts), self._report_info(arts), dry_run=False)

    def _write_record(self, results: list[UnitResult]) -> Artifact:
        rows = pd.DataFrame([{
            "unit": r.key, "stage": r.stage, "status": r.status, "refs": r.refs, "content_hashes": r.content_hashes,
            "fingerprint": r.fingerprint, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds}
            for r in results], columns=RECORD_COLUMNS)
        from snapcli.config import render_yaml

        cfg_text = render_yaml(self.cfg)
        params = {"name": self.cfg.get("name"), "units": {r.key: r.fingerprint for r in results},
                  "until": self.until, "from_stage": self.from_stage, "force": self.force}

        def fn(w: StageWriter) -> None:
            w.write_table("units", rows)
            (w.dir / "snap.yaml").write_text(cfg_text, encoding="utf-8")
            w.extra["statuses"] = {r.key: r.status for r in results}

        # force: every run is one record (the run log), so "the last run" is always the newest version
        return self.ws.run_stage(RECORD_STAGE, params=params, fn=fn, force=True)

    # ------------------------------------------------------------------------------------------ summary
    def summary(self, arts: dict[str, list[Artifact]]) -> list[dict[str, Any]]:
        """Before/after rows (UA, UA-multihop, RA, TA, Avg, capability average) per target and model."""
        cap = _capability(arts.get("benchmark"), self.cfg["benchmark"].get("metric") or "acc")
        rows = []
        for u in self.units:
            if u.stage != "eval" or u.key not in arts:
                continue
            art = arts[u.key][0]
            s = art.manifest.get("extra", {}).get("summary", {})
            trained = u.meta["trained"]
            models = [a.ref for a in arts[trained]] if trained else [base_model(self.cfg)]
            row = {"target": u.meta["target"], "role": u.meta["role"], "step": trained,
                   "model": ", ".join(models) + (" + prompting" if u.meta["prompting"] else ""), "eval": art.ref,
                   **{k: _mean(s.get(k)) for k in METRICS},
                   "capability": _mean_of([cap.get(m) for m in models]) if not u.meta["prompting"] else
                   cap.get(models[0])}
            rows.append(row)
        return rows

    def _report_info(self, arts: dict[str, list[Artifact]]) -> dict[str, Any] | None:
        if "report" not in arts:
            return None
        art = arts["report"][0]
        return {"ref": art.ref, "html": str(art.path / "report.html"), "markdown": str(art.path / "report.md")}


def _mean(v: Any) -> float | None:
    if not v:
        return None
    m = v.get("mean")
    return None if m is None or (isinstance(m, float) and math.isnan(m)) else float(m)


def _mean_of(vals: list[float | None]) -> float | None:
    xs = [v for v in vals if v is not None]
    return sum(xs) / len(xs) if xs else None


def _capability(arts: list[Artifact] | None, metric: str) -> dict[str, float]:
    """model label -> average benchmark score (%) from a benchmark artifact."""
    if not arts:
        return {}
    from snapcli.evaluate.capability import comparison_table

    comp = comparison_table(arts[0].read_df("scores"), metric=metric)
    return {str(r["model"]): float(r["average"]) * 100 for _, r in comp.iterrows()
            if not (isinstance(r["average"], float) and math.isnan(r["average"]))}
