"""Euclidean regularization: ||theta - theta_init||_2, the paper's baseline (section 4.3, footnote 3)."""

from __future__ import annotations

import torch

from snapcli.train.regularizers.base import Regularizer, root, summed


class EuclideanRegularizer(Regularizer):
    """||theta - theta_init||_2 over all regularized weights together, not squared (paper footnote 3).

    The gradient is the unit vector (theta - theta_init)/||.||: a pull of constant strength lambda, whatever the
    distance, which is why it regularizes harder than squared L2 near the start. Under ZeRO-3 the squared
    distance is the sum of the per-shard sums.
    """

    name = "euclidean"
    label = "euclidean"
    summary = "||theta - theta_init||_2, not squared (paper footnote 3)"

    def __call__(self, step: int) -> torch.Tensor:
        sq = None
        for t in self.targets:
            d = (t.current().float() - t.init.float()).pow(2).sum()
            sq = d if sq is None else sq + d.to(sq.device)
        if sq is None:
            return torch.zeros(())
        return root(summed(sq, self.reduce), 2.0)
