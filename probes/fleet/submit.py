"""Submit one job per target through submitit, and record them in <out>/fleet.json (the fleet manifest).

Slurm: submitit's SlurmExecutor (sbatch). Local: submitit's LocalExecutor, one process per GPU with
CUDA_VISIBLE_DEVICES set to that GPU. A resubmission reuses the job folders, so the campaign's resume skips every
probe that already has a complete result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from probes.fleet import FleetError, slurm
from probes.fleet.config import FleetConfig, Target
from probes.fleet.job import now, run_job

MANIFEST = "fleet.json"


def manifest_path(out: Path) -> Path:
    return Path(out) / MANIFEST


def load_manifest(out: Path) -> dict:
    path = manifest_path(out)
    if not path.exists():
        raise FleetError(f"{path} not found: no fleet was submitted with --out {out}")
    try:
        doc = json.loads(path.read_text())
        FleetConfig.from_json(doc["config"])
    except (ValueError, KeyError, TypeError) as err:
        raise FleetError(f"{path}: not a fleet manifest ({type(err).__name__}: {err})") from None
    return doc


def save_manifest(out: Path, doc: dict) -> None:
    from probes.results.io import write_atomic

    write_atomic(manifest_path(out), json.dumps(doc, indent=1, sort_keys=True))


def job_spec(config: FleetConfig, target: Target) -> dict:
    """The plain-data argument of run_job (pickled by submitit)."""
    return {
        "name": target.name,
        "out": str(config.out),
        "probes": list(config.probes) if config.probes else None,
        "backend": config.backend,
        "timeout": config.probe_timeout_s,
        "rule": config.rule,
        "rule_params": dict(config.rule_params),
    }


def slurm_executor(config: FleetConfig, target: Target):
    submitit = slurm.import_submitit()
    if shutil.which("sbatch") is None or shutil.which("srun") is None:
        raise FleetError("sbatch/srun not found: this is not a Slurm login node; use --local for this machine's GPUs")
    ex = submitit.SlurmExecutor(folder=slurm.submitit_folder(config.out))
    ex.update_parameters(**slurm.parameters(config, target))
    return ex


def local_executor(config: FleetConfig, target: Target):
    submitit = slurm.import_submitit()
    ex = submitit.LocalExecutor(folder=slurm.submitit_folder(config.out))
    # Local watchdog = the Slurm time limit; one task owning exactly one GPU (CUDA_VISIBLE_DEVICES=<index>).
    ex.update_parameters(
        timeout_min=config.time_min,
        gpus_per_node=1,
        visible_gpus=(target.gpu_index,),
        tasks_per_node=1,
        signal_delay_s=30,
    )
    return ex


def submit(config: FleetConfig, targets: tuple[Target, ...] | None = None, executor_factory=None) -> list:
    """Submit one job per target (default: all); returns the submitit jobs and updates the manifest."""
    targets = config.targets if targets is None else targets
    factory = executor_factory or (local_executor if config.local else slurm_executor)
    path = manifest_path(config.out)
    doc = load_manifest(config.out) if path.exists() else {"config": config.to_json(), "jobs": []}
    doc["config"] = config.to_json()
    jobs = []
    for target in targets:
        ex = factory(config, target)
        try:
            job = ex.submit(run_job, job_spec(config, target))
        except Exception as err:  # sbatch refused it (bad partition, QOS, account): say so, keep the others
            raise FleetError(f"submitting {target.name} failed: {str(err).strip().splitlines()[-1]}") from None
        doc["jobs"].append(
            {
                "name": target.name,
                "job_id": str(job.job_id),
                "executor": "local" if config.local else "slurm",
                "submitted_at": now(),
                "log_folder": str(job.paths.folder),
            }
        )
        save_manifest(config.out, doc)  # after each job: a failure later still leaves the earlier ones tracked
        jobs.append(job)
    return jobs


def latest_jobs(doc: dict) -> dict[str, dict]:
    """The most recent submission of each job name (earlier attempts stay in the manifest as history)."""
    latest = {}
    for rec in doc["jobs"]:
        latest[rec["name"]] = rec
    return latest
