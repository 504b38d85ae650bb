"""Regularizers R(theta, theta_init) of the SNAP objective, one class each behind `REGULARIZERS`.

Every regularizer sees the model through a list of `Target`s: a named weight tensor together with a frozen copy
of its initial value. The initial copy is stored in `init_dtype` (bf16 by default: 2 bytes per parameter, half of
an fp32 copy) on the tensor's own device, so the penalty never moves data between devices. With a bf16 copy the
trainable weights are first snapped to the bf16 grid (`snap_to_init_dtype`), so R is exactly 0 at the start
instead of measuring bf16 rounding noise; the change is at most 2^-9 relative per weight (below what one
optimizer step does), and a no-op for checkpoints that were stored in bf16 to begin with.

Wasserstein normalization (why lambda means the same thing for every model): for a weight W with n rows in R^d,
the rows are n points. A unit direction u sends row i to <W_i, u>; if every entry moved by about delta, a
projected point moves by about delta too (|u| = 1), whatever d is. Each tensor's SW is the mean over rows and
projections of |sorted difference|^p, to the power 1/p, so it is in "per-entry" weight units regardless of n and
d; R is then the mean over tensors (not the sum), so adding layers does not change its scale. Typical values
are O(lr * steps), e.g. 1e-4..1e-3 after a short run at lr 5e-5.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from snapcli.errors import SnapError

# sqrt/pow at exactly 0 has an infinite derivative; below this the penalty is flat (and R is 0 to ~1e-15).
_TINY = 1e-30


@dataclass
class Target:
    """One regularized weight: `current()` returns the live (differentiable) tensor, `init` its initial value."""

    name: str
    current: Callable[[], torch.Tensor]
    init: torch.Tensor

    @property
    def numel(self) -> int:
        return self.init.numel()


def _root(x: torch.Tensor, p: float) -> torch.Tensor:
    return x.clamp_min(_TINY).pow(1.0 / p) if p != 1 else x


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
    """Plain parameters: the live tensor is the parameter itself, the init is a detached copy in `init_dtype`."""
    return [Target(n, (lambda p=p: p), p.detach().to(init_dtype).clone()) for n, p in named]


class Regularizer:
    """R(theta, theta_init): set up once before training, evaluated once per optimizer step."""

    name = "base"
    needs_fisher = False

    def __init__(self, targets: list[Target], **opts: Any):
        self.targets = targets
        self.opts = opts

    def __call__(self, step: int) -> torch.Tensor:
        raise SnapError(f"regularizer '{self.name}' cannot be evaluated")  # every registered class overrides this

    def memory_bytes(self) -> dict[str, int]:
        """Extra memory the regularizer holds for the whole run (reported in the manifest)."""
        return {"theta_init_bytes": sum(t.init.numel() * t.init.element_size() for t in self.targets)}


class NoRegularizer(Regularizer):
    """R = 0: the 'no Wasserstein' ablation (paper table 3)."""

    name = "none"

    def __call__(self, step: int) -> torch.Tensor:
        return torch.zeros(())

    def memory_bytes(self) -> dict[str, int]:
        return {"theta_init_bytes": 0}


def sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, proj: torch.Tensor, p: float = 2.0
) -> torch.Tensor:
    """SW_p between the rows of x and of y (same shape n x d) along the columns of `proj` (d x K, unit columns).

    Exact 1-D optimal transport between two equal-size empirical measures pairs the sorted values, so one sort
    per projection replaces the O(n^3) solver: mean_k mean_i |sort(x u_k)_i - sort(y u_k)_i|^p, to the power 1/p.
    """
    # (K x d) @ (d x n): each projection is a contiguous row, so the sorts run along memory (several x faster
    # than sorting the columns of an n x K result).
    pt = proj.t()
    dx, _ = torch.sort(pt @ x.t(), dim=1)
    dy, _ = torch.sort(pt @ y.t(), dim=1)
    diff = (dx - dy).abs()
    mean = diff.pow(p).mean() if p != 1 else diff.mean()
    return _root(mean, p)


class WassersteinRegularizer(Regularizer):
    """Sliced Wasserstein distance between each weight tensor's rows and its initial rows (paper eq. 4-5).

    Per step and per tensor: K fresh random unit directions are drawn on the tensor's own device from a generator
    seeded by (seed, step) (so a resumed run draws the same ones), one (n x d) @ (d x K) matmul projects the current
    and the initial rows, and a sort gives the exact 1-D OT. 1-D tensors (norm weights) are n points on the line:
    their W_p is exact, no projection needed. Tensors with the same row length share one direction matrix.
    """

    name = "wasserstein"

    def __init__(self, targets: list[Target], projections: int = 64, p: float = 2.0, seed: int = 0, **opts: Any):
        super().__init__(targets, **opts)
        if projections < 1:
            raise SnapError(f"--projections must be >= 1 (got {projections})")
        if p < 1:
            raise SnapError(f"--p must be >= 1 (got {p})")
        self.k = projections
        self.p = p
        self.seed = seed
        self._gens: dict[torch.device, torch.Generator] = {}

    def _gen(self, device: torch.device, step: int) -> torch.Generator:
        g = self._gens.get(device)
        if g is None:
            g = self._gens[device] = torch.Generator(device=device)
        g.manual_seed((self.seed * 1_000_003 + step) % (2**63 - 1))
        return g

    def directions(self, d: int, device: torch.device, step: int) -> torch.Tensor:
        """K unit vectors in R^d (columns), uniform on the sphere: normalized Gaussians."""
        u = torch.randn(d, self.k, device=device, dtype=torch.float32, generator=self._gen(device, step))
        return u / u.norm(dim=0, keepdim=True)

    def __call__(self, step: int) -> torch.Tensor:
        total = None
        cache: dict[tuple[int, torch.device], torch.Tensor] = {}
        for t in self.targets:
            w = t.current()
            w0 = t.init
            if w.dim() == 1:
                dx, _ = torch.sort(w.float())
                dy, _ = torch.sort(w0.float())
                diff = (dx - dy).abs()
                sw = _root(diff.pow(self.p).mean(), self.p)
            else:
                w2 = w.reshape(w.shape[0], -1)
                key = (w2.shape[1], w2.device)
                if key not in cache:
                    cache[key] = self.directions(w2.shape[1], w2.device, step)
                proj = cache[key]
                sw = sliced_wasserstein(w2.float(), w0.reshape(w2.shape).float(), proj, self.p)
            total = sw if total is None else total + sw
        return total / len(self.targets)


class EuclideanRegularizer(Regularizer):
    """||theta - theta_init||_2 over all regularized weights together, not squared (paper footnote 3).

    The gradient is the unit vector (theta - theta_init)/||.||: a pull of constant strength lambda, whatever the
    distance, which is why it regularizes harder than squared L2 near the start.
    """

    name = "euclidean"

    def __call__(self, step: int) -> torch.Tensor:
        sq = None
        for t in self.targets:
            d = (t.current().float() - t.init.float()).pow(2).sum()
            sq = d if sq is None else sq + d.to(sq.device)
        return _root(sq, 2.0)


class FisherRegularizer(Regularizer):
    """sum_i F_i (theta_i - theta_init_i)^2 with F the diagonal Fisher information of the retain data.

    F is estimated once before training as the mean over retain examples of the squared per-example gradient of
    the NLL (the empirical Fisher), and stored like theta_init (bf16 by default): another 2 bytes per parameter.
    Weights that matter for the retain data move less (Golatkar et al. 2020; paper section 4.3).
    """

    name = "fisher"
    needs_fisher = True

    def __init__(self, targets: list[Target], fisher: dict[str, torch.Tensor] | None = None, **opts: Any):
        super().__init__(targets, **opts)
        if fisher is None:
            raise SnapError("the fisher regularizer needs retain data to estimate the Fisher information")
        missing = [t.name for t in targets if t.name not in fisher]
        if missing:
            raise SnapError(f"no Fisher estimate for {missing[0]}")
        self.fisher = fisher

    def __call__(self, step: int) -> torch.Tensor:
        total = None
        for t in self.targets:
            f = self.fisher[t.name]
            d = (f.float() * (t.current().float() - t.init.float()).pow(2)).sum()
            total = d if total is None else total + d.to(total.device)
        return total

    def memory_bytes(self) -> dict[str, int]:
        out = super().memory_bytes()
        out["fisher_bytes"] = sum(f.numel() * f.element_size() for f in self.fisher.values())
        return out


REGULARIZERS: dict[str, type[Regularizer]] = {
    "wasserstein": WassersteinRegularizer,
    "euclidean": EuclideanRegularizer,
    "fisher": FisherRegularizer,
    "none": NoRegularizer,
}

# Which regularizers work when DeepSpeed ZeRO-3 shards the parameters (see docs/train.md).
ZERO3_SUPPORT = {"none": True, "wasserstein": False, "euclidean": False, "fisher": False}


def get_regularizer(name: str) -> type[Regularizer]:
    try:
        return REGULARIZERS[name]
    except KeyError:
        raise SnapError(f"unknown regularizer '{name}' (choose from {', '.join(REGULARIZERS)})") from None


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


def bytes_per_param(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def human_bytes(n: float) -> str:
    if n <= 0:
        return "0 B"
    units = ["B", "KB", "MB", "GB", "TB"]
    i = min(int(math.log(n, 1024)), len(units) - 1)
    return f"{n / 1024**i:.1f} {units[i]}"


@dataclass
class RegSpec:
    """User-facing regularizer settings (CLI flags -> loop)."""

    name: str = "wasserstein"
    lam: float = 0.1
    projections: int = 64
    p: float = 2.0
    params: str | None = None
    init_dtype: str = "bf16"
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        get_regularizer(self.name)
        if not (self.lam >= 0) or math.isinf(self.lam):
            raise SnapError(f"--lambda must be a finite number >= 0 (got {self.lam})")
        if self.init_dtype not in ("bf16", "fp32"):
            raise SnapError(f"--init-dtype must be bf16 or fp32 (got {self.init_dtype})")
        if self.projections < 1:
            raise SnapError(f"--projections must be >= 1 (got {self.projections})")
        if self.p < 1:
            raise SnapError(f"--p must be >= 1 (got {self.p})")
        if self.params:
            try:
                re.compile(self.params)
            except re.error as e:
                raise SnapError(f"--reg-params is not a valid regex: {e}") from None

    @property
    def torch_init_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.init_dtype == "bf16" else torch.float32
