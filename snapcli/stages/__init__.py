"""Stage functions. `load_all()` imports every stage module so that their table schemas are registered.

Not done at package import: `snap generate` should not pay for importing torch via the train stage. Instead the
schema registry imports a stage's module the first time one of its tables is checked (`set_schema_loader`).
"""

import importlib

from snapcli.store.schema import set_schema_loader

# stage name -> the module that registers its tables (the names are known without importing anything heavy,
# e.g. for `snap ls STAGE`)
STAGE_MODULES = {
    "generate": "snapcli.stages.generate",
    "filter": "snapcli.stages.filter",
    "augment": "snapcli.stages.augment",
    "train": "snapcli.stages.train",
    "eval": "snapcli.stages.evaluate",
    "benchmark": "snapcli.stages.benchmark",
    "report": "snapcli.stages.report",
}
STAGE_NAMES = list(STAGE_MODULES)


def load_stage(stage: str) -> None:
    """Import the module of `stage`, registering its table schemas (unknown names: nothing to import)."""
    if stage in STAGE_MODULES:
        importlib.import_module(STAGE_MODULES[stage])


def load_all() -> None:
    for name in STAGE_MODULES.values():
        importlib.import_module(name)


set_schema_loader(load_stage)  # schemas of a stage are loaded the first time one of its tables is checked
