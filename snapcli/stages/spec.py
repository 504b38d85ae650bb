"""One typed spec per stage: the single source of a stage's options (issue 10).

A spec is a pydantic model; each field is one option, declared once with `option(...)`: type, default, bounds,
help text and a few facts about how it is wired. Everything else is derived from the fields:

- `snap <stage>` flags (snapcli/cli/flags.py builds the command's signature from them),
- the stage's section of snap.yaml (keys = the option's name; validated field by field, so a bad value fails
  even in `snap run --dry-run`),
- `snap run`'s wiring: fields marked `input` are filled from upstream artifacts, fields marked `top` from the
  config's top-level keys (e.g. `model`, `seed`),
- the cache key: each stage's `plan()` (snapcli/stages/base.py) returns the params it covers.

Adding an option to a stage is one edit: one field in its spec class.

Naming: an option's public name (flag `--max-new-tokens`, YAML key `max_new_tokens`) is the field name, or its
`alias` where the field name cannot be the public one (`lambda` and `from` are Python keywords: fields `lam`,
`from_`). Errors always use the public name.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.fields import FieldInfo

from snapcli.errors import SnapError


@dataclass(frozen=True)
class Meta:
    """How one spec field is exposed; kept beside the pydantic FieldInfo (json_schema_extra["snap"])."""

    short: str | None = None  # e.g. "-m"
    input: bool = False  # an artifact ref that `snap run` fills from the previous stage's output
    top: str | None = None  # the top-level config key that fills it in `snap run` (e.g. "model", "seed")
    cli: bool = True  # a flag of `snap <stage>`
    yaml: bool = True  # a key of the stage's snap.yaml section
    csv: bool = False  # list option: "a,b" and repeated flags both accepted
    key: bool = True  # part of the stage's cache key (False: how to run, not what comes out, e.g. concurrency)
    negatable: bool = True  # bool option: --x/--no-x
    choices: tuple[str, ...] | None = None  # shown in help and checked (dynamic registries: use a validator)
    metavar: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def option(
    default: Any = ...,
    help: str = "",
    *,
    alias: str | None = None,
    short: str | None = None,
    input: bool = False,
    top: str | None = None,
    cli: bool = True,
    yaml: bool = True,
    csv: bool = False,
    key: bool = True,
    negatable: bool = True,
    choices: typing.Sequence[str] | None = None,
    metavar: str | None = None,
    default_factory: typing.Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
) -> Any:
    """A spec field. `help` is the flag's help and the YAML key's documentation; bounds are checked on every path
    (flag, snap.yaml, --set, Python)."""
    meta = Meta(short=short, input=input, top=top, cli=cli, yaml=yaml, csv=csv, key=key, negatable=negatable,
                choices=tuple(choices) if choices else None, metavar=metavar)
    kw: dict[str, Any] = {"description": help, "json_schema_extra": {"snap": meta}}
    if alias:
        kw["alias"] = alias
    for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt), ("min_length", min_length)):
        if v is not None:
            kw[k] = v
    if default_factory is not None:
        return Field(default_factory=default_factory, **kw)
    return Field(default, **kw)


def meta_of(f: FieldInfo) -> Meta:
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    m = extra.get("snap")
    return m if isinstance(m, Meta) else Meta()


class StageSpec(BaseModel):
    """Base of every stage spec. Subclasses set `stage` and declare their options with `option()`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True,
                              arbitrary_types_allowed=True)
    stage: ClassVar[str] = ""
    panel: ClassVar[str | None] = None  # the --help panel of the options this class declares

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        """List options take one value as a list of one, and those marked csv take "a,b" as well as ["a", "b"],
        from flags and from YAML alike."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for n, f in cls.model_fields.items():
            for key in (n, f.alias):
                if key and key in out and out[key] is not None:
                    out[key] = as_list(f, out[key])
        return out

    # ------------------------------------------------------------------------------------------ introspection
    @classmethod
    def options(cls) -> dict[str, FieldInfo]:
        """Public name -> field, in declaration order."""
        return {public_name(n, f): f for n, f in cls.model_fields.items()}

    @classmethod
    def field_name(cls, public: str) -> str | None:
        key = public.replace("-", "_")
        for n, f in cls.model_fields.items():
            if public_name(n, f) == key or n == key:
                return n
        return None

    @classmethod
    def yaml_keys(cls) -> list[str]:
        return [k for k, f in cls.options().items() if meta_of(f).yaml]

    @classmethod
    def input_keys(cls) -> list[str]:
        return [k for k, f in cls.options().items() if meta_of(f).input]

    @classmethod
    def top_level_targets(cls) -> dict[str, str]:
        """Top-level config key -> public option name it fills."""
        return {meta_of(f).top: k for k, f in cls.options().items() if meta_of(f).top}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Public name -> default, for options that have one (required ones are left out)."""
        out = {}
        for k, f in cls.options().items():
            if f.is_required():
                continue
            out[k] = f.get_default(call_default_factory=True)
        return out

    # ------------------------------------------------------------------------------------------ building
    @classmethod
    def build(cls, values: dict[str, Any], where: str = "", flag_style: bool = False) -> StageSpec:
        """Values keyed by public names (or field names) -> a validated spec, or one-line SnapError naming the
        option as the user wrote it (`--max-steps` from the CLI, `max_steps` from YAML)."""
        data = {}
        for k, v in values.items():
            name = cls.field_name(k)
            if name is None:
                raise SnapError(f"{where}unknown option '{k}' for {cls.stage or cls.__name__}" + suggest(
                    k, list(cls.options())))
            data[name] = v
        try:
            spec = cls.model_validate(data, by_name=True)
        except ValidationError as e:
            raise SnapError(where + describe_error(cls, e, flag_style)) from None
        spec.check()
        return spec

    def check(self) -> None:
        """Cross-field rules (one-line SnapError). Field rules belong in the field's type and bounds."""

    def public(self, *, only_yaml: bool = False) -> dict[str, Any]:
        """The spec as {public name: value} (what snap.yaml and manifests show)."""
        out = {}
        for n, f in type(self).model_fields.items():
            if only_yaml and not meta_of(f).yaml:
                continue
            out[public_name(n, f)] = _plain(getattr(self, n))
        return out

    def key_params(self) -> dict[str, Any]:
        """The options the cache key covers: every option except inputs (their artifacts' content hashes are in the
        key instead) and those marked key=False. A new option is therefore in the key without further edits."""
        return {public_name(n, f): _plain(getattr(self, n)) for n, f in type(self).model_fields.items()
                if meta_of(f).key and not meta_of(f).input}

    def replace(self, **changes: Any) -> StageSpec:
        """A copy with some fields changed (by field name), validated."""
        data = {**{n: getattr(self, n) for n in type(self).model_fields}, **changes}
        return type(self).model_validate(data, by_name=True)


