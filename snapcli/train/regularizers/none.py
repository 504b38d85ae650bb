"""No regularization: the paper's "- Wasserstein reg." ablation (table 3)."""

from __future__ import annotations

import torch

from snapcli.train.regularizers.base import Regularizer


class NoRegularizer(Regularizer):
    """R = 0: nothing to compare with, so no theta_init copy is kept."""

    name = "none"
    label = "snap - wasserstein reg."
    summary = "R = 0 (the '- Wasserstein reg.' ablation)"
    needs_init = False

    def __call__(self, step: int) -> torch.Tensor:
        return torch.zeros(())

    def memory_bytes(self) -> dict[str, int]:
        return {"theta_init_bytes": 0}
