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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import filelock

from probes.engine import worker as W
from probes.results import io
from probes.results.schema import NewerSchemaError, ResultsError

STDERR_TAIL = 4000
LOCK_NAME = ".campaign.lock"


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


def result_path(out_dir: Path, probe, params: dict) -> Path:
    defaults = {p.name: p.default for p in probe.params}
    if params == defaults:
        return Path(out_dir) / f"{probe.name}.json"
    tag = hashlib.sha256(json.dumps(params, sort_keys=True, default=list).encode()).hexdigest()[:8]
    return Path(out_dir) / f"{probe.name}-{tag}.json"


def _spawn(args: list[str], timeout: float, log: Path, registries: tuple[Path, ...] = ()) -> tuple[int | None, str]:
    """Run a worker in its own process group; kill the whole group on timeout. Returns (exit code | None, stderr tail).
    The worker dies with this process ($GPU_PROBES_PARENT_PID); while it runs its PID is recorded in `registries`."""
    with open(log, "w+b") as err:
        env = {**os.environ, W.PARENT_ENV: str(os.getpid())}
        proc = subprocess.Popen([sys.executable, "-m", "probes.engine.worker", *args], stdout=err, stderr=err,
                                start_new_session=True, env=env)
        records = []
        try:
            records = register_worker(registries, proc.pid, args)
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


def run_one(probe, params: dict, out_dir: Path, backend: str, timeout: float, resume: bool = True,
            rule: str = "median-ci", rule_params: dict | None = None, progress: bool = True) -> Outcome:
    path = result_path(out_dir, probe, params)
    if resume and _complete(path, probe, params, backend):
        return Outcome(probe.name, "cached", path, "complete result for this probe version already present")
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.with_suffix(".log")
    args = ["--probe", probe.name, "--params", json.dumps(params, default=list), "--backend", backend,
            "--out", str(path), "--rule", rule, "--rule-params", json.dumps(rule_params or {})]
    if not progress:
        args.append("--no-progress")
    if not resume:
        args.append("--fresh")
    try:
        code, tail = _spawn(args, timeout, log, worker_registries(out_dir, backend))
    except KeyboardInterrupt as err:  # the worker group is already dead; its checkpoint holds the finished points
        name = err.signum if isinstance(err, Interrupted) else signal.SIGINT
        tail = log.read_text(errors="replace")[-STDERR_TAIL:] if log.exists() else ""
        with _signals_ignored():  # a second Ctrl-C must not cut the record short
            _record_failure(path, probe, params, backend, "incomplete", None, tail,
                            reason=f"interrupted by {signal.Signals(name).name}; the next run resumes after the "
                                   f"last finished point")
        raise
    if code in (W.EXIT_OK, W.EXIT_SKIPPED):
        log.unlink(missing_ok=True)
        doc = io.load(path)
        return Outcome(probe.name, doc["outcome"], path, (doc.get("error") or {}).get("reason", ""))
    outcome = {None: "timeout", W.EXIT_CUDA: "cuda_error", W.EXIT_ERROR: "error", W.EXIT_NO_GPU: "error"}.get(
        code, "crashed")
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
    doc.update(outcome=outcome, finished_at=now(),
               error={**(doc.get("error") or {}), "exit_code": code, "stderr_tail": tail,
                      "complete_points": len(doc["points"]), **({"reason": reason} if reason else {})})
    io.save(doc, path)


def gpu_lock_path(backend: str) -> Path | None:
    """One lock per visible GPU set for real runs (two campaigns on one card disturb each other's timings)."""
    if backend != "gpu":
        return None
    from probes.static.toolchain import _cache_dir
    cards = os.environ.get("CUDA_VISIBLE_DEVICES", "all").strip() or "all"
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in cards)[:80]
    return _cache_dir() / "locks" / f"gpu-{slug}.lock"


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
            lock = filelock.FileLock(str(path), is_singleton=False)
            try:
                stack.enter_context(lock.acquire(timeout=0))
            except filelock.Timeout:
                what = what or f"GPU(s) CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'all')}"
                raise CampaignLocked(f"another campaign is running on {what} (lock {path}); wait for it to "
                                     f"finish, or use another --out / GPU") from None
        for w in live_workers(worker_registries(out_dir, backend)):  # the lock's holder died, its worker did not
            raise CampaignLocked(f"a worker of an earlier campaign is still running (PID {w['pid']}, probe "
                                 f"{w.get('probe')}, writing {w.get('out')}); wait for it to exit or `kill {w['pid']}`,"
                                 f" then run again")
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


def run_campaign(probes, params_of, out_dir: Path, backend: str, timeout: float, resume: bool = True,
                 progress: bool = True, **kw) -> list[Outcome]:
    """Run probes one worker each, under the campaign lock. Raises CampaignLocked, Interrupted, NewerSchemaError."""
    outcomes = []
    with campaign_lock(out_dir, backend), _signals_interrupt():
        for probe in probes:
            o = run_one(probe, params_of(probe), out_dir, backend, timeout, resume, progress=progress, **kw)
            print(f"{o.outcome:>10}  {probe.name}" + (f"  ({o.detail})" if o.detail else ""), file=sys.stderr)
            outcomes.append(o)
    return outcomes
