"""Kernels of the fine-grained chase (per-access trace) and of the L2 near/far map, plus the %smid read they need.

Imported lazily by latency_fine.py and latency_nearfar.py (it imports numba.cuda, which the catalogue listing
must not pay for). Under the simulator (NUMBA_ENABLE_CUDASIM=1, fixed at import) `sm_id` is a plain function
that spreads blocks over SMs as `blockIdx.x % n_sm`, so the one-block-per-SM claim logic still runs for every
pretend SM; on a GPU it reads the hardware `%smid` and ignores both arguments.
"""

from __future__ import annotations

import numpy as np
from numba import config, cuda, uint32

from probes.kernel import intrinsics as X
from probes.kernel import timed_pass as T

TRACE_LEN = 4096  # accesses recorded per launch: 2 x 4 B x 4096 = 32 KiB of shared memory

if config.ENABLE_CUDASIM:
    _now = [0]

    def clock64():
        """Test clock: +4 per read and +1 per L2-only load, so t(2n) - t(n) = n, never 0 (a 0 median never
        satisfies the relative-CI stopping rule). Not a measurement."""
        _now[0] += 4
        return _now[0]

    def CG(memory, p):
        _now[0] += 1
        return memory[p]

    def sm_id(block, n_sm):
        return block % n_sm
else:
    clock64 = X.clock64
    CG = X.ld_u64_addr_hinted(".cg")  # L2-only chase step: near/far must not be hidden by L1 hits

    @cuda.jit(device=True)
    def sm_id(block, n_sm):
        """%smid (virtual SM id, `S2UR SR_VIRTUALSMID` on sm_90); the arguments only serve the simulator."""
        return X.smid()


def fine_trace(chain, start, skip, count, lat, idx):
    """One thread: `skip` untimed hops, then `count` (<= TRACE_LEN) hops each timed on its own.

    The loaded index is stored to shared memory before the stop clock, so the stop read waits for the load
    (Mei & Chu's layout); latencies and indices go to shared memory and are copied out after the chase, so no
    global store competes with the timed loads.
    """
    s_lat = cuda.shared.array(TRACE_LEN, uint32)
    s_idx = cuda.shared.array(TRACE_LEN, uint32)
    j = start
    for _ in range(skip):
        j = chain[j]
    for k in range(count):
        t0 = clock64()
        j = chain[j]
        s_idx[k] = j
        t1 = clock64()
        s_lat[k] = t1 - t0
    for k in range(count):
        lat[k] = s_lat[k]
        idx[k] = s_idx[k]


_NEARFAR_SOURCE = """
def nearfar(memory, starts, n_windows, steps, n_sm, claimed, t_n, t_2n, ends, block_of):
    b = cuda.blockIdx.x
    s = sm_id(b, n_sm)
    if cuda.threadIdx.x != 0 or s >= claimed.shape[0]:
        return
    if cuda.atomic.cas(claimed, s, 0, 1) != 0:
        return
    block_of[s] = b
    trips = uint32(steps // UNROLL)
    for k in range(n_windows):
        w = (k + s) % n_windows
        cell = s * n_windows + w
        p = starts[w]
{timed}
        t_n[cell] = t1 - t0
        t_2n[cell] = t2 - t1
        ends[cell] = p
"""


def _nearfar():
    """The first block to land on each SM claims it (atomic CAS on a per-SM flag) and chases every window there.

    Per window: a warm pass of `steps`, then timed passes of `steps` and `2*steps` L2-only loads through the
    engine's timed-pass primitive (probes/kernel/timed_pass.py: clocks after a test of the last pointer, 16 chained
    loads per trip of a uint32 loop; `steps` is a multiple of 16); both raw times are stored, and the host takes
    t(2n) - t(n). SM s visits the windows in the order s, s+1, ... (mod windows): at any moment the SMs chase
    different windows, not all the same lines at once.
    """
    timed = "\n".join(
        T.section(
            ["p = CG(memory, p)"] * T.UNROLL,
            "p == 1",
            "ends[cell] = 7",
            warm=True,
            clocks=(("t", "clock64()"),),
            indent="        ",
        )
    )
    scope = {"cuda": cuda, "uint32": np.uint32, "sm_id": sm_id, "CG": CG, "clock64": clock64, "UNROLL": T.UNROLL}
    exec(compile(_NEARFAR_SOURCE.format(timed=timed), "<nearfar>", "exec"), scope)
    fn = scope["nearfar"]
    fn.__doc__ = _nearfar.__doc__
    return fn


nearfar = _nearfar()
