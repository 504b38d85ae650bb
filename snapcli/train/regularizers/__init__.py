"""Regularizers R(theta, theta_init) of the SNAP objective: one class each, behind `REGULARIZERS`.

Adding one is one class (a `Regularizer` subclass with its name, label, Options and capabilities) plus one
`register(...)` line below; its options become `snap train` flags and snap.yaml keys through
`regularizer_option_fields()`, and the training loop reads only its capabilities.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo

from snapcli.errors import SnapError
from snapcli.train.regularizers.base import (
    Reduce,
    Regularizer,
    Target,
    make_targets,
    select_params,
    snap_to_init_dtype,
    summed,
)
from snapcli.train.regularizers.euclidean import EuclideanRegularizer
from snapcli.train.regularizers.fisher import FisherRegularizer, estimate_fisher
from snapcli.train.regularizers.none import NoRegularizer
from snapcli.train.regularizers.wasserstein import WassersteinRegularizer, sliced_wasserstein, sorted_rows

REGULARIZERS: dict[str, type[Regularizer]] = {}


def register(cls: type[Regularizer]) -> type[Regularizer]:
    """Add a regularizer class to the registry (usable as a decorator). Option names are flags, so they must be
    unique across regularizers and must not shadow RegSpec's own fields."""
    if not cls.name or cls.name == Regularizer.name:
        raise TypeError(f"{cls.__qualname__} needs a registry name")
    owners = {f: owner for f, (owner, _, _) in regularizer_option_fields().items() if owner != cls.name}
    for field in cls.Options.model_fields:
        if field in owners:
            raise TypeError(f"option '{field}' of regularizer '{cls.name}' is already an option of '{owners[field]}'")
        if field in _SPEC_FIELDS:
            raise TypeError(f"option '{field}' of regularizer '{cls.name}' shadows a RegSpec field")
    REGULARIZERS[cls.name] = cls
    return cls


def get_regularizer(name: str) -> type[Regularizer]:
    try:
        return REGULARIZERS[name]
    except KeyError:
        raise SnapError(f"unknown regularizer '{name}' (choose from {', '.join(REGULARIZERS)})") from None


def regularizer_option_fields() -> dict[str, tuple[str, FieldInfo, Any]]:
    """Every regularizer option: field name -> (regularizer name, pydantic FieldInfo, annotation).

    The field name is the flag (`fisher_samples` -> `--fisher-samples`) and the snap.yaml key; FieldInfo carries
    the default, the bounds and the help text (`description`)."""
    out: dict[str, tuple[str, FieldInfo, Any]] = {}
    for name, cls in REGULARIZERS.items():
        for field, info in cls.Options.model_fields.items():
            out[field] = (name, info, info.annotation)
    return out


def regularizer_label(name: str) -> str:
    """The method name reports use for a run with this regularizer (wasserstein -> "snap"); unknown -> the name."""
    cls = REGULARIZERS.get(name)
    return cls.label if cls is not None else name


from snapcli.train.regularizers.spec import RegSpec, option_error  # noqa: E402  (spec reads the registry)

_SPEC_FIELDS = set(RegSpec.model_fields)

register(WassersteinRegularizer)
register(EuclideanRegularizer)
register(FisherRegularizer)
register(NoRegularizer)


__all__ = [
    "REGULARIZERS", "EuclideanRegularizer", "FisherRegularizer", "NoRegularizer", "Reduce", "RegSpec",
    "Regularizer", "Target", "WassersteinRegularizer", "estimate_fisher", "get_regularizer", "make_targets",
    "option_error", "register", "regularizer_label", "regularizer_option_fields", "select_params",
    "sliced_wasserstein", "snap_to_init_dtype", "sorted_rows", "summed",
]
