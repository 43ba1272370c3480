"""`python -m probes ...`: list, run, campaign, selftest, static, report, publish, compare, env, analyze, validate, fleet, all.

Every failure the user can cause (unknown probe, bad parameter, unreadable results, no GPU, a driver older than
the toolkit, a results file from a newer gpu-probes, a campaign already running) ends with one line `error: ...`
on stderr and exit code 2; nothing already stored is modified. SIGINT/SIGTERM during a campaign record the probe
in flight as incomplete and exit 128+signal; the next run resumes after the last finished point.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXIT_USAGE = 2


class CliError(Exception):
    pass


def _probes_arg(ap):
    ap.add_argument(
        "--backend",
        choices=("auto", "gpu", "simulator"),
        default="auto",
        help="gpu: real device; simulator: Numba's CUDA simulator (test clock, never published)",
    )
    ap.add_argument("--out", type=Path, help="results folder (default results/<gpu-slug>/)")
    ap.add_argument("--timeout", type=float, default=900, help="watchdog per probe, seconds (default 900)")
    ap.add_argument("--rule", default="median-ci", help="stopping rule: median-ci (default), stdrel, fixed-count")
    ap.add_argument("--no-resume", action="store_true", help="measure again even if a complete result exists")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m probes", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the probe catalogue")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("run", help="run one probe or a family (in worker processes with a watchdog)")
    p.add_argument("name", help="a probe name or a family prefix (e.g. latency, latency.ladder)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="probe parameter (repeatable)")
    _probes_arg(p)

    p = sub.add_parser("campaign", help="run every probe (or --probes PREFIX ...) on the local GPU, resumable")
    p.add_argument("--probes", nargs="*", metavar="PREFIX")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="no GPU: compile and SASS-check every kernel for --arch, print the plan (exit 1 on failure)",
    )
    p.add_argument(
        "--arch",
        action="append",
        metavar="SM",
        help="architecture for --dry-run, repeatable (default: sm_80 and sm_90)",
    )
    p.add_argument(
        "--emit-sass",
        type=Path,
        metavar="DIR",
        help="with --dry-run: write each compiled kernel's SASS to DIR/<probe>__<kernel>.sass",
    )
    _probes_arg(p)
    from probes import quick

    quick.add_args(p)  # --plan, --quick, --param PROBE:k=v, --point-budget-s, --budget-s, --deadline-s, --smoke

    p = sub.add_parser("selftest", help="one-minute check of the GPU (clocks, chains vs atlas, every probe once)")
    p.add_argument("--out", type=Path, help="folder for selftest.json (default results/<gpu-slug>/)")
    p.add_argument("--timeout", type=float, default=60, help="watchdog per probe, seconds (default 60)")

    p = sub.add_parser("static", help="build the static atlases (no GPU needed)")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "static")
    p.add_argument("--arch", action="append", help="only these architectures (repeatable)")
    p.add_argument("--only", choices=("cache-hints", "instructions", "variants"), help="build one atlas only")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("publish", help="copy finished GPU results from results/<gpu>/ into reports/<gpu>/data/")
    p.add_argument("gpu", nargs="?", help="results folder name (default: every folder under results/)")
    p.add_argument("--results", type=Path, default=ROOT / "results")
    p.add_argument("--reports", type=Path, default=ROOT / "reports")

    p = sub.add_parser("report", help="build per-GPU reports from reports/<gpu>/data/")
    p.add_argument("gpu", nargs="?", help="GPU folder name (default: all)")
    p.add_argument("--reports", type=Path, default=ROOT / "reports")

    p = sub.add_parser("compare", help="build the cross-GPU comparison reports/README.md")
    p.add_argument("--reports", type=Path, default=ROOT / "reports")

    sub.add_parser("env", help="print the captured environment (or why there is no GPU)")

    p = sub.add_parser("validate", help="validate ladder analysis on published peer data (../shared/peer-data)")
    p.add_argument("--peer-data", type=Path, default=ROOT.parent / "shared" / "peer-data")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "validation")

    from probes.analysis import ladder_args

    ladder_args.add_parser(sub)  # registers `analyze ladder FILE ...`
    from probes.analysis import bw_cmd

    bw_cmd.add_parser(sub)  # registers `analyze bandwidth FILE ...`
    from probes.fleet import cmd as fleet_cmd

    fleet_cmd.add_parser(sub)  # registers `fleet submit|status|collect`

    p = sub.add_parser("all", help="the main job: campaign+report on a GPU; otherwise static atlases and reports")
    p.add_argument("--quiet", action="store_true")
    return ap


def cmd_list(args) -> int:
    from probes import catalogue

    probes = catalogue.all_probes()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": p.name,
                        "summary": p.summary,
                        "unit": p.unit,
                        "params": {q.name: q.default for q in p.params},
                        "axes": p.axis_units(),
                    }
                    for p in probes.values()
                ],
                indent=1,
            )
        )  # declared: {name: unit}
        return 0
    width = max(len(n) for n in probes) if probes else 10
    for p in probes.values():
        print(f"{p.name:<{width}}  {p.summary}  [{p.unit}]")
    return 0


def _backend(choice: str) -> str:
    if choice != "auto":
        return choice
    from probes.engine.environment import driver_status

    reason = driver_status()
    if reason:
        raise CliError(f"{reason}; use --backend simulator to exercise probes without a GPU")
    return "gpu"


def _out_dir(args, backend: str) -> Path:
    if args.out:
        return args.out
    from probes.engine.campaign import capture_environment

    try:
        env = capture_environment(backend)
    except RuntimeError as err:
        raise CliError(str(err)) from None
    return ROOT / "results" / env["gpu_slug"]


def check_run_args(args) -> None:
    """Refuse up front what a worker would only fail on later (each worker would write an error/timeout result)."""
    timeout = getattr(args, "timeout", None)
    if timeout is not None and not (timeout > 0 and timeout != float("inf")):
        raise CliError(f"--timeout {timeout:g}: the watchdog per probe must be a positive number of seconds")
    rule = getattr(args, "rule", None)
    if rule is not None:
        from probes.stats import RULES

        if rule not in RULES:
            raise CliError(f"--rule {rule!r} is not a stopping rule: choose from {', '.join(sorted(RULES))}")


def _run_probes(probes, params_of, args, skip_is_error: bool = False) -> int:
    from probes.engine.campaign import RunOptions, run_campaign

    check_run_args(args)
    backend = _backend(args.backend)
    out = _out_dir(args, backend)
    opts = RunOptions(out, backend, args.timeout, resume=not args.no_resume, progress=not args.quiet, rule=args.rule)
    outcomes = run_campaign(probes, params_of, opts)
    skipped = [o for o in outcomes if o.outcome == "skipped"]
    if skip_is_error and skipped and len(skipped) == len(outcomes):
        o = skipped[0]  # the user asked for exactly this and the card cannot do it (working set > free memory...)
        raise CliError(f"probe {o.probe} not run with these parameters: {o.detail}")
    bad = [o for o in outcomes if o.outcome not in ("ok", "cached", "skipped")]
    print(f"{len(outcomes) - len(bad)}/{len(outcomes)} probes complete; results in {out}")
    return 1 if bad else 0


def family_params(probes, pairs: list[str]) -> dict:
    """Each probe's parameters from `--param k=v`: a probe gets the pairs it declares; a pair no probe in the
    selection declares is an error (a typo must not be silently ignored)."""
    from probes.spec import ProbeSpecError

    if len(probes) == 1:
        return {probes[0].name: probes[0].parse_params(pairs)}
    declared = {q.name for p in probes for q in p.params}
    for pair in pairs:
        if "=" not in pair:
            raise ProbeSpecError(f"--param {pair!r}: expected name=value")
        if pair.split("=", 1)[0] not in declared:
            raise ProbeSpecError(
                f"no probe of this selection has a parameter {pair.split('=', 1)[0]!r} "
                f"(parameters: {', '.join(sorted(declared)) or 'none'})"
            )
    out = {}
    for p in probes:
        try:
            out[p.name] = p.parse_params([x for x in pairs if x.split("=", 1)[0] in {q.name for q in p.params}])
        except ProbeSpecError as err:  # which member of the family refused the value
            raise ProbeSpecError(
                str(err) if str(err).startswith(f"probe {p.name}") else f"probe {p.name}: {err}"
            ) from None
    return out


def cmd_run(args) -> int:
    from probes import catalogue

    # An exact name runs that probe only (not its variants); otherwise a family prefix runs the whole family.
    probes = [catalogue.get(args.name)] if args.name in catalogue.all_probes() else catalogue.select([args.name])
    params = family_params(probes, args.param)
    return _run_probes(probes, lambda p: params[p.name], args, skip_is_error=True)


def cmd_campaign(args) -> int:
    from probes import catalogue

    if args.arch and not args.dry_run:
        raise CliError("--arch only applies to --dry-run (a real campaign uses the GPU's own architecture)")
    if getattr(args, "emit_sass", None) and not args.dry_run:
        raise CliError("--emit-sass only applies to --dry-run")
    from probes import quick

    if quick.wanted(args):  # a plan, per-probe parameters, budgets or a deadline
        return quick.run(args, ROOT, _backend, _out_dir)
    if args.dry_run:
        from probes import dryrun

        return dryrun.dry_run(args.arch or ["sm_80", "sm_90"], args.probes, emit_sass=getattr(args, "emit_sass", None))
    probes = catalogue.select(args.probes)
    return _run_probes(probes, lambda p: {q.name: q.default for q in p.params}, args)


def cmd_selftest(args) -> int:
    from probes import selftest

    check_run_args(args)
    return selftest.main(args.out, args.timeout, ROOT / "reports" / "static" / "instructions-sass.csv")


def cmd_static(args) -> int:
    from probes.static import atlas, toolchain

    archs = args.arch
    for a in archs or []:
        toolchain.arch_key(a)
        if a not in toolchain.supported_archs():
            raise CliError(
                f"architecture {a} is not accepted by the installed ptxas "
                f"({toolchain.tool_version('ptxas')}); choose from {', '.join(toolchain.supported_archs())}"
            )
    which = (args.only,) if args.only else ("cache-hints", "instructions", "variants")
    readme = atlas.build(args.out, archs, progress=not args.quiet, which=which)
    print(f"static atlases written: {readme.parent}")
    return 0


def cmd_publish(args) -> int:
    from probes.results.publish import is_simulator_folder, publish

    folders = [args.results / args.gpu] if args.gpu else sorted(p for p in args.results.glob("*") if p.is_dir())
    if not folders:
        raise CliError(f"no campaign results under {args.results}/: run `make campaign` on a GPU first")
    published = 0
    for folder in folders:
        if not args.gpu and is_simulator_folder(folder):  # `--backend simulator` output: test runs, never published
            print(f"skipped    {folder}/ (simulator results: test output, never published)")
            continue
        for r in publish(folder, args.reports):
            published += r.why == "published"
            print(f"{r.why:<10} {r.source}" + (f" -> {r.dest}" if r.dest else ""))
    print(f"{published} result file(s) published under {args.reports}/; commit them with the reports")
    return 0


def _unreadable(err) -> int:
    """Each unreadable data file on its own `error:` line, then what was not rebuilt; exit code 2."""
    for line in err.problems:
        print(f"error: {line}", file=sys.stderr)
    print(
        f"error: {len(err.problems)} data file(s) above unreadable or not publishable; left as it was: "
        f"{', '.join(err.skipped)}; fix or remove those files and run again",
        file=sys.stderr,
    )
    return EXIT_USAGE


def cmd_report(args) -> int:
    from probes.report import build

    try:
        written = build.build_reports(args.reports, args.gpu)
    except build.UnreadableData as err:
        for path in err.written:
            print(f"report written: {path}")
        return _unreadable(err)
    for path in written:
        print(f"report written: {path}")
    if not written:
        print(f"no published GPU data under {args.reports}/*/data/ yet: nothing to report")
    return 0


def cmd_compare(args) -> int:
    from probes.report import build

    try:
        print(f"comparison written: {build.build_comparison(args.reports)}")
    except build.UnreadableData as err:
        return _unreadable(err)
    return 0


def cmd_env(args) -> int:
    from probes.engine import environment

    reason = environment.driver_status()
    if reason:
        print(f"no GPU: {reason}")
        print(f"{'CUDA_VISIBLE_DEVICES':>22}: {os.environ.get('CUDA_VISIBLE_DEVICES', '(unset: all cards)')}")
        for line in environment.describe({"versions": environment.library_versions()}):
            print(line)
        return 1
    for line in environment.describe(environment.capture("gpu")):
        print(line)
    return 0


def cmd_validate(args) -> int:
    if not args.peer_data.is_dir():
        raise CliError(f"peer data folder {args.peer_data} not found; it sits beside the repository as ../shared")
    from probes.analysis import validation

    validation.build_validation(args.peer_data, args.out)
    print(f"validation written: {args.out / 'README.md'}")
    from probes.analysis import bw_validation

    print(f"validation written: {bw_validation.build_validation(args.peer_data, args.out)}")
    return 0


def cmd_analyze(args) -> int:
    return args.func(args)  # each `analyze` subcommand's parser names its runner (imported only when it runs)


def cmd_fleet(args) -> int:
    from probes.fleet import cmd as fleet_cmd

    return fleet_cmd.run(args)


def cmd_all(args) -> int:
    """The main job. With a GPU: campaign, then reports. Without: static atlases and reports from committed data."""
    from probes import catalogue
    from probes.engine.environment import driver_status

    quiet = argparse.Namespace(quiet=args.quiet, out=ROOT / "reports" / "static", arch=None, only=None)
    cmd_static(quiet)
    reason = driver_status()
    if reason is None:
        ns = argparse.Namespace(
            probes=None,
            backend="gpu",
            out=None,
            timeout=900,
            rule="median-ci",
            no_resume=False,
            quiet=args.quiet,
            dry_run=False,
            arch=None,
        )
        ns.out = _out_dir(ns, "gpu")  # results/<gpu-slug>: one environment capture for campaign and publish
        cmd_campaign(ns)
        cmd_publish(argparse.Namespace(gpu=ns.out.name, results=ns.out.parent, reports=ROOT / "reports"))
    rc = cmd_report(argparse.Namespace(reports=ROOT / "reports", gpu=None))
    rc = max(rc, cmd_compare(argparse.Namespace(reports=ROOT / "reports")))
    if reason is not None:
        names = ", ".join(catalogue.all_probes())
        print(f"GPU probes skipped ({reason}): {names}")
    return rc


COMMANDS = {
    "list": cmd_list,
    "run": cmd_run,
    "campaign": cmd_campaign,
    "selftest": cmd_selftest,
    "static": cmd_static,
    "publish": cmd_publish,
    "report": cmd_report,
    "compare": cmd_compare,
    "env": cmd_env,
    "validate": cmd_validate,
    "analyze": cmd_analyze,
    "fleet": cmd_fleet,
    "all": cmd_all,
}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from probes.engine.campaign import CampaignLocked, Interrupted
    from probes.engine.environment import NoGpuError
    from probes.results.schema import ResultsError
    from probes.spec import ProbeSpecError
    from probes.static.toolchain import AssemblyError, ToolchainError

    try:
        return COMMANDS[args.command](args)
    except (
        CliError,
        ProbeSpecError,
        ResultsError,
        ToolchainError,
        AssemblyError,
        NoGpuError,
        ValueError,
        FileNotFoundError,
        CampaignLocked,
    ) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # read-only folder, disk full, permission: one line naming the file
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as err:
        print(
            f"error: interrupted by {err}; the probe in flight is recorded as incomplete and `make campaign` "
            f"resumes after its last finished point",
            file=sys.stderr,
        )
        return 128 + err.signum
    except KeyboardInterrupt:
        if args.command not in CAMPAIGN_COMMANDS:  # analyze, report, static...: nothing to resume
            print(
                f"error: interrupted; `{args.command}` stopped, files it writes are replaced whole or not at all",
                file=sys.stderr,
            )
            return 130
        print("error: interrupted; finished results are kept and `make campaign` resumes", file=sys.stderr)
        return 130
    except ImportError as err:  # an optional dependency (report, fleet) is missing: say which extra installs it
        from probes.optional import explain

        if explain(err) is None:
            raise
        print(f"error: {explain(err)}", file=sys.stderr)
        return EXIT_USAGE


CAMPAIGN_COMMANDS = ("run", "campaign", "selftest", "all", "fleet")


def os_error_line(err: OSError) -> str:
    """One line for an OSError: which file, and why (write_atomic's WriteError already says both)."""
    from probes.results.io import WriteError

    if isinstance(err, WriteError) or not err.filename:
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    verb = (
        "cannot write"
        if err.errno in (errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT)
        else "cannot use"
    )
    return f"{verb} {err.filename}: {err.strerror or err}"
