"""Stage functions. `load_all()` imports every stage module so that their table schemas are registered.

Not done at package import: `snap generate` should not pay for importing torch via the train stage. Instead the
schema registry imports a stage's module the first time that stage's table is checked (`set_schema_loader`).
"""

import importlib

from snapcli.store.schema import set_schema_loader

# stage name -> the module that registers its tables (the names are checked without importing anything heavy,
# e.g. by `snap ls STAGE`)
MODULE_OF = {
    "generate": "snapcli.stages.generate",
    "filter": "snapcli.stages.filter",
    "augment": "snapcli.stages.augment",
    "train": "snapcli.stages.train",
    "eval": "snapcli.stages.evaluate",
    "benchmark": "snapcli.stages.benchmark",
    "report": "snapcli.stages.report",
}
STAGE_MODULES = list(MODULE_OF.values())
STAGE_NAMES = list(MODULE_OF)


def load_stage(stage: str) -> None:
    """Import the module of `stage` (registering its table schemas); unknown names do nothing."""
    if stage in MODULE_OF:
        importlib.import_module(MODULE_OF[stage])


def load_all() -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name)


set_schema_loader(load_stage)
