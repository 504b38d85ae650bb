"""`snap run`: generate -> filter -> augment -> train -> eval -> benchmark -> report as a DAG of stage runs.

Each node is one run of a stage with a spec built from the effective config (snapcli/config.py) plus the refs of
the artifacts its upstream nodes produced (the spec fields marked `input`). There is no cache logic here: a node
is "cached" exactly when its stage's own `plan()` + the store's cache lookup say so (snapcli/stages/base.py), so
`snap run --dry-run`, `snap <stage> --dry-run` and the real run agree by construction (one stage hash, as DVC).
A dry run plans every node whose inputs are known (its upstream nodes are cached); a node downstream of a new
one is new. `--from-stage` takes the nodes before that stage from the last run's log (<ws>/runs/*.json).

Driving it from Python needs no CLI (and does not import typer):

    from snapcli.config import effective_config, validate_config
    from snapcli.pipeline import Pipeline
    from snapcli.store import Workspace
    cfg = effective_config(validate_config({"entity": "Bill Gates", "model": "tiny"}))
    outcome = Pipeline(Workspace("ws"), cfg).run()
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapcli.config import SECTIONS, spec_class
from snapcli.errors import SnapError
from snapcli.stages import get as get_stage
from snapcli.stages.base import Context, cache_lookup
from snapcli.stages.base import run as run_stage
from snapcli.stages.spec import StageSpec
from snapcli.store import Artifact, Workspace

STAGES = list(SECTIONS)  # generate filter augment train eval benchmark audit report
DEFAULT_MODEL = "smollm2"
METRICS = ["UA", "UA-multihop", "RA", "TA", "Avg"]
Wire = tuple[str, int | None]  # (upstream node key, which of its artifacts: None = all, -1 = the last, i)


# ------------------------------------------------------------------------------------------------ nodes
@dataclass
class Node:
    """One stage run of the pipeline. `values` are its section's options; `wires` fill its input options with
    the refs of upstream artifacts (appended to a list option's own values, replacing a single-valued one)."""

    key: str  # unique in a run, e.g. "generate[Bill Gates]", "train[1]", "eval[base|Bill Gates]"
    stage: str  # the stage it counts as for --until / --from-stage
    values: dict[str, Any]
    wires: dict[str, list[Wire]] = field(default_factory=dict)
    label: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    example: str | None = None  # an example-set import node (produces a filter and an augment artifact)
    heldout: str | None = None  # a held-out set import node (produces one heldout artifact)

    @property
    def deps(self) -> list[str]:
        return list(dict.fromkeys(k for ws in self.wires.values() for k, _ in ws))

    @property
    def shown(self) -> str:
        return "filter+augment" if self.example else "heldout" if self.heldout else self.stage

    def spec(self, arts: dict[str, list[Artifact]]) -> StageSpec:
        cls = spec_class(self.stage)
        values = copy.deepcopy(self.values)
        for opt, sources in self.wires.items():
            refs = []
            for key, slot in sources:
                got = arts[key]
                refs += [a.ref for a in got] if slot is None else [got[slot].ref]
            f = cls.model_fields[cls.field_name(opt)]  # type: ignore[index]
            if _is_list(f.annotation):
                values[opt] = [*(values.get(opt) or []), *refs]
            else:
                values[opt] = refs[-1]
        return cls.build(values, where=f"{self.key}: ")

    def lookup(self, ws: Workspace, arts: dict[str, list[Artifact]]) -> list[Artifact] | None:
        if self.heldout:
            from snapcli.evaluate.heldout import cached_heldout

            hit = cached_heldout(ws, self.heldout)
            return None if hit is None else [hit]
        if self.example:
            from snapcli.curated import cached_example

            return cached_example(ws, self.example, **self.values)
        hit, _plans = cache_lookup(ws, get_stage(self.stage), self.spec(arts))
        return hit

    def run(self, ws: Workspace, arts: dict[str, list[Artifact]], force: bool, ctx: Context) -> list[Artifact]:
        if self.heldout:
            from snapcli.evaluate.heldout import import_heldout

            return [import_heldout(ws, self.heldout)]
        if self.example:
            from snapcli.curated import import_example

            got = import_example(ws, self.example, **self.values)
            return [got["forget"], got["retain"]]
        return run_stage(ws, get_stage(self.stage), self.spec(arts), force=force, ctx=ctx)


def _is_list(annotation: Any) -> bool:
    from snapcli.stages.spec import is_list

    return is_list(annotation)


@dataclass
class NodeResult:
    key: str
    stage: str
    label: str
    status: str  # cached | new | from-run | skipped  (a dry run says what a run would do)
    reason: str = ""
    refs: list[str] = field(default_factory=list)
    seconds: float | None = None
    cpu_seconds: float | None = None  # this process's CPU time (all threads): wall time on a shared machine lies

    def to_dict(self) -> dict[str, Any]:
        return {"unit": self.key, "stage": self.stage, "label": self.label, "status": self.status,
                "reason": self.reason, "refs": self.refs, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}


@dataclass
class Callbacks:
    """Hooks for the CLI (the pipeline itself never prints)."""

    on_node_start: Callable[[Node], None] | None = None
    on_node_done: Callable[[NodeResult], None] | None = None
    context: Context = field(default_factory=Context)


# ------------------------------------------------------------------------------------------------ config checks
def check_config(cfg: dict[str, Any]) -> None:
    """Refuse what snap run cannot honour, before anything runs (exit 2)."""
    for section in SECTIONS:
        cls = spec_class(section)
        defaults = cls.defaults()
        for k in cls.input_keys():
            if section == "generate" and k == "entity":
                continue
            if k in cfg[section] and cfg[section][k] != defaults.get(k):
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


def base_model(cfg: dict[str, Any]) -> str:
    return cfg["train"].get("model") or DEFAULT_MODEL


def _section(cfg: dict[str, Any], name: str, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A section's values minus its input options (the wiring fills those)."""
    inputs = set(spec_class(name).input_keys())
    return {k: v for k, v in cfg[name].items() if k not in inputs and k not in drop}


# ------------------------------------------------------------------------------------------------ the graph
def build_nodes(cfg: dict[str, Any]) -> list[Node]:
    """The pipeline of this config as nodes in execution order."""
    from snapcli.stages.generate import parse_aliases

    nodes: list[Node] = []
    entities: list[str] = list(cfg.get("entity") or [])
    model = base_model(cfg)
    data: list[tuple[str, Wire, Wire]] = []  # (target label, forget source, retain source)

    if cfg.get("example"):
        aug = cfg["augment"]
        values = {"general": aug.get("general"), "general_size": aug.get("general_size"),
                  "general_train": aug.get("general_train") or 0, "seed": aug.get("seed", 0)}
        nodes.append(Node("import", "filter", values, label=f"example {cfg['example']} (curated)",
                          example=cfg["example"]))
        data.append((", ".join(entities), ("import", 0), ("import", 1)))
    else:
        aliases = parse_aliases(list(cfg["generate"].get("alias") or []), entities)
        for e in entities:
            g, f, a = f"generate[{e}]", f"filter[{e}]", f"augment[{e}]"
            gen_values = {**_section(cfg, "generate"), "entity": [e], "alias": aliases.get(e, [])}
            nodes.append(Node(g, "generate", gen_values, label=e))
            nodes.append(Node(f, "filter", _section(cfg, "filter"), {"from": [(g, 0)]}, label=e))
            nodes.append(Node(a, "augment", _section(cfg, "augment"), {"from": [(f, 0)]}, label=e))
            data.append((e, (f, 0), (a, 0)))

    prompting = bool(cfg["eval"].get("prompting"))
    trained: list[tuple[str, list[int]]] = []  # (train node, indices into `data` it is evaluated on)
    train_values = {**_section(cfg, "train", ("resume",)), "model": model,
                    "resume": cfg["train"].get("resume") or "auto"}
    if not prompting:
        if cfg.get("sequential"):
            prev = None
            for i, (_e, f, a) in enumerate(data):
                t = f"train[{i + 1}]"
                wires: dict[str, list[Wire]] = {"from": [f], "retain": [a]}
                if prev:
                    wires["base"] = [(prev, -1)]
                nodes.append(Node(t, "train", dict(train_values), wires, label=t))
                trained.append((t, list(range(i + 1))))
                prev = t
        else:
            wires = {"from": [f for _e, f, _a in data], "retain": [a for _e, _f, a in data]}
            nodes.append(Node("train", "train", dict(train_values), wires, label="train"))
            trained.append(("train", list(range(len(data)))))
    if cfg["train"].get("no_retain"):
        for n in nodes:
            if n.stage == "train":
                n.wires.pop("retain", None)

    evals: list[str] = []
    eval_values = _section(cfg, "eval", ("prompting",))

    def eval_node(key: str, d: tuple[str, Wire, Wire], trained_key: str | None, prompting: bool) -> Node:
        e, f, a = d
        values = {**eval_values, "prompting": prompting, **({} if trained_key else {"model": [model]})}
        wires: dict[str, list[Wire]] = {"forget": [f], "retain": [a], "general": [a]}
        if trained_key:
            wires["model"] = [(trained_key, None)]
        role = "after" if (trained_key or prompting) else "before"
        return Node(key, "eval", values, wires, label=key[5:-1],
                    meta={"role": role, "target": e, "trained": trained_key, "prompting": prompting})

    for d in data:
        k = f"eval[base|{d[0]}]"
        nodes.append(eval_node(k, d, None, False))
        evals.append(k)
        if prompting:
            k2 = f"eval[prompting|{d[0]}]"
            nodes.append(eval_node(k2, d, None, True))
            evals.append(k2)
    for t, idx in trained:
        for i in idx:
            k = f"eval[{t}|{data[i][0]}]"
            nodes.append(eval_node(k, data[i], t, False))
            evals.append(k)

    # held-out sets (written independently of the generated data): the base and the final model on each
    from snapcli.evaluate.heldout import load_heldout

    for source in cfg.get("heldout") or []:
        h = load_heldout(source)
        hk = f"heldout[{h.name}]"
        nodes.insert(next(i for i, n in enumerate(nodes) if n.stage == "train" or n.stage == "eval"),
                     Node(hk, "filter", {}, label=f"{h.name} (held-out)", heldout=source))
        general = (hk, 0) if "general" in h.tables else data[0][2]
        d = (f"{h.name} (held-out)", (hk, 0), (hk, 0))
        for key, tk in ((f"eval[base|heldout:{h.name}]", None), *(
                (f"eval[{t}|heldout:{h.name}]", t) for t in ([trained[-1][0]] if trained else []))):
            n = eval_node(key, d, tk, False)
            n.values["limit"] = None  # a held-out set is small and the point: evaluated whole
            n.wires["general"] = [general]
            n.meta["heldout"] = h.name
            nodes.append(n)
            evals.append(key)

    final = [trained[-1][0]] if trained else []
    nodes.append(Node("benchmark", "benchmark", {**_section(cfg, "benchmark"), "model": [model]},
                      {"model": [(t, None) for t in final]} if final else {},
                      label="base" + "".join(f" + {t}" for t in final)))
    audits: list[str] = []
    if trained:
        t = trained[-1][0]
        e, f, a = data[0]
        nodes.append(Node("audit", "audit", _section(cfg, "audit"),
                          {"model": [(t, -1)], "forget": [f], "retain": [a], "eval": [(f"eval[{t}|{e}]", 0)]},
                          label=f"{t} on {e}"))
        audits.append("audit")
    title = cfg["report"].get("title")
    if title == spec_class("report").defaults().get("title") and cfg.get("name"):
        title = f"snap report: {cfg['name']}"
    nodes.append(Node("report", "report", {**_section(cfg, "report"), "title": title},
                      {"evals": [(e, None) for e in evals], "benchmarks": [("benchmark", None)],
                       **({"audits": [(x, None) for x in audits]} if audits else {})},
                      label=f"{len(evals)} evals"))
    return nodes


# ------------------------------------------------------------------------------------------------ running
@dataclass
class RunOutcome:
    nodes: list[NodeResult]
    artifacts: dict[str, list[Artifact]]
    log: str | None
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
        self.nodes = build_nodes(self.cfg)

    def _selected(self, node: Node) -> str:
        """'run' | 'before' (taken from the last run) | 'after' (beyond --until)."""
        i = STAGES.index(node.stage)
        if self.from_stage and i < STAGES.index(self.from_stage):
            return "before"
        if self.until and i > STAGES.index(self.until):
            return "after"
        return "run"

    def _from_last_run(self, node: Node) -> list[Artifact]:
        last = self.ws.last_run_log() or {}
        for row in last.get("nodes", []):
            if row.get("unit") == node.key and row.get("refs"):
                try:
                    return [self.ws.resolve(r) for r in row["refs"]]
                except SnapError:
                    break
        raise SnapError(f"--from-stage {self.from_stage}: the last run in {self.ws.root} did not produce "
                        f"{node.key}; run without --from-stage first")

    def _skipped_by_example(self) -> list[NodeResult]:
        if not self.cfg.get("example"):
            return []
        return [NodeResult("generate", "generate", "-", "skipped",
                           f"the curated example set '{self.cfg['example']}' replaces generate/filter/augment")]

    def _walk(self, execute: bool) -> tuple[list[NodeResult], dict[str, list[Artifact]]]:
        arts: dict[str, list[Artifact]] = {}
        results = self._skipped_by_example()
        for node in self.nodes:
            sel = self._selected(node)
            if sel == "after":
                results.append(NodeResult(node.key, node.shown, node.label, "skipped", f"after --until {self.until}"))
                continue
            if sel == "before":
                arts[node.key] = self._from_last_run(node)
                results.append(NodeResult(node.key, node.shown, node.label, "from-run", "taken from the last run",
                                          [a.ref for a in arts[node.key]]))
                continue
            missing = [d for d in node.deps if d not in arts]
            if missing and not execute:
                results.append(NodeResult(node.key, node.shown, node.label, "new", f"upstream {missing[0]} is new"))
                continue
            if not execute:
                hit = None if self.force else node.lookup(self.ws, arts)
                if hit is None:
                    reason = "--force" if self.force else (
                        "parameters or inputs changed" if self.ws.versions(node.stage) else "first run")
                    results.append(NodeResult(node.key, node.shown, node.label, "new", reason))
                else:
                    arts[node.key] = hit
                    results.append(NodeResult(node.key, node.shown, node.label, "cached",
                                              "same parameters and inputs", [a.ref for a in hit]))
                continue
            if self.cb.on_node_start:
                self.cb.on_node_start(node)
            t0, c0 = time.monotonic(), time.process_time()
            produced = node.run(self.ws, arts, self.force, self.cb.context)
            arts[node.key] = produced
            cached = all(a.cached for a in produced)
            res = NodeResult(node.key, node.shown, node.label, "cached" if cached else "new",
                             "reused" if cached else "ran", [a.ref for a in produced],
                             round(time.monotonic() - t0, 1), round(time.process_time() - c0, 1))
            results.append(res)
            if self.cb.on_node_done:
                self.cb.on_node_done(res)
        return results, arts

    def plan(self) -> list[NodeResult]:
        """What a run would do, per node, without running anything."""
        return self._walk(execute=False)[0]

    def run(self) -> RunOutcome:
        from snapcli import __version__
        from snapcli.config import render_yaml

        results, arts = self._walk(execute=True)
        log = self.ws.write_run_log({
            "snap_version": __version__, "config": render_yaml(self.cfg), "until": self.until,
            "from_stage": self.from_stage, "force": self.force, "nodes": [r.to_dict() for r in results],
        })
        return RunOutcome(results, arts, str(log), self.summary(arts), self._report_info(arts), dry_run=False)

    # ------------------------------------------------------------------------------------------ summary
    def summary(self, arts: dict[str, list[Artifact]]) -> list[dict[str, Any]]:
        """Before/after rows (UA, UA-multihop, RA, TA, Avg, capability average) per target and model."""
        cap = _capability(arts.get("benchmark"), self.cfg["benchmark"].get("metric") or "acc")
        rows = []
        for n in self.nodes:
            if n.stage != "eval" or n.key not in arts:
                continue
            art = arts[n.key][0]
            s = art.manifest.get("extra", {}).get("summary", {})
            trained = n.meta["trained"]
            models = [a.ref for a in arts[trained]] if trained else [base_model(self.cfg)]
            rows.append({
                "target": n.meta["target"], "role": n.meta["role"], "step": trained, "heldout": n.meta.get("heldout"),
                "model": ", ".join(models) + (" + prompting" if n.meta["prompting"] else ""), "eval": art.ref,
                **{k: _mean(s.get(k)) for k in METRICS},
                "capability": _mean_of([cap.get(m) for m in models]) if not n.meta["prompting"] else
                cap.get(models[0]),
            })
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
