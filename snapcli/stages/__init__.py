"""Stage functions. `load_all()` imports every stage module so that their table schemas are registered.

Not done at package import: `snap generate` should not pay for importing torch via the train stage.
"""

import importlib

STAGE_MODULES = [
    "snapcli.stages.generate",
    "snapcli.stages.filter",
    "snapcli.stages.augment",
    "snapcli.stages.train",
    "snapcli.stages.evaluate",
    "snapcli.stages.benchmark",
    "snapcli.stages.report",
]


def load_all() -> None:
    for name in STAGE_MODULES:
        importlib.import_module(name)
