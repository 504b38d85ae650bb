"""Text that can be written: lone UTF-16 surrogates become U+FFFD before anything reaches a cache or Parquet.

Python strings can hold lone surrogates ("\\ud83d" from a JSON escape of half an emoji, or undecodable bytes
that the OS passed through as "\\udce9"); UTF-8 cannot, so json/pyarrow/pandas raise UnicodeEncodeError on
them and a whole stage would be lost for one bad character (issue 14). Every text that enters snap from outside
(LLM replies, imported and judged files) goes through `fix_surrogates` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPLACEMENT = "\ufffd"


def fix_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD; a well-formed surrogate pair becomes its character.

    O(len) only when something is wrong: valid text is returned as is after one failed-free encode.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # utf-16 with surrogatepass re-pairs "\\ud83d\\ude00" into one character; the decoder replaces lone halves
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def fix_value(value: Any) -> tuple[Any, int]:
    """(value with every str inside it fixed, how many strs changed): str, list/tuple and dict values."""
    if isinstance(value, str):
        fixed = fix_surrogates(value)
        return fixed, int(fixed is not value)
    if isinstance(value, (list, tuple)):
        out, n = [], 0
        for v in value:
            fv, k = fix_value(v)
            out.append(fv)
            n += k
        return (out if isinstance(value, list) else tuple(out)), n
    if isinstance(value, dict):
        d, n = {}, 0
        for k, v in value.items():
            fk, a = fix_value(k)
            fv, b = fix_value(v)
            d[fk] = fv
            n += a + b
        return d, n
    return value, 0


def read_user_text(path: Path, what: str) -> str:
    """A user's text file (a bank, prompts, config): UTF-8, else SnapError naming `what` and the file (exit 2).

    Other encodings are refused rather than guessed: a Latin-1 "é" read as UTF-8 would silently change the data.
    """
    from snapcli.errors import SnapError

    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SnapError(f"{what}: {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise SnapError(f"{what}: cannot read {path} ({e.strerror or e})") from None
