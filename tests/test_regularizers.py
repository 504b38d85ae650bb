"""Regularizers against independent references (scipy's 1-D Wasserstein, exact assignment, closed forms), their
classes/options/registry, and their values and gradients on ZeRO-3-style shards across real processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment
from scipy.stats import wasserstein_distance

from snapcli.errors import SnapError
from snapcli.train.regularizers import (
    REGULARIZERS,
    EuclideanRegularizer,
    FisherRegularizer,
    NoRegularizer,
    RegSpec,
    Regularizer,
    Target,
    WassersteinRegularizer,
    estimate_fisher,
    get_regularizer,
    make_targets,
    register,
    regularizer_label,
    regularizer_option_fields,
    sliced_wasserstein,
    snap_to_init_dtype,
    sorted_rows,
    summed,
)


def _opts(name: str, **kw):
    return get_regularizer(name).Options(**kw)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 3))


def _targets(model, dtype=torch.float32):
    named = [(n, p) for n, p in model.named_parameters()]
    return make_targets(named, dtype)


def _perturb(model, scale=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def test_sw_one_projection_equals_scipy_1d_wasserstein():
    torch.manual_seed(0)
    x, y = torch.randn(40, 7, dtype=torch.float64), torch.randn(40, 7, dtype=torch.float64) + 0.3
    u = torch.randn(7, 1, dtype=torch.float64)
    u = u / u.norm()
    ours = float(sliced_wasserstein(x, y, u, p=1))
    ref = wasserstein_distance((x @ u).squeeze(1).numpy(), (y @ u).squeeze(1).numpy())
    assert ours == pytest.approx(ref, rel=1e-10)


def test_sw_p2_equals_exact_assignment():
    """Sorting solves 1-D OT exactly: compare with the optimal assignment under cost |a-b|^2."""
    torch.manual_seed(1)
    x, y = torch.randn(25, 4, dtype=torch.float64), 2 * torch.randn(25, 4, dtype=torch.float64)
    u = torch.nn.functional.normalize(torch.randn(4, 3, dtype=torch.float64), dim=0)
    ours = float(sliced_wasserstein(x, y, u, p=2))
    costs = []
    for k in range(3):
        a, b = (x @ u[:, k]).numpy(), (y @ u[:, k]).numpy()
        c = (a[:, None] - b[None, :]) ** 2
        r, s = linear_sum_assignment(c)
        costs.append(c[r, s].mean())
    assert ours == pytest.approx(float(np.sqrt(np.mean(costs))), rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sorted_rows_equals_torch_sort_in_values_and_gradients(dtype):
    """The numpy sort on CPU is the same function as torch.sort, forward and backward."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 301, generator=g, dtype=dtype, requires_grad=True)
    weights = torch.randn(7, 301, generator=g, dtype=dtype)
    ours, ref = sorted_rows(x), torch.sort(x, dim=1).values
    assert torch.equal(ours, ref)
    (ga,) = torch.autograd.grad((ours * weights).sum(), x)
    (gb,) = torch.autograd.grad((ref * weights).sum(), x)
    assert torch.equal(ga, gb)
    assert torch.equal(sorted_rows(x.detach()), ref.detach())  # the no-gradient path (theta_init's projections)


def test_wasserstein_regularizer_matches_scipy_with_one_projection():
    model = _model()
    targets = _targets(model)
    _perturb(model)
    reg = WassersteinRegularizer(targets, _opts("wasserstein", projections=1, p=1), seed=3)
    value = float(reg(step=5).detach())
    per_tensor = []
    for t in targets:
        w, w0 = t.current().detach().double().view(t.shape), t.init.double().view(t.shape)
        if w.dim() == 1:
            per_tensor.append(wasserstein_distance(w.numpy(), w0.numpy()))
        else:
            u = reg.directions(w.shape[1], w.device, 5).double()
            per_tensor.append(wasserstein_distance((w @ u)[:, 0].numpy(), (w0 @ u)[:, 0].numpy()))
    assert value == pytest.approx(float(np.mean(per_tensor)), rel=1e-5)


def test_projections_are_reproducible_per_step_and_fresh_across_steps():
    reg = WassersteinRegularizer(_targets(_model()), _opts("wasserstein", projections=8), seed=0)
    dev = torch.device("cpu")
    a, b, c = reg.directions(6, dev, 1), reg.directions(6, dev, 1), reg.directions(6, dev, 2)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert torch.allclose(a.norm(dim=0), torch.ones(8))


