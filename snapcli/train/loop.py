"""The SNAP training loop on accelerate: L = L_f + L_r + lambda * R(theta, theta_init).

Runs the same in one process, under DDP, and under DeepSpeed ZeRO-2/3 (presets in snapcli/presets/accelerate).
Checkpoints (every --save-every optimizer steps) hold everything a killed run needs to continue exactly where it
stopped: weights, optimizer, scheduler, RNG states and the step counter; the data order is a pure function of
(seed, step), so nothing about the data loader needs saving.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import resource
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from snapcli.errors import RunFailed, SnapError
from snapcli.models.generation import _cache_kwarg
from snapcli.train.data import PairedOrder, collate, encode_all
from snapcli.train.nll import can_share_prefix, sequence_nll
from snapcli.train.regularizers import (
    RegSpec,
    Regularizer,
    Target,
    make_targets,
    select_params,
    snap_to_init_dtype,
)
from snapcli.train.targets import Zero3Shards, lora_targets, zero3_lora_targets, zero3_targets

CKPT_PREFIX = "step-"
METRIC_COLUMNS = ["step", "epoch", "loss", "loss_f", "loss_r", "reg", "lr", "tokens_per_s", "step_seconds",
                  "peak_mem_mb"]


@dataclass
class LoraSpec:
    r: int = 16
    alpha: int = 32
    targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    dropout: float = 0.0
    merge: bool = False


@dataclass
class TrainConfig:
    """Everything that determines the trained weights (it becomes the stage's params and hyperparameters.yaml).

    `model_path` (a directory or hub id) and `base_adapters` (LoRA adapter directories merged into it first, for
    sequential unlearning on top of an adapter) say where the starting weights load from; they are not params:
    the stage records the content hash of those weights instead."""

    model: str
    model_path: str
    reg: RegSpec = field(default_factory=RegSpec)
    base_adapters: list[str] = field(default_factory=list)
    epochs: float = 3.0
    max_steps: int | None = None
    lr: float = 5e-5
    batch_size: int = 8
    grad_accum: int = 4
    weight_decay: float = 0.1
    warmup_ratio: float = 0.0
    scheduler: str = "linear"
    max_grad_norm: float = 1.0
    max_length: int = 256
    loss_on: str = "response"
    retain_weight: float = 1.0
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    lora: LoraSpec | None = None

    def __post_init__(self) -> None:
        if isinstance(self.reg, dict):
            self.reg = RegSpec(**self.reg)

    def check(self) -> None:
        self.reg.check()
        if self.loss_on not in ("response", "all"):
            raise SnapError(f"--loss-on must be response or all (got {self.loss_on})")
        for name, v in (("--batch-size", self.batch_size), ("--grad-accum", self.grad_accum),
                        ("--max-length", self.max_length)):
            if v < 1:
                raise SnapError(f"{name} must be >= 1 (got {v})")
        if self.max_steps is not None and self.max_steps < 1:
            raise SnapError(f"--max-steps must be >= 1 (got {self.max_steps})")
        if not (self.epochs > 0) or math.isinf(self.epochs):
            raise SnapError(f"--epochs must be > 0 (got {self.epochs})")
        if not (self.lr > 0):
            raise SnapError(f"--lr must be > 0 (got {self.lr})")
        if self.weight_decay < 0:
            raise SnapError(f"--weight-decay must be >= 0 (got {self.weight_decay})")
        if not (0 <= self.warmup_ratio < 1):
            raise SnapError(f"--warmup-ratio must be in [0, 1) (got {self.warmup_ratio})")
        if self.scheduler not in ("linear", "constant", "cosine"):
            raise SnapError(f"--scheduler must be linear, constant or cosine (got {self.scheduler})")
        if self.lora and self.lora.r < 1:
            raise SnapError(f"--lora-r must be >= 1 (got {self.lora.r})")

    def to_params(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("model_path")
        d.pop("base_adapters")
        d["reg"] = self.reg.model_dump()
        return d


@dataclass
class StepInfo:
    """What the progress display gets after each optimizer step."""

    step: int
    total: int
    row: dict[str, float]


def _peak_mem_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def _make_accelerator(cfg: TrainConfig, micro: int):
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin

    mp = "bf16" if cfg.bf16 else "no"
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        plugin = DeepSpeedPlugin(gradient_accumulation_steps=cfg.grad_accum, gradient_clipping=cfg.max_grad_norm)
        ds = plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = micro
        ds.pop("train_batch_size", None)
        # torch's AdamW with ZeRO-Offload: DeepSpeed's CPU Adam needs a compiled extension we do not require.
        ds["zero_force_ds_cpu_optimizer"] = False
        return Accelerator(deepspeed_plugin=plugin, mixed_precision=mp, gradient_accumulation_steps=cfg.grad_accum)
    # Without CUDA, cpu=True makes a multi-process launch (the ddp preset) real DDP over gloo (MULTI_CPU);
    # otherwise accelerate falls back to DistributedType.NO and every process trains alone.
    return Accelerator(mixed_precision=mp, gradient_accumulation_steps=cfg.grad_accum,
                       cpu=not torch.cuda.is_available())


def rank_world(acc) -> tuple[int, int]:
    """(rank, world size) from torch.distributed when it is up: accelerate reports 0/1 on every process under
    DeepSpeed on CPU, which would make every process think it is the main one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return acc.process_index, acc.num_processes


def is_main(acc) -> bool:
    return rank_world(acc)[0] == 0


def _is_deepspeed(acc) -> bool:
    from accelerate.utils import DistributedType

    return acc.distributed_type == DistributedType.DEEPSPEED


def _zero_stage(acc) -> int:
    return int(acc.state.deepspeed_plugin.zero_stage) if _is_deepspeed(acc) else 0


class Checkpointer:
    """step-N directories under `root`; written to a temp dir and renamed, so a kill never leaves half of one."""

    def __init__(self, root: Path, acc, deepspeed: bool):
        self.root, self.acc, self.ds = root, acc, deepspeed

    def latest(self) -> Path | None:
        if not self.root.is_dir():
            return None
        done = [p for p in self.root.glob(f"{CKPT_PREFIX}*") if (p / "trainer.json").exists()]
        return max(done, key=lambda p: int(p.name[len(CKPT_PREFIX):]), default=None)

    def save(self, step: int, model, optimizer, scheduler, metrics: list[dict]) -> Path:
        from safetensors.torch import save_file

        acc = self.acc
        tmp = self.root / f".tmp-{CKPT_PREFIX}{step}"
        final = self.root / f"{CKPT_PREFIX}{step}"
        if is_main(acc):
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        if self.ds:
            model.save_checkpoint(str(tmp), tag="ds")
        elif is_main(acc):
            unwrapped = acc.unwrap_model(model)
            tensors = {n: p.detach().cpu().contiguous() for n, p in unwrapped.named_parameters() if p.requires_grad}
            save_file(tensors, tmp / "trainable.safetensors")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        save_file(rng, tmp / f"rng-{rank_world(acc)[0]}.safetensors")
        (tmp / f"python-rng-{rank_world(acc)[0]}.json").write_text(json.dumps(random.getstate()))
        acc.wait_for_everyone()
        if is_main(acc):
            pd.DataFrame(metrics, columns=METRIC_COLUMNS).to_parquet(tmp / "metrics.parquet", index=False)
            state = {"step": step, "scheduler": scheduler.state_dict(), "world": rank_world(acc)[1]}
            (tmp / "trainer.json").write_text(json.dumps(state, default=float))
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
            for old in self.root.glob(f"{CKPT_PREFIX}*"):
                if old != final:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return final

    def load(self, path: Path, model, optimizer, scheduler) -> tuple[int, list[dict]]:
        from safetensors.torch import load_file

        acc = self.acc
        state = json.loads((path / "trainer.json").read_text())
        if state.get("world", 1) != rank_world(acc)[1]:
            raise SnapError(f"checkpoint {path} was written by {state.get('world')} processes; this run has "
                            f"{rank_world(acc)[1]} (resume with the same --num-processes)")
        if self.ds:
            if not (path / "ds").is_dir():
                raise SnapError(f"checkpoint {path} was not written under DeepSpeed (resume without it)")
            # DeepSpeed's own checkpoint loader (files this run wrote into the workspace's scratch dir).
            model.load_checkpoint(str(path), tag="ds", load_optimizer_states=True, load_lr_scheduler_states=False)
        else:
            if not (path / "trainable.safetensors").exists():
                raise SnapError(f"checkpoint {path} was written under DeepSpeed (resume with the same preset)")
            tensors = load_file(path / "trainable.safetensors")
            params = dict(acc.unwrap_model(model).named_parameters())
            with torch.no_grad():
                for n, t in tensors.items():
                    if n not in params:
                        raise SnapError(f"checkpoint {path} does not match this model (unknown weight {n})")
                    params[n].copy_(t.to(params[n].device, params[n].dtype))
            optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
        scheduler.load_state_dict(state["scheduler"])
        # The optimizer's groups must run at the restored schedule's rate from the first resumed step, whatever the
        # optimizer state carried (DeepSpeed's checkpoint holds the groups of its own wrapped optimizer).
        for group, lr in zip(optimizer.param_groups, scheduler.get_last_lr(), strict=True):
            group["lr"] = lr
        rng = load_file(path / f"rng-{rank_world(acc)[0]}.safetensors")
        torch.set_rng_state(rng["torch"])
        if torch.cuda.is_available():
            cuda = [rng[f"cuda{i}"] for i in range(torch.cuda.device_count()) if f"cuda{i}" in rng]
            if cuda:
                torch.cuda.set_rng_state_all(cuda)
        py = json.loads((path / f"python-rng-{rank_world(acc)[0]}.json").read_text())
        random.setstate((py[0], tuple(py[1]), py[2]))
        metrics = pd.read_parquet(path / "metrics.parquet").to_dict("records") if (
            path / "metrics.parquet").exists() else []
        return int(state["step"]), metrics


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices, none on norms/biases. Empty groups are left out (under LoRA every
    trainable tensor is a matrix): DeepSpeed drops or rewrites groups at prepare(), and an empty one would leave
    the LR scheduler with more groups than the optimizer has."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def load_start_model(cfg: TrainConfig):
    """(model, tokenizer) the run starts from: `model_path` in fp32 with `base_adapters` merged in order."""
    from transformers import AutoTokenizer

    from snapcli.models.loading import hf_load_kwargs, load_weights

    try:
        tok = AutoTokenizer.from_pretrained(cfg.model_path, **hf_load_kwargs(cfg.model_path))
    except OSError as e:
        raise SnapError(f"cannot load model '{cfg.model_path}': {' '.join(str(e).split())[:300]} "
                        "(offline? pass a local directory with --model)") from None
    model = load_weights(cfg.model_path, cfg.base_adapters, dtype=torch.float32)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


class RegHandle:
    """The regularizer as the loop uses it: built from the spec's class and capabilities, evaluated on whole
    tensors inside the loss or, under ZeRO-3, on shards with its gradient handed to DeepSpeed."""

    def __init__(self, reg: Regularizer, lam: float, shards: Zero3Shards | None):
        self.reg, self.lam, self.shards = reg, lam, shards

    def in_loss(self, step: int, device: torch.device, grad_accum: int) -> tuple[torch.Tensor, float]:
        """(term to add to the last micro-batch's loss, R) on whole tensors. Accelerate and DeepSpeed divide every
        micro-batch loss by grad_accum, so R is scaled back up to count once per optimizer step."""
        if self.lam > 0:
            r = self.reg(step)
            return self.lam * grad_accum * r.to(device), float(r.detach())
        with torch.no_grad():
            return torch.zeros((), device=device), float(self.reg(step))

    def on_shards(self, step: int) -> float:
        """R on ZeRO-3 shards; adds lam * dR/d(shard) to the partitioned gradients (after backward, before step)."""
        assert self.shards is not None
        with torch.set_grad_enabled(self.lam > 0):
            self.shards.begin()
            r = self.reg(step)
            if self.lam > 0:
                self.shards.backward(self.lam * r)
        return float(r.detach())

    def value(self, step: int) -> float:
        """R of the current weights, no gradient (every process must call it under ZeRO-3)."""
        with torch.no_grad():
            if self.shards is not None:
                self.shards.begin()
            return float(self.reg(step))


@contextlib.contextmanager
def _whole_parameters(model: torch.nn.Module) -> Iterator[None]:
    """Every parameter whole on this process for the duration (ZeRO-3 partitions them at load time), so a
    one-time estimate (Fisher) can run plain forward/backward passes before the engine exists. Costs one whole
    copy of the model per process, once; a no-op when nothing is partitioned."""
    params = [p for p in model.parameters() if hasattr(p, "ds_id")]
    if not params:
        yield
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
        yield


def _deepspeed_backward(acc, loss: torch.Tensor, before_step: Callable[[], None]) -> None:
    """What accelerate's DeepSpeedEngineWrapper.backward does (engine.backward, then engine.step at the
    accumulation boundary), with `before_step` in between: the one place the partitioned gradients are complete
    and not yet applied."""
    engine = acc.deepspeed_engine_wrapped.engine
    engine.set_gradient_accumulation_boundary(is_boundary=acc.sync_gradients)
    engine.backward(loss)
    if acc.sync_gradients:
        before_step()
        engine.step()


def train(
    cfg: TrainConfig,
    forget: pd.DataFrame,
    retain: pd.DataFrame | None,
    *,
    out_dir: Path | None,
    ckpt_dir: Path,
    resume: str = "auto",
    save_every: int = 0,
    on_step: Callable[[StepInfo], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train and (on the main process) write `out_dir/model`; returns the summary and the metrics rows."""
    from transformers import get_scheduler

    from snapcli.models.loading import quiet_transformers

    quiet_transformers()
    status = on_status or (lambda _msg: None)
    cfg.check()
    spec = cfg.reg
    reg_cls = spec.regularizer
    options = spec.build_options()
    has_retain = retain is not None and len(retain) > 0
    if reg_cls.needs_retain and not has_retain:
        raise SnapError(f"--reg {spec.name} needs retain data (drop --no-retain)")
    micro = cfg.batch_size * (2 if has_retain else 1)
    acc = _make_accelerator(cfg, micro)
    ds = _is_deepspeed(acc)
    zero3 = _zero_stage(acc) == 3
    if zero3 and not reg_cls.zero3:
        raise SnapError(f"--reg {spec.name} does not run under ZeRO-3 (use the zero2 preset)")
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)

    status("loading model")
    model, tok = load_start_model(cfg)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.to(acc.device)

    f_ex = encode_all(tok, forget, cfg.max_length, cfg.loss_on)
    r_ex = encode_all(tok, retain, cfg.max_length, cfg.loss_on) if has_retain else []
    pad_id = tok.pad_token_id

    # theta_init and one-time statistics (Fisher) from the weights as loaded, before any update or resume.
    init_dtype = spec.torch_init_dtype
    named: list[tuple[str, torch.nn.Parameter]] = []
    state = None
    if reg_cls.needs_init:
        named = select_params(model, spec.params)
        if cfg.lora:  # only the adapted weights move
            named = [(n, p) for n, p in named if any(n.endswith(f"{t}.weight") for t in cfg.lora.targets)]
        elif spec.init_dtype != "fp32":  # under LoRA the frozen base weights are theta_init: nothing to round
            # Under ZeRO-3 transformers loads the model already partitioned (deepspeed.zero.Init): round the
            # shards, before prepare() copies them into the optimizer's fp32 partitions.
            snap_to_init_dtype([getattr(p, "ds_tensor", p) for _, p in named], init_dtype)
        status(f"preparing the {spec.name} regularizer")
        examples = ({k: v.to(acc.device) for k, v in collate([e], pad_id).items()} for e in r_ex)
        # an estimate from retain examples runs forward/backward passes: under ZeRO-3 on the whole model, once
        with _whole_parameters(model) if reg_cls.needs_retain else contextlib.nullcontext():
            state = reg_cls.estimate(model, named, examples, lambda m, b: sequence_nll(m, b).mean(), init_dtype,
                                     options)

    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=cfg.lora.r, lora_alpha=cfg.lora.alpha, target_modules=cfg.lora.targets,
            lora_dropout=cfg.lora.dropout, task_type="CAUSAL_LM"))

    # fused: one kernel per step instead of ~10 per tensor (0.35 -> 0.06 s for 135M parameters on 2 CPU cores,
    # `make bench`); DeepSpeed runs its own update over flat partitions, so it keeps the default
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, fused=None if ds else True)
    trainable = [p for g in optimizer.param_groups for p in g["params"]]
    rank, world = rank_world(acc)
    order = PairedOrder(len(f_ex), len(r_ex), cfg.batch_size, cfg.seed, rank, world)
    steps_per_epoch = order.per_epoch / cfg.grad_accum
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * order.per_epoch / cfg.grad_accum))
    model, optimizer = acc.prepare(model, optimizer)
    # The scheduler is built on the *prepared* optimizer, whose parameter groups DeepSpeed may have rewritten.
    scheduler = get_scheduler(cfg.scheduler, optimizer, num_warmup_steps=int(cfg.warmup_ratio * total),
                              num_training_steps=total)
    model.train()

    shards = Zero3Shards() if zero3 and reg_cls.needs_init else None
    targets: list[Target] = []
    if reg_cls.needs_init:
        base_model = acc.unwrap_model(model)
        if shards is not None:
            targets = (zero3_lora_targets(base_model, spec.params, shards) if cfg.lora
                       else zero3_targets(named, init_dtype, shards))
        else:
            targets = lora_targets(base_model, spec.params) if cfg.lora else make_targets(named, init_dtype)
    reg = RegHandle(reg_cls(targets, options, seed=cfg.seed, reduce=shards.reduce if shards else None,
                            state=state), spec.lam, shards)
    del state
    reg_memory = reg.reg.memory_bytes()
    if cfg.lora:
        reg_memory["theta_init_bytes"] = 0  # the frozen base weights are theta_init: no copy

    ckpt = Checkpointer(ckpt_dir, acc, ds)
    start, metrics = 0, []
    resume_path: Path | None = None
    if resume == "auto":
        resume_path = ckpt.latest()
    elif resume not in ("none", "never", "no"):
        resume_path = Path(resume)
        if not (resume_path / "trainer.json").exists():
            raise SnapError(f"--resume {resume}: not a checkpoint directory (no trainer.json)")
    if resume_path is not None:
        status(f"resuming from {resume_path.name}")
        start, metrics = ckpt.load(resume_path, model, optimizer, scheduler)
        metrics = metrics[:start]
    resumed_from = start

    device = acc.device
    unwrapped = acc.unwrap_model(model)
    # the batch's common prompt start runs once (snapcli/train/nll.py); ZeRO-3 would gather its shards twice
    share = not zero3 and can_share_prefix(unwrapped)
    cache_arg = _cache_kwarg(unwrapped) if share else None
    for step in range(start, total):
        t0 = time.perf_counter()
        lf_sum = lr_sum = 0.0
        n_tokens = 0
        reg_val = 0.0
        epoch = 0
        for a in range(cfg.grad_accum):
            m = step * cfg.grad_accum + a
            last = a == cfg.grad_accum - 1
            epoch, fi, ri = order.micro(m)
            batch = collate([f_ex[i] for i in fi] + [r_ex[j] for j in ri], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            n_tokens += int(batch["attention_mask"].sum())
            with acc.accumulate(model):
                nll = sequence_nll(model, batch, share_prefix=share, cache_arg=cache_arg)
                nb = len(fi)
                loss_f = nll[:nb].mean()
                loss_r = nll[nb:].mean() if ri else torch.zeros((), device=nll.device)
                loss = loss_f + cfg.retain_weight * loss_r
                if shards is None:
                    if last:
                        term, reg_val = reg.in_loss(step, loss.device, cfg.grad_accum)
                        loss = loss + term
                    acc.backward(loss)
                else:
                    box: list[float] = []
                    _deepspeed_backward(acc, loss, lambda s=step, box=box: box.append(reg.on_shards(s)))
                    if box:
                        reg_val = box[0]
                if acc.sync_gradients and not ds and cfg.max_grad_norm > 0:
                    acc.clip_grad_norm_(trainable, cfg.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            lf_sum += float(loss_f.detach())
            lr_sum += float(loss_r.detach())
        lr_now = scheduler.get_last_lr()[0]
        scheduler.step()
        stats = torch.tensor([lf_sum / cfg.grad_accum, lr_sum / cfg.grad_accum, float(n_tokens)], device=device)
        stats = acc.reduce(stats, reduction="sum")
        secs = time.perf_counter() - t0
        if not all(math.isfinite(float(x)) for x in stats):
            raise RunFailed(f"loss became non-finite at step {step + 1} (lower --lr or --lambda)")
        row = {
            "step": step + 1,
            "epoch": round((step + 1) / steps_per_epoch, 4),
            "loss_f": float(stats[0]) / world,
            "loss_r": float(stats[1]) / world if has_retain else 0.0,
            "reg": reg_val,
            "lr": float(lr_now),
            "tokens_per_s": float(stats[2]) / secs if secs > 0 else 0.0,
            "step_seconds": secs,
            "peak_mem_mb": _peak_mem_mb(device),
        }
        row["loss"] = row["loss_f"] + cfg.retain_weight * row["loss_r"] + spec.lam * reg_val
        metrics.append(row)
        if on_step and rank == 0:
            on_step(StepInfo(step + 1, total, row))
        if save_every and (step + 1) % save_every == 0 and step + 1 < total:
            ckpt.save(step + 1, model, optimizer, scheduler, metrics)

    summary = {
        "steps": total, "resumed_from_step": resumed_from, "processes": world,
        "deepspeed_zero_stage": _zero_stage(acc) if ds else None,
        "forget_examples": len(f_ex), "retain_examples": len(r_ex), "shared_prefix": share,
        # R between the published weights and theta_init, with the directions of step `steps`
        "final_reg": reg.value(total),
        "memory": reg_memory, "is_main": rank == 0,
    }
    status("saving model")
    _save_model(acc, model, tok, cfg, out_dir, merge_via_reload=zero3)
    acc.wait_for_everyone()
    summary["metrics"] = pd.DataFrame(metrics, columns=METRIC_COLUMNS)
    return summary


@contextlib.contextmanager
def _loading_alone(acc) -> Iterator[None]:
    """While a ZeRO-3 config is registered, transformers loads models partitioned across processes (a collective:
    it would wait forever for the others); a model one process loads alone must load whole."""
    from transformers.integrations.deepspeed import set_hf_deepspeed_config, unset_hf_deepspeed_config

    plugin = getattr(acc.state, "deepspeed_plugin", None)
    registered = getattr(plugin, "dschf", None)
    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if registered is not None:
            set_hf_deepspeed_config(registered)


def _save_model(acc, model, tok, cfg: TrainConfig, out_dir: Path | None, merge_via_reload: bool = False) -> None:
    """safetensors + tokenizer + hyperparameters.yaml; every process joins (ZeRO-3 gathers), the main one writes.

    LoRA without --merge-lora saves the adapter (adapter_config.json names the base model's path). With it the
    adapter is merged; under ZeRO-3 the in-memory weights are shards, so the adapter is saved first and merged
    into a fresh copy of the starting weights instead."""
    import yaml

    state = acc.get_state_dict(model) if _is_deepspeed(acc) else None
    if not is_main(acc) or out_dir is None:
        return
    target = out_dir / "model"
    target.mkdir(parents=True, exist_ok=True)
    unwrapped = acc.unwrap_model(model)
    kwargs = {"state_dict": state} if state is not None else {}
    if cfg.lora and cfg.lora.merge and merge_via_reload:
        from snapcli.models.loading import load_weights

        adapter = out_dir / "adapter.tmp"
        unwrapped.save_pretrained(adapter, safe_serialization=True, **kwargs)
        with _loading_alone(acc):
            merged = load_weights(cfg.model_path, [*cfg.base_adapters, str(adapter)], dtype=torch.float32)
        shutil.rmtree(adapter)
        unwrapped, kwargs = merged, {}
    elif cfg.lora and cfg.lora.merge:
        unwrapped, kwargs = unwrapped.merge_and_unload(), {}
    unwrapped.config.use_cache = True
    unwrapped.save_pretrained(target, safe_serialization=True, **kwargs)
    tok.save_pretrained(target)
    gen = getattr(unwrapped, "generation_config", None)
    if gen is not None:
        gen.save_pretrained(target)
    (target / "hyperparameters.yaml").write_text(yaml.safe_dump(cfg.to_params(), sort_keys=False))
