"""What every stage is: a spec, a cheap `plan()` (what the cache key covers) and `build()` (the work).

    plan(ws, spec)  -> Plan(params, inputs, seed)     pure and cheap: resolves refs, reads no big data
    build(w, spec, plan, ctx)                         the work, writing tables into the StageWriter `w`

The store's key is sha256(stage, plan.params, content hashes of plan.inputs) (snapcli/store/workspace.py), so one
function decides "is this cached?" for `snap <stage>`, `snap <stage> --dry-run` and `snap run --dry-run` alike,
as DVC does with one stage hash. A stage never prints and never parses argv: it reports through `Context`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapcli.stages.spec import StageSpec
from snapcli.store import Artifact, StageWriter, Workspace

ProgressFn = Callable[[str, int, int], None]


@dataclass
class Plan:
    """What a stage run is keyed on (params + input artifacts) and what build() may reuse (`state`, not hashed)."""

    params: dict[str, Any]
    inputs: dict[str, Artifact] = field(default_factory=dict)
    seed: int | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """The stage's only channel to the outside: progress (phase, done, total), notes, training steps."""

    on_progress: ProgressFn | None = None
    on_note: Callable[[str], None] | None = None
    on_train_step: Callable[[Any], None] | None = None
    on_status: Callable[[str], None] | None = None

    def progress(self, phase: str, done: int, total: int) -> None:
        if self.on_progress:
            self.on_progress(phase, done, total)

    def note(self, msg: str) -> None:
        if self.on_note:
            self.on_note(msg)


@dataclass
class StageDef:
    """A stage as the runner, the CLI and the pipeline see it (one per module in snapcli/stages/)."""

    name: str
    spec: type[StageSpec]
    plan: Callable[[Workspace, Any], Plan]
    build: Callable[[StageWriter, Any, Plan, Context], None]
    # optional hooks
    expand: Callable[[Any], list[Any]] | None = None  # one spec -> several runs (train --seeds)
    execute: Callable[[Workspace, Any, Plan, bool, Context], Artifact | None] | None = None  # custom publishing
    finish: Callable[[Artifact, Any], None] | None = None  # after a run, cached or not (report --out)
    description: str = ""

    def specs(self, spec: Any) -> list[Any]:
        return self.expand(spec) if self.expand else [spec]


def plan_for(ws: Workspace, stage: StageDef, spec: Any) -> Plan:
    """The stage's plan with the spec's key options merged under what plan() resolved (plan() wins: it knows the
    resolved values, e.g. the call budget a backend implies)."""
    plan = stage.plan(ws, spec)
    plan.params = {**spec.key_params(), **plan.params}
    return plan


def cache_lookup(ws: Workspace, stage: StageDef, spec: Any) -> tuple[list[Artifact] | None, list[Plan]]:
    """The cached artifacts of every run `spec` expands to (None if any is missing), and their plans."""
    plans = [plan_for(ws, stage, s) for s in stage.specs(spec)]
    arts = []
    for p in plans:
        hit = ws.find_cached(stage.name, ws.cache_key(stage.name, p.params, p.inputs))
        if hit is None:
            return None, plans
        arts.append(hit)
    return arts, plans


def run(
    ws: Workspace, stage: StageDef, spec: Any, *, force: bool = False, ctx: Context | None = None,
) -> list[Artifact]:
    """Plan, reuse or build, publish: one artifact per expanded run (None results, from non-main training
    processes, are left out)."""
    ctx = ctx or Context()
    out: list[Artifact] = []
    for s in stage.specs(spec):
        plan = plan_for(ws, stage, s)
        if stage.execute is not None:
            art = stage.execute(ws, s, plan, force, ctx)
        else:
            art = ws.run_stage(stage.name, params=plan.params, inputs=plan.inputs, seed=plan.seed, force=force,
                               spec=s.public(), fn=lambda w, s=s, plan=plan: stage.build(w, s, plan, ctx))
        if art is None:
            continue
        if stage.finish is not None:
            stage.finish(art, s)
        out.append(art)
    return out
