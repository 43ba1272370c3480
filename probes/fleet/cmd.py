"""`python -m probes fleet submit|status|collect`: measure many GPUs (Slurm or --local) and merge them.

The lead wires `add_parser` into `python -m probes`; `run(args)` returns the exit code: 0 fine, 1 some job or
probe did not finish, 2 bad input (one `error: ...` line on stderr, no traceback, nothing submitted).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from probes.fleet import FleetError

ROOT = Path(__file__).resolve().parents[2]
EXIT_USAGE = 2
_SETTLED = ("pending", "running")
DEFAULT_TIME_MIN, DEFAULT_TIMEOUT_S = 30, 900.0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `fleet` with its sub-commands."""
    fleet = subparsers.add_parser("fleet", help="run the campaign on many GPUs (Slurm via submitit, or --local)")
    inner = fleet.add_subparsers(dest="fleet_command", required=True, metavar="SUBCOMMAND")

    p = inner.add_parser("submit", help="submit one campaign job per partition / gres / constraint / local GPU")
    p.add_argument("--out", type=Path, help="fleet folder on a filesystem every node shares (results, logs, manifest)")
    p.add_argument("--partitions", nargs="+", default=[], metavar="P", help="one job per Slurm partition")
    p.add_argument("--gres", nargs="+", default=[], metavar="G", help="one job per --gres, e.g. gpu:a100:1")
    p.add_argument("--constraint", nargs="+", default=[], metavar="C", help="one job per --constraint feature")
    p.add_argument("--local", action="store_true", help="this machine: one process per GPU, no Slurm")
    p.add_argument("--gpus", help="--local: GPU indices, e.g. 0,1 (default: CUDA_VISIBLE_DEVICES or all)")
    p.add_argument("--probes", nargs="*", metavar="PREFIX", help="probe names or family prefixes (default: all)")
    p.add_argument("--time", type=int, help="time limit per job, minutes (default 30; with --resume: as before)")
    p.add_argument("--timeout", type=float, help="watchdog per probe, seconds (default 900; --resume: as before)")
    p.add_argument(
        "--backend",
        choices=("gpu", "simulator"),
        default="gpu",
        help="simulator: Numba's CUDA simulator, for testing the fleet path only (never published)",
    )
    p.add_argument("--rule", default="median-ci", help="stopping rule (default median-ci)")
    p.add_argument("--account", help="Slurm account")
    p.add_argument("--qos", help="Slurm quality of service")
    p.add_argument(
        "--resume",
        action="store_true",
        help="resubmit the unfinished jobs of an existing --out; finished probes are not measured again",
    )
    p.add_argument(
        "--assume-shared",
        action="store_true",
        help="trust that --out is shared across nodes although its filesystem type is not recognised",
    )
    p.add_argument("--dry-run", action="store_true", help="print the sbatch scripts (or local plan); submit nothing")

    p = inner.add_parser("status", help="state, node, GPU, elapsed time and per-probe outcome of each job")
    p.add_argument("--out", type=Path, required=True, help="the fleet folder given to submit")
    p.add_argument("--json", action="store_true")

    p = inner.add_parser("collect", help="merge finished results into <reports>/<gpu>/data/ and rebuild reports")
    p.add_argument("--out", type=Path, required=True, help="the fleet folder given to submit")
    p.add_argument("--reports", type=Path, default=ROOT / "reports", help="reports folder (default: reports/)")
    p.add_argument(
        "--allow-simulated",
        action="store_true",
        help="tests only: accept simulator results (refused for the repository's reports/)",
    )
    p.add_argument("--no-rebuild", action="store_true", help="merge only; do not rebuild the reports")
    p.add_argument("--json", action="store_true")
    fleet.set_defaults(func=run)
    return fleet


def _check_limits(args) -> None:
    if (args.time is not None and not args.time > 0) or (args.timeout is not None and not 0 < args.timeout < 1e12):
        raise FleetError("--time and --timeout must be positive")


def _check_rule(rule: str) -> None:
    from probes.stats import RULES

    if rule not in RULES:
        raise FleetError(f"--rule {rule!r} is not a stopping rule: choose from {', '.join(sorted(RULES))}")


def _check_local_gpu(backend: str) -> None:
    """--local measures this machine's GPUs: without a usable driver every probe of every job would fail."""
    if backend != "gpu":
        return
    from probes.engine.environment import driver_status

    reason = driver_status()
    if reason:
        raise FleetError(
            f"--local needs a GPU on this machine: {reason}; use --backend simulator to rehearse the fleet path"
        )