@pytest.mark.parametrize("d", [8, 256])
def test_normalization_per_entry_scale_independent_of_size(d):
    """Moving every entry by delta gives SW_2 ~= delta whatever the tensor's shape (documented normalization)."""
    delta = 0.01
    w0 = torch.randn(64 if d == 8 else 512, d)
    w = (w0 + delta).requires_grad_()
    reg = WassersteinRegularizer([make_targets([("w", w)], torch.float32)[0]], _opts("wasserstein", projections=4096))
    reg.targets[0].init.copy_(w0.reshape(-1))
    assert float(reg(0).detach()) == pytest.approx(delta, rel=0.1)


@pytest.mark.parametrize("name", ["wasserstein", "euclidean", "fisher", "none"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_zero_at_init(name, dtype):
    model = _model()
    params = [p for p in model.parameters()]
    snap_to_init_dtype(params, dtype)
    targets = _targets(model, dtype)
    fisher = {t.name: torch.rand_like(t.init) for t in targets}
    reg = get_regularizer(name)(targets, state=fisher)
    value = reg(0)
    assert float(value.detach()) == pytest.approx(0.0, abs=1e-12)
    if value.requires_grad:
        value.backward()
        for p in params:
            assert p.grad is None or torch.isfinite(p.grad).all()


def test_bf16_init_costs_half_of_fp32():
    model = _model()
    n = sum(p.numel() for p in model.parameters())
    assert EuclideanRegularizer(_targets(model, torch.bfloat16)).memory_bytes()["theta_init_bytes"] == 2 * n
    assert EuclideanRegularizer(_targets(model, torch.float32)).memory_bytes()["theta_init_bytes"] == 4 * n
    assert NoRegularizer([]).memory_bytes()["theta_init_bytes"] == 0


def test_euclidean_is_the_unsquared_norm_and_pulls_straight_back():
    model = _model()
    targets = _targets(model)
    _perturb(model)
    reg = EuclideanRegularizer(targets)
    value = reg(0)
    diffs = torch.cat([(t.current() - t.init).detach().flatten() for t in targets])
    assert float(value.detach()) == pytest.approx(float(diffs.norm()), rel=1e-6)
    value.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.allclose(-grads, -diffs / diffs.norm(), atol=1e-6)  # unit vector towards theta_init


def test_fisher_penalty_and_gradient():
    model = _model()
    targets = _targets(model)
    _perturb(model)
    fisher = {t.name: torch.rand_like(t.init) for t in targets}
    reg = FisherRegularizer(targets, state=fisher)
    value = reg(0)
    expected = sum(float((fisher[t.name] * (t.current() - t.init) ** 2).sum().detach()) for t in targets)
    assert float(value.detach()) == pytest.approx(expected, rel=1e-6)
    value.backward()
    for t in targets:
        p = dict(model.named_parameters())[t.name]
        assert torch.allclose(p.grad.reshape(-1), 2 * fisher[t.name] * (t.current() - t.init).detach(), atol=1e-6)
    assert reg.memory_bytes()["fisher_bytes"] == sum(f.numel() * 4 for f in fisher.values())


@pytest.mark.parametrize("name", ["wasserstein", "euclidean", "fisher"])
def test_gradient_step_moves_towards_init(name):
    model = _model()
    targets = _targets(model)
    _perturb(model, scale=0.2)
    fisher = {t.name: torch.ones_like(t.init) for t in targets}
    reg = get_regularizer(name)(targets, state=fisher)
    before = float(reg(0).detach())
    dist_before = sum(float((t.current() - t.init).norm() ** 2) for t in targets)
    reg(0).backward()
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(0.01 * p.grad)
    assert float(reg(0).detach()) < before
    dist_after = sum(float((t.current() - t.init).norm() ** 2) for t in targets)
    assert dist_after < dist_before


def test_fisher_estimate_matches_closed_form():
    """Linear regression, loss 0.5 (w.x - y)^2: per-example grad (w.x - y) x, so F = mean((w.x - y)^2 x^2)."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 1, bias=False)
    xs, ys = torch.randn(10, 4), torch.randn(10)
    batches = [{"x": xs[i : i + 1], "y": ys[i : i + 1]} for i in range(10)]

    def loss_fn(m, b):
        return 0.5 * ((m(b["x"]).squeeze(-1) - b["y"]) ** 2).sum()

    fisher = estimate_fisher(lin, [("weight", lin.weight)], batches, loss_fn, torch.float32)
    w = lin.weight.detach()[0]
    expected = (((xs @ w) - ys)[:, None] ** 2 * xs**2).mean(0)
    assert torch.allclose(fisher["weight"][0], expected, atol=1e-6)
    assert lin.weight.grad is None


def test_registry_and_spec_errors():
    assert set(REGULARIZERS) == {"wasserstein", "euclidean", "fisher", "none"}
    with pytest.raises(SnapError, match="unknown regularizer"):
        get_regularizer("l2")
    with pytest.raises(SnapError, match="lambda"):
        RegSpec(lam=-0.1).check()
    with pytest.raises(SnapError, match="projections"):
        RegSpec(options={"projections": 0})
    with pytest.raises(SnapError, match="regex"):
        RegSpec(params="(").check()
    with pytest.raises(SnapError, match="Fisher"):
        FisherRegularizer(_targets(_model()), state=None)


# ------------------------------------------------------------------ classes, options, registry (issue 10)

def test_each_class_carries_its_options_capabilities_and_label():
    fields = regularizer_option_fields()
    assert {k: v[0] for k, v in fields.items()} == {"projections": "wasserstein", "p": "wasserstein",
                                                     "fisher_samples": "fisher"}
    owner, info, ann = fields["projections"]
    assert info.default == 64 and ann is int and "direction" in info.description
    assert fields["fisher_samples"][1].default == 64
    assert regularizer_label("wasserstein") == "snap" and regularizer_label("none") == "snap - wasserstein reg."
    assert all(REGULARIZERS[n].zero3 for n in REGULARIZERS)  # every regularizer runs on ZeRO-3 shards
    assert FisherRegularizer.needs_retain and not NoRegularizer.needs_init


def test_spec_routes_flat_options_and_rejects_another_regularizers():
    assert RegSpec().options == {"projections": 64, "p": 2.0}  # defaults filled in: a stable cache key
    assert RegSpec.from_flat("wasserstein", projections=16, fisher_samples=None).options["projections"] == 16
    assert RegSpec.from_flat("fisher", fisher_samples=8, projections=64).options == {"fisher_samples": 8}
    with pytest.raises(SnapError, match="--projections is an option of --reg wasserstein, not of --reg fisher"):
        RegSpec.from_flat("fisher", projections=16)
    with pytest.raises(SnapError, match="--fisher-samples is an option of --reg fisher"):
        RegSpec(name="euclidean", fisher_samples=3)
    with pytest.raises(SnapError, match="--p: input should be greater than or equal to 1"):
        RegSpec(options={"p": 0.5})
    with pytest.raises(SnapError, match="unknown regularizer option 'frob'"):
        RegSpec(options={"frob": 1})
    with pytest.raises(TypeError, match="already an option of 'wasserstein'"):
        register(type("Clash", (NoRegularizer,), {"name": "clash", "Options": WassersteinRegularizer.Options}))


class L1Regularizer(Regularizer):
    """A regularizer that exists only in this test: mean |theta - theta_init| times a scale option."""

    name = "l1test"
    label = "l1 (test)"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        l1_scale: float = Field(1.0, gt=0, description="Multiplier of the mean absolute distance.")

    def __call__(self, step):
        total = sum((t.current().float() - t.init.float()).abs().sum() for t in self.targets)
        n = sum(t.full_numel for t in self.targets)
        return self.options.l1_scale * summed(total, self.reduce) / n


@pytest.fixture
def l1_registered(monkeypatch):
    import snapcli.train.regularizers as regs

    monkeypatch.setattr(regs, "REGULARIZERS", dict(regs.REGULARIZERS))
    register(L1Regularizer)  # the one registry line a new regularizer needs
    return regs


def test_a_new_regularizer_is_one_class_and_one_registry_line(l1_registered):
    from snapcli.train.regularizers import regularizer_option_fields as fields

    assert fields()["l1_scale"][0] == "l1test"
    spec = RegSpec.from_flat("l1test", l1_scale=3.0, projections=64)
    assert spec.options == {"l1_scale": 3.0}
    with pytest.raises(SnapError, match="--l1-scale is an option of --reg l1test"):
        RegSpec.from_flat("wasserstein", l1_scale=2.0)
    model = _model()
    targets = _targets(model)
    _perturb(model)
    reg = spec.regularizer(targets, spec.build_options())
    diffs = torch.cat([(t.current() - t.init).detach() for t in targets])
    assert float(reg(0)) == pytest.approx(3.0 * float(diffs.abs().mean()), rel=1e-6)


# ------------------------------------------------------------------ shards (ZeRO-3) == whole tensors

def _shard_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """One process of a real gloo group: R and its gradient from this rank's flat shards (ZeRO-3's layout:
    partitions of ceil(numel / world) entries, the last one padded) against the same on whole tensors."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        # Linear(5, 4).bias has 4 entries: with 3 processes the last one holds only padding of it
        model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 4))
        init = {n: p.detach().clone() for n, p in model.named_parameters()}
        _perturb(model, scale=0.3)
        results = {}
        for name in ("wasserstein", "euclidean", "fisher"):
            fisher = {n: torch.rand(p.numel(), generator=torch.Generator().manual_seed(7)) for n, p in init.items()}
            whole_leaves = {n: p.detach().reshape(-1).clone().requires_grad_() for n, p in model.named_parameters()}
            whole = [Target(n, tuple(init[n].shape), (lambda n=n, w=whole_leaves: w[n]), init[n].reshape(-1).clone())
                     for n in init]
            shard_leaves, shards = {}, []
            for n, p in model.named_parameters():
                size = -(-p.numel() // world)
                off = rank * size
                valid = max(0, min(size, p.numel() - off))
                shard_leaves[n] = p.detach().reshape(-1)[off:off + valid].clone().requires_grad_()
                shards.append(Target(n, tuple(p.shape), (lambda n=n, s=shard_leaves: s[n]),
                                     init[n].reshape(-1)[off:off + valid].clone(), off))

            def reduce(x):
                dist.all_reduce(x)
                return x

            opts = _opts(name, projections=32) if name == "wasserstein" else None
            r_whole = get_regularizer(name)(whole, opts, seed=5, state=fisher)(3)
            r_shard = get_regularizer(name)(shards, opts, seed=5, state=fisher, reduce=reduce)(3)
            r_whole.backward()
            r_shard.backward()
            worst = 0.0
            for t in shards:
                g_whole = whole_leaves[t.name].grad[t.offset:t.offset + t.numel]
                g_shard = shard_leaves[t.name].grad
                worst = max(worst, float((g_whole - g_shard).abs().max()) if t.numel else 0.0)
            results[name] = [float(r_whole), float(r_shard), worst]
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_regularizers_on_shards_equal_whole_tensors(tmp_path, world):
    """Real processes (gloo): every rank gets the global R and exactly its own entries' gradient."""
    import torch.multiprocessing as mp

    mp.start_processes(_shard_worker, args=(world, str(tmp_path / "pg"), str(tmp_path)), nprocs=world,
                       start_method="fork")
    for rank in range(world):
        res = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for name, (r_whole, r_shard, worst_grad) in res.items():
            assert r_whole > 0 and r_shard == pytest.approx(r_whole, rel=1e-5), (name, rank)
            assert worst_grad < 1e-6, (name, rank, worst_grad)


def test_the_loop_trains_a_new_regularizer_without_knowing_it(l1_registered, tiny_model_dir, ws, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from traindata import write_pair

    from snapcli.stages import get
    from snapcli.stages.base import run
    from snapcli.stages.train import refresh_spec

    forget, retain = write_pair(tmp_path / "data", 4, 4)
    spec_cls = refresh_spec()  # the new class's option is now a TrainSpec field (a --l1-scale flag, a yaml key)
    assert "l1_scale" in spec_cls.model_fields
    spec = spec_cls.build({"from": [str(forget)], "retain": [str(retain)], "model": "tiny", "max_steps": 2,
                           "lr": 3e-3, "batch_size": 2, "grad_accum": 1, "max_length": 32, "reg": "l1test",
                           "lambda": 0.5, "l1_scale": 2.0})
    art = run(ws, get("train"), spec)[0]
    m = art.read_df("metrics")
    assert m["reg"].iloc[0] == 0 and m["reg"].iloc[1] > 0
    assert art.manifest["params"]["reg"] == {"name": "l1test", "lam": 0.5, "params": None, "init_dtype": "bf16",
                                             "options": {"l1_scale": 2.0}}
    from snapcli.stages.eval import method_label

    assert method_label(art) == "tiny + l1 (test)"
