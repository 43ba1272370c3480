"""Parent side of a campaign: one worker process per probe, a watchdog, resume, and outcomes that are data.

This process never talks to the driver: environment capture and every measurement happen in workers, so a
faulting or hanging kernel costs one probe, never the campaign. Results already complete for the same probe
version and parameters are not measured again (nor are the finished points of an interrupted one); a truncated file
found at start-up is quarantined, not loaded. A lock file keeps two campaigns from writing the same results folder
(or measuring the same GPU) at once; SIGTERM/SIGINT discard the point in flight, record the probe as incomplete and
raise `Interrupted`, so the next run resumes where this one stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import filelock

from probes.engine import worker as W
from probes.results import io
from probes.results.schema import NewerSchemaError, ResultsError

STDERR_TAIL = 4000
LOCK_NAME = ".campaign.lock"
MIN_START_SECONDS = 10.0  # with a deadline: no probe starts with less left (a worker needs seconds to start)
DEADLINE_REASON = "stopped at the campaign's deadline; the next run resumes after the last finished point"


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGINT/SIGHUP arrived during a campaign: the probe in flight was recorded as incomplete."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class CampaignLocked(RuntimeError):
    """Another campaign holds the lock on this results folder or GPU; the message is one line."""


@dataclass
class Outcome:
    probe: str
    outcome: str
    path: Path | None
    detail: str = ""


@dataclass(frozen=True)
class RunOptions:
    """How probes are run, as one object from the CLI, plan runner, self-test and fleet jobs down to each worker:
    where results go, on which backend, the watchdog `timeout` per worker (s), whether finished results are kept
    (`resume`) and progress shown, the stopping `rule` and its `rule_params`, and an optional campaign `deadline`
    (time.monotonic()) that no worker outlives."""

    out_dir: Path
    backend: str = "gpu"
    timeout: float = 600.0
    resume: bool = True
    progress: bool = True
    rule: str = "median-ci"
    rule_params: dict | None = None
    deadline: float | None = None

    def but(self, **changes) -> RunOptions:
        """A copy with some fields changed (e.g. `opts.but(rule_params={...})` for one probe)."""
        return replace(self, **changes)


def result_path(out_dir: Path, probe, params: dict) -> Path:
    defaults = {p.name: p.default for p in probe.params}
    if params == defaults:
        return Path(out_dir) / f"{probe.name}.json"
    tag = hashlib.sha256(json.dumps(params, sort_keys=True, default=list).encode()).hexdigest()[:8]
    return Path(out_dir) / f"{probe.name}-{tag}.json"


def _spawn(
    args: list[str],
    timeout: float,
    log: Path,
    registries: tuple[Path, ...] = (),
    module: str = "probes.engine.worker",
    label: list[str] | None = None,
) -> tuple[int | None, str]:
    """Run a worker (`python -m module args`) in its own process group; kill the whole group on timeout. Returns
    (exit code | None, stderr tail). The worker dies with this process ($GPU_PROBES_PARENT_PID); while it runs its
    PID is recorded in `registries` (with the --probe/--out of `label`, default `args`)."""
    with open(log, "w+b") as err:
        env = {**os.environ, W.PARENT_ENV: str(os.getpid())}
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=err, stderr=err, start_new_session=True, env=env
        )
        records = []
        try:
            records = register_worker(registries, proc.pid, args if label is None else label)
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        except BaseException:  # Ctrl-C, or the PID record could not be written: no worker left behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        finally:
            for rec in records:
                rec.unlink(missing_ok=True)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-STDERR_TAIL:]
    return code, tail


WORKERS_SUFFIX = ".workers"


def worker_registries(out_dir: Path, backend: str) -> tuple[Path, ...]:
    """Folders recording the PIDs of live workers: one beside each lock the campaign holds (results folder, GPU)."""
    locks = (Path(out_dir) / LOCK_NAME, gpu_lock_path(backend))
    return tuple(lock.with_name(lock.name + WORKERS_SUFFIX) for lock in locks if lock is not None)


def register_worker(registries, pid: int, args: list[str]) -> list[Path]:
    """Record a running worker (one small file per PID); returns the files to remove when it has exited."""

    def arg(name):
        return args[args.index(name) + 1] if name in args else None

    data = json.dumps({"pid": pid, "campaign_pid": os.getpid(), "probe": arg("--probe"), "out": arg("--out")})
    records = []
    for folder in registries:
        rec = Path(folder) / f"{pid}.pid"
        io.write_atomic(rec, data)
        records.append(rec)
    return records


def worker_alive(pid: int) -> bool:
    """Is `pid` a live (not zombie) gpu-probes worker? A recycled PID running something else is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return True  # no /proc (macOS): the PID exists
    try:
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        return b"probes.engine.worker" in proc.joinpath("cmdline").read_bytes()
    except (OSError, IndexError):
        return False


