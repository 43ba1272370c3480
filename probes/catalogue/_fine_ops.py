"""Kernels of the fine-grained chase (per-access trace) and of the L2 near/far map, plus the %smid read they need.

Imported lazily by latency_fine.py and latency_nearfar.py (it imports numba.cuda, which the catalogue listing
must not pay for). Under the simulator (NUMBA_ENABLE_CUDASIM=1, fixed at import) `sm_id` is a plain function
that spreads blocks over SMs as `blockIdx.x % n_sm`, so the one-block-per-SM claim logic still runs for every
pretend SM; on a GPU it reads the hardware `%smid` and ignores both arguments.
"""
from __future__ import annotations

from numba import config, cuda, uint32

from probes.engine import intrinsics as X

TRACE_LEN = 4096                     # accesses recorded per launch: 2 x 4 B x 4096 = 32 KiB of shared memory

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
    CG = X.ld_u64_addr_hinted(".cg")     # L2-only chase step: near/far must not be hidden by L1 hits

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


def nearfar(memory, starts, n_windows, steps, n_sm, claimed, t_n, t_2n, ends, block_of):
    """The first block to land on each SM claims it (atomic CAS on a per-SM flag) and chases every window there.

    Per window: a warm pass of `steps`, then timed passes of `steps` and `2*steps` L2-only loads; both raw times
    are stored, and the host takes t(2n) - t(n): the cost of n loads with loop and timer overhead cancelled.
    """
    b = cuda.blockIdx.x
    s = sm_id(b, n_sm)
    if cuda.threadIdx.x != 0 or s >= claimed.shape[0]:
        return
    if cuda.atomic.cas(claimed, s, 0, 1) != 0:
        return
    block_of[s] = b
    for w in range(n_windows):
        p = starts[w]
        for _ in range(steps):
            p = CG(memory, p)
        if p == 1:                      # the warm pass ends before t0, so t(n) and t(2n) start alike
            ends[s * n_windows + w] = 7
        t0 = clock64()
        for _ in range(steps):
            p = CG(memory, p)
        if p == 1:                      # consume the last load before the stop read
            ends[s * n_windows + w] = 7
        t1 = clock64()
        for _ in range(2 * steps):
            p = CG(memory, p)
        if p == 1:
            ends[s * n_windows + w] = 7
        t2 = clock64()
        t_n[s * n_windows + w] = t1 - t0
        t_2n[s * n_windows + w] = t2 - t1
        ends[s * n_windows + w] = p
