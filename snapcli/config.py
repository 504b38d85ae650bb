"""`snap.yaml`: every stage's parameters in one file, merged with defaults and explicit CLI flags.

Shape:

    entity: Bill Gates            # top level: what the whole pipeline is about
    k: 10
    model: smollm2
    train:                        # one section per stage; keys are that command's flag names with the
      reg: wasserstein            # leading dashes dropped and dashes -> underscores (--max-new-tokens ->
      lambda: 0.1                 # max_new_tokens, --no-retain -> no_retain, --mask-entity/--no-... -> mask_entity)
    eval:
      max_new_tokens: 64

Why the section keys come from the commands themselves: the stage CLIs are the single source of truth for
parameter names, types, ranges and defaults. Reading them (their Typer signatures) means a typo in snap.yaml
fails with the same names `snap train --help` shows, and a flag added to a stage is configurable with no change
here.

Precedence, lowest to highest: command defaults < top-level keys of the file < the file's stage section <
explicit top-level CLI flags < explicit stage overrides (`--set train.lr=1e-4`). A top-level key fills the stage
options listed in TOP_LEVEL_TARGETS (e.g. `model` -> train.model), unless something of higher precedence sets them.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapcli.errors import SnapError

SECTIONS = ["generate", "filter", "augment", "train", "eval", "benchmark", "report"]


@dataclass(frozen=True)
class KeySpec:
    """One configurable key: its type (from the annotation), default, range, and the function parameter it feeds."""

    key: str
    param: str
    kind: str  # bool | int | float | str | path | list[str] | list[path]
    optional: bool
    default: Any
    required: bool
    min: float | None = None
    max: float | None = None
    help: str = ""


# Top-level keys: (kind, help). All optional; `None` means "not set": the stage defaults apply.
TOP_LEVEL: dict[str, tuple[str, str]] = {
    "entity": ("list[str]", "Target(s) to forget; a list is unlearned together (batch) unless sequential: true."),
    "k": ("int", "Related individuals/organizations for hard retaining data (real persons; paper uses 10)."),
    "universe": ("str", "Fictional universe of a character (e.g. 'Marvel series'): retain questions come from it."),
    "model": ("str", "The model to unlearn: alias, local dir, hub id."),
    "workspace": ("path", "Workspace directory (the global --workspace flag wins)."),
    "seed": ("int", "Seed for every stage that takes one (benchmark keeps its own)."),
    "example": ("str", "Start from a curated example set (snapcli/data/examples) instead of generate/filter."),
    "sequential": ("bool", "With several entities: unlearn them one at a time, each from the previous model."),
    "name": ("str", "Short name of the experiment (shown in reports)."),
    "description": ("str", "What the experiment reproduces (free text)."),
}
TOP_LEVEL_TARGETS: dict[str, list[str]] = {
    "entity": ["generate.entity"],
    "k": ["generate.k"],
    "universe": ["generate.universe", "augment.universe"],
    "model": ["train.model"],
    "seed": ["generate.seed", "filter.seed", "augment.seed", "train.seed", "eval.seed"],
}


# ------------------------------------------------------------------------------------------- key specs
def _kind_of(annotation: Any) -> tuple[str, bool]:
    """Annotation -> (kind, optional)."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
        origin = typing.get_origin(annotation)
    if origin in (list, typing.List):  # noqa: UP006
        (inner,) = typing.get_args(annotation) or (str,)
        return ("list[path]" if inner is Path else "list[str]"), optional
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (Path, "path")):
        if annotation is t:
            return name, optional
    return "str", optional


def _key_from_decls(decls: tuple[str, ...], param: str) -> str:
    longs = [d.split("/")[0] for d in decls if d.startswith("--")]
    return (longs[0][2:] if longs else param).replace("-", "_")


def command_specs(command: str) -> dict[str, KeySpec]:
    """The configurable keys of a registered `snap COMMAND`, read from its Typer signature."""
    from typer.models import ArgumentInfo, OptionInfo

    callbacks = _callbacks()
    if command not in callbacks:
        raise SnapError(f"no 'snap {command}' command is installed to take section '{command}'")
    fn = callbacks[command]
    hints = typing.get_type_hints(fn)
    specs: dict[str, KeySpec] = {}
    for pname, p in inspect.signature(fn).parameters.items():
        info = p.default
        if not isinstance(info, (OptionInfo, ArgumentInfo)):
            continue
        kind, optional = _kind_of(hints.get(pname, str))
        decls = tuple(getattr(info, "param_decls", None) or ())
        key = _key_from_decls(decls, pname) if isinstance(info, OptionInfo) else pname
        default = info.default
        required = default is ... or default is Ellipsis
        specs[key] = KeySpec(
            key=key, param=pname, kind=kind, optional=optional, default=None if required else copy.deepcopy(default),
            required=required, min=getattr(info, "min", None), max=getattr(info, "max", None), help=info.help or "",
        )
    return specs


