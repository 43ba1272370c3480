"""Publishing: copy a campaign's finished GPU results from results/<gpu>/ into reports/<gpu>/data/, where the report
builder reads them and where they are committed. Scratch results stay in results/; only measurements are published.

A result is published when it is a real measurement (backend "gpu") whose run finished (outcome "ok"). Incomplete,
crashed or skipped runs and the self-test table stay behind, each named in the summary; a simulated result is refused
outright. Files are written atomically, and an identical file already published is left untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from probes.results import io
from probes.results.schema import ResultsError


class PublishRefused(ResultsError):
    pass


@dataclass(frozen=True)
class Published:
    source: Path
    dest: Path | None           # None: left behind
    why: str                    # "published", "unchanged", or why it stayed behind


def publish(results_dir: Path, reports: Path) -> list[Published]:
    results_dir, reports = Path(results_dir), Path(reports)
    if not results_dir.is_dir():
        raise ResultsError(f"no results folder {results_dir}: run a campaign first (`make campaign`)")
    out = []
    for path in sorted(results_dir.glob("*.json")):
        doc = io.load(path)                                   # one-line ResultsError on a malformed file
        name = doc["probe"]["name"]
        if doc["backend"] != "gpu":
            raise PublishRefused(f"{path}: a {doc['backend']} result ({name}) cannot be published; simulated "
                                 "numbers are test output, not measurements")
        if name.startswith("selftest"):
            out.append(Published(path, None, "self-test table: kept with the scratch results"))
            continue
        if doc["outcome"] != "ok":
            out.append(Published(path, None, f"outcome {doc['outcome']}: finish it (`make campaign` resumes)"))
            continue
        slug = doc["environment"].get("gpu_slug") or results_dir.name
        dest = reports / slug / "data" / path.name
        data = io.dumps(doc)
        if dest.is_file() and dest.read_text() == data:
            out.append(Published(path, dest, "unchanged"))
            continue
        io.write_atomic(dest, data)
        out.append(Published(path, dest, "published"))
    return out
