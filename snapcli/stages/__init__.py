"""The stages, in pipeline order: generate -> filter -> augment -> train -> eval -> benchmark -> audit -> report.

Each module holds one stage: its spec (the single source of its options), `plan()` and `build()`, exported as
`DEF` (a snapcli.stages.base.StageDef). Modules are imported on first use, so `snap generate` does not pay for
importing torch through the train stage; the schema registry imports a stage's module the first time one of its
tables is checked (`set_schema_loader`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from snapcli.store.schema import set_schema_loader

if TYPE_CHECKING:
    from snapcli.stages.base import StageDef

# stage name -> its module (the names are known without importing anything heavy, e.g. for `snap ls STAGE`)
STAGE_MODULES = {
    "generate": "snapcli.stages.generate",
    "filter": "snapcli.stages.filter",
    "augment": "snapcli.stages.augment",
    "train": "snapcli.stages.train",
    "eval": "snapcli.stages.eval",
    "benchmark": "snapcli.stages.benchmark",
    "audit": "snapcli.stages.audit",
    "report": "snapcli.stages.report",
}
STAGE_NAMES = list(STAGE_MODULES)
# artifacts written outside the stage runner, with the module that registers their tables
OTHER_TABLES = {"heldout": "snapcli.evaluate.heldout"}


def get(name: str) -> StageDef:
    """The StageDef of a stage (imports its module)."""
    if name not in STAGE_MODULES:
        from snapcli.errors import SnapError

        raise SnapError(f"unknown stage '{name}' (stages: {', '.join(STAGE_MODULES)})")
    return importlib.import_module(STAGE_MODULES[name]).DEF


def load_stage(stage: str) -> None:
    """Import the module of `stage`, registering its table schemas (unknown names: nothing to import)."""
    module = STAGE_MODULES.get(stage) or OTHER_TABLES.get(stage)
    if module:
        importlib.import_module(module)


def load_all() -> None:
    """Import every stage module, so that all table schemas are registered."""
    for name in [*STAGE_MODULES, *OTHER_TABLES]:
        load_stage(name)


set_schema_loader(load_stage)  # schemas of a stage are loaded the first time one of its tables is checked
