"""Merge finished fleet results into <reports>/<gpu-slug>/data/ and rebuild the reports.

Each node/GPU keeps its own file, `<probe-file>@<node>-<gpu-id>.json`, with a `fleet` block saying where it came
from and whether that GPU was throttled or busy: the same GPU model measured on several nodes is shown side by
side, never averaged. Unfinished results (crashed, timeout, incomplete) stay in the fleet folder and are listed.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

from probes.fleet import FleetError
from probes.fleet.state import job_folders, read_status, stored_results, throttled_samples
from probes.fleet.submit import load_manifest

MERGED = ("ok", "skipped")
NODES_FILE = "fleet-nodes.md"


@dataclass
class Merged:
    job: str
    source: Path
    probe: str
    outcome: str
    dest: Path | None  # None: not merged (see reason)
    reason: str = ""
    fleet: dict | None = field(default=None, repr=False)  # the `fleet` block written into dest


def _node_tag(folder: Path) -> str:
    return folder.name  # "<node>-<gpu-id>", as the job named it


def merge_folder(
    job: str, folder: Path, reports: Path, allow_simulated: bool, taken: set | None = None
) -> list[Merged]:
    from probes.results import io

    status = read_status(folder) or {}
    gpu = status.get("gpu") or {}
    rows = []
    for path, doc in stored_results(folder):
        if isinstance(doc, Exception):
            rows.append(Merged(job, path, path.stem, "unreadable", None, str(doc)))
            continue
        name = doc["probe"]["name"]
        if doc["outcome"] not in MERGED:
            rows.append(Merged(job, path, name, doc["outcome"], None, "not finished: resubmit with --resume"))
            continue
        if doc["backend"] != "gpu" and not allow_simulated:
            raise FleetError(
                f"{path}: a {doc['backend']} result cannot be published; simulated numbers are test "
                "output (pass --allow-simulated only for a throw-away --reports folder)"
            )
        if not allow_simulated:
            from probes.results.publish import PublishRefused, refuse_unless_measured

            try:  # a `backend` edited to "gpu" while the environment says simulator
                refuse_unless_measured(doc, path)
            except PublishRefused as err:
                raise FleetError(str(err)) from None
        slug = doc["environment"].get("gpu_slug") or "unknown-gpu"
        doc["fleet"] = {
            "job": job,
            "node": status.get("node"),
            "gpu_id": gpu.get("id"),
            "gpu_uuid": doc["environment"].get("uuid") or gpu.get("uuid"),  # CUDA's word over NVML's
            "gpu_index": gpu.get("index"),
            "busy_processes": gpu.get("busy_processes"),
            "utilization_pct": gpu.get("utilization_pct"),
            "throttled_samples": throttled_samples(doc),
            "source": str(path),
        }
        dest = Path(reports) / slug / "data" / f"{path.stem}@{_node_tag(folder)}.json"
        if taken is not None:  # same node and GPU index from two jobs (no UUID known): keep both, named by job
            if dest in taken:
                dest = dest.with_name(f"{path.stem}@{_node_tag(folder)}-{job}.json")
            taken.add(dest)
        io.save(doc, dest)
        rows.append(Merged(job, path, name, doc["outcome"], dest, fleet=doc["fleet"]))
    return rows


def _nodes_page(rows: list[Merged]) -> dict[Path, str]:
    """Per GPU folder: which node/GPU each merged file came from, and whether that GPU was throttled or busy."""
    pages: dict[Path, list[str]] = {}
    for r in rows:
        if r.dest is None:
            continue
        fleet = r.fleet
        flags = []
        if fleet["busy_processes"]:
            flags.append(f"busy ({fleet['busy_processes']} other processes at start)")
        if fleet["throttled_samples"]:
            flags.append(f"throttled ({fleet['throttled_samples']} sample(s))")
        page = pages.setdefault(
            r.dest.parent.parent,
            [
                "# Fleet nodes",
                "",
                "Results merged by `python -m probes fleet collect`: one file per node and GPU, "
                "never averaged. A flagged GPU was throttled or shared while it was measured.",
                "",
                "| file | probe | job | node | GPU | flags |",
                "|---|---|---|---|---|---|",
            ],
        )
        page.append(
            f"| data/{r.dest.name} | {r.probe} | {r.job} | {fleet['node']} | {fleet['gpu_id']} | "
            f"{'; '.join(flags) or '-'} |"
        )
    return {folder / NODES_FILE: "\n".join(lines) + "\n" for folder, lines in pages.items()}


def _build(fn, *args, allow_simulated: bool):
    if not allow_simulated:
        return fn(*args)
    if "allow_simulated" not in inspect.signature(fn).parameters:
        raise FleetError(
            f"probes.report.build.{fn.__name__} has no allow_simulated keyword yet: "
            "simulated results cannot be turned into a report"
        )
    return fn(*args, allow_simulated=True)


def collect(out: Path, reports: Path, allow_simulated: bool = False, rebuild: bool = True) -> tuple[list[Merged], list]:
    """Merge every job folder's finished results; rebuild the per-GPU reports and the comparison -> (rows, written)."""
    from probes.results.io import write_atomic

    doc = load_manifest(out)
    rows, taken = [], set()
    for job in sorted({rec["name"] for rec in doc["jobs"]}):
        for folder in job_folders(out, job):
            rows += merge_folder(job, folder, reports, allow_simulated, taken)
    for path, text in _nodes_page(rows).items():
        write_atomic(path, text)
    written = []
    if rebuild and any(r.dest for r in rows):
        from probes.report import build

        for slug in sorted({r.dest.parent.parent.name for r in rows if r.dest}):
            written += _build(build.build_reports, Path(reports), slug, allow_simulated=allow_simulated)
        written.append(_build(build.build_comparison, Path(reports), allow_simulated=allow_simulated))
    return rows, written


def format_rows(rows: list[Merged]) -> str:
    lines = []
    for r in rows:
        where = f"-> {r.dest}" if r.dest else f"not merged: {r.reason}"
        lines.append(f"{r.outcome:>10}  {r.job}  {r.source.parent.name}/{r.source.name}  {where}")
    return "\n".join(lines) if lines else "nothing stored yet: no job has written results"


def to_json(rows: list[Merged]) -> str:
    return json.dumps(
        [
            {
                "job": r.job,
                "source": str(r.source),
                "probe": r.probe,
                "outcome": r.outcome,
                "dest": str(r.dest) if r.dest else None,
                "reason": r.reason,
            }
            for r in rows
        ],
        indent=1,
    )
