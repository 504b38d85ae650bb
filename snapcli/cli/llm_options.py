"""LLM backend options shared by generate, filter and augment, and the progress bridge for stages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Optional

import typer

from snapcli.cli.common import workspace
from snapcli.console import log, progress
from snapcli.llm import LLMBackend, make_backend


def backend_option() -> Optional[str]:
    return typer.Option(
        None, "--backend", help="LLM backend: openai or local. Default: openai when OPENAI_API_KEY or --base-url "
        "is set, else local.", show_default=False,
    )


def base_url_option() -> Optional[str]:
    return typer.Option(None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 "
                        "(key from OPENAI_API_KEY only; none needed for a local server).")


def concurrency_option() -> int:
    return typer.Option(8, "--concurrency", min=1, help="Parallel requests (openai backend).")


def batch_size_option() -> int:
    return typer.Option(8, "--batch-size", min=1, help="Generation batch size (local backend).")


def device_option() -> Optional[str]:
    return typer.Option(None, "--device", help="Device for the local backend (cpu, cuda, cuda:1; default: auto).")


def build_backend(
    backend: str | None, base_url: str | None, concurrency: int, device: str | None, batch_size: int,
) -> LLMBackend:
    """Make the backend and say on stderr which one runs, and why (the default depends on the environment)."""
    b, why = make_backend(backend, workspace(), base_url=base_url, concurrency=concurrency, device=device,
                          batch_size=batch_size)
    where = f" at {b.base_url}" if hasattr(b, "base_url") else ""
    log(f"LLM backend: [bold]{b.name}[/bold]{where} ({why})")
    return b


@contextlib.contextmanager
def stage_progress() -> Iterator:
    """A callback (phase, done, total) that drives one rich progress bar per phase."""
    with progress() as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update
