"""Stage "audit": prove the forgetting holds, or show where it does not (issue 12).

UA counts refusals on questions drawn from the same generator as the training questions; an audit asks harder:

- **plain** forget-eval questions, judged three ways (refusal | answer | degenerate) and scored for **leakage**
  against the base model's own answers (content-word ROUGE-L recall, RWKU) and gold facts where the data has them;
- the same questions under ten **adversarial probes** (paraphrase, prefix injection, affirmative suffix, role play,
  reverse query, in-context examples, cloze, alias, translation, multi-turn);
- two **attacks**: a **relearning** attack (a few fine-tuning steps on a share of the forget questions with the base
  model's answers; recovery = leakage regained on the other questions) and **quantization** (int8, and 4-bit where a
  backend exists), each on a copy, never on the unlearned artifact;
- a **membership signal** (loss, Min-K%, Min-K%++ AUC of the base model's forget answers vs retain answers, before
  and after).

It writes the tables (`generations`, `metrics`, `mia`), a certificate (`certificate.json`: content hashes of the base
model, the unlearned model, every data artifact, the configs and seeds, the snap and judge versions, every metric, and
each `--require` with pass/fail) and a self-contained `certificate.html`. `snap audit` exits 3 when a requirement
fails; `snap audit --verify FILE` re-checks the hashes. The library is snapcli/evaluate/audit (docs/audit.md).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

import pandas as pd
from pydantic import AfterValidator

from snapcli.errors import SnapError
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.eval import Judge, take_limit
from snapcli.stages.options import BackendOptions
from snapcli.stages.spec import option
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.schema import register_table_schema

STAGE = "audit"
register_table_schema(STAGE, "generations", ["scope", "kind", "question", "response", "label"])
register_table_schema(STAGE, "metrics", ["scope", "kind", "metric", "value", "n"])


def probe_list(v: list[str]) -> list[str]:
    from snapcli.evaluate.audit.probes import parse_probes

    return parse_probes(",".join(v) if v else "none")


def attack_list(v: list[str]) -> list[str]:
    from snapcli.evaluate.audit.attacks import parse_attacks

    return parse_attacks(",".join(v) if v else "none")


def _probes(v: list[str]) -> list[str]:
    """Checked, kept as written ("all" stays "all": the config round-trips); expanded where the audit runs."""
    try:
        probe_list(v)
    except SnapError as e:
        raise ValueError(str(e)) from None
    return v


def _attacks(v: list[str]) -> list[str]:
    try:
        attack_list(v)
    except SnapError as e:
        raise ValueError(str(e)) from None
    return v


def _requirements(v: str | None) -> str | None:
    from snapcli.evaluate.audit.certificate import parse_requirements

    if v is not None:
        try:
            parse_requirements(v)
        except SnapError as e:
            raise ValueError(str(e)) from None
    return v


class AuditSpec(BackendOptions):
    """Audit an unlearned model: plain, adversarial probes, relearning and quantization attacks, membership
    signal; writes a certificate (exit 3 when a --require fails)."""

    stage: ClassVar[str] = "audit"

    model: str | None = option(None, "The unlearned model: a train artifact (train@latest), or a model directory.",
                               short="-m", input=True)
    base: str | None = option(None, "The model before unlearning (default: the one the train artifact was trained "
                              "from).", top="model")
    forget: str | None = option(None, "Forget data: filter or held-out artifact, or Parquet (its eval split is "
                                "audited). Default: the train artifact's own forget data.", input=True)
    retain: str | None = option(None, "Retain data for the membership signal (default: the train artifact's "
                                "augment data).", input=True)
    eval: str | None = option(None, "The eval artifact of the unlearned model, whose UA/RA/TA go into the "
                              "certificate (default: the latest eval of that model).", input=True)
    probes: Annotated[list[str], AfterValidator(_probes)] = option(
        ["all"], "Adversarial probes: all, none, or a comma list of paraphrase, prefix, suffix, roleplay, reverse, "
        "incontext, cloze, alias, translate, multiturn.", csv=True)
    attacks: Annotated[list[str], AfterValidator(_attacks)] = option(
        ["all"], "Attacks: all, none, or a comma list of relearn, int8, int4.", csv=True)
    mia_methods: list[str] = option(["loss", "mink", "mink++"], "Membership signals (loss, mink, mink++; empty: "
                                    "none).", csv=True)
    limit: int | None = option(40, "Forget-eval questions audited (spread over categories; every probe and attack "
                               "re-asks them).", ge=1)
    max_new_tokens: int = option(32, "Tokens per answer (RWKU uses 30).", ge=1)
    batch_size: int = option(48, "Prompts per generation batch (as snap eval).", ge=1)
    leak_threshold: float = option(0.25, "ROUGE-L recall of the base answer's content words from which a non-refusal "
                                   "leaks (docs/audit.md: ~3% false leaks at 0.25).", gt=0, le=1)
    relearn_steps: int = option(10, "Fine-tuning steps of the relearning attack.", ge=1)
    relearn_lr: float | None = option(None, "Its learning rate (default: the one the model was unlearned with).",
                                      gt=0)
    relearn_share: float = option(0.25, "Share of the audited forget questions the attack trains on (it is measured "
                                  "on the others).", gt=0, lt=1)
    relearn_batch_size: int = option(8, "Batch size of the relearning attack.", ge=1)
    mia_k: float = option(0.2, "k of Min-K% / Min-K%++ (share of lowest-probability tokens).", gt=0, le=1)
    reference_probes: bool = option(False, "Also ask the base model every probe: each probe's leakage ceiling "
                                    "(doubles the probes' time).")
    judge: Judge = option("embedding", "Judge: embedding (rules + MiniLM), rules, or llm.")
    require: Annotated[str | None, AfterValidator(_requirements)] = option(
        None, "Requirements the certificate checks, e.g. \"UA>=90,leakage<=5,RA>=85,TA>=85,recovery<=20\" "
        "(METRIC[@SCOPE] OP N); snap audit exits 3 when one fails.")
    seed: int = option(0, "Seed of the probes and the relearning attack.", ge=0, top="seed")

    def check(self) -> None:  # the runner calls it too; field rules already hold
        return None


def _train_input(art: Artifact, stage: str, ws: Workspace) -> Artifact | None:
    for inp in art.manifest.get("inputs", {}).values():
        if inp.get("stage") == stage and inp.get("version") in ws.versions(stage):
            return ws.load(stage, inp["version"])
    return None


def _latest_eval_of(ws: Workspace, model: Artifact) -> Artifact | None:
    for art in reversed(ws.artifacts("eval")):
        ins = art.manifest.get("inputs", {})
        if any(v.get("content_hash") == model.content_hash for k, v in ins.items() if k.startswith("model")) and \
                len([k for k in ins if k.startswith("model")]) == 1:
            return art
    return None


def plan(ws: Workspace, spec: AuditSpec) -> Plan:
    from snapcli.models import resolve_model

    if not spec.model:
        raise SnapError("--model is required (the unlearned model, e.g. train@latest)")
    rm = resolve_model(spec.model, ws)
    trained = ws.resolve(spec.model) if rm.kind == "artifact" else None
    base = spec.base or (trained.manifest.get("params", {}).get("model") if trained else None)
    if not base:
        raise SnapError(f"--base is required: {spec.model} is not a train artifact that records its base model")
    base_path = resolve_model(base, ws).path_or_id
    forget = ws.resolve(spec.forget).require_stage("filter", "heldout") if spec.forget else (
        _train_input(trained, "filter", ws) if trained else None)
    if forget is None:
        raise SnapError("no forget data: pass --forget (a filter or held-out artifact)")
    retain = ws.resolve(spec.retain).require_stage("augment", "heldout") if spec.retain else (
        _train_input(trained, "augment", ws) if trained else None)
    ev = ws.resolve(spec.eval).require_stage("eval") if spec.eval else (
        _latest_eval_of(ws, trained) if trained else None)
    inputs: dict[str, Artifact] = {"forget": forget}
    if trained is not None:
        inputs["model"] = trained
    if retain is not None:
        inputs["retain"] = retain
    if ev is not None:
        inputs["eval"] = ev
    lr = spec.relearn_lr or (trained.manifest.get("params", {}).get("lr") if trained else None) or 5e-5
    chat_backend = spec.chosen_backend()[0] if spec.backend or spec.base_url or spec.chosen_backend()[0] == "openai" \
        else None
    from snapcli.evaluate.judge import JUDGE_VERSION

    params = {"model_path": None if trained else rm.path_or_id, "base": base, "base_path": base_path,
              "relearn_lr": float(lr), "chat_backend": chat_backend, "judge_version": JUDGE_VERSION}
    return Plan(params, inputs, spec.seed, {"ws": ws, "rm": rm, "base": base, "lr": float(lr), "trained": trained,
                                            "chat_backend": chat_backend})


class _Config:
    """The runner's view of the spec (snapcli.evaluate.audit.runner reads these attributes)."""

    def __init__(self, spec: AuditSpec, lr: float):
        self._spec = spec
        for k in ("max_new_tokens", "batch_size", "seed", "leak_threshold", "relearn_steps", "relearn_share",
                  "relearn_batch_size", "mia_methods", "mia_k", "reference_probes"):
            setattr(self, k, getattr(spec, k))
        self.probes, self.attacks = probe_list(spec.probes), attack_list(spec.attacks)
        self.relearn_lr = lr

    def check(self) -> None:
        return None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def _names(forget: Artifact, ws: Workspace) -> list[str]:
    df = forget.read_df("forget")
    names = [str(df["entity"].iloc[0])] if "entity" in df.columns and len(df) else []
    if forget.stage == "heldout":
        names += list(forget.manifest.get("extra", {}).get("heldout", {}).get("aliases", []))
    else:
        gen = _train_input(forget, "generate", ws)
        if gen is not None and gen.has_table("aliases"):
            al = gen.read_df("aliases")
            names += [str(a) for a in al[al["entity"] == names[0]]["alias"]] if names else []
    if not names:
        raise SnapError(f"{forget.ref} names no target (no entity column)")
    return list(dict.fromkeys(names))


