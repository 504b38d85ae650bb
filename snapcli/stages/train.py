"""Stage "train": forget (+ retain) data -> an unlearned model in train/vNNNN/model and a `metrics` table.

Inputs are artifacts: forget tables of filter artifacts (several = batch unlearning), retain tables of augment
artifacts (default: the augment made from that forget data), and optionally a previous train artifact as the
starting point (sequential unlearning). Under `accelerate launch` every process runs the stage; only the main
process publishes, the others train alongside it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from pydantic import AfterValidator, NonNegativeInt, create_model

from snapcli.errors import SnapError
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.spec import Regex, StageSpec, option
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.schema import register_table_schema
from snapcli.train.data import ENCODE_VERSION, REQUIRED, train_rows
from snapcli.train.loop import METRIC_COLUMNS, LoraSpec, TrainConfig, train
from snapcli.train.regularizers import RegSpec, regularizer_option_fields

STAGE = "train"
DEFAULT_MODEL = "smollm2"


def check_regularizer(v: str) -> str:
    from snapcli.train.regularizers import REGULARIZERS

    if v not in REGULARIZERS:
        raise ValueError(f"must be one of {', '.join(REGULARIZERS)} (got {v!r})")
    return v


Regularizer = Annotated[str, AfterValidator(check_regularizer)]
register_table_schema(STAGE, "metrics", METRIC_COLUMNS)


class _TrainSpec(StageSpec):
    """Train the SNAP objective L_f + L_r + lambda * R(theta, theta_init); writes train/vN (model + metrics)."""

    stage: ClassVar[str] = "train"

    # data and starting point
    from_: list[str] = option(["filter@latest"], "Forget data: filter artifact ref or Parquet path (table 'forget', "
                              "split=train). Repeat for batch unlearning.", alias="from", input=True)
    retain: list[str] = option([], "Retain data: augment artifact ref or Parquet path. Default: the augment "
                               "artifact made from the --from data.", input=True)
    retain_from: Literal["retain", "general", "both"] = option(
        "both", "retain (hard retaining data D_r only: the paper's recipe), general (D_g's train rows, paper 4.6) or "
        "both (D_r + the everyday instructions `snap augment --general-train N` put in D_g's train split, when it "
        "has any: a small model trained on D_r alone learns to refuse everything else).")
    no_retain: bool = option(False, "Train on the forget data only (ablation).", negatable=False)
    base: str | None = option(None, "Start from a train artifact (sequential unlearning).", input=True)
    model: str | None = option(None, "Model alias (smollm2, tiny, llama2, mistral), local dir or hub id "
                               f"(default: {DEFAULT_MODEL}, or the --base artifact's model).", short="-m", top="model")
    # the objective
    reg: Regularizer = option("wasserstein", "Regularizer: one of snapcli.train.regularizers (wasserstein, "
                              "euclidean, fisher, none); its own options follow.")
    lam: float = option(0.1, "Regularization strength lambda.", alias="lambda", ge=0)
    retain_weight: float | None = option(None, "Weight of the retain loss L_r (default: per model; paper: 1, i.e. "
                                         "L_f + L_r + lambda R; smollm2: 2).", ge=0)
    reg_params: Regex = option(None, "Regex: only regularize matching parameter names (default: all "
                                    "trainable).")
    init_dtype: Literal["bf16", "fp32"] = option("bf16", "Storage of theta_init (and Fisher): bf16 (2 B/param) or "
                                                 "fp32 (4 B/param, exact).")
    # optimization
    epochs: float | None = option(None, "Passes over the forget set (default: per model; paper: 3; smollm2: 2).",
                                  gt=0)
    max_steps: int | None = option(None, "Optimizer steps (overrides --epochs).", ge=1)
    lr: float | None = option(None, "Learning rate (default: per model, e.g. 5e-5 llama2, 1e-5 mistral, 1e-4 "
                              "smollm2).", gt=0)
    batch_size: int = option(8, "Forget examples per micro-batch per process (paired with as many retain "
                             "examples).", ge=1)
    grad_accum: int | None = option(None, "Micro-batches per optimizer step (default: per model; paper: 4, 8 x 4 = "
                                    "its 32; smollm2: 1).", ge=1)
    weight_decay: float = option(0.1, "AdamW weight decay.", ge=0)
    warmup_ratio: float = option(0.0, "Fraction of steps with linear warm-up.", ge=0, lt=1)
    scheduler: Literal["linear", "constant", "cosine"] = option("linear", "Learning-rate schedule.")
    max_grad_norm: float = option(1.0, "Gradient clipping (0 = off).", ge=0)
    max_length: int = option(256, "Max tokens per example (prompt + response).", ge=1)
    loss_on: Literal["response", "all"] = option("response", "response (assistant tokens only) or all.")
    seed: int = option(0, "Random seed.", ge=0, top="seed")
    seeds: list[NonNegativeInt] | None = option(None, "Comma-separated seeds: one run (version) each.", csv=True)
    bf16: bool = option(False, "bfloat16 mixed precision.", negatable=False)
    gradient_checkpointing: bool = option(False, "Trade compute for memory.", negatable=False)
    # LoRA
    lora: bool = option(False, "Train LoRA adapters instead of all weights.", negatable=False)
    lora_r: int = option(16, "LoRA rank.", ge=1)
    lora_alpha: int = option(32, "LoRA alpha.", ge=1)
    lora_targets: list[str] = option(["q_proj", "k_proj", "v_proj", "o_proj"], "Modules to adapt.", csv=True)
    merge_lora: bool = option(False, "Merge the adapters into the saved model.", negatable=False)
    # running
    save_every: int = option(0, "Checkpoint every N optimizer steps (0 = never).", ge=0, key=False)
    resume: str = option("auto", "auto (continue a killed identical run from its last checkpoint), none, or a "
                         "checkpoint directory.", key=False)
    accelerate_config: str | None = option(None, "Run under accelerate launch with a preset (single, ddp, zero2, "
                                           "zero3) or a yaml.", key=False)
    num_processes: int = option(1, "Processes for --accelerate-config (the key records the processes that "
                                "really ran).", ge=1, key=False)

    def check(self) -> None:
        if self.no_retain and self.retain:
            raise SnapError("--no-retain and --retain cannot be used together")
        self.reg_spec()  # an option of another regularizer, or a bad value, fails here (before any relaunch)

    def reg_spec(self) -> RegSpec:
        """The regularizer part: R, lambda, which weights, and R's own options (given ones only; the class fills
        its defaults and validates them)."""
        flat = {k: getattr(self, k) for k in regularizer_option_fields()}
        return RegSpec.from_flat(self.reg, self.lam, self.reg_params, self.init_dtype, **flat)

    def model_name(self, ws: Workspace | None = None) -> str:
        """The model trained: --model, else the --base artifact's model, else the default."""
        if self.model:
            return self.model
        if self.base and ws is not None:
            base_art = ws.resolve(self.base)
            if base_art.stage == STAGE:
                return base_art.manifest.get("params", {}).get("model") or DEFAULT_MODEL
        return DEFAULT_MODEL

    def loop_config(self, model: str) -> TrainConfig:
        """The training loop's view of this spec (snapcli/train/loop.py)."""
        from snapcli.models import model_defaults

        # options left unset take the model's measured defaults (snapcli/models/registry.py)
        d = {k: v if (v := getattr(self, k)) is not None else dv for k, dv in model_defaults(model).items()}
        return TrainConfig(
            model=model, model_path="", epochs=float(d["epochs"]), max_steps=self.max_steps, lr=float(d["lr"]),
            batch_size=self.batch_size, grad_accum=int(d["grad_accum"]), weight_decay=self.weight_decay,
            warmup_ratio=self.warmup_ratio, scheduler=self.scheduler, max_grad_norm=self.max_grad_norm,
            max_length=self.max_length, loss_on=self.loss_on, retain_weight=float(d["retain_weight"]),
            seed=self.seed,
            bf16=self.bf16, gradient_checkpointing=self.gradient_checkpointing, reg=self.reg_spec(),
            lora=LoraSpec(r=self.lora_r, alpha=self.lora_alpha, targets=list(self.lora_targets),
                          merge=self.merge_lora) if self.lora else None,
        )


