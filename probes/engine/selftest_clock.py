"""Self-test probe `selftest.clock`: a ~1 ms dependent integer chain timed by %clock64 and %globaltimer at once.

Their ratio is the SM clock the kernel ran at, which the self-test compares with NVML's. Long on purpose: at 1 ms,
%globaltimer's update period (32 ns to 1 us by GPU) costs < 0.1 %. Not in the public catalogue (it measures nothing
a report shows); the self-test loads it through GPU_PROBES_EXTRA_CATALOGUE=probes.engine.selftest_clock.
"""

from __future__ import annotations

import numpy as np

from probes.kernel import intrinsics as X
from probes.spec import KernelCheckError, Param, Probe, positive

THREE, ONE = np.uint64(3), np.uint64(1)


def spin(x0, n, out):
    x = x0
    t0 = X.clock64()
    g0 = X.globaltimer()
    for _ in range(n):
        x = x * THREE + ONE
    if x == ONE:  # consume the chain before the stop reads
        out[3] = 7
    t1 = X.clock64()
    g1 = X.globaltimer()
    out[0] = t1 - t0
    out[1] = g1 - g0
    out[2] = x


def expected_chain(x0: int, n: int) -> int:
    """x -> 3x + 1 (mod 2^64) n times, in closed form: 3^n x0 + (3^n - 1) / 2."""
    p = pow(3, n, 1 << 65)
    return (p * x0 + (p - 1) // 2) % (1 << 64)


def measure(ctx, point: dict, params: dict) -> dict:
    n, x0 = params["iterations"], 12345
    out = ctx.device_array(4, np.uint64)
    ctx.kernel("spin", spin)[1, 1](np.uint64(x0), n, out)
    ctx.synchronize()
    cycles, ns, x, _ = (int(v) for v in out.copy_to_host())
    if x != expected_chain(x0, n):
        raise KernelCheckError(f"selftest.clock chain ended at {x:#x}, expected {expected_chain(x0, n):#x}")
    return {"cycles_per_op": cycles / n, "cycles": cycles, "ns": ns}


def kernels(cc):
    from numba import types

    from probes.kernel.compile import kernel_ptx

    return [("spin", kernel_ptx(spin, (types.uint64, types.int64, types.uint64[::1]), cc))]


def check_sass(name: str, insts) -> list[str]:
    clocks = sum(1 for i in insts if "SR_CLOCKLO" in i.text)
    timers = sum(1 for i in insts if "SR_GLOBALTIMER" in i.text)
    return (
        []
        if clocks >= 2 and timers >= 2
        else [f"expected 2 %clock64 and 2 %globaltimer reads, found {clocks} and {timers}"]
    )


PROBES = (
    Probe(
        name="selftest.clock",
        summary="SM clock from %clock64 / %globaltimer over a ~1 ms chain",
        measure=measure,
        axes=lambda env, params: {"run": (0,)},
        unit="cycles/iteration",
        method=__doc__.split("\n\n")[0].replace("\n", " "),
        params=(Param("iterations", int, 1 << 17, "chain length", positive),),
        kernels=kernels,
        check_sass=check_sass,
        budget_seconds=5,
        smoke=("iterations=64",),
    ),
)
