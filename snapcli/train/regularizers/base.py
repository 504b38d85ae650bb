"""What every regularizer R(theta, theta_init) builds on: targets, the base class, and sums over shards.

A `Target` is one regularized weight tensor seen as a *flat chunk*: the whole tensor flattened (one process, DDP,
ZeRO-2), or only this process's contiguous shard of it (DeepSpeed ZeRO-3, where no process holds the whole
tensor outside the forward pass). `offset` says where the chunk starts in the flattened tensor and `shape` is the
whole tensor's shape, so a regularizer can compute exactly what it would compute on the whole tensor:

- sums (Euclidean, Fisher) are sums of per-shard sums;
- a row projection W @ u (sliced Wasserstein) is the sum over shards of each shard's partial dot products,
  because every entry W_ij belongs to exactly one shard; the n x K projections are summed across processes and
  sorted on every process (the same result everywhere), never the n x d weights themselves.

`reduce` sums a tensor over the processes holding shards (an all-reduce); `summed()` applies it so that the
gradient of the result with respect to this process's partial is 1, i.e. each process gets exactly the gradient
of the global R with respect to its own entries. With whole tensors `reduce` is None and nothing is exchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from snapcli.errors import SnapError

# sqrt/pow at exactly 0 has an infinite derivative; below this the penalty is flat (and R is 0 to ~1e-15).
_TINY = 1e-30
# Largest number of floats summed across processes in one all-reduce (256 MB in fp32).
BUCKET_NUMEL = 1 << 26

Reduce = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Target:
    """One regularized weight: `current()` returns its live (differentiable) values as a flat chunk of the whole
    tensor (the whole tensor flattened, or this process's ZeRO-3 shard), `init` the same chunk of theta_init
    (in the init dtype), `shape` the whole tensor's shape and `offset` where the chunk starts in it."""

    name: str
    shape: tuple[int, ...]
    current: Callable[[], torch.Tensor]
    init: torch.Tensor
    offset: int = 0

    @property
    def numel(self) -> int:
        """Entries held by this process."""
        return self.init.numel()

    @property
    def full_numel(self) -> int:
        return math.prod(self.shape)

    def localize(self, full: torch.Tensor) -> torch.Tensor:
        """This target's chunk of a whole-tensor statistic (e.g. a Fisher estimate), as a new tensor."""
        flat = full.reshape(-1)
        if self.offset == 0 and self.numel == flat.numel():
            return flat
        return flat[self.offset : self.offset + self.numel].clone()

    def place(self, chunk: torch.Tensor) -> torch.Tensor:
        """The chunk at its position in a zero vector of the whole tensor's size (differentiable)."""
        if self.offset == 0 and chunk.numel() == self.full_numel:
            return chunk
        if chunk.numel() == 0:  # a ZeRO-3 process whose partition of this tensor is all padding
            return chunk.new_zeros(self.full_numel)
        return torch.nn.functional.pad(chunk, (self.offset, self.full_numel - self.offset - chunk.numel()))

    def project_rows(self, chunk: torch.Tensor, proj_t: torch.Tensor) -> torch.Tensor:
        """(K x n) = this chunk's contribution to proj_t @ W.reshape(n, d).T, W the whole tensor, proj_t (K x d).

        Rows the chunk does not touch are zero; summed over all chunks this is the exact projection."""
        n = self.shape[0]
        d = self.full_numel // n
        if self.offset == 0 and chunk.numel() == self.full_numel:
            return proj_t @ chunk.view(n, d).t()
        if chunk.numel() == 0:
            return proj_t.new_zeros(proj_t.shape[0], n)
        r0 = self.offset // d
        r1 = (self.offset + chunk.numel() - 1) // d
        lead = self.offset - r0 * d
        tail = (r1 + 1) * d - (self.offset + chunk.numel())
        rows = torch.nn.functional.pad(chunk, (lead, tail)).view(r1 - r0 + 1, d)
        return torch.nn.functional.pad(proj_t @ rows.t(), (r0, n - r1 - 1))


def summed(x: torch.Tensor, reduce: Reduce | None) -> torch.Tensor:
    """x summed over the processes holding shards; d(result)/d(x) = 1, so gradients stay per-process exact."""
    if reduce is None:
        return x
    total = reduce(x.detach().clone())
    return x + (total - x.detach())


def summed_many(parts: list[torch.Tensor], reduce: Reduce | None) -> list[torch.Tensor]:
    """`summed` for many tensors with few all-reduces: concatenated in buckets of at most BUCKET_NUMEL floats."""
    if reduce is None or not parts:
        return parts
    out: list[torch.Tensor] = []
    start = 0
    while start < len(parts):
        end, size = start, 0
        while end < len(parts) and (end == start or size + parts[end].numel() <= BUCKET_NUMEL):
            size += parts[end].numel()
            end += 1
        group = parts[start:end]
        flat = summed(torch.cat([p.reshape(-1) for p in group]), reduce)
        out.extend(c.view(p.shape) for c, p in zip(flat.split([p.numel() for p in group]), group, strict=True))
        start = end
    return out


def root(x: torch.Tensor, p: float) -> torch.Tensor:
    return x.clamp_min(_TINY).pow(1.0 / p) if p != 1 else x


class NoOptions(BaseModel):
    """A regularizer without options of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Regularizer:
    """R(theta, theta_init): set up once before training, evaluated once per optimizer step.

    A subclass declares its registry `name`, the method `label` used in reports, a one-line `summary`, its
    `Options` (a pydantic model: every field becomes a `snap train` flag and a snap.yaml key, so field names are
    unique across regularizers) and its capabilities; the training loop reads only those, never the name.
    """

    name: ClassVar[str] = "base"
    label: ClassVar[str] = "base"
    summary: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    zero3: ClassVar[bool] = True  # works on ZeRO-3 shards (targets with offsets, `reduce` across processes)
    needs_init: ClassVar[bool] = True  # compares with theta_init: the loop builds targets and keeps the init copy
    needs_retain: ClassVar[bool] = False  # `estimate` needs retain examples (exit 2 with --no-retain)

    def __init__(self, targets: list[Target], options: BaseModel | None = None, *, seed: int = 0,
                 reduce: Reduce | None = None, state: Any = None):
        self.targets = targets
        self.options = options if options is not None else self.Options()
        self.seed = seed
        self.reduce = reduce

    @classmethod
    def estimate(cls, model: torch.nn.Module, named: list[tuple[str, torch.nn.Parameter]],
                 examples: Iterator[dict[str, torch.Tensor]],
                 loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor],
                 dtype: torch.dtype, options: BaseModel) -> Any:
        """One-time statistics from the weights as loaded, before any update (e.g. the Fisher information);
        `examples` yields single retain examples. The result is passed to __init__ as `state`."""
        return None

    def __call__(self, step: int) -> torch.Tensor:
        raise SnapError(f"regularizer '{self.name}' cannot be evaluated")  # every registered class overrides this

    def memory_bytes(self) -> dict[str, int]:
        """Extra memory this process holds for the whole run (reported in the manifest)."""
        return {"theta_init_bytes": sum(t.init.numel() * t.init.element_size() for t in self.targets)}


def select_params(model: torch.nn.Module, pattern: str | None) -> list[tuple[str, torch.nn.Parameter]]:
    """Trainable parameters whose name matches `pattern` (a regex, searched); all trainable ones if None."""
    rx = re.compile(pattern) if pattern else None
    out = [(n, p) for n, p in model.named_parameters() if p.requires_grad and (rx is None or rx.search(n))]
    if not out:
        raise SnapError(f"--reg-params '{pattern}' matches no trainable parameter of the model")
    return out


def snap_to_init_dtype(params: Iterable[torch.Tensor], init_dtype: torch.dtype) -> None:
    """Round weights onto the grid of the stored init copy so that theta == theta_init holds exactly at step 0."""
    with torch.no_grad():
        for p in params:
            if p.dtype != init_dtype and p.is_floating_point():
                p.copy_(p.to(init_dtype).to(p.dtype))


def make_targets(named: list[tuple[str, torch.nn.Parameter]], init_dtype: torch.dtype) -> list[Target]:
    """Whole parameters: the live values are the parameter itself, the init a detached copy in `init_dtype`."""
    return [Target(n, tuple(p.shape), (lambda p=p: p.reshape(-1)), p.detach().reshape(-1).to(init_dtype).clone())
            for n, p in named]
