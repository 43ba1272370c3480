"""The sbatch parameters of one fleet job, and the script submitit would submit (rendered without Slurm)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from probes.fleet import FleetError
from probes.fleet.config import FleetConfig, Target


def submitit_folder(out: Path) -> Path:
    """Where submitit keeps scripts, pickles and logs: one subfolder per Slurm job id, on the shared filesystem."""
    return Path(out) / ".submitit" / "%j"


def parameters(config: FleetConfig, target: Target) -> dict:
    """SlurmExecutor.update_parameters(...) keywords: one task, one GPU (by gres when given), the time limit."""
    p = {
        "job_name": target.name,
        "time": int(config.time_min),
        "nodes": 1,
        "ntasks_per_node": 1,
        "cpus_per_task": int(config.cpus_per_task),
        "signal_delay_s": 120,
        "stderr_to_stdout": False,
        "comment": f"gpu-probes fleet {target.name}",
    }
    if target.partition:
        p["partition"] = target.partition
    if target.gres:
        p["gres"] = target.gres
    else:
        p["gpus_per_node"] = 1
    if target.constraint:
        p["constraint"] = target.constraint
    if config.account:
        p["account"] = config.account
    if config.qos:
        p["qos"] = config.qos
    return p


def import_submitit():
    """submitit, or one line saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise FleetError(
            "submitit is not installed: pip install 'gpu-probes[fleet]' (or: pip install submitit)"
        ) from None
    return submitit


def sbatch_text(config: FleetConfig, target: Target) -> str:
    """The sbatch script submitit writes for this job (its own renderer, so what we test is what Slurm gets)."""
    import_submitit()
    from submitit.slurm import slurm as submitit_slurm

    folder = submitit_folder(config.out)
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return submitit_slurm._make_sbatch_string(command=command, folder=folder, **parameters(config, target))
