"""Attacks that try to bring forgotten knowledge back: relearning, int8 and 4-bit quantization (issue 12, items 4-5).

Each attack builds a *new* model from the unlearned one and never changes the model it is given (the relearning
attack trains a deep copy; the quantization attacks quantize a deep copy or reload from the model's directory). The
runner then asks the attacked model the forget questions and measures leakage against the base answers.

- ``relearn`` (Hu et al., arXiv 2410.08827; Lynch et al. 2024): fine-tune the copy for `steps` AdamW steps (default
  10) at the learning rate the model was trained with, on a `share` (default 25%) of the forget questions paired
  with the *base* model's answers (cut after their last full sentence: they were cut at max_new_tokens); the other
  forget questions are the ones evaluated (`AttackOutcome.eval_rows`).
  Recovery % = (leakage after the attack - leakage of the unlearned model) / (leakage of the base model - leakage
  of the unlearned model) x 100 on those held-out questions (`recovery`). The loss and data encoding are the
  training stage's own (snapcli.train.data.encode/collate, snapcli.train.nll.sequence_nll).
- ``int8``: torch's dynamic int8 quantization of every Linear layer except the LM head (weights int8 per channel,
  activations quantized per batch; ``torch.ao.quantization.quantize_dynamic``), on a CPU copy. On CUDA with
  bitsandbytes installed and the model's directory known, LLM.int8() instead (``load_in_8bit``).
- ``int4`` (Zhang et al., ICLR 2025, arXiv 2410.16454: 4-bit quantization restored forgotten knowledge): on CUDA
  with bitsandbytes and the model's directory, NF4 (``load_in_4bit``); otherwise optimum-quanto's round-to-nearest
  int4 weights (group-wise scales, group 128 or the largest multiple of 32 dividing the layer width; LM head kept,
  as bitsandbytes/GPTQ do). quanto's int4 kernels cannot run under ``torch.inference_mode`` (which
  snapcli.models.generation uses), so the quantized weights are dequantized back into plain Linear layers: the
  same 4-bit rounding, the same outputs (a test checks it), computed in float. When neither backend exists the
  outcome says so (`ran=False`, `detail` gives the reason and the install line).
"""

from __future__ import annotations

import abc
import copy
import importlib.util
import random
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from snapcli.errors import SnapError


@dataclass
class AttackOutcome:
    """What an attack produced: the attacked model (None when it could not run) and how it was made."""

    name: str
    ran: bool
    detail: str                          # what ran ("int8 dynamic (torch.ao), 210 Linear layers") or why not
    model: Any = None                    # the attacked copy
    eval_rows: list[int] | None = None   # indices of the rows to evaluate (relearn: the held-out ones); None: all
    info: dict[str, Any] = field(default_factory=dict)


class Attack(abc.ABC):
    """Base class: `apply(model, tok, rows, ...) -> AttackOutcome` with a new model; `model` stays untouched."""

    name = "base"
    description = ""

    @abc.abstractmethod
    def apply(self, model, tok, rows: Sequence[Mapping[str, Any]], *, seed: int = 0,
              model_path: str | None = None) -> AttackOutcome:
        """The attacked copy (or why the attack could not run) as an AttackOutcome."""


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _usable(row: Mapping[str, Any]) -> bool:
    ans = row.get("base_answer")
    return isinstance(ans, str) and bool(ans.strip()) and row.get("base_label") in (None, "answer")