def _callbacks() -> dict[str, Any]:
    from snapcli.cli.app import app

    return {(ci.name or ci.callback.__name__): ci.callback for ci in app.registered_commands if ci.callback}


def all_specs() -> dict[str, dict[str, KeySpec]]:
    return {s: command_specs(s) for s in SECTIONS}


# ------------------------------------------------------------------------------------------- validation
def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(known))})"


def _coerce(where: str, kind: str, optional: bool, value: Any, lo: float | None = None, hi: float | None = None):
    """A YAML or CLI value -> the type the command expects, or a one-line SnapError naming `where`."""
    if value is None:
        if optional or kind.startswith("list"):
            return None if optional else []
        raise SnapError(f"{where} must not be empty (expected {kind})")

    def bad(expected: str) -> SnapError:
        return SnapError(f"{where} must be {expected}, got {type(value).__name__} {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool):
            raise bad(f"a number ({kind})")
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                value = float(value) if kind == "float" else int(value)
            except ValueError:
                raise bad(f"a number ({kind})") from None
        if kind == "int" and not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise bad("an integer")
        if not isinstance(value, (int, float)):
            raise bad(f"a number ({kind})")
        value = int(value) if kind == "int" else float(value)
        if lo is not None and value < lo:
            raise SnapError(f"{where} must be >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise SnapError(f"{where} must be <= {hi}, got {value}")
        return value
    if kind in ("str", "path"):
        if isinstance(value, (list, dict, bool)):
            raise bad("a single value" if kind == "str" else "a path")
        text = str(value)
        if not text.strip():
            raise SnapError(f"{where} must not be empty")
        return text
    if kind.startswith("list"):
        items = value if isinstance(value, list) else [value]
        out = []
        for i, v in enumerate(items):
            if isinstance(v, (list, dict, bool)) or v is None:
                raise SnapError(f"{where}[{i}] must be a single value, got {v!r}")
            out.append(str(v))
        return out
    raise SnapError(f"{where}: unsupported kind {kind}")


def validate_config(raw: Any, source: str = "snap.yaml") -> dict[str, Any]:
    """Check keys and types; returns a normalized copy (dashes -> underscores, values coerced). Only keys that
    were written appear: defaults are added by `effective_config`."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SnapError(f"{source} must be a mapping of keys to values, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        k = str(key).replace("-", "_")
        if k in SECTIONS:
            out[k] = _validate_section(k, value, source)
        elif k in TOP_LEVEL:
            kind, _ = TOP_LEVEL[k]
            out[k] = _coerce(f"{source}: {k}", kind, True, value)
        else:
            raise SnapError(f"{source}: unknown key '{key}'" + _suggest(k, [*TOP_LEVEL, *SECTIONS]))
    if "k" in out and out["k"] is not None and out["k"] < 0:
        raise SnapError(f"{source}: k must be >= 0, got {out['k']}")
    if out.get("entity") == []:
        raise SnapError(f"{source}: entity must name at least one target")
    if out.get("example") is not None:
        from snapcli.examples import list_examples

        if out["example"] not in list_examples():
            raise SnapError(f"{source}: example '{out['example']}' is not a shipped example set "
                            f"(available: {', '.join(list_examples()) or 'none'})")
    return out


def _validate_section(section: str, value: Any, source: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SnapError(f"{source}: section '{section}' must be a mapping of option names to values")
    specs = command_specs(section)
    out = {}
    for key, v in value.items():
        k = str(key).replace("-", "_").lstrip("_")
        if k not in specs:
            raise SnapError(f"{source}: unknown key '{section}.{key}'" + _suggest(k, list(specs)))
        s = specs[k]
        out[k] = _coerce(f"{source}: {section}.{k}", s.kind, s.optional, v, s.min, s.max)
    return out


# ------------------------------------------------------------------------------------------- loading, merging
def load_config(path: str | Path) -> dict[str, Any]:
    """Read and validate a snap.yaml (one-line SnapError on a missing file, bad YAML or a bad key).

    `extends: other.yaml` (relative to the file) starts from another config: sections merge key by key and the
    extending file wins, so a baseline or ablation is written as its difference from the main experiment."""
    p = Path(path)
    return validate_config(_read_with_extends(p, []), source=str(p))


def _read_yaml(p: Path) -> Any:
    import yaml

    if not p.is_file():
        raise SnapError(f"config file not found: {p}")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SnapError(f"{p}{where}: invalid YAML: {problem}") from None


def _read_with_extends(p: Path, chain: list[Path]) -> Any:
    resolved = p.resolve()
    if resolved in chain:
        raise SnapError(f"{p}: 'extends' loops back to itself ({' -> '.join(str(c.name) for c in [*chain, resolved])})")
    raw = _read_yaml(p)
    if not isinstance(raw, dict) or "extends" not in raw:
        return raw
    raw = dict(raw)
    parent_ref = raw.pop("extends")
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise SnapError(f"{p}: extends must be the path of another config file")
    parent = _read_with_extends((p.parent / parent_ref), [*chain, resolved])
    if parent is None:
        return raw
    if not isinstance(parent, dict):
        raise SnapError(f"{p.parent / parent_ref} must be a mapping of keys to values")
    merged = dict(parent)
    for k, v in raw.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = {**merged[k], **v}
        else:
            merged[k] = v
    return merged


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """['train.lr=1e-4', 'entity=Bill Gates'] -> a nested dict, values read as YAML scalars ("true" -> True)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SnapError(f"--set '{item}' must look like KEY=VALUE or SECTION.KEY=VALUE")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        parts = key.strip().split(".")
        if len(parts) == 1:
            out[parts[0]] = value
        elif len(parts) == 2:
            out.setdefault(parts[0], {})
            if not isinstance(out[parts[0]], dict):
                raise SnapError(f"--set '{item}': '{parts[0]}' is not a section")
            out[parts[0]][parts[1]] = value
        else:
            raise SnapError(f"--set '{item}': use KEY=VALUE or SECTION.KEY=VALUE")
    return validate_config(out, source="--set")


def effective_config(file_cfg: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every top-level key and every stage option with its effective value (see the module docstring for the
    precedence). Both inputs must already be validated (load_config / validate_config / parse_overrides)."""
    file_cfg = file_cfg or {}
    overrides = overrides or {}
    specs = all_specs()
    cfg: dict[str, Any] = {k: None for k in TOP_LEVEL}
    for s in SECTIONS:
        cfg[s] = {k: copy.deepcopy(spec.default) for k, spec in specs[s].items() if not spec.required}

    def apply(layer: dict[str, Any]) -> None:
        for k in TOP_LEVEL:
            if layer.get(k) is None:
                continue
            cfg[k] = copy.deepcopy(layer[k])
            for target in TOP_LEVEL_TARGETS.get(k, []):
                sec, key = target.split(".")
                if key in specs[sec]:
                    spec = specs[sec][key]
                    cfg[sec][key] = _coerce(f"{k} -> {target}", spec.kind, spec.optional, layer[k], spec.min, spec.max)

    def apply_sections(layer: dict[str, Any]) -> None:
        for s in SECTIONS:
            for k, v in (layer.get(s) or {}).items():
                cfg[s][k] = copy.deepcopy(v)

    apply(file_cfg)
    apply_sections(file_cfg)
    apply(overrides)
    apply_sections(overrides)
    _fill_from_example(cfg, specs)
    for s in SECTIONS:  # the command's own order (a required key set by a layer was appended at the end)
        cfg[s] = {k: cfg[s][k] for k in specs[s] if k in cfg[s]}
    return cfg


def _fill_from_example(cfg: dict[str, Any], specs: dict[str, dict[str, KeySpec]]) -> None:
    """A curated example fixes the target: take its entity, and refuse a config that names another one."""
    if not cfg.get("example"):
        return
    from snapcli.examples import load_example

    entities = sorted({e for df in load_example(cfg["example"]).values() for e in df["entity"]})
    if cfg.get("entity") is None:
        cfg["entity"] = entities
        for target in TOP_LEVEL_TARGETS["entity"]:
            sec, key = target.split(".")
            if key in specs[sec]:
                cfg[sec][key] = list(entities)
    elif sorted(cfg["entity"]) != entities:
        raise SnapError(f"example '{cfg['example']}' is about {', '.join(entities)}, but entity is "
                        f"{', '.join(cfg['entity'])}; drop one of them")


def explicit_params(ctx) -> dict[str, Any]:
    """The parameters a user actually typed (or set through an env var) on a Typer/click command: the only CLI
    values that should override the config file. Keyed by function parameter name."""
    from typer._click.core import ParameterSource

    explicit = {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}
    return {name: value for name, value in ctx.params.items() if ctx.get_parameter_source(name) in explicit}


def section_kwargs(cfg: dict[str, Any], section: str) -> dict[str, Any]:
    """A section of an effective config as keyword arguments of the stage command's function (key -> param
    name, e.g. 'lambda' -> 'lam', 'from' -> 'from_'), so a pipeline can call the stage with these values."""
    specs = command_specs(section)
    return {specs[k].param: v for k, v in cfg.get(section, {}).items() if k in specs}


def render_yaml(cfg: dict[str, Any]) -> str:
    """The effective config as YAML, top-level keys first, sections in pipeline order; unset keys omitted."""
    import yaml

    def clean(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    doc: dict[str, Any] = {k: clean(cfg[k]) for k in TOP_LEVEL if cfg.get(k) is not None}
    for s in SECTIONS:
        if s in cfg:
            doc[s] = {k: clean(v) for k, v in cfg[s].items()}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
