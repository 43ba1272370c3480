"""What a fleet submits: one target (job) per partition, --gres or --constraint, or per local GPU; validated early.

Every problem is a FleetError with one line: a job that would fail on the cluster an hour later is refused here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from probes.fleet import FleetError

JOB_PREFIX = "gpu-probes"
# Slurm partition names: letters, digits, '-', '_', '.'; one name per job (a comma list would let Slurm pick one).
_PARTITION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# --gres NAME[:TYPE]:COUNT, e.g. gpu:1, gpu:a100:1, gpu:h100_80gb:1 (we measure one GPU per job).
_GRES = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(:[A-Za-z0-9][A-Za-z0-9_.-]*)?(:\d+)?$")
# --constraint features combined with & | and brackets, e.g. a100, "a100&80gb", "[h100|h200]".
_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.&|\[\]()*:-]+$")
# Filesystems every node of a cluster sees the same way. Anything else (ext4, xfs, tmpfs, overlay) is node-local.
SHARED_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "gpfs",
        "beegfs",
        "fhgfs",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "cephfs",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.sshfs",
        "panfs",
        "wekafs",
        "fuse.weka",
        "vast",
        "orangefs",
        "pvfs2",
        "afs",
        "fuse.juicefs",
        "9p",
    }
)
BACKENDS = ("gpu", "simulator")


@dataclass(frozen=True)
class Target:
    """One job: where Slurm should place it (partition/gres/constraint) or which local GPU it owns."""

    name: str  # Slurm job name and the folder under the output folder
    partition: str | None = None
    gres: str | None = None
    constraint: str | None = None
    gpu_index: int | None = None  # local executor: the CUDA_VISIBLE_DEVICES index of this job


@dataclass(frozen=True)
class FleetConfig:
    out: Path  # shared output folder: results, logs, manifest
    targets: tuple[Target, ...]
    local: bool = False
    probes: tuple[str, ...] | None = None  # probe names or family prefixes; None = the whole catalogue
    time_min: int = 30  # Slurm time limit (and local watchdog) per job, minutes
    probe_timeout_s: float = 900.0  # the campaign's watchdog per probe
    backend: str = "gpu"  # "simulator" only for tests: results are never published
    rule: str = "median-ci"
    rule_params: dict = field(default_factory=dict)
    account: str | None = None
    qos: str | None = None
    cpus_per_task: int = 4

    def to_json(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out)
        return d

    @classmethod
    def from_json(cls, d: dict) -> FleetConfig:
        d = dict(d)
        d["out"] = Path(d["out"])
        d["targets"] = tuple(Target(**t) for t in d["targets"])
        d["probes"] = tuple(d["probes"]) if d.get("probes") is not None else None
        return cls(**d)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def slurm_targets(partitions=(), gres=(), constraints=()) -> tuple[Target, ...]:
    """One job per partition, per --gres and per --constraint given; names say what they ask for."""
    targets = []
    for p in partitions:
        if not _PARTITION.match(p):
            hint = (
                "; for a GPU type use --gres gpu:TYPE:1"
                if ":" in p
                else "; give several partitions as separate words (one job each)"
                if "," in p or " " in p
                else ""
            )
            raise FleetError(f"partition {p!r} is not a Slurm partition name (letters, digits, - _ .){hint}")
        targets.append(Target(f"{JOB_PREFIX}-{_slug(p)}", partition=p))
    for g in gres:
        if not _GRES.match(g):
            raise FleetError(f"--gres {g!r} is not NAME[:TYPE][:COUNT], e.g. gpu:a100:1")
        count = g.rsplit(":", 1)[-1]
        if count.isdigit() and int(count) != 1:
            raise FleetError(f"--gres {g!r} asks for {count} GPUs; a fleet job measures one GPU: use :1")
        targets.append(Target(f"{JOB_PREFIX}-{_slug(g.replace(':', '-'))}", gres=g))
    for c in constraints:
        if not _CONSTRAINT.match(c):
            raise FleetError(f"--constraint {c!r} has characters Slurm does not accept in a feature expression")
        targets.append(Target(f"{JOB_PREFIX}-{_slug(c)}", constraint=c))
    if not targets:
        raise FleetError("nothing to submit: give --partitions, --gres or --constraint (or --local for this machine)")
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FleetError(f"two targets map to the same job name {dupes[0]!r}; give each partition/gres once")
    return tuple(targets)


def known_partitions() -> list[str] | None:
    """Partitions this cluster has (`sinfo`), or None where sinfo is not available (no check then)."""
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return None
    try:
        text = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({ln.strip() for ln in text.splitlines() if ln.strip()}) or None


def check_partitions_exist(targets: tuple[Target, ...]) -> None:
    known = known_partitions()
    if known is None:
        return
    for t in targets:
        if t.partition and t.partition not in known:
            raise FleetError(
                f"partition {t.partition!r} does not exist on this cluster; sinfo lists: {', '.join(known)}"
            )


def local_targets(gpus: str | None) -> tuple[Target, ...]:
    """One job per local GPU index ("0,1,3"); default: the indices in CUDA_VISIBLE_DEVICES, else every GPU NVML sees."""
    spec = gpus if gpus is not None else os.environ.get("CUDA_VISIBLE_DEVICES") or _nvml_indices()
    if not spec:
        raise FleetError("no local GPU to use: pass --gpus 0,1,... (NVML found none and CUDA_VISIBLE_DEVICES is unset)")
    try:
        indices = [int(x) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        raise FleetError(f"--gpus {spec!r} must be comma-separated GPU indices such as 0,1") from None
    if not indices or len(set(indices)) != len(indices) or min(indices) < 0:
        raise FleetError(f"--gpus {spec!r} must list distinct non-negative GPU indices such as 0,1")
    return tuple(Target(f"{JOB_PREFIX}-local-gpu{i}", gpu_index=i) for i in indices)


def _nvml_indices() -> str:
    try:
        import pynvml

        pynvml.nvmlInit()
        return ",".join(str(i) for i in range(pynvml.nvmlDeviceGetCount()))
    except Exception:  # no NVML, no driver: the caller says what to pass instead
        return ""


def filesystem_type(path: Path) -> str:
    """Type of the filesystem holding `path` (or its nearest existing parent), from /proc/mounts; '' if unknown."""
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    best, fstype = "", ""
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        if (str(p) == mount or str(p).startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, fstype = mount, parts[2]
    return fstype


def check_output_folder(out: Path | None, local: bool, assume_shared: bool = False, dry_run: bool = False) -> Path:
    """The output folder must exist or be creatable, and for Slurm lie on a filesystem every node shares.
    A dry run submits and creates nothing: it only notes (on stderr) what a real submission would refuse."""
    if out is None:
        raise FleetError("no output folder: pass --out DIR on a filesystem every node shares (e.g. /shared/gpu-probes)")
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise FleetError(f"--out {out} is a file, not a folder")
    if dry_run:
        fs = filesystem_type(out)
        if not local and not assume_shared and fs not in SHARED_FS:
            import sys

            print(
                f"note: --out {out} is on a node-local filesystem ({fs or 'unknown'}); a real submission would be "
                "refused (use a shared folder, or --assume-shared)",
                file=sys.stderr,
            )
        return out
    if not local and not assume_shared:
        fs = filesystem_type(out)
        if fs not in SHARED_FS:
            raise FleetError(
                f"--out {out} is on a node-local filesystem ({fs or 'unknown'}); Slurm jobs on other "
                "nodes could not write it: use a shared folder, or --assume-shared if it is one"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FleetError(f"--out {out} cannot be created ({err.strerror})") from None
    if not os.access(out, os.W_OK):
        raise FleetError(f"--out {out} is not writable")
    return out


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise FleetError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    return backend


def dumps(config: FleetConfig) -> str:
    return json.dumps(config.to_json(), indent=1, sort_keys=True)