class RelearnAttack(Attack):
    name = "relearn"
    description = "fine-tune a copy on some forget questions with the base answers; evaluate on the others"

    def __init__(self, steps: int = 10, lr: float = 5e-5, share: float = 0.25, batch_size: int = 8,
                 max_length: int = 256, weight_decay: float = 0.0, max_grad_norm: float = 1.0):
        if steps < 1:
            raise SnapError(f"relearning steps must be >= 1 (got {steps})")
        if not lr > 0:
            raise SnapError(f"relearning lr must be > 0 (got {lr})")
        if not 0.0 < share < 1.0:
            raise SnapError(f"relearning share must be in (0, 1) (got {share})")
        if batch_size < 1:
            raise SnapError(f"relearning batch size must be >= 1 (got {batch_size})")
        self.steps, self.lr, self.share, self.batch_size = steps, lr, share, batch_size
        self.max_length, self.weight_decay, self.max_grad_norm = max_length, weight_decay, max_grad_norm

    def split(self, rows: Sequence[Mapping[str, Any]], seed: int) -> tuple[list[int], list[int]]:
        """(train indices, held-out indices) over the rows that have a usable base answer; seeded."""
        usable = [i for i, r in enumerate(rows) if _usable(r)]
        if len(usable) < 2:
            raise SnapError(f"the relearning attack needs >= 2 forget rows with a base answer (got {len(usable)})")
        order = usable[:]
        random.Random(seed).shuffle(order)
        n_train = min(len(order) - 1, max(1, round(self.share * len(order))))
        return sorted(order[:n_train]), sorted(order[n_train:])

    def apply(self, model, tok, rows, *, seed=0, model_path=None):
        from snapcli.train.data import collate, encode
        from snapcli.train.nll import can_share_prefix, sequence_nll

        train_idx, eval_idx = self.split(rows, seed)
        t0 = time.perf_counter()
        attacked = copy.deepcopy(model)
        attacked.train()
        examples = [encode(tok, str(rows[i]["question"]), complete_sentences(str(rows[i]["base_answer"])),
                           self.max_length) for i in train_idx]
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        params = [p for p in attacked.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay, fused=True)  # as snap train
        device = _device(attacked)
        g = torch.Generator().manual_seed(seed)
        order: list[int] = []
        losses = []
        share = can_share_prefix(attacked)
        for _ in range(self.steps):
            batch_ids = []
            while len(batch_ids) < min(self.batch_size, len(examples)):
                if not order:
                    order = torch.randperm(len(examples), generator=g).tolist()
                batch_ids.append(order.pop())
            batch = {k: v.to(device) for k, v in collate([examples[j] for j in batch_ids], pad).items()}
            loss = sequence_nll(attacked, batch, share_prefix=share).mean()
            loss.backward()
            if self.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
        attacked.eval()
        del opt
        return AttackOutcome(
            name=self.name, ran=True,
            detail=f"{self.steps} AdamW steps at lr {self.lr:g} on {len(train_idx)} forget questions with the base "
                   f"answers; evaluated on the other {len(eval_idx)}",
            model=attacked, eval_rows=eval_idx,
            info={"steps": self.steps, "lr": self.lr, "share": self.share, "batch_size": self.batch_size,
                  "train_rows": train_idx, "eval_rows": eval_idx, "losses": losses,
                  "seconds": round(time.perf_counter() - t0, 2)},
        )


def complete_sentences(text: str) -> str:
    """The text up to its last sentence end: base answers are cut at max_new_tokens, and training on a cut answer
    followed by the end-of-turn token teaches the model to stop mid-sentence. Unchanged without a sentence end."""
    text = text.strip()
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[: ends[-1]] if ends and ends[-1] >= len(text) // 3 else text


def recovery(leak_base: float | None, leak_unlearned: float | None, leak_attacked: float | None) -> float | None:
    """Leakage regained by an attack, in % of what unlearning removed: 100 * (attacked - unlearned) / (base -
    unlearned); None when unlearning removed nothing (base <= unlearned) or a value is missing. Can be < 0 or > 100."""
    if leak_base is None or leak_unlearned is None or leak_attacked is None:
        return None
    removed = leak_base - leak_unlearned
    if removed <= 0:
        return None
    return 100.0 * (leak_attacked - leak_unlearned) / removed


