"""Worker process: runs one probe (or only captures the environment) and writes one results document.

Started by the campaign with `python -m probes.engine.worker`; a CUDA fault is sticky and poisons its process, and a
hung kernel cannot be interrupted, so each probe gets a fresh process the parent can kill.
Exit codes: 0 ok, 3 skipped, 4 CUDA error, 5 other error, 6 no GPU, 7 orphaned (the campaign died).

A worker dies with its campaign: the campaign passes its PID in $GPU_PROBES_PARENT_PID; on Linux the kernel sends
the worker SIGKILL when that parent dies (prctl PR_SET_PDEATHSIG), and a watcher thread checks the parent PID twice a
second everywhere, so a SIGKILLed campaign never leaves a second writer on its results file.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
import traceback

EXIT_OK, EXIT_SKIPPED, EXIT_CUDA, EXIT_ERROR, EXIT_NO_GPU, EXIT_ORPHANED = 0, 3, 4, 5, 6, 7
PARENT_ENV = "GPU_PROBES_PARENT_PID"
PR_SET_PDEATHSIG = 1
PARENT_POLL_S = 0.5


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the Linux kernel to send `sig` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, poll_s: float) -> None:
    while True:
        if os.getppid() != parent:  # re-parented: the campaign is gone; its lock no longer covers us
            os._exit(EXIT_ORPHANED)
        time.sleep(poll_s)


def die_with_parent(environ=os.environ, poll_s: float = PARENT_POLL_S) -> None:
    """When started by a campaign ($GPU_PROBES_PARENT_PID), never outlive it (see the module docstring)."""
    parent = environ.get(PARENT_ENV, "")
    if not parent.isdigit():
        return  # started by hand: nobody to die with
    set_parent_death_signal()
    if os.getppid() != int(parent):  # the parent died before the death signal was armed
        os._exit(EXIT_ORPHANED)
    threading.Thread(target=_watch_parent, args=(int(parent), poll_s), name="parent-watch", daemon=True).start()


def _is_cuda_error(err: BaseException) -> bool:
    mod = type(err).__module__ or ""
    return "cudadrv" in mod or "cuda.bindings" in mod or type(err).__name__.startswith("Cuda")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="probes.engine.worker")
    ap.add_argument("--probe")
    ap.add_argument("--module", default="", help="the module declaring the probe: only it is imported")
    ap.add_argument("--params", default="{}", help="JSON object of parsed parameters")
    ap.add_argument("--backend", choices=("gpu", "simulator"), default="gpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--env-only", action="store_true")
    ap.add_argument("--rule", default="median-ci")
    ap.add_argument("--rule-params", default="{}")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="ignore finished points of an interrupted run")
    args = ap.parse_args(argv)
    die_with_parent()
    if args.backend == "simulator":
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"  # must precede the first numba import

    from probes import catalogue
    from probes.engine import environment
    from probes.engine.measure import new_document, now, run_probe
    from probes.results import io

    try:
        env = environment.capture(args.backend)
    except environment.NoGpuError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NO_GPU
    if args.env_only:
        io.write_atomic(args.out, json.dumps(env, indent=1, sort_keys=True, default=str))
        return EXIT_OK
    probe = catalogue.load(args.probe, args.module)
    params = {p.name: p.validate(v) for p in probe.params for v in [json.loads(args.params).get(p.name, p.default)]}
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    try:
        doc = run_probe(
            probe,
            params,
            args.backend,
            env,
            args.out,
            rule=args.rule,
            rule_params=json.loads(args.rule_params),
            progress=not args.no_progress,
            resume=not args.fresh,
        )
    except BaseException as err:  # record the failure in the document, keeping finished points
        kind = "cuda_error" if _is_cuda_error(err) else "error"
        try:
            doc = io.load(args.out)
        except Exception:
            doc = new_document(probe, params, args.backend, env)
        doc.update(
            outcome=kind,
            finished_at=now(),
            error={
                "type": type(err).__name__,
                "message": str(err).splitlines()[0] if str(err) else "",
                "traceback": traceback.format_exc()[-4000:],
            },
        )
        io.save(doc, args.out)
        print(f"error: probe {probe.name}: {type(err).__name__}: {err}", file=sys.stderr)
        if isinstance(err, KeyboardInterrupt):
            raise
        return EXIT_CUDA if kind == "cuda_error" else EXIT_ERROR
    return EXIT_SKIPPED if doc["outcome"] == "skipped" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
