"""Atomic file writes (one helper for every file snap replaces in place): the `safer` library writes to a temp
file beside the target and `os.replace`s it only when the write finished, so a reader or a killed run never sees
half a file. Whole artifact directories are published by the workspace (staging dir + rename), not here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import safer


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open `path` for writing; the target is replaced only if the block finishes without an exception."""
    enc = None if "b" in mode else encoding
    with safer.open(path, mode, encoding=enc, temp_file=True, make_parents=True) as fh:
        yield fh


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