def _skip_head(model) -> set[str]:
    """Module names to keep in full precision: the output head (bitsandbytes and GPTQ keep it too)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {n for n, m in model.named_modules() if head is not None and m is head}


def _has_bnb_cuda(model, model_path: str | None) -> bool:
    return (_device(model).type == "cuda" and model_path is not None
            and importlib.util.find_spec("bitsandbytes") is not None)


def _bnb_reload(model_path: str, device: torch.device, bits: int):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if bits == 8:
        qc = BitsAndBytesConfig(load_in_8bit=True)
    else:
        qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    m = AutoModelForCausalLM.from_pretrained(model_path, quantization_config=qc, device_map={"": device.index or 0})
    m.eval()
    return m


class Int8Attack(Attack):
    name = "int8"
    description = "int8 dynamic quantization of the Linear layers (CPU; LLM.int8() on CUDA with bitsandbytes)"

    def apply(self, model, tok, rows, *, seed=0, model_path=None):
        t0 = time.perf_counter()
        if _has_bnb_cuda(model, model_path):
            m = _bnb_reload(model_path, _device(model), 8)  # type: ignore[arg-type]
            return AttackOutcome(self.name, True, "LLM.int8() (bitsandbytes, CUDA)", model=m,
                                 info={"backend": "bitsandbytes", "bits": 8,
                                       "seconds": round(time.perf_counter() - t0, 2)})
        try:
            from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic
        except ImportError:
            return AttackOutcome(self.name, False, f"torch {torch.__version__} has no torch.ao dynamic quantization")

        cpu = copy.deepcopy(model).to("cpu").float().eval()
        skip = _skip_head(cpu)
        spec = {n: default_dynamic_qconfig for n, m in cpu.named_modules()
                if isinstance(m, torch.nn.Linear) and n not in skip}
        if not spec:
            return AttackOutcome(self.name, False, "the model has no Linear layer to quantize")
        with warnings.catch_warnings():  # deprecated in favour of torchao, still shipped and working in torch 2.13
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
            q = quantize_dynamic(cpu, spec, dtype=torch.qint8, inplace=True)
        n = sum(1 for m in q.modules() if type(m).__name__ == "Linear" and "quantized" in type(m).__module__)
        return AttackOutcome(self.name, True, f"int8 dynamic quantization (torch.ao, CPU) of {n} Linear layers; "
                                              "LM head kept in fp32", model=q,
                             info={"backend": "torch.ao.quantize_dynamic", "bits": 8, "quantized_modules": n,
                                   "seconds": round(time.perf_counter() - t0, 2)})


def quanto_available() -> bool:
    return importlib.util.find_spec("optimum") is not None and importlib.util.find_spec("optimum.quanto") is not None


class Int4Attack(Attack):
    name = "int4"
    description = "4-bit weights: NF4 (bitsandbytes, CUDA) or round-to-nearest int4 (optimum-quanto, CPU)"

    def apply(self, model, tok, rows, *, seed=0, model_path=None):
        t0 = time.perf_counter()
        if _has_bnb_cuda(model, model_path):
            m = _bnb_reload(model_path, _device(model), 4)  # type: ignore[arg-type]
            return AttackOutcome(self.name, True, "NF4 4-bit (bitsandbytes, CUDA)", model=m,
                                 info={"backend": "bitsandbytes", "bits": 4,
                                       "seconds": round(time.perf_counter() - t0, 2)})
        if not quanto_available():
            return AttackOutcome(self.name, False, "no 4-bit backend here: pip install optimum-quanto (CPU) or "
                                                   "bitsandbytes (CUDA)")
        from optimum.quanto import freeze, qint4, quantize
        from optimum.quanto.nn import QModuleMixin

        cpu = copy.deepcopy(model).to("cpu").float().eval()
        quantize(cpu, weights=qint4, exclude=sorted(_skip_head(cpu)) or None)
        freeze(cpu)
        groups: dict[str, int] = {}
        n = 0
        for name, mod in list(cpu.named_modules()):
            if not isinstance(mod, QModuleMixin) or not isinstance(mod, torch.nn.Linear):
                continue
            lin = torch.nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(mod.weight.dequantize())
                if mod.bias is not None:
                    lin.bias.copy_(mod.bias)
            gs = mod.weight_group_size or mod.in_features
            lin.snap_quantized = f"quanto-qint4-group{gs}"  # what the test and the report can see
            parent, _, child = name.rpartition(".")
            setattr(cpu.get_submodule(parent) if parent else cpu, child, lin)
            groups[str(gs)] = groups.get(str(gs), 0) + 1
            n += 1
        if n == 0:
            return AttackOutcome(self.name, False, "the model has no Linear layer to quantize")
        sizes = ", ".join(f"{c} layers with group {g}" for g, c in sorted(groups.items()))
        return AttackOutcome(self.name, True, f"int4 round-to-nearest weights (optimum-quanto, CPU; {sizes}); "
                                              "LM head kept; dequantized to fp32 for generation", model=cpu,
                             info={"backend": "optimum-quanto", "bits": 4, "quantized_modules": n,
                                   "group_sizes": groups, "seconds": round(time.perf_counter() - t0, 2)})


ATTACKS: dict[str, type[Attack]] = {c.name: c for c in (RelearnAttack, Int8Attack, Int4Attack)}


def get_attack(name: str, **options: Any) -> Attack:
    """The attack registered as `name` (options go to its constructor: relearn takes steps, lr, share, ...)."""
    if name not in ATTACKS:
        raise SnapError(f"unknown attack '{name}' (choose from {', '.join(ATTACKS)})")
    return ATTACKS[name](**options)


def parse_attacks(spec: str | Sequence[str] | None) -> list[str]:
    """'all' / None -> every attack; 'relearn,int8' or a list -> those, checked, no repeats; 'none' -> []."""
    if spec is None or spec == "all" or (not isinstance(spec, str) and list(spec) == ["all"]):
        return list(ATTACKS)
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    if items in ([], ["none"]):
        return []
    out: list[str] = []
    for s in items:
        if s not in ATTACKS:
            raise SnapError(f"unknown attack '{s}' (choose from {', '.join(ATTACKS)})")
        if s not in out:
            out.append(s)
    return out
