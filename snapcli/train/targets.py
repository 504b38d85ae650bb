"""Which weights the regularizer compares with theta_init, as `Target`s, for every way the model is held.

- whole parameters (one process, DDP, ZeRO-2): `make_targets` in snapcli.train.regularizers;
- LoRA on whole weights: the effective weight W0 + s*BA of each adapted module against the frozen W0 itself
  (no copy: the frozen base weights are theta_init);
- DeepSpeed ZeRO-3 (parameters partitioned across processes): `Zero3Shards` hands each process's shard of every
  regularized weight to the regularizer as a differentiable leaf, sums across processes where the regularizer
  asks (see regularizers/base.py), and adds the gradient of lambda * R to DeepSpeed's partitioned gradients
  through its public local-gradient API (deepspeed.utils.safe_get_local_grad / safe_set_local_grad) before the
  optimizer step. Equivalence with whole tensors is exact up to float summation order (tested with 1 and 2
  processes in tests/test_zero3.py).
"""

from __future__ import annotations

import re

import torch

from snapcli.errors import SnapError
from snapcli.train.regularizers import Target

ADAPTER = "default"


def _lora_layers(model, pattern: str | None):
    """(plain weight name, LoRA layer) for each adapted module whose base weight name matches `pattern`."""
    from peft.tuners.lora import LoraLayer

    rx = re.compile(pattern) if pattern else None
    out = []
    for mname, mod in model.named_modules():
        if isinstance(mod, LoraLayer) and hasattr(mod, "base_layer") and ADAPTER in mod.lora_A:
            plain = mname.removeprefix("base_model.model.") + ".weight"
            if rx is None or rx.search(plain):
                out.append((plain, mod))
    if not out:
        raise SnapError("no LoRA-adapted weight matches --reg-params")
    return out


def lora_targets(model, pattern: str | None) -> list[Target]:
    """LoRA on whole weights: current = (W0 + s*BA) flattened, init = W0 (the frozen base weight, not a copy)."""
    out = []
    for plain, mod in _lora_layers(model, pattern):
        base = mod.base_layer.weight
        out.append(Target(plain, tuple(base.shape),
                          (lambda m=mod, w=base: (w + m.get_delta_weight(ADAPTER)).reshape(-1)),
                          base.detach().reshape(-1)))
    return out


class Zero3Shards:
    """This process's ZeRO-3 shards of the regularized weights, as leaves for one evaluation of R.

    `begin()` makes a fresh leaf per tracked parameter (its shard, detached; requires_grad for trainable ones) and
    the whole value of the small ones the regularizer needs whole (LoRA's A and B, summed across processes);
    targets read those. `backward(lam * R)` then adds d(lam * R)/d(shard) to each parameter's partitioned
    gradient. Call it after the engine's backward of the step's last micro-batch and before its step().
    """

    def __init__(self) -> None:
        import torch.distributed as dist

        self._dist = dist
        self._tracked: dict[int, tuple[torch.nn.Parameter, bool]] = {}
        self._leaves: dict[int, torch.Tensor] = {}
        self._whole: dict[int, torch.Tensor] = {}

    def reduce(self, x: torch.Tensor) -> torch.Tensor:
        if self._dist.is_available() and self._dist.is_initialized():
            self._dist.all_reduce(x)
        return x

    def span(self, param) -> tuple[int, int]:
        """(offset of this process's shard in the flattened parameter, number of real entries in it)."""
        group = getattr(param, "ds_process_group", None)
        if self._dist.is_initialized() and self._dist.get_world_size(group=group) != self._dist.get_world_size():
            # R's sums run over all processes: each entry must live in exactly one of them
            raise SnapError("the regularizers need ZeRO-3 to partition over all processes (not MiCS / ZeRO++ "
                            "hpZ sub-groups); use the zero3 preset, or --reg none")
        rank = self._dist.get_rank(group=group) if self._dist.is_initialized() else 0
        size = param.partition_numel()
        offset = rank * size
        return offset, max(0, min(size, param.ds_numel - offset))

    def track(self, param, whole: bool = False) -> None:
        self._tracked[id(param)] = (param, whole)

    def begin(self) -> None:
        from snapcli.train.regularizers.base import summed_many

        self._leaves.clear()
        self._whole.clear()
        gather = []
        for key, (param, whole) in self._tracked.items():
            offset, valid = self.span(param)
            leaf = param.ds_tensor.detach()[:valid].float()
            if param.requires_grad:
                leaf = leaf.clone().requires_grad_()
            self._leaves[key] = leaf
            if whole:
                gather.append(key)
        placed = []
        for key in gather:
            param = self._tracked[key][0]
            offset, valid = self.span(param)
            leaf = self._leaves[key]
            placed.append(torch.nn.functional.pad(leaf, (offset, param.ds_numel - offset - valid)) if valid
                          else leaf.new_zeros(param.ds_numel))
        for key, full in zip(gather, summed_many(placed, self.reduce), strict=True):
            self._whole[key] = full.view(self._tracked[key][0].ds_shape)

    def leaf(self, param) -> torch.Tensor:
        return self._leaves[id(param)]

    def whole(self, param) -> torch.Tensor:
        return self._whole[id(param)]

    def backward(self, loss: torch.Tensor) -> None:
        """Add d(loss)/d(shard) to DeepSpeed's partitioned gradient of every trainable tracked parameter."""
        from deepspeed.utils import safe_get_local_grad, safe_set_local_grad

        leaves = [(self._tracked[k][0], leaf) for k, leaf in self._leaves.items() if leaf.requires_grad]
        if not leaves or not loss.requires_grad:
            return
        grads = torch.autograd.grad(loss, [leaf for _, leaf in leaves], allow_unused=True)
        for (param, leaf), g in zip(leaves, grads, strict=True):
            if g is None or leaf.numel() == 0:
                continue
            local = safe_get_local_grad(param)
            local[: leaf.numel()] += g.to(local.device, local.dtype)
            safe_set_local_grad(param, local)