def public_name(name: str, f: FieldInfo) -> str:
    return f.alias or name


def _plain(v: Any) -> Any:
    from pathlib import Path

    if isinstance(v, Path):
        return str(v)
    if isinstance(v, BaseModel):
        return v.model_dump()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


# ---------------------------------------------------------------------------------------------- validation
def validate_option(cls: type[StageSpec], key: str, value: Any, where: str = "") -> Any:
    """Validate one option's value alone (types and bounds), as a partial config must be (--set, snap.yaml)."""
    name = cls.field_name(key)
    if name is None:
        raise SnapError(f"{where}unknown key '{key}'" + suggest(key, cls.yaml_keys()))
    f = cls.model_fields[name]
    value = as_list(f, value)
    try:
        return _adapter(cls, name).validate_python(value)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(x) for x in err.get("loc", ())]
        item = f" item {int(loc[0]) + 1}" if loc and loc[0].isdigit() else ""
        raise SnapError(f"{where}{public_name(name, f)}{item} {_reason(err, err.get('input', value))}") from None


@functools.lru_cache(maxsize=512)
def _adapter(cls: type[StageSpec], name: str) -> TypeAdapter:
    """A validator for one field alone: its type plus its constraints and validators (kept in f.metadata)."""
    f = cls.model_fields[name]
    return TypeAdapter(typing.Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)


def describe_error(cls: type[StageSpec], e: ValidationError, flag_style: bool = False) -> str:
    """A pydantic error as one line that names the option the user wrote (its public name)."""
    err = e.errors()[0]
    loc = [str(x) for x in err.get("loc", ())]
    name = loc[0] if loc else ""
    f = cls.model_fields.get(name)
    shown = public_name(name, f) if f is not None else name
    if flag_style:
        shown = "--" + shown.replace("_", "-")
    if err.get("type") == "missing":
        return f"{shown} is required"
    if len(loc) > 1 and loc[1].isdigit():
        shown += f" item {int(loc[1]) + 1}"
    more = f" (and {len(e.errors()) - 1} more problem(s))" if len(e.errors()) > 1 else ""
    return f"{shown} {_reason(err, err.get('input'))}{more}"