def _regularizer_fields() -> dict[str, Any]:
    """Each registered regularizer's own options as optional TrainSpec fields (--projections, --p,
    --fisher-samples, ...): declared once, in the regularizer's class; None = that class's default."""
    fields: dict[str, Any] = {}
    for name, (owner, info, annotation) in regularizer_option_fields().items():
        typed = Annotated[(annotation, *info.metadata)] if info.metadata else annotation
        fields[name] = (typed | None, option(None, f"{info.description or name} (--reg {owner}; default: "
                                                   f"{info.default}).", metavar=_metavar_of(annotation)))
    return fields


def _metavar_of(annotation: Any) -> str:
    return {int: "INTEGER", float: "NUMBER"}.get(annotation, "TEXT")


def make_spec_class() -> type[_TrainSpec]:
    """TrainSpec: the stage's own options plus every registered regularizer's (snapcli.train.regularizers)."""
    cls = create_model("TrainSpec", __base__=_TrainSpec, __module__=__name__, **_regularizer_fields())
    cls.__doc__ = _TrainSpec.__doc__
    return cls


TrainSpec = make_spec_class()


def refresh_spec() -> type[_TrainSpec]:
    """Rebuild TrainSpec after a regularizer was registered at run time (a plugin, a test): its options become
    `snap train` flags and snap.yaml keys like the shipped ones'. Returns the new class."""
    global TrainSpec
    TrainSpec = make_spec_class()
    DEF.spec = TrainSpec
    return TrainSpec


def expand(spec: TrainSpec) -> list[TrainSpec]:
    """--seeds 1,2,3: one run (one version) per seed."""
    if not spec.seeds:
        return [spec]
    return [spec.replace(seed=s, seeds=None) for s in spec.seeds]


@dataclass
class Loaded:
    forget: pd.DataFrame
    retain: pd.DataFrame | None
    inputs: dict[str, Artifact]
    model_path: str
    adapters: list[str] = field(default_factory=list)  # LoRA adapters merged into model_path first (in order)
    base_weights: dict[str, Any] = field(default_factory=dict)  # what the run starts from, by content hash