def build(w: StageWriter, spec: AuditSpec, plan: Plan, ctx: Context) -> None:
    from snapcli.evaluate.audit.certificate import build_certificate, render_html
    from snapcli.evaluate.audit.runner import run_audit
    from snapcli.evaluate.judge import get_judge
    from snapcli.llm import release_models
    from snapcli.models import load_causal_lm

    ws = plan.state["ws"]
    forget = plan.inputs["forget"]
    df = forget.read_df("forget")
    if "split" in df.columns:
        df = df[df["split"].astype(str) == "eval"]
    if "prompt_category" in df.columns:
        df.loc[df["prompt_category"].astype(str) == "multi-hop", "category"] = "multi-hop"
    if "variant" in df.columns:
        df = df[df["variant"].astype(str) == "plain"]  # surface variants are probes' business here
    if df.empty:
        raise SnapError(f"{forget.ref} has no forget-eval questions to audit")
    df = take_limit(df.reset_index(drop=True), spec.limit)
    rows = [{"question": str(r["question"]), "category": r.get("category"),
             "facts": list(r["facts"]) if isinstance(r.get("facts"), (list, tuple)) or hasattr(r.get("facts"), "tolist")
             else None} for r in df.to_dict("records")]
    names = _names(forget, ws)
    retain_rows = None
    if "retain" in plan.inputs:
        try:
            rd = resolve_retain(plan.inputs["retain"])
            retain_rows = rd[["question", "response"]].head(max(len(rows), 10)).to_dict("records")
        except SnapError:
            retain_rows = None
    release_models()
    ctx.note(f"audit: loading {spec.model} and the base model {plan.state['base']}")
    model, tok = load_causal_lm(spec.model, ws, device=spec.device, dtype=spec.dtype)
    base_model, _ = load_causal_lm(plan.state["base"], ws, device=spec.device, dtype=spec.dtype)
    chat = None
    if plan.state["chat_backend"]:
        from snapcli.datagen.chatfn import backend_chat

        backend, _why = spec.make_backend(ws)
        chat = backend_chat(backend, backend.default_model("question"))
    judge = get_judge(spec.judge, ws=ws) if spec.judge == "llm" else get_judge(spec.judge)
    cfg = _Config(spec, plan.state["lr"])
    model_dir = str(plan.state["rm"].path_or_id)
    res = run_audit(model, tok, rows, names, judge, config=cfg, chat=chat, base_model=base_model,
                    retain=retain_rows, model_path=model_dir, on_progress=ctx.on_progress)
    del model, base_model
    w.write_table("generations", res.generations)
    w.write_table("metrics", res.metrics)
    w.write_table("mia", pd.DataFrame(res.mia))
    ev = plan.inputs.get("eval")
    eval_metrics = {k: v.get("mean") for k, v in (ev.manifest.get("extra", {}).get("summary", {}) if ev else {}).items()
                    if isinstance(v, dict) and v.get("mean") is not None}
    trained = plan.state["trained"]
    data = {k: a for k, a in plan.inputs.items() if k in ("forget", "retain")}
    gen = _train_input(forget, "generate", ws) if forget.stage == "filter" else None
    if gen is not None:
        data["generate"] = gen
    cert = build_certificate(
        target=names, base_model=plan.state["base"] if not trained else _base_subject(trained, ws),
        unlearned_model=trained if trained is not None else model_dir, audit=res, data=data,
        eval_metrics=eval_metrics, configs={"audit": {**cfg.as_dict(), "judge": spec.judge},
                                            **({"train": trained.manifest.get("params", {})} if trained else {})},
        seeds={"audit": spec.seed, **({"train": int(trained.manifest.get("seed") or 0)} if trained else {})},
        judge=judge, requirements=spec.require, ws=ws)
    (w.dir / "certificate.json").write_text(json.dumps(cert, indent=2, default=str), encoding="utf-8")
    (w.dir / "certificate.html").write_text(render_html(cert), encoding="utf-8")
    w.extra.update({"summary": res.summary(), "requirements": cert.get("requirements"),
                    "target": names[0], "notes": res.notes})


def _base_subject(trained: Artifact, ws: Workspace) -> str:
    """The base model as a loadable path (hashed by the certificate), or its name when it is a hub id."""
    from snapcli.models import resolve_model

    base = trained.manifest.get("params", {}).get("model") or "smollm2"
    return resolve_model(base, ws).path_or_id


def resolve_retain(art: Artifact) -> pd.DataFrame:
    df = art.read_df("retain")
    if "response" not in df.columns:
        raise SnapError(f"{art.ref} has no retain answers")
    return df[df["response"].astype(str).str.strip() != ""]


DEF = StageDef(STAGE, AuditSpec, plan, build)
