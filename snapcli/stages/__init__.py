"""Stage functions. Importing this package registers every stage's table schemas."""

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

for _m in STAGE_MODULES:
    try:
        importlib.import_module(_m)
    except ModuleNotFoundError as e:  # a stage module not written yet must not break the others
        if e.name != _m:
            raise