def _config(args):
    from probes import catalogue
    from probes.fleet import config as C

    if args.probes:
        catalogue.select(args.probes)  # an unknown probe is refused here, not on the node an hour later
    local = bool(args.local)
    if local and (args.partitions or args.gres or args.constraint):
        raise FleetError("--local runs on this machine: drop --partitions/--gres/--constraint, or drop --local")
    _check_limits(args)
    _check_rule(args.rule)
    # what to run first: with no --partitions the message names them, not the output folder
    targets = C.local_targets(args.gpus) if local else C.slurm_targets(args.partitions, args.gres, args.constraint)
    if local:
        _check_local_gpu(args.backend)
    dry_run = bool(getattr(args, "dry_run", False))
    out = C.check_output_folder(args.out, local, args.assume_shared, dry_run=dry_run)
    if not local:
        C.check_partitions_exist(targets)
    return C.FleetConfig(
        out=out,
        targets=targets,
        local=local,
        probes=tuple(args.probes) if args.probes else None,
        time_min=args.time or DEFAULT_TIME_MIN,
        probe_timeout_s=args.timeout or DEFAULT_TIMEOUT_S,
        backend=C.check_backend(args.backend),
        rule=args.rule,
        account=args.account,
        qos=args.qos,
    )


def _resume_plan(args):
    """Config from the manifest (targets may be narrowed); only jobs not pending/running/complete are resubmitted."""
    from probes.fleet import config as C
    from probes.fleet import state, submit

    if args.out is None:
        raise FleetError("--resume needs --out, the fleet folder to continue")
    out = Path(args.out).expanduser().resolve()
    doc = submit.load_manifest(out)
    config = C.FleetConfig.from_json(doc["config"])
    _check_limits(args)  # a resubmission may get a longer time limit or probe watchdog; the rest is as submitted
    config = dataclasses.replace(
        config, time_min=args.time or config.time_min, probe_timeout_s=args.timeout or config.probe_timeout_s
    )
    jobs = {j.name: j for j in state.fleet_status(out)}
    todo = []
    for target in config.targets:
        j = jobs.get(target.name)
        complete = j is not None and j.state == "done" and all(p.outcome in ("ok", "skipped") for p in j.probes)
        if j is None or (j.state not in _SETTLED and not complete):
            todo.append(target)
    return config, tuple(todo)


def cmd_submit(args) -> int:
    from probes.fleet import slurm, submit

    if args.resume:
        config, targets = _resume_plan(args)
        if not targets:
            print(f"nothing to resubmit: every job of {config.out} is pending, running or complete")
            return 0
    else:
        config = _config(args)
        targets = config.targets
        if submit.manifest_path(config.out).exists():
            raise FleetError(
                f"{config.out} already holds a fleet: `fleet submit --resume --out {config.out}` "
                "continues it, or pick a new --out"
            )
    if args.dry_run:
        for t in targets:
            if config.local:
                print(f"# {t.name}: local process, CUDA_VISIBLE_DEVICES={t.gpu_index}, limit {config.time_min} min")
            else:
                print(slurm.sbatch_text(config, t))
        return 0
    jobs = submit.submit(config, targets)
    for t, job in zip(targets, jobs):
        print(f"submitted {t.name}: job {job.job_id}")
    print(f"{len(jobs)} job(s) in {config.out}; `python -m probes fleet status --out {config.out}` follows them")
    return 0


def cmd_status(args) -> int:
    from probes.fleet import state

    jobs = state.fleet_status(Path(args.out).expanduser().resolve())
    if args.json:
        print(json.dumps([j.to_json() for j in jobs], indent=1))
    else:
        print(state.format_status(jobs))
    bad = [j for j in jobs if j.state not in ("pending", "running", "done")]
    return 1 if bad else 0


def cmd_collect(args) -> int:
    from probes.fleet import collect

    reports = Path(args.reports).expanduser().resolve()
    if args.allow_simulated and reports == (ROOT / "reports").resolve():
        raise FleetError("--allow-simulated is refused for the repository's reports/: use a throw-away --reports")
    rows, written = collect.collect(
        Path(args.out).expanduser().resolve(), reports, args.allow_simulated, rebuild=not args.no_rebuild
    )
    print(collect.to_json(rows) if args.json else collect.format_rows(rows))
    for path in written:
        print(f"report written: {path}")
    return 1 if any(r.dest is None for r in rows) else 0


def run(args) -> int:
    from probes.results.schema import ResultsError
    from probes.spec import ProbeSpecError

    commands = {"submit": cmd_submit, "status": cmd_status, "collect": cmd_collect}
    try:
        return commands[args.fleet_command](args)
    except (FleetError, ProbeSpecError, ResultsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
