"""Probes that misbehave on purpose, loaded via GPU_PROBES_EXTRA_CATALOGUE by the isolation tests."""
import os
import signal
import time

from probes.spec import Probe


def _axes(env, params):
    return {"step": (0, 1, 2)}


def _ok(ctx, point, params):
    return {"cycles_per_op": 10.0 + point["step"]}


def _crash_after_first(ctx, point, params):
    if point["step"] >= 1:
        os.kill(os.getpid(), signal.SIGSEGV)  # like a driver segfault: no Python cleanup runs
    return {"cycles_per_op": 1.0}


def _hang(ctx, point, params):
    if point["step"] >= 1:
        time.sleep(3600)
    return {"cycles_per_op": 1.0}


def _raise(ctx, point, params):
    raise RuntimeError("kernel reported an illegal address (injected)")


def _exit_mid_write(ctx, point, params):
    """Die while the checkpoint of the first point is being written: the engine's atomic write must keep it whole."""
    if point["step"] >= 1:
        import probes.results.io as rio

        def die(*a, **k):
            os._exit(9)
        rio.os.replace = die
    return {"cycles_per_op": 1.0}


def _probe(name, measure):
    return Probe(name=name, summary=f"test probe {name}", measure=measure, axes=_axes, unit="cycles",
                 method="injected fault for the isolation tests", budget_seconds=5)


PROBES = (_probe("fault.ok", _ok), _probe("fault.crash", _crash_after_first), _probe("fault.hang", _hang),
          _probe("fault.raise", _raise), _probe("fault.exit-mid-write", _exit_mid_write))
