"""Publishing: copy a campaign's finished GPU results from results/<gpu>/ into reports/<gpu>/data/, where the report
builder reads them and where they are committed. Scratch results stay in results/; only measurements are published.

A result is published when it is a real measurement (backend "gpu") whose run finished (outcome "ok"). Incomplete,
crashed or skipped runs and the self-test table stay behind, each named in the summary; a simulated result is refused
outright, and so is one whose `backend` says "gpu" while the rest of its provenance (environment, device name, UUID,
driver) says simulator. `make publish` skips a folder of simulator results (results/simulator/) with a notice.
Files are written atomically, and an identical file already published is left untouched.
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
    dest: Path | None  # None: left behind
    why: str  # "published", "unchanged", or why it stayed behind


SIMULATOR_NAME = "simulator"


def simulator_markers(doc: dict) -> list[str]:
    """What in a document's provenance says it was not measured on a GPU, whatever its `backend` field claims."""
    env = doc.get("environment") if isinstance(doc.get("environment"), dict) else {}
    marks = []
    if env.get("backend") not in (None, "gpu"):
        marks.append(f"environment.backend is {env['backend']!r}")
    if SIMULATOR_NAME in str(env.get("gpu_name", "")).lower() or env.get("gpu_slug") == SIMULATOR_NAME:
        marks.append(f"device {env.get('gpu_name') or env.get('gpu_slug')!r}")
    absent = [
        what
        for what, missing in (
            ("no CUDA driver version", "cuda_driver_version" in env and not env["cuda_driver_version"]),
            ("no GPU UUID", "versions" in env and not env.get("uuid")),  # "versions": a captured environment
            ("no device clock rate", "versions" in env and not env.get("clock_rate_khz")),
        )
        if missing
    ]
    if marks:  # gaps alone prove nothing (an old driver, a hand-made record); beside a marker they are evidence
        marks += absent
    return marks


def refuse_unless_measured(doc: dict, path) -> None:
    """PublishRefused unless `doc` is a GPU measurement by its backend and by the rest of its provenance."""
    name = doc["probe"]["name"]
    if doc["backend"] != "gpu":
        raise PublishRefused(
            f"{path}: a {doc['backend']} result ({name}) cannot be published; simulated "
            "numbers are test output, not measurements"
        )
    marks = simulator_markers(doc)
    if marks:
        raise PublishRefused(
            f"{path}: says backend 'gpu' but its provenance does not ({'; '.join(marks)}); "
            f"a result ({name}) whose backend was edited is not published"
        )


def is_simulator_folder(folder: Path) -> bool:
    """results/simulator/ (what `--backend simulator` writes by default), or a folder of simulator results only."""
    folder = Path(folder)
    if folder.name == SIMULATOR_NAME:
        return True
    backends = set()
    for path in folder.glob("*.json"):
        try:
            backends.add(io.load(path)["backend"])
        except ResultsError:
            return False  # let publish() name the broken file
    return backends == {SIMULATOR_NAME}


def publish(results_dir: Path, reports: Path) -> list[Published]:
    results_dir, reports = Path(results_dir), Path(reports)
    if not results_dir.is_dir():
        raise ResultsError(f"no results folder {results_dir}: run a campaign first (`make campaign`)")
    out = []
    for path in sorted(results_dir.glob("*.json")):
        doc = io.load(path)  # one-line ResultsError on a malformed file
        name = doc["probe"]["name"]
        refuse_unless_measured(doc, path)
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