def zero3_targets(named: list[tuple[str, torch.nn.Parameter]], init_dtype: torch.dtype,
                  shards: Zero3Shards) -> list[Target]:
    """Partitioned parameters: each process's shard against its own shard of theta_init (a copy in init_dtype)."""
    out = []
    for name, p in named:
        if not hasattr(p, "ds_tensor"):
            raise SnapError(f"parameter {name} is not partitioned by ZeRO-3")
        shards.track(p)
        offset, valid = shards.span(p)
        init = p.ds_tensor.detach()[:valid].to(init_dtype).clone()
        out.append(Target(name, tuple(p.ds_shape), (lambda p=p: shards.leaf(p)), init, offset))
    return out


def zero3_lora_targets(model, pattern: str | None, shards: Zero3Shards) -> list[Target]:
    """LoRA under ZeRO-3: the shard of W0 + s*BA against the shard of the frozen W0 (no copy). A and B are small
    (rank r): their whole values are summed across processes, with gradients flowing back to each shard."""
    out = []
    for plain, mod in _lora_layers(model, pattern):
        base = mod.base_layer.weight
        a, b = mod.lora_A[ADAPTER].weight, mod.lora_B[ADAPTER].weight
        for p in (base, a, b):
            if not hasattr(p, "ds_tensor"):
                raise SnapError(f"LoRA weight of {plain} is not partitioned by ZeRO-3")
        shards.track(base)
        shards.track(a, whole=True)
        shards.track(b, whole=True)
        offset, valid = shards.span(base)
        shape = tuple(base.ds_shape)

        def current(mod=mod, base=base, a=a, b=b, offset=offset, valid=valid, shape=shape) -> torch.Tensor:
            w0 = shards.leaf(base)
            if valid == 0:
                return w0
            scale = mod.scaling[ADAPTER]
            aw, bw = shards.whole(a), shards.whole(b)
            if getattr(mod, "fan_in_fan_out", False):
                delta = ((bw @ aw).t() * scale).reshape(-1)[offset : offset + valid]
            else:
                d = shape[1] if len(shape) > 1 else 1
                r0, r1 = offset // d, (offset + valid - 1) // d
                rows = ((bw[r0 : r1 + 1] @ aw) * scale).reshape(-1)
                delta = rows[offset - r0 * d : offset - r0 * d + valid]
            return w0 + delta

        out.append(Target(plain, shape, current, base.ds_tensor.detach()[:valid], offset))
    return out
