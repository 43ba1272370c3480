"""Where each fleet job stands, from stored files only: manifest, the job's status file, submitit's result and log,
the scheduler's word (sacct through submitit, or the local process), and the probes' results files.

States (closed vocabulary): pending, running, done, failed, interrupted, timeout, preempted, cancelled, lost
(the process vanished without a word: SIGKILL, node failure). Every state but pending/running/done carries the
tail of the job's log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from probes.engine.campaign import last_line
from probes.fleet import slurm
from probes.fleet.job import ENV_FILE, STATUS_FILE
from probes.fleet.submit import latest_jobs, load_manifest

LOG_TAIL_LINES = 15
BUSY_UTILIZATION_PCT = 10  # NVML's utilisation over its last sample period, read before the first probe
STATES = ("pending", "running", "done", "failed", "interrupted", "timeout", "preempted", "cancelled", "lost")
_SLURM = {
    "PENDING": "pending",
    "CONFIGURING": "pending",
    "REQUEUED": "pending",
    "REQUEUE_HOLD": "pending",
    "SUSPENDED": "pending",
    "RUNNING": "running",
    "COMPLETING": "running",
    "COMPLETED": "done",
    "TIMEOUT": "timeout",
    "DEADLINE": "timeout",
    "PREEMPTED": "preempted",
    "CANCELLED": "cancelled",
    "NODE_FAIL": "lost",
    "BOOT_FAIL": "lost",
    "FAILED": "failed",
    "OUT_OF_MEMORY": "failed",
}
_FAILED_END = ("failed", "interrupted", "timeout", "preempted", "cancelled", "lost")


@dataclass
class ProbeStatus:
    probe: str
    outcome: str  # the stored result's outcome (ok, skipped, crashed, timeout, ...) or "running"
    points: int = 0
    throttled_samples: int = 0
    detail: str = ""


@dataclass
class JobStatus:
    name: str
    job_id: str
    executor: str
    state: str
    node: str | None = None
    gpu: str | None = None
    elapsed_s: float | None = None
    probes: list[ProbeStatus] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    log_tail: str = ""
    folders: list[str] = field(default_factory=list)
    reason: str = ""  # the job's own one-line account of why it stopped, when it says

    def to_json(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def derive_state(scheduler: str | None, status: dict | None, result: tuple | None) -> str:
    """One state from three witnesses. scheduler: a STATES value, 'gone' (local process ended) or None (unknown)."""
    if result is not None:
        if result[0] == "success":
            return "done"
        if scheduler in ("timeout", "preempted", "cancelled"):
            return scheduler
        return "interrupted" if (status or {}).get("state") == "interrupted" else "failed"
    if scheduler in ("pending", "running") or scheduler in _FAILED_END:
        return scheduler
    job_state = (status or {}).get("state")
    if scheduler == "done":  # Slurm says completed, but submitit wrote no result: trust our own status file
        return "done" if job_state == "done" else "failed"
    if scheduler == "gone":  # local process ended without a result pickle: killed hard
        return "done" if job_state == "done" else "lost"
    return job_state if job_state in STATES else "pending"


def _local_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")  # a zombie has finished
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def scheduler_state(out: Path, rec: dict) -> str | None:
    if rec["executor"] == "local":
        return "running" if _local_alive(int(rec["job_id"])) else "gone"
    try:
        submitit = slurm.import_submitit()
        raw = submitit.SlurmJob(folder=slurm.submitit_folder(out), job_id=rec["job_id"]).state
    except Exception:  # sacct missing or failing: the stored files still tell most of the story
        return None
    return _SLURM.get(str(raw).split()[0].upper().rstrip("+"))


def _paths(out: Path, rec: dict):
    from submitit.core.utils import JobPaths

    return JobPaths(slurm.submitit_folder(out), job_id=rec["job_id"], task_id=0)


def read_result(out: Path, rec: dict) -> tuple | None:
    """submitit's result pickle of a finished job: ("success", value) or ("error", traceback text)."""
    try:
        path = _paths(out, rec).result_pickle
    except ImportError:
        return None
    if not path.exists():
        return None
    from submitit.core.utils import pickle_load

    try:
        return tuple(pickle_load(path))
    except Exception as err:  # truncated by a dying node: that is an error outcome, not a crash of `status`
        return ("error", f"unreadable result {path.name}: {err}")


def log_tail(out: Path, rec: dict, lines: int = LOG_TAIL_LINES) -> str:
    try:
        paths = _paths(out, rec)
    except ImportError:
        return ""
    chunks = []
    for p in (paths.stderr, paths.stdout):
        if p.exists():
            text = p.read_text(errors="replace").strip().splitlines()
            if text:
                chunks.append(f"--- {p.name}\n" + "\n".join(text[-lines:]))
    return "\n".join(chunks)


def job_folders(out: Path, name: str) -> list[Path]:
    """Every <out>/<job>/<node>-<gpu>/ folder a run of this job has written (one per node/GPU it landed on)."""
    return sorted(p.parent for p in (Path(out) / name).glob(f"*/{STATUS_FILE}"))