def live_workers(registries) -> list[dict]:
    """Workers recorded in `registries` that still run; records of dead ones are removed."""
    alive = []
    for folder in registries:
        for rec in sorted(Path(folder).glob("*.pid")) if Path(folder).is_dir() else ():
            try:
                info = {**json.loads(rec.read_text()), "pid": int(rec.stem)}
            except (OSError, ValueError):
                info = {"pid": int(rec.stem) if rec.stem.isdigit() else -1}
            if info["pid"] > 0 and worker_alive(info["pid"]):
                alive.append(info)
            else:
                rec.unlink(missing_ok=True)
    return alive


def capture_environment(backend: str, timeout: float = 120) -> dict:
    """The environment as a worker sees it (raises environment.NoGpuError-like RuntimeError with the reason)."""
    with tempfile.TemporaryDirectory(prefix="gpu-probes-env-") as d:
        out = Path(d) / "env.json"
        code, tail = _spawn(["--env-only", "--backend", backend, "--out", str(out)], timeout, Path(d) / "log")
        if code != 0:
            raise RuntimeError(last_line(tail).removeprefix("error: ") or f"environment worker exited {code}")
        return json.loads(out.read_text())


def _complete(path: Path, probe, params: dict, backend: str) -> bool:
    """Is there a finished result for this exact probe version, parameters and backend? Quarantine broken files."""
    if not path.exists():
        return False
    try:
        doc = io.load(path)
    except NewerSchemaError:
        raise  # written by a newer gpu-probes: neither overwrite nor quarantine it
    except ResultsError as err:
        quarantine = path.with_suffix(path.suffix + ".corrupt")
        os.replace(path, quarantine)
        print(f"warning: {err}; moved to {quarantine.name}, measuring again", file=sys.stderr)
        return False
    from probes.engine.measure import same_run

    return doc["outcome"] in ("ok", "skipped") and same_run(doc, probe, params, backend)


def _module_arg(probe) -> list[str]:
    """`--module M`: the worker imports only the probe's own module, not the whole catalogue (seconds per start)."""
    return ["--module", probe.module] if getattr(probe, "module", "") else []


def _worker_args(probe, params: dict, path: Path, opts: RunOptions) -> list[str]:
    """The command line of probes.engine.worker for one probe into `path` (a batch item is the same list)."""
    args = ["--probe", probe.name, *_module_arg(probe), "--params", json.dumps(params, default=list)]
    args += ["--backend", opts.backend, "--out", str(path), "--rule", opts.rule]
    args += ["--rule-params", json.dumps(opts.rule_params or {})]
    return args + ([] if opts.progress else ["--no-progress"]) + ([] if opts.resume else ["--fresh"])


