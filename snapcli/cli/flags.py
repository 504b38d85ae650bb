"""Typer flags generated from a stage spec (issue 10): the spec's fields are the command's signature.

`spec_command(Spec, handler)` returns a function whose signature Typer reads: one `typer.Option` per spec field
(flag `--<public-name>` with dashes, `--x/--no-x` for booleans, repeatable for lists) plus the flags every stage
command has (`--config/-c`, `--force`, `--dry-run`). The handler receives the validated spec built from, lowest to
highest precedence: the spec's defaults < `--config` (a snap.yaml, a flat YAML of this stage's options, or an
artifact whose manifest recorded its spec, e.g. `snap train -c train@v3` replays that run) < the flags the user
actually typed. Values are validated by the spec (pydantic) rather than by Click, so a bad value reads the same
from a flag, a YAML key or `--set`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer
from typer.models import OptionInfo

from snapcli.errors import SnapError
from snapcli.stages.spec import StageSpec, is_list, meta_of, public_name, strip_optional

# flag names the global callback owns (accepted anywhere on the line): a spec must not define them
RESERVED = {"--json", "--quiet", "-q", "--verbose", "-v", "--workspace", "-w", "--config", "-c", "--force",
            "--dry-run", "--help", "-h"}


def flag_of(public: str) -> str:
    return "--" + public.replace("_", "-")


def _metavar(annotation: Any, meta_choices: tuple[str, ...] | None) -> str | None:
    inner = strip_optional(annotation)
    if is_list(inner):
        (inner,) = typing.get_args(inner)[:1] or (str,)
    if typing.get_origin(inner) is typing.Literal:
        return "|".join(str(a) for a in typing.get_args(inner))
    if meta_choices:
        return "|".join(meta_choices)
    return {int: "INTEGER", float: "NUMBER", Path: "PATH"}.get(inner, "TEXT")


def spec_parameters(spec_cls: type[StageSpec], exclude: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One keyword parameter per CLI-visible spec field, carrying a typer.Option built from the field."""
    params = []
    for name, f in spec_cls.model_fields.items():
        meta = meta_of(f)
        pub = public_name(name, f)
        if not meta.cli or pub in exclude or name in exclude:
            continue
        flag = flag_of(pub)
        if flag in RESERVED:
            raise RuntimeError(f"{spec_cls.__name__}.{name}: flag {flag} is reserved")
        inner = strip_optional(f.annotation)
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        help_text = f.description or ""
        if f.is_required():
            help_text += " [required]"
        panel = _panel(spec_cls, name)
        if inner is bool:
            decls = [f"{flag}/--no-{pub.replace('_', '-')}" if meta.negatable else flag]
            annotation: Any = bool
            opt = typer.Option(bool(default), *decls, *([meta.short] if meta.short else []), help=help_text,
                               show_default=meta.negatable, rich_help_panel=panel)
        else:
            decls = [flag, *([meta.short] if meta.short else [])]
            if is_list(inner):
                annotation = Optional[list[str]]  # noqa: UP045 - items are converted by the spec (csv, types)
                shown = list(default) if default else None
            else:
                scalar = inner if inner in (int, float, Path) else str
                annotation = Optional[scalar]  # noqa: UP045 - Typer reads the annotation
                shown = default
            opt = typer.Option(shown, *decls, help=help_text, show_default=shown is not None,
                               metavar=meta.metavar or _metavar(f.annotation, meta.choices), rich_help_panel=panel)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=annotation))
    return params


def _panel(spec_cls: type[StageSpec], name: str) -> str | None:
    for base in reversed(spec_cls.__mro__):
        fields = getattr(base, "__pydantic_fields__", None) or {}
        if name in fields and isinstance(base, type) and issubclass(base, StageSpec):
            return getattr(base, "panel", None)
    return None


