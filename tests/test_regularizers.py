"""Regularizers against independent references (scipy's 1-D Wasserstein, exact assignment, closed forms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import wasserstein_distance

from snapcli.errors import SnapError
from snapcli.train.regularizers import (
    REGULARIZERS,
    EuclideanRegularizer,
    FisherRegularizer,
    NoRegularizer,
    RegSpec,
    WassersteinRegularizer,
    estimate_fisher,
    get_regularizer,
    make_targets,
    sliced_wasserstein,
    snap_to_init_dtype,
)


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


def test_wasserstein_regularizer_matches_scipy_with_one_projection():
    model = _model()
    targets = _targets(model)
    _perturb(model)
    reg = WassersteinRegularizer(targets, projections=1, p=1, seed=3)
    value = float(reg(step=5).detach())
    per_tensor = []
    for t in targets:
        w, w0 = t.current().detach().double(), t.init.double()
        if w.dim() == 1:
            per_tensor.append(wasserstein_distance(w.numpy(), w0.numpy()))
        else:
            u = reg.directions(w.shape[1], w.device, 5).double()
            per_tensor.append(wasserstein_distance((w @ u)[:, 0].numpy(), (w0 @ u)[:, 0].numpy()))
    assert value == pytest.approx(float(np.mean(per_tensor)), rel=1e-5)


def test_projections_are_reproducible_per_step_and_fresh_across_steps():
    reg = WassersteinRegularizer(_targets(_model()), projections=8, seed=0)
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
    reg = WassersteinRegularizer([make_targets([("w", w)], torch.float32)[0]], projections=4096, seed=0)
    reg.targets[0].init.copy_(w0)
    assert float(reg(0).detach()) == pytest.approx(delta, rel=0.1)


@pytest.mark.parametrize("name", ["wasserstein", "euclidean", "fisher", "none"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_zero_at_init(name, dtype):
    model = _model()
    params = [p for p in model.parameters()]
    snap_to_init_dtype(params, dtype)
    targets = _targets(model, dtype)
    fisher = {t.name: torch.rand_like(t.init) for t in targets}
    reg = get_regularizer(name)(targets, projections=16, fisher=fisher)
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
    reg = FisherRegularizer(targets, fisher=fisher)
    value = reg(0)
    expected = sum(float((fisher[t.name] * (t.current() - t.init) ** 2).sum().detach()) for t in targets)
    assert float(value.detach()) == pytest.approx(expected, rel=1e-6)
    value.backward()
    for t in targets:
        assert torch.allclose(t.current().grad, 2 * fisher[t.name] * (t.current() - t.init).detach(), atol=1e-6)
    assert reg.memory_bytes()["fisher_bytes"] == sum(f.numel() * 4 for f in fisher.values())


@pytest.mark.parametrize("name", ["wasserstein", "euclidean", "fisher"])
def test_gradient_step_moves_towards_init(name):
    model = _model()
    targets = _targets(model)
    _perturb(model, scale=0.2)
    fisher = {t.name: torch.ones_like(t.init) for t in targets}
    reg = get_regularizer(name)(targets, projections=64, fisher=fisher)
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
        RegSpec(projections=0).check()
    with pytest.raises(SnapError, match="regex"):
        RegSpec(params="(").check()
    with pytest.raises(SnapError, match="Fisher"):
        FisherRegularizer(_targets(_model()), fisher=None)