def _train_columns(df: pd.DataFrame) -> list[str]:
    """question, response, and the earlier turns of multi-turn rows when the table has them."""
    return ["question", "response", *(["history"] if "history" in df.columns else [])]


def _name(prefix: str, i: int) -> str:
    return prefix if i == 0 else f"{prefix}_{i + 1}"


def load_inputs(ws: Workspace, spec: TrainSpec, model: str) -> Loaded:
    """Resolve refs, check stages and columns, keep split=train rows; every problem is a one-line SnapError."""
    from snapcli.models import load_tokenizer, resolve_model
    from snapcli.models.weights import weights_sha256

    if not spec.from_ or (spec.from_ == ["filter@latest"] and ws.latest("filter") is None):
        raise SnapError("no forget data: run `snap filter` first, or pass --from filter@vN (or a Parquet path)")
    inputs: dict[str, Artifact] = {}
    frames = []
    forget_arts = []
    for i, ref in enumerate(spec.from_):
        art = ws.resolve(ref).require_stage("filter")
        df = train_rows(art.read_checked("filter", "forget", need=REQUIRED).to_pandas(), art.ref, "forget")
        if df.empty:
            raise SnapError(f"forget data {art.ref} has no usable split=train rows")
        frames.append(df[_train_columns(df)])
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
            if spec.retain_from == "both" and art.path.is_file():
                tables = ["retain"]  # a single Parquet file is the retain table only
            parts = {t: train_rows(art.read_checked("augment", t, need=REQUIRED).to_pandas(), art.ref, "retain")
                     for t in tables if art.has_table(t) or t == spec.retain_from}
            if spec.retain_from == "both" and parts.get("general") is not None and parts["general"].empty:
                parts.pop("general")  # no everyday rows in its train split (e.g. --general-train 0): D_r alone
            if "general" in parts and parts["general"].empty:
                raise SnapError(f"{art.ref} has no general rows in the train split (D_g is eval-only by default): "
                                "make them with `snap augment --general-train N`")
            df = pd.concat(list(parts.values()), ignore_index=True)
            if df.empty:
                raise SnapError(f"retain data {art.ref} ({spec.retain_from}) has no usable split=train rows")
            rframes.append(df[_train_columns(df)])
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


def plan(ws: Workspace, spec: TrainSpec) -> Plan:
    """Resolves the data and the starting weights (reads the forget/retain tables: small) and the loop config."""
    model = spec.model_name(ws)
    loaded = load_inputs(ws, spec, model)
    cfg = spec.loop_config(model)
    cfg.model_path = loaded.model_path
    cfg.base_adapters = loaded.adapters
    cfg.check()
    params: dict[str, Any] = {**cfg.to_params(), "retain_from": None if spec.no_retain else spec.retain_from,
                              "no_retain": spec.no_retain, "processes": int(os.environ.get("WORLD_SIZE", "1")),
                              "base_weights": loaded.base_weights, "encode_version": ENCODE_VERSION}
    return Plan(params, loaded.inputs, spec.seed, {"loaded": loaded, "cfg": cfg})


def execute(ws: Workspace, spec: TrainSpec, plan: Plan, force: bool, ctx: Context) -> Artifact | None:
    """Train one model (one seed) and publish it; under accelerate every process trains, the main one publishes
    (returns None elsewhere). Checkpoints live in a scratch dir keyed by the run's cache key, so `--resume auto`
    continues a killed identical run."""
    loaded, cfg = plan.state["loaded"], plan.state["cfg"]
    key = ws.cache_key(STAGE, plan.params, plan.inputs)
    ckpt_dir = ws.scratch_dir(STAGE, key[:24])
    main = int(os.environ.get("RANK", "0")) == 0
    if not main:
        if not force and ws.find_cached(STAGE, key):
            return None
        train(cfg, loaded.forget, loaded.retain, out_dir=None, ckpt_dir=ckpt_dir, resume=spec.resume,
              save_every=spec.save_every)
        return None

    def fn(w: StageWriter) -> None:
        summary = train(cfg, loaded.forget, loaded.retain, out_dir=w.dir, ckpt_dir=ckpt_dir, resume=spec.resume,
                        save_every=spec.save_every, on_step=ctx.on_train_step, on_status=ctx.on_status)
        w.write_table("metrics", summary.pop("metrics"))
        summary.pop("is_main", None)
        w.extra.update({"train": summary, "save_every": spec.save_every, "resume": spec.resume,
                        "checkpoint_dir": str(ckpt_dir)})

    art = ws.run_stage(STAGE, params=plan.params, inputs=plan.inputs, fn=fn, force=force, seed=spec.seed,
                       spec=spec.public())
    if not art.cached:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return art


def _build(w: StageWriter, spec: TrainSpec, plan: Plan, ctx: Context) -> None:  # execute() publishes itself
    raise RuntimeError("train publishes through execute()")


DEF = StageDef(STAGE, TrainSpec, plan, _build, expand=expand, execute=execute)