COMMON = [
    inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],  # noqa: UP045
                      default=typer.Option(None, "--config", "-c", metavar="FILE|REF", rich_help_panel="Run",
                                           help="Start from a YAML file (a snap.yaml, whose section for this stage "
                                                "is used, or a flat mapping of this command's options) or from an "
                                                "artifact that recorded its options (e.g. train@v3 replays that "
                                                "run). Flags you type win.")),
    inspect.Parameter("force", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--force", rich_help_panel="Run",
                                           help="Run again even if an identical run is in the workspace.")),
    inspect.Parameter("dry_run", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                      default=typer.Option(False, "--dry-run", rich_help_panel="Run",
                                           help="Say whether the run is cached or new, and what it is keyed on; run "
                                                "nothing.")),
]


def given(ctx: typer.Context | None, name: str) -> bool:
    """Did the user type this parameter (or set it through an env var), rather than leave its default?"""
    if ctx is None:
        return False
    src = ctx.get_parameter_source(name)
    return src is not None and src.name in ("COMMANDLINE", "ENVIRONMENT")


def explicit_values(spec_cls: type[StageSpec], kwargs: dict[str, Any], ctx: typer.Context | None) -> dict[str, Any]:
    """The spec options the user actually typed (or set through an env var), by public name."""
    return {public_name(name, spec_cls.model_fields[name]): value for name, value in kwargs.items()
            if name in spec_cls.model_fields and given(ctx, name)}


def config_values(spec_cls: type[StageSpec], source: str, ws) -> dict[str, Any]:
    """--config FILE|REF -> this stage's option values (public names)."""
    p = Path(source).expanduser()
    stage = spec_cls.stage
    if p.is_file() and p.suffix.lower() in (".yaml", ".yml", ".json"):
        from snapcli.config import load_config, stage_values

        cfg = load_config(p)
        if stage in cfg or any(k in cfg for k in ("entity", "model", "seed", "k", "universe")):
            return stage_values(cfg, stage)
        raise SnapError(f"--config {p}: no '{stage}' section (a snap.yaml) and no top-level keys")
    if p.is_file():
        raise SnapError(f"--config {p}: expected a .yaml/.yml file or an artifact ref")
    art = ws.resolve(source)
    if art.stage != stage:
        raise SnapError(f"--config {source} is a '{art.stage or 'plain'}' artifact; `snap {stage}` replays only "
                        f"'{stage}' artifacts")
    spec = art.manifest.get("spec")
    if not isinstance(spec, dict):
        raise SnapError(f"--config {source}: its manifest recorded no options (made by an older snap)")
    return dict(spec)


def build_spec(spec_cls: type[StageSpec], kwargs: dict[str, Any], config: str | None, ws,
               ctx: typer.Context | None) -> StageSpec:
    values = config_values(spec_cls, config, ws) if config else {}
    values.update(explicit_values(spec_cls, kwargs, ctx))
    return spec_cls.build(values, flag_style=True)


def spec_command(
    spec_cls: type[StageSpec],
    handler: Callable[..., None],
    *,
    extra: list[inspect.Parameter] | None = None,
    common: bool = True,
) -> Callable[..., None]:
    """A Typer-ready function: flags from `spec_cls` (+ `extra` parameters, + --config/--force/--dry-run), calling
    `handler(spec, **extras)` with the validated spec."""
    params = spec_parameters(spec_cls)
    extra = list(extra or [])
    extras = [p.name for p in extra] + ([p.name for p in COMMON] if common else [])
    wants_ctx = "ctx" in inspect.signature(handler).parameters

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        from snapcli.cli.common import workspace

        spec = build_spec(spec_cls, kwargs, kwargs.get("config") if common else None, workspace(), ctx)
        more = {k: kwargs[k] for k in extras if k in kwargs}
        if wants_ctx:
            more["ctx"] = ctx
        handler(spec, **more)

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    all_params = [ctx_param] + params + extra + (COMMON if common else [])
    command.__signature__ = inspect.Signature(all_params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in all_params}
    command.__doc__ = inspect.cleandoc(spec_cls.__doc__ or "")
    command.__name__ = f"{spec_cls.stage or 'spec'}_cmd"
    return command


def is_option(value: Any) -> bool:
    return isinstance(value, OptionInfo)
