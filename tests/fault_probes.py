"""Probes that misbehave on purpose, loaded via GPU_PROBES_EXTRA_CATALOGUE by the isolation tests."""

import os
import signal
import time

from probes.spec import Param, Probe, positive


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
    return Probe(
        name=name,
        summary=f"test probe {name}",
        measure=measure,
        axes=_axes,
        unit="cycles",
        method="injected fault for the isolation tests",
        budget_seconds=5,
    )


PROBES = (
    _probe("fault.ok", _ok),
    _probe("fault.crash", _crash_after_first),
    _probe("fault.hang", _hang),
    _probe("fault.raise", _raise),
    _probe("fault.exit-mid-write", _exit_mid_write),
)


def _hold(ctx, point, params):
    """Point 0 returns at once; later points wait while $FAULT_HOLD_FILE exists (the test interrupts them)."""
    hold = os.environ.get("FAULT_HOLD_FILE")
    while point["step"] >= 1 and hold and os.path.exists(hold):
        time.sleep(0.05)
    return {"cycles_per_op": 1.0 + point["step"], "pid": os.getpid()}


def _scaled(ctx, point, params):
    return {"cycles_per_op": float(params["scale"] * (1 + point["step"]))}


# A kernel the toolchain assembles without NVVM, and SASS checks that fail or kernels that do not compile.
_TINY_PTX = ".version 9.0\n.target sm_80\n.address_size 64\n.visible .entry tiny()\n{\n  ret;\n}\n"


def _tiny_kernels(cc):
    return [("tiny", _TINY_PTX.replace("sm_80", f"sm_{cc[0]}{cc[1]}"))]


def _no_kernels(cc):
    raise RuntimeError("NVVM said no (injected)")


PROBES += (
    _probe("fault.hold", _hold),
    Probe(
        name="okfam.scaled",
        summary="family member with a parameter",
        measure=_scaled,
        axes=_axes,
        unit="cycles",
        method="test",
        params=(Param("scale", int, 1, "multiplier", positive),),
        budget_seconds=5,
    ),
    _probe("okfam.plain", _ok),
    Probe(
        name="faultsass.bad",
        summary="SASS check always fails",
        measure=_ok,
        axes=_axes,
        unit="cycles",
        method="test",
        kernels=_tiny_kernels,
        check_sass=lambda name, insts: ["injected SASS problem"],
    ),
    Probe(
        name="faultsass.nocompile",
        summary="kernels() raises",
        measure=_ok,
        axes=_axes,
        unit="cycles",
        method="test",
        kernels=_no_kernels,
        check_sass=lambda name, insts: [],
    ),
    Probe(
        name="faultsass.good",
        summary="tiny kernel, clean SASS",
        measure=_ok,
        axes=_axes,
        unit="cycles",
        method="test",
        kernels=_tiny_kernels,
        check_sass=lambda name, insts: [],
    ),
)
