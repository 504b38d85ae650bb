"""`snap train`: unlearn with negative instructions + hard retaining data + a regularizer (SNAP objective)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Optional

import typer

from snapcli.cli.common import emit, parse_csv, table, workspace
from snapcli.console import log, out_console, progress, state
from snapcli.errors import SnapError

DEFAULT_MODEL = "smollm2"


def train_cmd(
    from_: list[str] = typer.Option([], "--from", help="Forget data: filter artifact ref or Parquet path "
                                    "(table 'forget', split=train). Repeat for batch unlearning."),
    retain: list[str] = typer.Option([], "--retain", help="Retain data: augment artifact ref or Parquet path. "
                                     "Default: the augment artifact made from the --from data."),
    retain_from: str = typer.Option("retain", "--retain-from", help="retain (hard retaining data D_r), "
                                    "general (D_g's train rows, paper 4.6) or both (D_r + D_g's train rows; "
                                    "make D_g train rows with `snap augment --general-train N`)."),
    no_retain: bool = typer.Option(False, "--no-retain", help="Train on the forget data only (ablation)."),
    base: Optional[str] = typer.Option(None, "--base", help="Start from a train artifact (sequential unlearning)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model alias (smollm2, tiny, llama2, "
                                        "mistral), local dir or hub id.", show_default=DEFAULT_MODEL),
    reg: str = typer.Option("wasserstein", "--reg", help="Regularizer: wasserstein, euclidean, fisher, none."),
    lam: float = typer.Option(0.1, "--lambda", help="Regularization strength lambda."),
    projections: int = typer.Option(64, "--projections", help="Random directions per tensor per step (SW)."),
    p: float = typer.Option(2.0, "--p", help="Order p of the sliced Wasserstein distance."),
    reg_params: Optional[str] = typer.Option(None, "--reg-params", help="Regex: only regularize matching "
                                             "parameter names (default: all trainable)."),
    init_dtype: str = typer.Option("bf16", "--init-dtype", help="Storage of theta_init (and Fisher): bf16 "
                                   "(2 B/param) or fp32 (4 B/param, exact)."),
    fisher_samples: int = typer.Option(64, "--fisher-samples", help="Retain examples used to estimate the Fisher."),
    epochs: float = typer.Option(3.0, "--epochs", help="Passes over the forget set."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (overrides --epochs)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default: per model, e.g. 5e-5 llama2, "
                                       "1e-5 mistral)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Forget examples per micro-batch per process (paired "
                                   "with as many retain examples)."),
    grad_accum: int = typer.Option(4, "--grad-accum", help="Micro-batches per optimizer step (8 x 4 = the "
                                   "paper's 32)."),
    weight_decay: float = typer.Option(0.1, "--weight-decay", help="AdamW weight decay."),
    warmup_ratio: float = typer.Option(0.0, "--warmup-ratio", help="Fraction of steps with linear warm-up."),
    scheduler: str = typer.Option("linear", "--scheduler", help="linear, constant or cosine."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", help="Gradient clipping (0 = off)."),
    max_length: int = typer.Option(256, "--max-length", help="Max tokens per example (prompt + response)."),
    loss_on: str = typer.Option("response", "--loss-on", help="response (assistant tokens only) or all."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Comma-separated seeds: one run (version) each."),
    bf16: bool = typer.Option(False, "--bf16", help="bfloat16 mixed precision."),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing", help="Trade compute for memory."),
    lora: bool = typer.Option(False, "--lora", help="Train LoRA adapters instead of all weights."),
    lora_r: int = typer.Option(16, "--lora-r", help="LoRA rank."),
    lora_alpha: int = typer.Option(32, "--lora-alpha", help="LoRA alpha."),
    lora_targets: str = typer.Option("q_proj,k_proj,v_proj,o_proj", "--lora-targets", help="Modules to adapt."),
    merge_lora: bool = typer.Option(False, "--merge-lora", help="Merge the adapters into the saved model."),
    save_every: int = typer.Option(0, "--save-every", help="Checkpoint every N optimizer steps (0 = never)."),
    resume: str = typer.Option("auto", "--resume", help="auto (continue a killed identical run from its last "
                               "checkpoint), none, or a checkpoint directory."),
    force: bool = typer.Option(False, "--force", help="Train again even if an identical run is cached."),
    accelerate_config: Optional[str] = typer.Option(None, "--accelerate-config", help="Run under accelerate "
                                                    "launch with a preset (single, ddp, zero2, zero3) or a yaml."),
    num_processes: int = typer.Option(1, "--num-processes", help="Processes for --accelerate-config."),
) -> None:
    """Train the SNAP objective L_f + L_r + lambda * R(theta, theta_init); writes train/vN (model + metrics)."""
    from snapcli.models import model_defaults
    from snapcli.stages.train import TrainInputs, run_train
    from snapcli.train import launch
    from snapcli.train.loop import LoraSpec, TrainConfig
    from snapcli.train.regularizers import ZERO3_SUPPORT, RegSpec, get_regularizer

    st = state()
    get_regularizer(reg)
    if accelerate_config and not launch.launched():
        cfg_path = launch.preset_path(accelerate_config)
        if launch.preset_zero_stage(cfg_path) == 3 and not ZERO3_SUPPORT[reg]:
            raise SnapError(f"--reg {reg} does not run under ZeRO-3 (use the zero2 preset, or --reg none)")
        args = launch.child_args(sys.argv[1:], st.workspace, st.json, st.quiet)
        log(f"launching {num_processes} process(es) with accelerate ({cfg_path.name})")
        rc = launch.relaunch(cfg_path, num_processes, args)
        if rc:
            raise typer.Exit(rc)
        return

    seed_list = [int(s) for s in parse_csv(seeds)] if seeds else [seed]
    ws = workspace()
    spec = TrainInputs(forget=list(from_), retain=list(retain), retain_from=retain_from, no_retain=no_retain,
                       base=base)
    name = model or DEFAULT_MODEL
    if base:
        base_art = ws.resolve(base)
        if base_art.stage == "train":
            name = model or base_art.manifest.get("params", {}).get("model") or DEFAULT_MODEL
    cfg = TrainConfig(
        model=name, model_path="", epochs=epochs, max_steps=max_steps,
        lr=lr if lr is not None else float(model_defaults(name)["lr"]),
        batch_size=batch_size, grad_accum=grad_accum, weight_decay=weight_decay, warmup_ratio=warmup_ratio,
        scheduler=scheduler, max_grad_norm=max_grad_norm, max_length=max_length, loss_on=loss_on, seed=seed,
        bf16=bf16, gradient_checkpointing=gradient_checkpointing, fisher_samples=fisher_samples,
        reg=RegSpec(name=reg, lam=lam, projections=projections, p=p, params=reg_params, init_dtype=init_dtype),
        lora=LoraSpec(r=lora_r, alpha=lora_alpha, targets=parse_csv(lora_targets), merge=merge_lora) if lora else None,
    )
    cfg.check()
    main = int(os.environ.get("RANK", "0")) == 0
    results = []
    for s in seed_list:
        run_cfg = replace(cfg, seed=s)
        with progress() as bar:
            task = bar.add_task(f"train seed {s}: starting", total=None)

            def on_status(msg: str, task=task, bar=bar, s=s) -> None:
                bar.update(task, description=f"train seed {s}: {msg}")

            def on_step(info, task=task, bar=bar, s=s) -> None:
                r = info.row
                bar.update(task, total=info.total, completed=info.step,
                           description=f"train seed {s}: L_f {r['loss_f']:.3f} L_r {r['loss_r']:.3f} "
                                       f"R {r['reg']:.2e} {r['step_seconds']:.1f}s/step")

            with _stdout_to_stderr():
                art = run_train(ws, spec, run_cfg, force=force, resume=resume, save_every=save_every,
                                on_step=on_step if main else None, on_status=on_status if main else None)
        if art is None:
            continue
        metrics = art.read_df("metrics")
        last = metrics.iloc[-1].to_dict() if len(metrics) else {}
        tr = art.manifest.get("extra", {}).get("train", {})
        results.append({
            "ref": art.ref, "cached": art.cached, "seed": s, "model_dir": str(art.path / "model"),
            "steps": int(last.get("step", 0)), "loss_f": last.get("loss_f"), "loss_r": last.get("loss_r"),
            "reg": last.get("reg"), "resumed_from_step": tr.get("resumed_from_step"), "memory": tr.get("memory"),
        })
    if not main:
        return

    def render() -> None:
        out_console.print(table("snap train", ["ref", "seed", "steps", "L_f", "L_r", "R", "cached"], [
            [r["ref"], r["seed"], r["steps"], _fmt(r["loss_f"]), _fmt(r["loss_r"]), _fmt(r["reg"], ".2e"),
             "yes" if r["cached"] else "no"] for r in results]))

    emit(results if len(results) > 1 else results[0], render)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """DeepSpeed prints build/info lines on stdout (even from C++); stdout must hold only snap's result."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _fmt(v, spec: str = ".4f") -> str:
    return "" if v is None else format(float(v), spec)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