def run_one(probe, params: dict, opts: RunOptions) -> Outcome:
    """One probe in one watchdog worker. `opts.deadline` stops the worker earlier than `opts.timeout`: its
    finished points are kept and the probe is recorded as incomplete, so the next run resumes it."""
    out_dir, backend, timeout, deadline = Path(opts.out_dir), opts.backend, opts.timeout, opts.deadline
    resume = opts.resume
    path = result_path(out_dir, probe, params)
    if resume and _complete(path, probe, params, backend):
        return Outcome(probe.name, "cached", path, "complete result for this probe version already present")
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.with_suffix(".log")
    args = _worker_args(probe, params, path, opts)
    left = time_left(deadline)
    try:
        code, tail = _spawn(
            args, timeout if left is None else min(timeout, left), log, worker_registries(out_dir, backend)
        )
    except KeyboardInterrupt as err:  # the worker group is already dead; its checkpoint holds the finished points
        name = err.signum if isinstance(err, Interrupted) else signal.SIGINT
        tail = log.read_text(errors="replace")[-STDERR_TAIL:] if log.exists() else ""
        with _signals_ignored():  # a second Ctrl-C must not cut the record short
            _record_failure(
                path,
                probe,
                params,
                backend,
                "incomplete",
                None,
                tail,
                reason=f"interrupted by {signal.Signals(name).name}; the next run resumes after the "
                f"last finished point",
            )
        raise
    if code in (W.EXIT_OK, W.EXIT_SKIPPED):
        log.unlink(missing_ok=True)
        doc = io.load(path)
        return Outcome(probe.name, doc["outcome"], path, (doc.get("error") or {}).get("reason", ""))
    if code is None and left is not None and left < timeout:  # the campaign's deadline, not the watchdog
        _record_failure(path, probe, params, backend, "incomplete", None, tail, reason=DEADLINE_REASON)
        return Outcome(probe.name, "incomplete", path, DEADLINE_REASON)
    outcome = {None: "timeout", W.EXIT_CUDA: "cuda_error", W.EXIT_ERROR: "error", W.EXIT_NO_GPU: "error"}.get(
        code, "crashed"
    )
    _record_failure(path, probe, params, backend, outcome, code, tail)
    return Outcome(probe.name, outcome, path, last_line(tail) or f"exit code {code}")


def last_line(text: str) -> str:
    """The last non-blank line of a log tail ("" if none): the one-line reason a worker died."""
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _record_failure(path: Path, probe, params, backend, outcome, code, tail, reason: str | None = None) -> None:
    """Keep the partial samples a dead worker checkpointed, mark them with how it died; or write an empty record."""
    from probes.engine.measure import new_document, now

    try:
        doc = io.load(path)
    except ResultsError:
        if path.exists():
            os.replace(path, path.with_suffix(path.suffix + ".corrupt"))
        doc = new_document(probe, params, backend, {"note": "worker died before capturing the environment"})
    doc.update(
        outcome=outcome,
        finished_at=now(),
        error={
            **(doc.get("error") or {}),
            "exit_code": code,
            "stderr_tail": tail,
            "complete_points": len(doc["points"]),
            **({"reason": reason} if reason else {}),
        },
    )
    io.save(doc, path)


def gpu_lock_path(backend: str) -> Path | None:
    """One lock per visible GPU set for real runs (two campaigns on one card disturb each other's timings)."""
    if backend != "gpu":
        return None
    from probes.static.toolchain import cache_dir

    cards = os.environ.get("CUDA_VISIBLE_DEVICES", "all").strip() or "all"
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in cards)[:80]
    return cache_dir() / "locks" / f"gpu-{slug}.lock"


