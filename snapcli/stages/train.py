"""Stage "train": forget (+ retain) data -> an unlearned model in train/vNNNN/model and a `metrics` table.

Inputs are artifacts: forget tables of filter artifacts (several = batch unlearning), retain tables of augment
artifacts (default: the augment made from that forget data), and optionally a previous train artifact as the
starting point (sequential unlearning). Under `accelerate launch` every process calls `run_train`; only the main
process publishes, the others train alongside it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.schema import register_table_schema
from snapcli.train.data import train_rows
from snapcli.train.loop import METRIC_COLUMNS, StepInfo, TrainConfig, train

STAGE = "train"
RETAIN_FROM = ("retain", "general", "both")
register_table_schema(STAGE, "metrics", METRIC_COLUMNS)


@dataclass
class TrainInputs:
    """Where the data and starting weights come from (refs as the user gave them)."""

    forget: list[str]
    retain: list[str] = field(default_factory=list)
    retain_from: str = "retain"  # "retain" (D_r), "general" (D_g, paper section 4.6) or "both" (D_r + D_g train rows)
    no_retain: bool = False
    base: str | None = None


@dataclass
class Loaded:
    forget: pd.DataFrame
    retain: pd.DataFrame | None
    inputs: dict[str, Artifact]
    model_path: str
    adapters: list[str] = field(default_factory=list)  # LoRA adapters merged into model_path first (in order)
    base_weights: dict[str, Any] = field(default_factory=dict)  # what the run starts from, by content hash


def _name(prefix: str, i: int) -> str:
    return prefix if i == 0 else f"{prefix}_{i + 1}"


def load_inputs(ws: Workspace, spec: TrainInputs, model: str) -> Loaded:
    """Resolve refs, check stages and columns, keep split=train rows; every problem is a one-line SnapError."""
    from snapcli.models import load_tokenizer, resolve_model
    from snapcli.models.weights import weights_sha256

    if not spec.forget:
        raise SnapError("no forget data: pass --from filter@latest (or a Parquet path)")
    if spec.retain_from not in RETAIN_FROM:
        raise SnapError(f"--retain-from must be one of {', '.join(RETAIN_FROM)} (got {spec.retain_from})")
    if spec.no_retain and spec.retain:
        raise SnapError("--no-retain and --retain cannot be used together")
    inputs: dict[str, Artifact] = {}
    frames = []
    forget_arts = []
    for i, ref in enumerate(spec.forget):
        art = ws.resolve(ref).require_stage("filter")
        df = train_rows(art.read_df("forget"), art.ref, "forget")
        if df.empty:
            raise SnapError(f"forget data {art.ref} has no usable split=train rows")
        frames.append(df[["question", "response"]])
        forget_arts.append(art)
        inputs[_name("from", i)] = art
    forget = pd.concat(frames, ignore_index=True)

    retain = None
    if not spec.no_retain:
        retain_arts = [ws.resolve(r).require_stage("augment") for r in spec.retain]
        if not retain_arts:
            for art in forget_arts:
                found = ws.find_derived("augment", "from", art)
                if found is None:
                    raise SnapError(f"no augment artifact was made from {art.ref}: run `snap augment --from "
                                    f"{art.ref}`, or pass --retain REF, or train with --no-retain")
                if found.ref not in {a.ref for a in retain_arts}:
                    retain_arts.append(found)
        rframes = []
        for i, art in enumerate(retain_arts):
            tables = ["retain", "general"] if spec.retain_from == "both" else [spec.retain_from]
            parts = {t: train_rows(art.read_df(t), art.ref, "retain") for t in tables}
            if "general" in parts and parts["general"].empty:
                raise SnapError(f"{art.ref} has no general rows in the train split (D_g is eval-only by default): "
                                "make them with `snap augment --general-train N`")
            df = pd.concat(list(parts.values()), ignore_index=True)
            if df.empty:
                raise SnapError(f"retain data {art.ref} ({spec.retain_from}) has no usable split=train rows")
            rframes.append(df[["question", "response"]])
            inputs[_name("retain", i)] = art
        retain = pd.concat(rframes, ignore_index=True)

    if spec.base:
        base = ws.resolve(spec.base)
        if base.stage != STAGE:
            raise SnapError(f"--base {spec.base} is {'a plain path' if base.is_plain else repr(base.stage)} "
                            "artifact, not a train artifact (use train@vN)")
        rm = resolve_model(base.ref, ws)  # a full model, or a LoRA adapter on its recorded (hash-checked) base
        inputs["base"] = base
    else:
        rm = resolve_model(model, ws)
        if rm.kind == "artifact":  # --model train@vN starts from that model, like --base
            inputs["base"] = ws.resolve(model)
        else:
            load_tokenizer(model, ws)  # a hub id that is not available offline fails here, with exit 2
    # Sequential unlearning on an adapter merges the adapter chain into its base first (docs/train.md).
    model_path, adapters = rm.weights_path, list(rm.adapters)
    base_weights = {"path": model_path, "sha256": weights_sha256(model_path),
                    "adapters": [weights_sha256(a) for a in adapters]}
    return Loaded(forget, retain, inputs, model_path, adapters, base_weights)


def run_train(
    ws: Workspace,
    spec: TrainInputs,
    cfg: TrainConfig,
    *,
    force: bool = False,
    resume: str = "auto",
    save_every: int = 0,
    on_step: Callable[[StepInfo], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Artifact | None:
    """Train one model (one seed); returns the published artifact (None on non-main processes)."""
    if save_every < 0:
        raise SnapError(f"--save-every must be >= 0 (got {save_every})")
    loaded = load_inputs(ws, spec, cfg.model)
    cfg.model_path = loaded.model_path
    cfg.base_adapters = loaded.adapters
    cfg.check()
    params: dict[str, Any] = {**cfg.to_params(), "retain_from": None if spec.no_retain else spec.retain_from,
                              "no_retain": spec.no_retain, "processes": int(os.environ.get("WORLD_SIZE", "1")),
                              "base_weights": loaded.base_weights}
    key = ws.cache_key(STAGE, params, loaded.inputs)
    ckpt_dir = ws.scratch_dir(STAGE, key[:24])
    main = int(os.environ.get("RANK", "0")) == 0
    if not main:
        if not force and ws.find_cached(STAGE, key):
            return None
        train(cfg, loaded.forget, loaded.retain, out_dir=None, ckpt_dir=ckpt_dir, resume=resume,
              save_every=save_every)
        return None

    def fn(w: StageWriter) -> None:
        summary = train(cfg, loaded.forget, loaded.retain, out_dir=w.dir, ckpt_dir=ckpt_dir, resume=resume,
                        save_every=save_every, on_step=on_step, on_status=on_status)
        w.write_table("metrics", summary.pop("metrics"))
        summary.pop("is_main", None)
        w.extra.update({"train": summary, "save_every": save_every, "resume": resume,
                        "checkpoint_dir": str(ckpt_dir)})

    art = ws.run_stage(STAGE, params=params, inputs=loaded.inputs, fn=fn, force=force, seed=cfg.seed)
    if not art.cached:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return art
