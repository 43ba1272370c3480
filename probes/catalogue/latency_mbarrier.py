"""mbarrier (hand-written PTX, sm_90+): cost of one mbarrier phase as a single thread sees it.

Method: one thread, one shared-memory mbarrier of count 1. A step completes a phase and waits for it:
`arrive-test` = `mbarrier.arrive` + `mbarrier.test_wait.parity` until it reports the phase done; `arrive-try` =
the same with `mbarrier.try_wait.parity` (the potentially blocking form); `expect-tx` = `mbarrier.arrive.expect_tx`
of 16 bytes (the phase stays open on the transaction count) + `mbarrier.complete_tx` of 16 bytes (closes it) +
try_wait: the bookkeeping every TMA load goes through, without the copy. Steps are serial (each waits for the
phase it completed); a warm pass of n steps, timed passes of n and 2n, (t(2n) - t(n)) / n per step. The kernel
counts completed phases and its final parity; the host checks both (4n phases, parity 0).
Kernel: ptx/mbarrier.ptx.
"""

from __future__ import annotations

import numpy as np

from probes.kernel import ptx
from probes.kernel.chase import per_load_sample
from probes.spec import KernelCheckError, Param, Probe, min_cc, positive

TEMPLATE = "ptx/mbarrier.ptx"
SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP, SIM_OVERHEAD = 4, 2, 10  # the emulator's made-up clock (simulator only)
WAIT_TEST = "  mbarrier.test_wait.parity.shared::cta.b64 %p3, [%r2], %r3;"
WAIT_TRY = "  mbarrier.try_wait.parity.shared::cta.b64 %p3, [%r2], %r3;"
ARRIVE = "  mbarrier.arrive.shared::cta.b64 %rd20, [%r2];"
EXPECT = (
    "  mbarrier.arrive.expect_tx.shared::cta.b64 %rd20, [%r2], 16;\n  mbarrier.complete_tx.shared::cta.b64 [%r2], 16;"
)
# op -> (instructions before the wait, the wait, SASS each step must contain)
OPS = {
    "arrive-test": (ARRIVE, WAIT_TEST, {r"^SYNCS\.ARRIVE\.TRANS64\.A1T0$": 3, r"^SYNCS\.PHASECHK\.TRANS64$": 3}),
    "arrive-try": (ARRIVE, WAIT_TRY, {r"^SYNCS\.ARRIVE\.TRANS64\.A1T0$": 3, r"^SYNCS\.PHASECHK\.TRANS64\.TRYWAIT$": 3}),
    "expect-tx": (
        EXPECT,
        WAIT_TRY,
        {
            r"^SYNCS\.ARRIVE\.TRANS64\.RED\.A0TX$": 3,
            r"^SYNCS\.ARRIVE\.TRANS64$": 3,
            r"^SYNCS\.PHASECHK\.TRANS64\.TRYWAIT$": 3,
        },
    ),
}


def step_text(op: str, label: str) -> str:
    """One step's PTX for the pass whose wait loop is labelled `label`."""
    before, wait, _ = OPS[op]
    return f"{before}\n{label}:\n{wait}\n  @!%p3 bra {label};"


def emulate(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    steps, out = args
    n = int(steps)
    vals = [
        SIM_OVERHEAD + SIM_CYCLES_PER_STEP * n,
        SIM_NS_PER_STEP * n,
        SIM_OVERHEAD + 2 * SIM_CYCLES_PER_STEP * n,
        2 * SIM_NS_PER_STEP * n,
        0,
        4 * n,
        (4 * n) % 2,
    ]
    out[: len(vals)] = np.asarray(vals, dtype=np.uint64)


def op_kernel(op: str) -> ptx.PtxKernel:
    name = "mbar_" + op.replace("-", "_")
    return ptx.kernel(
        TEMPLATE, name, emulate=emulate, **{f"STEP_{p}": step_text(op, f"{p}_wait") for p in ("warm", "pass1", "pass2")}
    )


def check_phases(out: np.ndarray, steps: int) -> None:
    """Host reference model: 4n phases completed, and an even number of parity flips leaves parity 0."""
    if int(out[5]) != 4 * steps or int(out[6]) != 0:
        raise KernelCheckError(
            f"mbarrier loop completed {int(out[5])} phases with final parity {int(out[6])}, expected {4 * steps} and 0"
        )


def measure(ctx, point: dict, params: dict) -> dict:
    steps = int(params["steps"])
    out = ctx.device_array(8, np.uint64)
    host = {}

    def check():
        host["out"] = out.copy_to_host()
        check_phases(host["out"], steps)

    ptx.launch(ctx, op_kernel(point["op"]), ptx.config(), [np.uint64(steps), out], check)
    return per_load_sample(*(int(v) for v in host["out"][:4]), steps)


def check_sass(name: str, insts) -> list[str]:
    op = name.removeprefix("mbar_").replace("_", "-")
    return ptx.sass_check(lambda _n: OPS[op][2])(name, insts)


PROBES = (
    Probe(
        name="latency.mbarrier",
        summary="mbarrier phase round trip: arrive + test_wait / try_wait, and expect-tx + complete_tx + try_wait",
        measure=measure,
        axes=lambda env, params: {"op": tuple(OPS)},
        unit="cycles/phase",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=(Param("steps", int, 1024, "phases per timed pass", positive),),
        requires=(min_cc(9, 0),),
        kernels=ptx.probe_kernels(lambda cc: [op_kernel(op) for op in OPS]),
        check_sass=check_sass,
        smoke=("steps=32",),
        ptx=TEMPLATE,
    ),
)
