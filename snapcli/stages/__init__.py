"""The stages, in pipeline order: generate -> filter -> augment -> train -> eval -> benchmark -> report.

Each module holds one stage: its spec (the single source of its options), `plan()` and `build()`, exported as
`DEF` (a snapcli.stages.base.StageDef). Modules are imported on first use, so `snap generate` does not pay for
importing torch through the train stage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from snapcli.stages.base import StageDef

STAGE_MODULES = {
    "generate": "snapcli.stages.generate",
    "filter": "snapcli.stages.filter",
    "augment": "snapcli.stages.augment",
    "train": "snapcli.stages.train",
    "eval": "snapcli.stages.eval",
    "benchmark": "snapcli.stages.benchmark",
    "report": "snapcli.stages.report",
}
STAGE_NAMES = list(STAGE_MODULES)


def get(name: str) -> StageDef:
    """The StageDef of a stage (imports its module)."""
    if name not in STAGE_MODULES:
        from snapcli.errors import SnapError

        raise SnapError(f"unknown stage '{name}' (stages: {', '.join(STAGE_MODULES)})")
    return importlib.import_module(STAGE_MODULES[name]).DEF


def load_all() -> None:
    """Import every stage module, so that all table schemas are registered (snap import, snap show)."""
    for name in STAGE_MODULES.values():
        importlib.import_module(name)