def read_status(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def stored_results(folder: Path):
    """(path, document) for each results file of a job folder; the document is the ResultsError of an unreadable
    file instead."""
    from probes.results import io
    from probes.results.schema import ResultsError

    for path in sorted(folder.glob("*.json")):
        if path.name in (STATUS_FILE, ENV_FILE):
            continue
        try:
            doc = io.load(path)
        except ResultsError as err:
            doc = err
        yield path, doc


def probe_statuses(folder: Path, status: dict | None = None) -> list[ProbeStatus]:
    """Outcome of each probe from the results files stored in a job folder."""
    found = {}
    for path, doc in stored_results(folder):
        if isinstance(doc, Exception):
            found[path.stem] = ProbeStatus(path.stem, "unreadable", detail=str(doc))
            continue
        name = doc["probe"]["name"]
        detail = _detail(doc["outcome"], doc.get("error") or {})
        found[name] = ProbeStatus(name, doc["outcome"], len(doc["points"]), throttled_samples(doc), detail)
    current = (status or {}).get("current_probe")
    if current and (status or {}).get("state") == "running":
        found[current] = ProbeStatus(current, "running", found.get(current, ProbeStatus(current, "")).points)
    return [found[k] for k in sorted(found)]


def _detail(outcome: str, err: dict) -> str:
    """One line on why a probe did not finish (error records accumulate fields over attempts: pick by outcome)."""
    if outcome == "timeout":
        return "killed by the probe watchdog (raise --timeout if the probe is just slow)"
    if outcome in ("error", "cuda_error") and err.get("message"):
        return err["message"]
    if outcome == "crashed":
        return last_line(err.get("stderr_tail", "")) or f"worker exit code {err.get('exit_code')}"
    return err.get("reason") or err.get("message") or last_line(err.get("stderr_tail", ""))


def throttled_samples(doc: dict) -> int:
    return sum(1 for pt in doc["points"] for s in pt["samples"] if isinstance(s, dict) and s.get("throttled"))


def _elapsed(status: dict | None) -> float | None:
    if not status or not status.get("started_at"):
        return None
    start = dt.datetime.fromisoformat(status["started_at"])
    end = (
        dt.datetime.fromisoformat(status["finished_at"])
        if status.get("finished_at")
        else dt.datetime.now(dt.timezone.utc)
    )
    return max(0.0, (end - start).total_seconds())


def gpu_flags(status: dict | None, probes: list[ProbeStatus]) -> list[str]:
    """Why this node's numbers may be off: throttled samples, or other processes on the GPU at the start."""
    flags = []
    gpu = (status or {}).get("gpu") or {}
    if gpu.get("busy_processes"):
        flags.append(f"busy: {gpu['busy_processes']} other process(es) on the GPU at start")
    elif (gpu.get("utilization_pct") or 0) >= BUSY_UTILIZATION_PCT:
        flags.append(f"busy: GPU {gpu['utilization_pct']} % utilised at start")
    n = sum(p.throttled_samples for p in probes)
    if n:
        flags.append(f"throttled: {n} sample(s) taken while clocks moved or a throttle reason was active")
    return flags


def job_status(out: Path, rec: dict, scheduler=scheduler_state) -> JobStatus:
    folders = job_folders(out, rec["name"])
    mine = [(f, s) for f in folders for s in [read_status(f)] if s and str(s.get("job_id")) == rec["job_id"]]
    folder, status = mine[-1] if mine else (None, None)
    state = derive_state(scheduler(out, rec), status, read_result(out, rec))
    probes = probe_statuses(folder, status) if folder else []
    js = JobStatus(
        rec["name"],
        rec["job_id"],
        rec["executor"],
        state,
        (status or {}).get("node"),
        ((status or {}).get("gpu") or {}).get("id"),
        _elapsed(status),
        probes,
        gpu_flags(status, probes),
        folders=[str(f) for f in folders],
        reason=(status or {}).get("error") or "",
    )
    if state in _FAILED_END:
        js.log_tail = log_tail(out, rec)
    return js


def fleet_status(out: Path, scheduler=scheduler_state) -> list[JobStatus]:
    doc = load_manifest(out)
    return [job_status(Path(out), rec, scheduler) for rec in latest_jobs(doc).values()]


def _fmt_elapsed(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_status(jobs: list[JobStatus]) -> str:
    lines = [f"{'job':<28}{'id':<10}{'state':<12}{'node':<14}{'gpu':<16}{'elapsed':>9}  probes"]
    for j in jobs:
        probes = ", ".join(f"{p.probe}={p.outcome}" for p in j.probes) or "-"
        lines.append(
            f"{j.name:<28}{j.job_id:<10}{j.state:<12}{j.node or '-':<14}{(j.gpu or '-')[:15]:<16}"
            f"{_fmt_elapsed(j.elapsed_s):>9}  {probes}"
        )
        for p in j.probes:
            if p.outcome not in ("ok", "skipped", "running") and p.detail:
                lines.append(f"    {p.probe}: {p.outcome}: {p.detail}")
        if j.reason and j.state != "done":
            lines.append(f"    reason: {j.reason}")
        for flag in j.flags:
            lines.append(f"    flag: {flag}")
        if j.log_tail:
            lines.append("    log tail:")
            lines += [f"      {ln}" for ln in j.log_tail.splitlines()]
    return "\n".join(lines)
