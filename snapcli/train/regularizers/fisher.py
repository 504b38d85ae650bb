"""Fisher regularization (Golatkar et al. 2020; the paper's "Fisher forgetting" baseline, section 4.3)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from snapcli.errors import SnapError
from snapcli.train.regularizers.base import Regularizer, Target, summed


def estimate_fisher(
    model: torch.nn.Module,
    named: list[tuple[str, torch.nn.Parameter]],
    batches: Iterable[dict[str, torch.Tensor]],
    loss_fn: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    dtype: torch.dtype,
    on_example: Callable[[], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Empirical diagonal Fisher: mean over single-example batches of grad(NLL)^2, accumulated in fp32."""
    acc = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in named}
    count = 0
    was_training = model.training
    model.eval()
    for batch in batches:
        model.zero_grad(set_to_none=True)
        loss_fn(model, batch).backward()
        for n, p in named:
            if p.grad is not None:
                acc[n] += p.grad.detach().float().pow(2)
        count += 1
        if on_example:
            on_example()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if count == 0:
        raise SnapError("the fisher regularizer needs at least one retain example")
    return {n: (a / count).to(dtype) for n, a in acc.items()}


class FisherRegularizer(Regularizer):
    """sum_i F_i (theta_i - theta_init_i)^2 with F the diagonal Fisher information of the retain data.

    F is estimated once before training as the mean over retain examples of the squared per-example gradient of
    the NLL (the empirical Fisher), and stored like theta_init (bf16 by default): another 2 bytes per parameter
    (per process: under ZeRO-3 each process keeps only its shard of F). Weights that matter for the retain data
    move less (Golatkar et al. 2020; paper section 4.3).
    """

    name = "fisher"
    label = "fisher"
    summary = "sum F (theta - theta_init)^2, F the diagonal Fisher of the retain data"
    needs_retain = True

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        fisher_samples: int = Field(64, ge=1, description="Retain examples used to estimate the Fisher information.")

    def __init__(self, targets: list[Target], options: BaseModel | None = None, *, state: Any = None, **kw: Any):
        super().__init__(targets, options, **kw)
        if state is None:
            raise SnapError("the fisher regularizer needs retain data to estimate the Fisher information")
        missing = [t.name for t in targets if t.name not in state]
        if missing:
            raise SnapError(f"no Fisher estimate for {missing[0]}")
        self.fisher = {t.name: t.localize(state[t.name]) for t in targets}

    @classmethod
    def estimate(cls, model, named, examples: Iterator[dict[str, torch.Tensor]], loss_fn, dtype, options):
        return estimate_fisher(model, named, itertools.islice(examples, options.fisher_samples), loss_fn, dtype)

    def __call__(self, step: int) -> torch.Tensor:
        total = None
        for t in self.targets:
            f = self.fisher[t.name]
            d = (f.float() * (t.current().float() - t.init.float()).pow(2)).sum()
            total = d if total is None else total + d.to(total.device)
        if total is None:
            return torch.zeros(())
        return summed(total, self.reduce)

    def memory_bytes(self) -> dict[str, int]:
        out = super().memory_bytes()
        out["fisher_bytes"] = sum(f.numel() * f.element_size() for f in self.fisher.values())
        return out
