"""Parent side of a campaign: one worker process per probe, a watchdog, resume, and outcomes that are data.

This process never talks to the driver: environment capture and every measurement happen in workers, so a
faulting or hanging kernel costs one probe, never the campaign. Results already complete for the same probe
version and parameters are not measured again; a truncated file found at start-up is quarantined, not loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from probes.engine import worker as W
from probes.results import io
from probes.results.schema import ResultsError

STDERR_TAIL = 4000


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


def _spawn(args: list[str], timeout: float, log: Path) -> tuple[int | None, str]:
    """Run a worker in its own process group; kill the whole group on timeout. Returns (exit code | None, stderr tail)."""
    with open(log, "w+b") as err:
        proc = subprocess.Popen([sys.executable, "-m", "probes.engine.worker", *args], stdout=err, stderr=err,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        err.seek(0)
        tail = err.read().decode(errors="replace")[-STDERR_TAIL:]
    return code, tail


def capture_environment(backend: str, timeout: float = 120) -> dict:
    """The environment as a worker sees it (raises environment.NoGpuError-like RuntimeError with the reason)."""
    with tempfile.TemporaryDirectory(prefix="gpu-probes-env-") as d:
        out = Path(d) / "env.json"
        code, tail = _spawn(["--env-only", "--backend", backend, "--out", str(out)], timeout, Path(d) / "log")
        if code != 0:
            last = [ln for ln in tail.strip().splitlines() if ln.strip()]
            raise RuntimeError(last[-1].removeprefix("error: ") if last else f"environment worker exited {code}")
        return json.loads(out.read_text())


def _complete(path: Path, probe, params: dict, backend: str) -> bool:
    """Is there a finished result for this exact probe version, parameters and backend? Quarantine broken files."""
    if not path.exists():
        return False
    try:
        doc = io.load(path)
    except ResultsError as err:
        quarantine = path.with_suffix(path.suffix + ".corrupt")
        os.replace(path, quarantine)
        print(f"warning: {err}; moved to {quarantine.name}, measuring again", file=sys.stderr)
        return False
    same = (doc["probe"]["version"] == probe.version() and doc["backend"] == backend
            and io.dumps(doc["probe"]["params"]) == io.dumps(params))
    return same and doc["outcome"] in ("ok", "skipped")


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
    code, tail = _spawn(args, timeout, log)
    if code in (W.EXIT_OK, W.EXIT_SKIPPED):
        log.unlink(missing_ok=True)
        doc = io.load(path)
        return Outcome(probe.name, doc["outcome"], path, (doc.get("error") or {}).get("reason", ""))
    outcome = {None: "timeout", W.EXIT_CUDA: "cuda_error", W.EXIT_ERROR: "error", W.EXIT_NO_GPU: "error"}.get(
        code, "crashed")
    _record_failure(path, probe, params, backend, outcome, code, tail)
    return Outcome(probe.name, outcome, path, _last_line(tail) or f"exit code {code}")


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _record_failure(path: Path, probe, params, backend, outcome, code, tail) -> None:
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
                      "complete_points": len(doc["points"])})
    io.save(doc, path)


def run_campaign(probes, params_of, out_dir: Path, backend: str, timeout: float, resume: bool = True,
                 progress: bool = True, **kw) -> list[Outcome]:
    outcomes = []
    for probe in probes:
        o = run_one(probe, params_of(probe), out_dir, backend, timeout, resume, progress=progress, **kw)
        print(f"{o.outcome:>10}  {probe.name}" + (f"  ({o.detail})" if o.detail else ""), file=sys.stderr)
        outcomes.append(o)
    return outcomes
