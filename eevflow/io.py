"""Atomic outputs: a job that dies leaves no file that looks complete."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix: numpy and others append their own extension to paths without it
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def inputs_key(paths: list[str], settings: dict) -> str:
    """A key of a job's inputs (each file's path, size and modification time) and settings: a
    resumable job's saved state is used only when the key matches."""
    import hashlib

    files = [(str(p), os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in sorted(map(str, paths))]
    blob = json.dumps({"files": files, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
