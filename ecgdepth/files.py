"""Atomic file writes, so a reader (or a crash) never sees a half-written result; and appends to
a JSON-lines log, which grows by whole lines and so is never rewritten as a run goes on."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from typing import Any


def write_bytes(path: str, data: bytes) -> None:
    """Writes to a temporary file beside `path`, fsyncs, then renames over it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode())


def json_safe(obj: Any) -> Any:
    """Strict JSON has no NaN or inf: non-finite floats become null (status says why)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: str, obj: Any) -> None:
    text = json.dumps(json_safe(obj), indent=2, sort_keys=True, allow_nan=False)
    write_text(path, text + '\n')


def jsonl_text(records: Iterable[dict]) -> str:
    """One strict-JSON line per record."""
    return ''.join(
        json.dumps(json_safe(r), sort_keys=True, allow_nan=False) + '\n' for r in records
    )


def write_jsonl(path: str, records: Iterable[dict]) -> None:
    """Rewrites the whole file atomically (e.g. a resumed run's log cut back to its checkpoint)."""
    write_text(path, jsonl_text(records))


def append_jsonl(path: str, records: Iterable[dict]) -> None:
    """Appends the records and flushes: one write of whole lines, as a run logs them."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'a') as f:
        f.write(jsonl_text(records))
        f.flush()


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
