"""`snap.yaml`: every stage's options in one file, validated by the stage specs (snapcli/stages/*; never the CLI).

Shape:

    entity: Bill Gates            # top level: what the whole pipeline is about (PipelineSpec below)
    k: 10
    model: smollm2
    train:                        # one section per stage; keys are that stage's option names, exactly as its
      reg: wasserstein            # spec declares them and `snap train --help` shows them without the dashes
      lambda: 0.1                 # (--max-new-tokens -> max_new_tokens; dashes are accepted too)
    eval:
      max_new_tokens: 64

Precedence, lowest to highest: spec defaults < top-level keys of the file < the file's stage section < explicit
top-level CLI flags < explicit stage overrides (`--set train.lr=1e-4`). A top-level key fills the stage options whose
spec marks it (`option(..., top="model")`), unless something of higher precedence sets them. Every value is checked
against its option's type and bounds when the file is read, so `snap run --dry-run` refuses what a run would.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal

from snapcli.errors import SnapError
from snapcli.stages import STAGE_NAMES, get
from snapcli.stages.spec import OptionalTexts, StageSpec, meta_of, option, public_name, suggest, validate_option

SECTIONS = list(STAGE_NAMES)


class PipelineSpec(StageSpec):
    """The top-level keys of snap.yaml; the CLI-visible ones are also `snap run`'s flags."""

    stage: ClassVar[str] = "run"

    entity: OptionalTexts = option(None, "Target(s) to forget; a list is unlearned together (batch) unless "
                                      "sequential: true.", short="-e")
    k: int | None = option(None, "Related individuals/organizations for hard retaining data (real persons; paper "
                           "uses 10).", ge=0)
    universe: str | None = option(None, "Fictional universe of a character (e.g. 'Marvel series'): retain "
                                  "questions come from it.")
    model: str | None = option(None, "The model to unlearn: alias, local dir, hub id.", short="-m")
    kind: Literal["person", "organization", "creative_work", "fictional_character", "place", "event"] | None = \
        option(None, "What the target is (default: detected from the model's answers).")
    related: list[str] | None = option(None, "Related subjects you know of, kept first for hard retaining data "
                                       "(\"A; B\" or repeat).")
    example: str | None = option(None, "Start from a curated example set (snap examples list) instead of "
                                 "generate/filter/augment.")
    seed: int | None = option(None, "Seed for every stage that takes one (benchmark keeps its own).", ge=0)
    heldout: list[str] | None = option(None, "Held-out sets to evaluate the base and the unlearned model on, "
                                       "written independently of the generated data: a .yaml file "
                                       "(benchmarks/heldout/*.yaml format) or a curated set name (bill-gates).")
    workspace: Path | None = option(None, "Workspace directory (the global --workspace flag wins).", cli=False)
    sequential: bool = option(False, "With several entities: unlearn them one at a time, each from the previous "
                              "model.", cli=False)
    name: str | None = option(None, "Short name of the experiment (shown in reports).", cli=False)
    description: str | None = option(None, "What the experiment reproduces (free text).", cli=False)


TOP_LEVEL = PipelineSpec.yaml_keys()


def spec_class(section: str) -> type[StageSpec]:
    return get(section).spec


def top_level_targets() -> dict[str, list[tuple[str, str]]]:
    """Top-level key -> [(section, option)] it fills, read from the specs' `top` marks."""
    out: dict[str, list[tuple[str, str]]] = {}
    for s in SECTIONS:
        for top, key in spec_class(s).top_level_targets().items():
            out.setdefault(top, []).append((s, key))
    return out


# ------------------------------------------------------------------------------------------- validation
def validate_config(raw: Any, source: str = "snap.yaml") -> dict[str, Any]:
    """Check keys and values; returns a normalized copy (public names, values coerced). Only keys that were
    written appear: defaults are added by `effective_config`."""
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
            out[k] = validate_option(PipelineSpec, k, value, f"{source}: ")
        else:
            raise SnapError(f"{source}: unknown key '{key}'" + suggest(k, [*TOP_LEVEL, *SECTIONS]))
    if out.get("entity") == []:
        raise SnapError(f"{source}: entity must name at least one target")
    if out.get("entity") and any(not str(e).strip() for e in out["entity"]):
        raise SnapError(f"{source}: entity must not be empty")
    if out.get("example") is not None:
        from snapcli.curated import list_examples

        if out["example"] not in list_examples():
            raise SnapError(f"{source}: example '{out['example']}' is not a shipped example set "
                            f"(available: {', '.join(list_examples()) or 'none'})")
    return out