@contextmanager
def campaign_lock(out_dir: Path, backend: str):
    """Hold the results-folder lock (and the GPU lock for real runs) or raise CampaignLocked at once. The lock also
    covers workers: a live worker recorded beside either lock (an earlier campaign died, its worker did not) is a
    CampaignLocked naming its PID, so one results file or GPU never has two writers."""
    with ExitStack() as stack:
        for path, what in ((Path(out_dir) / LOCK_NAME, f"results folder {out_dir}"), (gpu_lock_path(backend), None)):
            if path is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = file_lock(path)
            try:
                stack.enter_context(lock.acquire(timeout=0))
            except filelock.Timeout:
                what = what or f"GPU(s) CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'all')}"
                raise CampaignLocked(
                    f"another campaign is running on {what} (lock {path}); wait for it to "
                    f"finish, or use another --out / GPU"
                ) from None
        for w in live_workers(worker_registries(out_dir, backend)):  # the lock's holder died, its worker did not
            raise CampaignLocked(
                f"a worker of an earlier campaign is still running (PID {w['pid']}, probe "
                f"{w.get('probe')}, writing {w.get('out')}); wait for it to exit or `kill {w['pid']}`,"
                f" then run again"
            )
        yield


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextmanager
def _signals_handled_by(handler):
    """Install `handler` for SIGTERM/SIGINT/SIGHUP for the block, then restore what was there."""
    saved = {}
    try:
        for sig in _STOP_SIGNALS:
            saved[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: signals stay as they are
        pass
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def _signals_interrupt():
    """Turn SIGTERM/SIGHUP (and SIGINT) into Interrupted, so the probe in flight is recorded before exit."""

    def raise_interrupted(signum, frame):
        raise Interrupted(signum)

    return _signals_handled_by(raise_interrupted)


def _signals_ignored():
    return _signals_handled_by(signal.SIG_IGN)


def run_campaign(probes, params_of, opts: RunOptions, rule_params_of=None) -> list[Outcome]:
    """Run probes one worker each, under the campaign lock. Raises CampaignLocked, Interrupted, NewerSchemaError.
    With `opts.deadline` (time.monotonic()), a probe starts only if MIN_START_SECONDS are left (else it is
    "deferred", nothing written) and is stopped at the deadline; `rule_params_of(probe)` gives per-probe
    stopping-rule params."""
    out_dir, backend, deadline = Path(opts.out_dir), opts.backend, opts.deadline
    outcomes = []
    with campaign_lock(out_dir, backend), _signals_interrupt():
        for probe in probes:
            one = opts if rule_params_of is None else opts.but(rule_params=rule_params_of(probe))
            left = time_left(deadline)
            if left is not None and left < MIN_START_SECONDS:
                o = Outcome(probe.name, "deferred", None, "not started before the deadline; the next run measures it")
            else:
                o = run_one(probe, params_of(probe), one)
            print(f"{o.outcome:>10}  {probe.name}" + (f"  ({o.detail})" if o.detail else ""), file=sys.stderr)
            outcomes.append(o)
    return outcomes


# ---- campaign controls: deadline, plan files, per-probe parameters ------------------------------------------------


def time_left(deadline: float | None) -> float | None:
    """Seconds until `deadline` (a time.monotonic() value), at least 0; None without a deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


PLANS = Path(__file__).resolve().parent.parent / "data" / "plans"


class PlanError(ValueError):
    """A plan file or `--param PROBE:key=value` is not acceptable; the message is one line."""


@dataclass(frozen=True)
class PlanEntry:
    probe: str
    params: tuple[str, ...] = ()  # "key=value" texts, parsed by the probe's own parameter types
    point_budget_s: float | None = None  # this probe's per-point budget (else the plan's, else the probe's own)


@dataclass(frozen=True)
class Plan:
    name: str
    entries: tuple[PlanEntry, ...]
    point_budget_s: float | None = None  # per-point stopping-rule time budget for every probe of the plan
    total_budget_s: float | None = None  # the whole run (self-test + campaign + report) by the dry run's bound
    description: str = ""
    source: str = ""
    unlisted_families: str = "skip"  # "smoke": a family with no entry runs each of its probes at its smoke size


UNLISTED = ("skip", "smoke")


def _param_text(key: str, value, where: str) -> str:
    """A TOML value as the text `--param key=value` would give (lists: comma-separated; booleans: true/false)."""
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
            raise PlanError(f"{where}: parameter {key}: a list of numbers or strings expected")
        return f"{key}={','.join(str(v) for v in value)}"
    if isinstance(value, (int, float, str)):
        return f"{key}={value}"
    raise PlanError(f"{where}: parameter {key}: {type(value).__name__} is not a parameter value")


def _budget(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise PlanError(f"{where}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def plan_path(name_or_path: str | Path) -> Path:
    """A plan by file path, or by name from probes/data/plans/ (`quick` -> probes/data/plans/quick.toml)."""
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        path = PLANS / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PLANS.glob("*.toml"))) or "none"
        raise PlanError(f"plan {name_or_path}: no such file (plans shipped: {known})")
    return path


def load_plan(name_or_path: str | Path) -> Plan:
    """Read a plan file (TOML): `name`, optional `point_budget_s`/`total_budget_s`/`description`, and one
    `[[probe]]` table per probe with `name`, optional `params = {key = value}` and `point_budget_s`."""
    import tomllib

    path = plan_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise PlanError(f"plan {path}: not valid TOML: {str(err).splitlines()[0]}") from None
    unknown = set(data) - {"name", "description", "point_budget_s", "total_budget_s", "unlisted_families", "probe"}
    if unknown:
        raise PlanError(
            f"plan {path}: unknown key {sorted(unknown)[0]!r} (keys: name, description, point_budget_s, "
            f"total_budget_s, unlisted_families, [[probe]])"
        )
    if data.get("unlisted_families", "skip") not in UNLISTED:
        raise PlanError(
            f"plan {path}: unlisted_families = {data['unlisted_families']!r}: choose from {', '.join(UNLISTED)}"
        )
    tables = data.get("probe") or []
    if not isinstance(tables, list) or not tables:
        raise PlanError(f"plan {path}: no [[probe]] table")
    entries, seen = [], set()
    for i, t in enumerate(tables, 1):
        where = f"plan {path}, probe #{i}"
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise PlanError(f'{where}: each [[probe]] needs name = "family.probe"')
        bad = set(t) - {"name", "params", "point_budget_s"}
        if bad:
            raise PlanError(
                f"{where} ({t['name']}): unknown key {sorted(bad)[0]!r} (keys: name, params, point_budget_s)"
            )
        if t["name"] in seen:
            raise PlanError(f"{where}: probe {t['name']} listed twice")
        seen.add(t["name"])
        params = t.get("params") or {}
        if not isinstance(params, dict):
            raise PlanError(f"{where} ({t['name']}): params must be a table {{key = value}}")
        entries.append(
            PlanEntry(
                t["name"],
                tuple(_param_text(k, v, f"{where} ({t['name']})") for k, v in params.items()),
                _budget(t.get("point_budget_s"), f"{where} ({t['name']}) point_budget_s"),
            )
        )
    return Plan(
        str(data.get("name") or path.stem),
        tuple(entries),
        _budget(data.get("point_budget_s"), f"plan {path}: point_budget_s"),
        _budget(data.get("total_budget_s"), f"plan {path}: total_budget_s"),
        str(data.get("description") or ""),
        str(path),
        data.get("unlisted_families", "skip"),
    )


def plan_from_probes(names, point_budget_s: float | None = None) -> Plan:
    """The plan of a plain campaign: these probes with their defaults."""
    return Plan("campaign", tuple(PlanEntry(n) for n in names), point_budget_s)


def split_param_overrides(pairs: list[str]) -> dict[str, list[str]]:
    """`--param PROBE:key=value` (repeatable) -> {probe: ["key=value", ...]}, in order."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        probe, sep, kv = pair.partition(":")
        if not sep or not probe or "=" not in kv or not kv.split("=", 1)[0]:
            raise PlanError(
                f"--param {pair!r}: a campaign takes PROBE:key=value (e.g. latency.tlb:points_per_octave=1)"
            )
        out.setdefault(probe, []).append(kv)
    return out


@dataclass(frozen=True)
class Step:
    """One probe of a resolved plan: the probe, its parsed parameters and its per-point time budget."""

    probe: object
    params: dict
    point_budget_s: float


def resolve_plan(
    plan: Plan,
    overrides: dict[str, list[str]] | None = None,
    point_budget_s: float | None = None,
    extra: dict[str, list[str]] | None = None,
) -> list[Step]:
    """Probes and parsed parameters of a plan. `overrides` ({probe: ["k=v"]}, from --param) win over the plan's
    params, `extra` (e.g. each probe's smoke params for a rehearsal) over both; `point_budget_s` over every budget.
    A --param naming a probe that is not in the plan is an error (a typo must not be silently ignored)."""
    from probes import catalogue

    overrides = overrides or {}
    entries = list(plan.entries)
    if plan.unlisted_families == "smoke":  # a new family is in the plan without an edit to it
        listed = {e.probe.split(".")[0] for e in entries}
        entries += [
            PlanEntry(p.name, p.smoke) for p in catalogue.all_probes().values() if p.name.split(".")[0] not in listed
        ]
    names = [e.probe for e in entries]
    for name in overrides:
        if name not in names:
            catalogue.get(name)  # an unknown probe: raises with suggestions
            raise PlanError(f"--param {name}:...: probe {name} is not in plan {plan.name} ({', '.join(names)})")
    steps = []
    for e in entries:
        probe = catalogue.get(e.probe)
        pairs = list(e.params) + overrides.get(e.probe, []) + list((extra or {}).get(e.probe, []))
        budget = point_budget_s or e.point_budget_s or plan.point_budget_s or probe.budget_seconds
        steps.append(Step(probe, probe.parse_params(pairs), float(budget)))
    return steps


def run_plan(steps: list[Step], opts: RunOptions) -> list[Outcome]:
    """run_campaign over a resolved plan: each probe with its parameters and per-point time budget."""
    by_name = {s.probe.name: s for s in steps}
    return run_campaign(
        [s.probe for s in steps],
        lambda p: by_name[p.name].params,
        opts,
        rule_params_of=lambda p: {"max_seconds": by_name[p.name].point_budget_s},
    )


def tally(outcomes: list[Outcome]) -> dict[str, int]:
    """ok (measured now or already complete) / failed / skipped / deferred (not started before the deadline) /
    incomplete (stopped at the deadline, resumable)."""
    out = {"ok": 0, "failed": 0, "skipped": 0, "incomplete": 0, "deferred": 0}
    for o in outcomes:
        key = "ok" if o.outcome in ("ok", "cached") else o.outcome if o.outcome in out else "failed"
        out[key] += 1
    return out


def run_batch(jobs, opts: RunOptions) -> list[Outcome]:
    """[(probe, params)] in ONE worker process (probes.engine.batch): one interpreter start for all, fresh results
    (no resume, no progress bars, whatever `opts` says). What the batch did not finish (a CUDA error poisons its
    context, a crash, its watchdog) is run again one worker each by run_one. The watchdog is `opts.timeout` plus
    10 s per job."""
    out_dir, backend, timeout = opts.out_dir, opts.backend, opts.timeout
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [result_path(out_dir, p, params) for p, params in jobs]
    fresh = opts.but(resume=False, progress=False)
    items = [_worker_args(p, params, path, fresh) for (p, params), path in zip(jobs, paths)]
    status = out_dir / ".batch-status.json"
    spec = out_dir / ".batch-spec.json"
    status.unlink(missing_ok=True)
    io.write_atomic(spec, json.dumps({"items": items, "status": str(status)}))
    # one watchdog for the batch: `timeout` plus 10 s per job; it dies with us and is recorded like any worker
    _code, tail = _spawn(
        [str(spec)],
        timeout + 10 * len(jobs),
        out_dir / ".batch.log",
        worker_registries(out_dir, backend),
        module="probes.engine.batch",
        label=["--probe", "batch", "--out", str(out_dir)],
    )
    try:
        codes = json.loads(status.read_text())
    except (OSError, ValueError):
        codes = []
    outcomes = []
    for (probe, params), path, code in zip(jobs, paths, codes + [None] * (len(jobs) - len(codes))):
        if code is None:  # not reached, or the batch died on it: its own watchdog worker
            outcomes.append(
                run_one(probe, params, opts.but(out_dir=out_dir, resume=False, progress=False, deadline=None))
            )
            continue
        try:
            doc = io.load(path)
        except ResultsError:
            _record_failure(path, probe, params, backend, "crashed", code, tail)
            doc = io.load(path)
        reason = (doc.get("error") or {}).get("reason") or (doc.get("error") or {}).get("message") or ""
        outcomes.append(Outcome(probe.name, doc["outcome"], path, reason))
    for f in (status, spec, out_dir / ".batch.log"):
        f.unlink(missing_ok=True)
    return outcomes


def file_lock(path: Path) -> filelock.FileLock:
    """A non-singleton FileLock (two campaign_lock()s on one path in one process must conflict, not share);
    filelock before 3.13 has no is_singleton flag, and its locks were never singletons."""
    try:
        return filelock.FileLock(str(path), is_singleton=False)
    except TypeError:
        return filelock.FileLock(str(path))
