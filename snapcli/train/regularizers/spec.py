"""`RegSpec`: which regularizer, how strong, on which weights, and the regularizer's own options."""

from __future__ import annotations

import math
import re
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from snapcli.errors import SnapError
from snapcli.train.regularizers import get_regularizer, regularizer_option_fields
from snapcli.train.regularizers.base import Regularizer

INIT_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def option_error(err: ValidationError) -> SnapError:
    """A pydantic error on regularizer options as one line naming the flag, e.g. '--projections must be ...'."""
    e = err.errors()[0]
    loc = str(e["loc"][0]) if e.get("loc") else "option"
    msg = e["msg"][0].lower() + e["msg"][1:] if e.get("msg") else "is invalid"
    if e.get("type") == "extra_forbidden":
        return SnapError(f"unknown regularizer option '{loc}'")
    return SnapError(f"--{loc.replace('_', '-')}: {msg} (got {e.get('input')!r})")


def route_options(name: str, flat: dict[str, Any]) -> dict[str, Any]:
    """Flat option values (flags, snap.yaml keys) -> the options of regularizer `name`.

    None means "not given". A value for another regularizer's option is an error unless it equals that option's
    default (a flag parser passes every default)."""
    fields = regularizer_option_fields()
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if value is None:
            continue
        if key not in fields:
            raise SnapError(f"unknown regularizer option '{key}' (options: {', '.join(sorted(fields)) or 'none'})")
        owner, info, _ = fields[key]
        if owner == name:
            out[key] = value
        elif value != info.default:
            flag = "--" + key.replace("_", "-")
            raise SnapError(f"{flag} is an option of --reg {owner}, not of --reg {name}")
    return out


class RegSpec(BaseModel):
    """The regularizer part of a training run (and of its cache key): R, lambda, which weights, theta_init's
    storage, and the regularizer's own options (validated by its `Options`, stored with defaults filled in)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("wasserstein", description="Regularizer (see snapcli.train.regularizers.REGULARIZERS).")
    lam: float = Field(0.1, description="Regularization strength lambda (>= 0).")
    params: str | None = Field(None, description="Regex: only regularize matching parameter names "
                                                 "(default: all trainable).")
    init_dtype: str = Field("bf16", description="Storage of theta_init (and Fisher): bf16 (2 B/param) or fp32 "
                                                "(4 B/param, exact).")
    options: dict[str, Any] = Field(default_factory=dict, description="The regularizer's own options.")

    @model_validator(mode="before")
    @classmethod
    def _fold_flat_options(cls, data: Any) -> Any:
        """Accept option fields at the top level too (RegSpec(name="wasserstein", projections=16))."""
        if not isinstance(data, dict):
            return data
        flat = {k: v for k, v in data.items() if k not in cls.model_fields}
        if not flat:
            return data
        out = {k: v for k, v in data.items() if k in cls.model_fields}
        name = out.get("name", cls.model_fields["name"].default)
        out["options"] = {**(out.get("options") or {}), **route_options(str(name), flat)}
        return out

    @model_validator(mode="after")
    def _validate(self) -> RegSpec:
        cls = get_regularizer(self.name)
        if not (self.lam >= 0) or math.isinf(self.lam):
            raise SnapError(f"--lambda must be a finite number >= 0 (got {self.lam})")
        if self.init_dtype not in INIT_DTYPES:
            raise SnapError(f"--init-dtype must be bf16 or fp32 (got {self.init_dtype})")
        if self.params:
            try:
                re.compile(self.params)
            except re.error as e:
                raise SnapError(f"--reg-params is not a valid regex: {e}") from None
        try:
            self.options = cls.Options(**self.options).model_dump()
        except ValidationError as e:
            raise option_error(e) from None
        return self

    @classmethod
    def from_flat(cls, name: str = "wasserstein", lam: float = 0.1, params: str | None = None,
                  init_dtype: str = "bf16", **options: Any) -> RegSpec:
        """From flat flag values: options of `name` are kept, None = not given, another regularizer's option
        with a non-default value is a SnapError naming it."""
        return cls(name=name, lam=lam, params=params, init_dtype=init_dtype, options=route_options(name, options))

    def with_options(self, **flat: Any) -> RegSpec:
        """A copy with more flat option values routed as in `from_flat`."""
        return RegSpec(**{**self.model_dump(exclude={"options"}),
                          "options": {**self.options, **route_options(self.name, flat)}})

    def check(self) -> None:
        """Validate again (the fields may have been assigned after construction)."""
        RegSpec.model_validate(self.model_dump())

    @property
    def regularizer(self) -> type[Regularizer]:
        return get_regularizer(self.name)

    def build_options(self) -> BaseModel:
        return self.regularizer.Options(**self.options)

    @property
    def torch_init_dtype(self) -> torch.dtype:
        return INIT_DTYPES[self.init_dtype]