def _validate_section(section: str, value: Any, source: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SnapError(f"{source}: section '{section}' must be a mapping of option names to values")
    cls = spec_class(section)
    out = {}
    for key, v in value.items():
        k = str(key).replace("-", "_")
        name = cls.field_name(k)
        if name is None or not meta_of(cls.model_fields[name]).yaml:
            raise SnapError(f"{source}: unknown key '{section}.{key}'" + suggest(k, cls.yaml_keys()))
        pub = public_name(name, cls.model_fields[name])
        out[pub] = validate_option(cls, pub, v, f"{source}: {section}.")
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

    from snapcli.store.text import read_user_text

    if not p.is_file():
        raise SnapError(f"config file not found: {p}")
    text = read_user_text(p, "--config")
    try:
        return yaml.safe_load(text)
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
    targets = top_level_targets()
    cfg: dict[str, Any] = {k: None for k in TOP_LEVEL}
    cfg["sequential"] = False
    for s in SECTIONS:
        cfg[s] = {k: v for k, v in spec_class(s).defaults().items() if k in spec_class(s).yaml_keys()}

    def apply(layer: dict[str, Any]) -> None:
        for k in TOP_LEVEL:
            if layer.get(k) is None:
                continue
            cfg[k] = copy.deepcopy(layer[k])
            for sec, key in targets.get(k, []):
                cfg[sec][key] = validate_option(spec_class(sec), key, layer[k], f"{k} -> {sec}.")

    def apply_sections(layer: dict[str, Any]) -> None:
        for s in SECTIONS:
            for k, v in (layer.get(s) or {}).items():
                cfg[s][k] = copy.deepcopy(v)

    apply(file_cfg)
    apply_sections(file_cfg)
    apply(overrides)
    apply_sections(overrides)
    _fill_from_example(cfg, targets)
    for s in SECTIONS:  # the spec's own order
        order = spec_class(s).yaml_keys()
        cfg[s] = {k: cfg[s][k] for k in order if k in cfg[s]}
    return cfg


def stage_values(partial_cfg: dict[str, Any], stage: str) -> dict[str, Any]:
    """One stage's values from a validated (partial) config: its section plus what top-level keys fill."""
    out: dict[str, Any] = {}
    for top, fills in top_level_targets().items():
        if partial_cfg.get(top) is not None:
            for sec, key in fills:
                if sec == stage:
                    out[key] = partial_cfg[top]
    out.update(partial_cfg.get(stage) or {})
    return out


def _fill_from_example(cfg: dict[str, Any], targets: dict[str, list[tuple[str, str]]]) -> None:
    """A curated example fixes the target: take its entity, and refuse a config that names another one."""
    if not cfg.get("example"):
        return
    from snapcli.curated import load_example

    entities = sorted({e for df in load_example(cfg["example"]).values() for e in df["entity"]})
    if cfg.get("entity") is None:
        cfg["entity"] = entities
        for sec, key in targets.get("entity", []):
            cfg[sec][key] = list(entities)
    elif sorted(cfg["entity"]) != entities:
        raise SnapError(f"example '{cfg['example']}' is about {', '.join(entities)}, but entity is "
                        f"{', '.join(cfg['entity'])}; drop one of them")


def render_yaml(cfg: dict[str, Any]) -> str:
    """The effective config as YAML, top-level keys first, sections in pipeline order; unset keys omitted."""
    import yaml

    def clean(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    doc: dict[str, Any] = {k: clean(cfg[k]) for k in TOP_LEVEL if cfg.get(k) not in (None, False)}
    for s in SECTIONS:
        if s in cfg:
            doc[s] = {k: clean(v) for k, v in cfg[s].items()}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
