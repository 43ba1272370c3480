"""The results document: one JSON file per probe run. This module owns SCHEMA_VERSION and its history.

History (one line per version; readers upgrade older files step by step, and refuse newer ones):
  1  2026-11  first version: probe, backend, environment, points with tidy samples and summaries, clocks, kernels.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

OUTCOMES = ("ok", "skipped", "incomplete", "timeout", "crashed", "cuda_error", "error")
BACKENDS = ("gpu", "simulator")


class ResultsError(ValueError):
    """A results file is unreadable, malformed or from an unknown schema; the message is one line."""


class NewerSchemaError(ResultsError):
    """A results file written by a newer gpu-probes: never quarantined, overwritten or half-read."""


# field -> (type or tuple of types, required)
_TOP = {
    "schema_version": (int, True),
    "probe": (dict, True),
    "backend": (str, True),
    "outcome": (str, True),
    "environment": (dict, True),
    "started_at": (str, True),
    "finished_at": ((str, type(None)), False),
    "points": (list, True),
    "clocks": (list, False),
    "kernels": (list, False),
    "stopping": (dict, False),
    "error": ((dict, type(None)), False),
    "analysis": ((dict, type(None)), False),
}
_PROBE = {"name": str, "version": str, "params": dict, "unit": str, "method": str}
_POINT = {"axes": dict, "samples": list, "summary": (dict, type(None))}


def validate(doc, where: str = "<document>") -> dict:
    """Check a loaded document against the current schema; raise ResultsError naming the first problem."""
    if not isinstance(doc, dict):
        raise ResultsError(f"{where}: expected a JSON object at the top level, got {type(doc).__name__}")
    for key, (typ, required) in _TOP.items():
        if key not in doc:
            if required:
                raise ResultsError(f"{where}: missing field {key!r}")
            continue
        if not isinstance(doc[key], typ) or (typ is int and isinstance(doc[key], bool)):
            raise ResultsError(f"{where}: field {key!r} has type {type(doc[key]).__name__}")
    for key, typ in _PROBE.items():
        if not isinstance(doc["probe"].get(key), typ):
            raise ResultsError(f"{where}: field probe.{key} missing or not {typ.__name__}")
    if doc["backend"] not in BACKENDS:
        raise ResultsError(f"{where}: backend {doc['backend']!r} is not one of {', '.join(BACKENDS)}")
    if doc["outcome"] not in OUTCOMES:
        raise ResultsError(f"{where}: outcome {doc['outcome']!r} is not one of {', '.join(OUTCOMES)}")
    for i, point in enumerate(doc["points"]):
        if not isinstance(point, dict):
            raise ResultsError(f"{where}: points[{i}] is not an object")
        for key, typ in _POINT.items():
            if key not in point or not isinstance(point[key], typ):
                raise ResultsError(f"{where}: points[{i}].{key} missing or of the wrong type")
        for j, sample in enumerate(point["samples"]):
            if not isinstance(sample, dict) or not all(
                isinstance(v, (int, float, bool, str, type(None))) for v in sample.values()
            ):
                raise ResultsError(f"{where}: points[{i}].samples[{j}] must be an object of scalars")
    return doc


def upgrade(doc: dict, where: str = "<document>") -> dict:
    """Bring an older document to SCHEMA_VERSION (upgrade_to_N step by step); refuse newer ones."""
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{where}: no integer schema_version; not a gpu-probes results file")
    if version > SCHEMA_VERSION:
        raise NewerSchemaError(
            f"{where}: schema_version {version} is newer than this gpu-probes understands "
            f"({SCHEMA_VERSION}); upgrade gpu-probes to read it"
        )
    if version < 1:
        raise ResultsError(f"{where}: schema_version {version} is not a known version")
    for step in range(version + 1, SCHEMA_VERSION + 1):
        doc = _UPGRADES[step](doc)
    return doc


_UPGRADES: dict = {}  # {N: function taking a version N-1 document to version N}
