"""What one fleet job runs on its node: the ordinary resumable campaign on one GPU, then its environment record.

Everything lands in <out>/<job-name>/<node>-<gpu>/ : the campaign's results files, environment.json, and
fleet-status.json (state, node, GPU, times, per-probe outcomes), rewritten atomically as the job goes so
`fleet status` can read it from the login node. Like the campaign parent, this process never opens a CUDA context.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
from pathlib import Path

STATUS_FILE = "fleet-status.json"
ENV_FILE = "environment.json"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def node_name() -> str:
    return socket.gethostname().split(".")[0] or "node"


def _visible_device() -> str:
    return (os.environ.get("CUDA_VISIBLE_DEVICES") or "").split(",")[0].strip()


def gpu_identity(backend: str) -> dict:
    """UUID (from NVML) and index of this job's GPU; `id` names its folder. NVML is read-only here: no CUDA context."""
    dev = _visible_device()
    info = {"index": dev or None, "uuid": None, "busy_processes": None, "utilization_pct": None}
    if backend == "gpu":
        try:
            import pynvml

            pynvml.nvmlInit()
            h = (
                pynvml.nvmlDeviceGetHandleByUUID(dev)
                if dev.startswith(("GPU-", "MIG-"))
                else pynvml.nvmlDeviceGetHandleByIndex(int(dev or 0))
            )
            uuid = pynvml.nvmlDeviceGetUUID(h)
            info["uuid"] = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
            # Busy: another process computing on "our" GPU at the start makes every number suspect.
            info["busy_processes"] = len(pynvml.nvmlDeviceGetComputeRunningProcesses(h))
            info["utilization_pct"] = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
        except Exception as err:  # NVML missing or index mapping unknown: the folder falls back to the index
            info["nvml"] = f"unavailable: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    info["id"] = info["uuid"] or f"gpu{dev or 0}"
    return info


def _write_json(path: Path, data: dict) -> None:
    from probes.results.io import write_atomic

    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, default=str))


def _job_id() -> str | None:
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except Exception:  # not inside a submitit job (direct call in a test or by hand)
        return None


def _interrupt(signum, frame):
    from probes.engine.campaign import Interrupted  # a KeyboardInterrupt: the campaign kills and records its worker

    raise Interrupted(signum)


def run_job(spec: dict) -> dict:
    """Run the campaign for spec["probes"] on this node's GPU; returns {probe: outcome}. Raises if interrupted."""
    from probes import catalogue
    from probes.engine.campaign import RunOptions, capture_environment, run_campaign

    backend = spec["backend"]
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA's device indices = NVML's, for the GPU's UUID
    gpu = gpu_identity(backend)
    folder = Path(spec["out"]) / spec["name"] / f"{node_name()}-{gpu['id']}"
    folder.mkdir(parents=True, exist_ok=True)
    status_path = folder / STATUS_FILE
    status = {
        "job": spec["name"],
        "job_id": _job_id(),
        "node": node_name(),
        "gpu": gpu,
        "pid": os.getpid(),
        "state": "running",
        "started_at": now(),
        "finished_at": None,
        "current_probe": None,
        "outcomes": {},
        "backend": backend,
    }
    _write_json(status_path, status)
    # Slurm sends USR2 before the time limit (submitit's --signal) and TERM on scancel/preemption: stop cleanly.
    # (Inside run_campaign the campaign's own TERM/INT/HUP handlers take over; USR2 stays ours.)
    for sig in (signal.SIGUSR2, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        probes = catalogue.select(list(spec["probes"]) if spec.get("probes") else None)
        opts = RunOptions(
            folder,
            backend,
            spec["timeout"],
            resume=True,
            progress=False,
            rule=spec.get("rule", "median-ci"),
            rule_params=spec.get("rule_params") or None,
        )
        for probe in probes:  # one at a time, so the status file says which probe is running
            status["current_probe"] = probe.name
            _write_json(status_path, status)
            (o,) = run_campaign([probe], lambda p: {q.name: q.default for q in p.params}, opts)
            status["outcomes"][probe.name] = o.outcome
        status["current_probe"] = None
        env = capture_environment(backend)
        env["fleet_gpu"] = gpu
        _write_json(folder / ENV_FILE, env)
        status.update(state="done", finished_at=now())
    except KeyboardInterrupt as err:
        why = f"interrupted by {str(err) or 'SIGINT'} (time limit, preemption or cancel)"
        status.update(state="interrupted", finished_at=now(), error=why)
        _write_json(status_path, status)
        raise RuntimeError(f"{spec['name']} {why}; `fleet submit --resume` continues it") from None
    except BaseException as err:
        status.update(state="failed", finished_at=now(), error=f"{type(err).__name__}: {err}")
        _write_json(status_path, status)
        raise
    _write_json(status_path, status)
    return dict(status["outcomes"])
