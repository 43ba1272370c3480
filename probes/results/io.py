"""Reading and writing results documents: atomic writes, validated reads, one-line errors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from probes.results.schema import ResultsError, upgrade, validate


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class WriteError(OSError):
    """A file could not be written (read-only folder, disk full, permission); one line naming the file. Nothing was
    changed: the old file, if any, is still whole."""

    def __init__(self, path: Path, err: OSError):
        super().__init__(err.errno, err.strerror or str(err), str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.strerror}; nothing was changed"


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, fsync, then os.replace: readers see old or new, never half.
    Any failure (read-only, disk full, permission) is a one-line WriteError naming `path`; no temporary file stays."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; published files must be readable like any other
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise WriteError(path, err) from err
        raise


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=True, default=_default, allow_nan=False) + "\n"


def save(doc: dict, path: Path) -> None:
    validate(doc, str(path))
    write_atomic(path, dumps(doc))


def load(path: Path) -> dict:
    """Load, upgrade and validate a results file; any problem is a ResultsError with a one-line message."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultsError(f"{path}: cannot read ({err.__class__.__name__}: {err})") from None
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        msg = f"line {err.lineno}: {err.msg}" if isinstance(err, json.JSONDecodeError) else "nested too deeply"
        raise ResultsError(f"{path}: not valid JSON ({msg}); the file may be truncated") from None
    return validate(upgrade(doc, str(path)), str(path))


def load_dir(folder: Path) -> list[dict]:
    """Every results file under a folder, sorted by path (deterministic reports)."""
    return [load(p) for p in sorted(Path(folder).rglob("*.json"))]