def _reason(err: dict[str, Any], value: Any) -> str:
    t = err.get("type", "")
    ctx = err.get("ctx") or {}
    shown = repr(value) if not isinstance(value, str) or len(value) < 80 else repr(value[:77] + "...")
    if t in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[t]
        bound = next(iter(ctx.values()), "?")
        return f"must be {op} {bound} (got {shown})"
    if t == "literal_error":
        return f"must be one of {ctx.get('expected', '?')} (got {shown})"
    if t in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer (got {shown})"
    if t in ("float_parsing", "float_type"):
        return f"must be a number (got {shown})"
    if t in ("bool_parsing", "bool_type"):
        return f"must be true or false (got {shown})"
    if t in ("string_type",):
        return f"must be a single text value (got {shown})"
    if t in ("list_type",):
        return f"must be a list (got {shown})"
    if t == "value_error":
        msg = str(ctx.get("error", err.get("msg", "")))
        return msg
    if t == "string_too_short" or t == "too_short":
        return "must not be empty"
    return f"is invalid: {err.get('msg', t)} (got {shown})"


def suggest(key: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key.replace("-", "_"), known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else (f" (known: {', '.join(sorted(known))})" if known else "")


# ---------------------------------------------------------------------------------------------- reusable types
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device(v: str | None) -> str | None:
    """Device names torch accepts here: auto, cpu, mps, cuda, cuda:N (issue 14: '--device tpu9' is exit 2)."""
    if v is None:
        return v
    if not DEVICE_RE.match(v.strip()):
        raise ValueError(f"must be auto, cpu, mps, cuda or cuda:N (got {v!r})")
    return v.strip()


DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16", "float16", "fp16")


def check_dtype(v: str | None) -> str | None:
    if v is not None and v not in DTYPES:
        raise ValueError(f"must be one of {', '.join(DTYPES)} (got {v!r})")
    return v


def check_text(v: str | None) -> str | None:
    """Optional free text: None, or not blank (stripped)."""
    if v is None:
        return v
    if not v.strip():
        raise ValueError("must not be empty")
    return v.strip()


def check_texts(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    out = [x.strip() for x in v]
    if any(not x for x in out):
        raise ValueError("must not be empty")
    return out


def check_regex(v: str | None) -> str | None:
    if v:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"is not a valid regex: {e}") from None
    return v


def check_finite(v: float) -> float:
    import math

    if math.isinf(v) or math.isnan(v):
        raise ValueError(f"must be a finite number (got {v})")
    return v


# Option types with their checks attached (they run on every path: flags, snap.yaml, --set, Python).
Device = typing.Annotated[str | None, AfterValidator(check_device)]
Dtype = typing.Annotated[str | None, AfterValidator(check_dtype)]
Text = typing.Annotated[str | None, AfterValidator(check_text)]
Texts = typing.Annotated[list[str], AfterValidator(check_texts)]
OptionalTexts = typing.Annotated[list[str] | None, AfterValidator(check_texts)]
Regex = typing.Annotated[str | None, AfterValidator(check_regex)]
Finite = typing.Annotated[float, AfterValidator(check_finite)]


def split_csv(v: Any) -> Any:
    """'a,b' or ['a', 'b,c'] -> ['a', 'b', 'c'] (list options accept both spellings)."""
    if v is None:
        return v
    items = v if isinstance(v, (list, tuple)) else [v]
    out = []
    for x in items:
        if isinstance(x, str):
            out.extend(p.strip() for p in x.split(",") if p.strip())
        else:
            out.append(x)
    return out


def as_list(f: FieldInfo, value: Any) -> Any:
    """The value an option gets before validation: for lists, "a,b" split when the option is csv and a lone scalar
    wrapped; for numbers, a YAML `true` stays a bool so it is refused (pydantic would read it as 1)."""
    if isinstance(value, bool) and strip_optional(f.annotation) in (int, float):
        return str(value).lower()
    if value is None or not is_list(f.annotation):
        return value
    if meta_of(f).csv:
        return split_csv(value)
    return value if isinstance(value, (list, tuple)) else [value]


def is_list(annotation: Any) -> bool:
    return typing.get_origin(strip_optional(annotation)) in (list, tuple)


def strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    if origin is typing.Annotated:
        return strip_optional(typing.get_args(annotation)[0])
    return annotation
