"""Atomic file writes: write to a temporary file beside the target, then rename over it, so a
reader (or a killed run) never sees half a report."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# mkstemp creates files only the owner can read; outputs should get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Neutralise spreadsheet formula injection in a CSV/XLSX cell while keeping the text readable."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def without_name(reason: str | None, name: str) -> str | None:
    """A reason as listed beside its file's name: "X.xlsx: could not be opened …", not
    "X.xlsx: X.xlsx could not be opened …"."""
    if reason and name and reason.startswith(name):
        return reason[len(name):].lstrip(" :") or reason
    return reason
